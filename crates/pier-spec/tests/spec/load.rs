//! `load_dir`: pier.toml wins over a Procfile; a Procfile alone works; neither is an error
//! that says what to do.

use pier_spec::{ManifestSource, load_dir};

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    for (name, content) in files {
        if let Err(e) = std::fs::write(dir.path().join(name), content) {
            panic!("write {name}: {e}");
        }
    }
    dir
}

#[test]
fn pier_toml_wins() {
    let dir = dir_with(&[
        (
            "pier.toml",
            "app = \"from-toml\"\n[services.web]\ncommand = \"bin/web\"\n",
        ),
        ("Procfile", "web: bin/procfile\n"),
    ]);
    let m = match load_dir(dir.path()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(m.app, "from-toml");
    assert_eq!(
        m.source,
        ManifestSource::PierToml(dir.path().join("pier.toml"))
    );
}

#[test]
fn procfile_alone() {
    let dir = dir_with(&[
        ("Procfile", "web: bin/web\n"),
        ("app.json", "{\"name\": \"shop\"}"),
    ]);
    let m = match load_dir(dir.path()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(m.app, "shop");
    assert_eq!(
        m.source,
        ManifestSource::Procfile {
            procfile: dir.path().join("Procfile"),
            app_json: Some(dir.path().join("app.json")),
        }
    );
}

#[test]
fn neither_says_what_to_do() {
    let dir = dir_with(&[]);
    let Err(error) = load_dir(dir.path()) else {
        panic!("expected an error");
    };
    let text = error.to_string();
    assert!(
        text.contains("found neither pier.toml nor Procfile"),
        "{text}"
    );
    assert!(text.contains("pier init"), "{text}");
    assert!(text.contains("Procfile"), "{text}");
}

#[test]
fn errors_name_the_file_as_given() {
    let dir = dir_with(&[(
        "pier.toml",
        "app = \"x\"\n[services.web]\ncomand = \"bin/web\"\n",
    )]);
    let Err(error) = load_dir(dir.path()) else {
        panic!("expected an error");
    };
    let expected = format!(
        "{}:3:1: services.web.comand: unknown key `comand`",
        dir.path().join("pier.toml").display()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
}
