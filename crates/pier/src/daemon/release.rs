//! Records what runs as a release: the code folder, the environment and a snapshot of the
//! manifest files. Starting again with the same inputs reuses the current release; any change
//! makes a new one (`v2`, `v3`, …).

use std::path::Path;

use anyhow::Context;
use pier_spec::{Manifest, ManifestSource};
use pier_state::{NewRelease, Release, State};

/// Returns the release to run, creating it if the inputs changed.
pub async fn record(state: &State, dir: &Path, manifest: &Manifest) -> anyhow::Result<Release> {
    let new = NewRelease {
        description: String::new(),
        source_dir: dir.to_path_buf(),
        env: manifest.env.clone(),
        manifest: snapshot(&manifest.source)?,
    };
    let state = state.clone();
    let (release, _created) = tokio::task::spawn_blocking(move || {
        let description = match state.current_release()? {
            None => "Initial release".to_string(),
            Some(_) => "Manifest or environment changed".to_string(),
        };
        state.ensure_release(&NewRelease { description, ..new })
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
