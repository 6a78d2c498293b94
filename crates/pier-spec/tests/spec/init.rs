//! `pier init`: the generated pier.toml is commented, valid, and means exactly what the
//! Procfile (and app.json) meant.

use std::path::Path;

use pier_spec::{Manifest, ManifestSource, init_from_procfile, load_dir, parse_pier_toml};

use crate::harness::{snapshot, text};

struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new(files: &[(&str, &str)]) -> App {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        for (name, content) in files {
            if let Err(e) = std::fs::write(dir.path().join(name), text(content)) {
                panic!("write {name}: {e}");
            }
        }
        App { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn with_source(mut m: Manifest, source: &ManifestSource) -> Manifest {
    m.source = source.clone();
    m
}

/// Asserts that init's text parses back into the manifest the Procfile gives, and returns it.
fn round_trip(app: &App) -> String {
    let generated = match init_from_procfile(app.path()) {
        Ok(t) => t,
        Err(e) => panic!("init failed:\n{e}"),
    };
    let from_procfile = match load_dir(app.path()) {
        Ok(m) => m,
        Err(e) => panic!("Procfile did not load:\n{e}"),
    };
    let from_toml = match parse_pier_toml(&generated, Path::new("pier.toml")) {
        Ok(m) => m,
        Err(e) => panic!("generated pier.toml is invalid:\n{e}\n\n{generated}"),
    };
    assert_eq!(
        with_source(from_toml, &from_procfile.source),
        from_procfile,
        "\n{generated}"
    );
    generated
}

#[test]
fn procfile_with_app_json_round_trips() {
    let app = App::new(&[
        (
            "Procfile",
            "
            web: bundle exec puma -C config/puma.rb
            worker_high: bundle exec sidekiq -q \"high\"
            release: bin/rails db:migrate
            ",
        ),
        (
            "app.json",
            r#"
            {
              "name": "classroom",
              "env": {
                "RAILS_ENV": "production",
                "GREETING": { "value": "it's \"quoted\"\\n" },
                "SECRET_KEY_BASE": { "generator": "secret" },
                "STRIPE_KEY": { "required": true }
              },
              "formation": { "web": { "quantity": 2 }, "worker_high": { "quantity": 3 } }
            }
            "#,
        ),
    ]);
    let generated = round_trip(&app);
    snapshot(
        "init_procfile_app_json",
        "# Procfile + app.json (see tests/spec/init.rs)\n",
        &generated,
    );
}

#[test]
fn bare_procfile_round_trips() {
    let app = App::new(&[("Procfile", "web: python -m http.server $PORT\n")]);
    let generated = round_trip(&app);
    assert!(generated.contains("[services.web]"));
}

#[test]
fn init_without_procfile_is_an_error() {
    let app = App::new(&[]);
    let Err(error) = init_from_procfile(app.path()) else {
        panic!("expected an error");
    };
    assert!(
        error.to_string().contains("no Procfile to convert"),
        "{error}"
    );
}
