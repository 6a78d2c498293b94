//! Invalid manifests: `pier up` prints exact errors (snapshot-tested), exits 2, and starts and
//! creates nothing.

use crate::harness::{App, text};

fn up_fails(manifest: &str) -> String {
    let app = App::with_manifest(manifest);
    let out = std::process::Command::new(crate::harness::PIER)
        .args(["up", "--api-listen", "127.0.0.1:0"])
        .arg(app.path())
        .current_dir(app.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        !app.path().join(".pier").exists(),
        "an invalid manifest must not create state"
    );
    text(&out.stderr).replace(&app.path().display().to_string(), "<app>")
}

#[test]
fn unknown_key_suggests_the_right_one() {
    insta::assert_snapshot!(up_fails(
        "app = \"x\"\n[services.web]\ncommand = \"run\"\nreplcas = 2\n"
    ));
}

#[test]
fn wrong_types_and_bad_values_are_all_reported() {
    insta::assert_snapshot!(up_fails(
        "app = \"x\"\n[services.web]\ncommand = \"run\"\nreplicas = \"two\"\nreadiness = { http = \"/h\", period = \"soon\" }\n"
    ));
}

#[test]
fn toml_syntax_error_has_a_position() {
    insta::assert_snapshot!(up_fails("app = \"x\"\n[services.web\ncommand = \"run\"\n"));
}

#[test]
fn no_manifest_at_all() {
    let app = App::empty();
    let out = std::process::Command::new(crate::harness::PIER)
        .arg("up")
        .arg(app.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pier init"),
        "{}",
        text(&out.stderr)
    );
}
