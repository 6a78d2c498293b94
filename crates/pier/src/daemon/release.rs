//! What `pier up` runs. If the current release was deployed (`pier deploy`, a rollback or a
//! config change), that release — its snapshot, manifest and config — unless `--source` asks
//! for the app folder. Otherwise the app folder in place, recorded as a release: the code
//! folder, the environment, the config vars of the current release and a snapshot of the
//! manifest files; starting again with the same inputs reuses the current release, any change
//! makes a new one (`v2`, `v3`, …).

use std::path::Path;

use anyhow::Context;
use pier_spec::{Manifest, ManifestSource};
use pier_state::{NewRelease, Release, State};

/// The current release if it was deployed (and `--source` was not given).
pub async fn deployed(state: &State, source: bool) -> anyhow::Result<Option<Release>> {
    let state = state.clone();
    let current = tokio::task::spawn_blocking(move || state.current_release()).await??;
    Ok(current.filter(|r| r.artifact.is_some() && !source))
}

/// Returns the release of the app folder to run, creating it if the inputs changed.
pub async fn record(state: &State, dir: &Path, manifest: &Manifest) -> anyhow::Result<Release> {
    let new = NewRelease {
        description: String::new(),
        source_dir: dir.to_path_buf(),
        env: manifest.env.clone(),
        manifest: snapshot(&manifest.source)?,
        ..NewRelease::default()
    };
    let state = state.clone();
    let (release, _created) = tokio::task::spawn_blocking(move || {
        let current = state.current_release()?;
        let description = match &current {
            None => "Initial release".to_string(),
            Some(r) if r.artifact.is_some() => "Run the app folder (pier up --source)".to_string(),
            Some(_) => "Manifest or environment changed".to_string(),
        };
        let config = current.map(|r| r.config).unwrap_or_default();
        state.ensure_release(&NewRelease {
            description,
            config,
            ..new
        })
    })
    .await??;
    Ok(release)
}

/// The text of the files the manifest was read from.
fn snapshot(source: &ManifestSource) -> anyhow::Result<String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    match source {
        ManifestSource::PierToml(path) => read(path),
        ManifestSource::Procfile { procfile, app_json } => {
            let mut text = format!("# Procfile\n{}", read(procfile)?);
            if let Some(app_json) = app_json {
                text.push_str(&format!("\n# app.json\n{}", read(app_json)?));
            }
            Ok(text)
        }
    }
}
