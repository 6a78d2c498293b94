//! The shared harness: parse helpers and the `check` functions that snapshot an input together
//! with its outcome, so each snapshot reads as "this manifest gives these messages".

use std::path::Path;

use pier_spec::{Manifest, ManifestError, parse_pier_toml, parse_procfile};

/// The path diagnostics name; relative, as a user would pass it.
pub const PIER_TOML: &str = "pier.toml";

/// Strips the first newline and the common indentation, so cases can be written indented.
pub fn text(s: &str) -> String {
    let s = s.strip_prefix('\n').unwrap_or(s);
    let indent = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = s.lines().map(|l| l.get(indent..).unwrap_or("")).collect();
    lines.join("\n") + "\n"
}

pub fn parse(toml: &str) -> Result<Manifest, ManifestError> {
    parse_pier_toml(toml, Path::new(PIER_TOML))
}

/// A manifest that must be valid.
pub fn manifest(toml: &str) -> Manifest {
    match parse(toml) {
        Ok(m) => m,
        Err(e) => panic!("expected a valid manifest, got:\n{e}"),
    }
}

/// Snapshots `input` and the outcome of parsing it as pier.toml under `name`.
pub fn check(name: &str, input: &str) {
    let input = text(input);
    let outcome = match parse(&input) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    snapshot(name, &input, &outcome);
}

/// Snapshots a Procfile (and app.json) import under `name`.
pub fn check_procfile(name: &str, procfile: &str, app_json: Option<&str>) {
    let procfile = text(procfile);
    let app_json = app_json.map(text);
    let json = app_json.as_deref().map(|t| (t, Path::new("app.json")));
    let outcome = match parse_procfile(&procfile, Path::new("Procfile"), json, "My_Folder") {
        Ok(m) => format!("{m:#?}"),
        Err(e) => e.to_string(),
    };
    let mut input = format!("# Procfile\n{procfile}");
    if let Some(json) = &app_json {
        input.push_str(&format!("# app.json\n{json}"));
    }
    snapshot(name, &input, &outcome);
}

/// One snapshot file per case under `tests/snapshots`, the input above the outcome.
pub fn snapshot(name: &str, input: &str, outcome: &str) {
    let content = format!("{input}----\n{outcome}");
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, content);
    });
}
