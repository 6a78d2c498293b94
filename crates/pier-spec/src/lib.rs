//! pier-spec owns the application manifest: the `pier.toml` format, its parsing and validation
//! into resolved types (see [`model`]), and the import of Heroku `Procfile`/`app.json`.
//! It knows nothing of processes, state or the network, and reads files only in [`load_dir`]
//! and [`init_from_procfile`].
//!
//! Parsing has two stages: TOML into raw serde structs mirroring the file (`raw`, with
//! `deny_unknown_fields`), then validation into [`Manifest`]. Both stages report every problem
//! they find as a [`Diagnostic`] at file:line:column, collected in one [`ManifestError`].

mod app_json;
mod diagnostics;
mod duration;
mod explain;
mod import;
mod init;
pub mod model;
mod names;
mod procfile;
mod quantity;
mod raw;
mod recover;
mod schedule;
mod suggest;
mod tree;
mod validate;

use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostic, ManifestError};
pub use duration::{format_duration, parse_duration};
pub use model::*;
pub use quantity::{parse_cpu_millis, parse_memory_bytes};
pub use schedule::{Schedule, parse_schedule};

use diagnostics::Reporter;

/// Loads the app in `dir`: `pier.toml` if present, else `Procfile` (with `app.json` if present).
pub fn load_dir(dir: &Path) -> Result<Manifest, ManifestError> {
    let pier_toml = dir.join("pier.toml");
    if pier_toml.exists() {
        let text = read(&pier_toml)?;
        return parse_pier_toml(&text, &pier_toml);
    }
    let procfile = dir.join("Procfile");
    if procfile.exists() {
        let (text, app_json) = read_procfile(dir)?;
        let app_json = app_json.as_ref().map(|(t, p)| (t.as_str(), p.as_path()));
        return parse_procfile(&text, &procfile, app_json, &folder_name(dir));
    }
    Err(ManifestError::file(
        dir,
        "found neither pier.toml nor Procfile",
        Some("run `pier init` to write a pier.toml, or add a Procfile".into()),
    ))
}

/// Parses and validates the text of a `pier.toml`; `path` is used as given in diagnostics.
pub fn parse_pier_toml(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    let mut reporter = Reporter::new(path, text);
    let Some(recovered) = recover::parse(&mut reporter) else {
        let diagnostics = reporter.into_diagnostics();
        if diagnostics.is_empty() {
            return Err(internal(path));
        }
        return Err(ManifestError::new(diagnostics));
    };
    let source = ManifestSource::PierToml(path.to_path_buf());
    let manifest = validate::manifest(&recovered, &mut reporter, source);
    reporter.finish(manifest)
}

/// Builds a manifest from a Procfile and optional app.json (text and path). The app is named
/// after app.json's `name`, else `default_app_name` (usually the folder), made a DNS label.
pub fn parse_procfile(
    procfile_text: &str,
    procfile_path: &Path,
    app_json: Option<(&str, &Path)>,
    default_app_name: &str,
) -> Result<Manifest, ManifestError> {
    import::import(procfile_text, procfile_path, app_json, default_app_name).map(|i| i.manifest)
}

/// The text of a commented `pier.toml` equivalent to the Procfile (and app.json) in `dir`.
pub fn init_from_procfile(dir: &Path) -> Result<String, ManifestError> {
    let procfile = dir.join("Procfile");
    if !procfile.exists() {
        return Err(ManifestError::file(
            dir,
            "no Procfile to convert",
            Some("add a Procfile with lines such as `web: bin/start`, or write pier.toml by hand (see docs/manifest.md)".into()),
        ));
    }
    let (text, app_json) = read_procfile(dir)?;
    let app_json = app_json.as_ref().map(|(t, p)| (t.as_str(), p.as_path()));
    let import = import::import(&text, &procfile, app_json, &folder_name(dir))?;
    Ok(init::render(&import))
}

/// app.json's text and path.
type AppJsonFile = (String, PathBuf);

/// The Procfile's text and, when present, app.json's.
fn read_procfile(dir: &Path) -> Result<(String, Option<AppJsonFile>), ManifestError> {
    let text = read(&dir.join("Procfile"))?;
    let app_json = dir.join("app.json");
    if !app_json.exists() {
        return Ok((text, None));
    }
    let json = read(&app_json)?;
    Ok((text, Some((json, app_json))))
}

fn read(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path)
        .map_err(|e| ManifestError::file(path, format!("cannot read the file: {e}"), None))
}

/// The folder's own name (resolving `.`), used as the default app name.
fn folder_name(dir: &Path) -> String {
    let named = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    named
        .or_else(|| {
            let absolute = std::fs::canonicalize(dir).ok()?;
            absolute
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "app".to_string())
}

/// Stage one gave up without saying why; should not happen, but never pass silently.
fn internal(path: &Path) -> ManifestError {
    ManifestError::file(path, "the manifest could not be read", None)
}
