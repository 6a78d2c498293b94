//! Procfile and app.json import, with Heroku's semantics.

use std::path::Path;

use pier_spec::{ManifestSource, parse_procfile};

use crate::harness::{check_procfile, text};

fn import(procfile: &str, app_json: Option<&str>) -> pier_spec::Manifest {
    let procfile = text(procfile);
    let app_json = app_json.map(text);
    let json = app_json.as_deref().map(|t| (t, Path::new("app.json")));
    match parse_procfile(&procfile, Path::new("Procfile"), json, "My_Folder") {
        Ok(m) => m,
        Err(e) => panic!("expected a valid import, got:\n{e}"),
    }
}

#[test]
fn heroku_semantics() {
    let m = import(
        "
        # comments and blank lines are ignored

        web: bundle exec puma -p $PORT
        worker_high: bundle exec sidekiq -q high
        release: bin/rails db:migrate
        ",
        None,
    );
    assert_eq!(
        m.app, "my-folder",
        "named after the folder when there is no app.json"
    );
    assert_eq!(
        m.source,
        ManifestSource::Procfile {
            procfile: "Procfile".into(),
            app_json: None
        }
    );
    let web = &m.services["web"];
    assert!(web.port && web.public);
    assert_eq!(web.command, "bundle exec puma -p $PORT");
    let worker = &m.services["worker-high"];
    assert!(!worker.port && !worker.public);
    assert_eq!(m.services.len(), 2, "release is not a service");
    let release = m.release.as_ref().map(|r| r.command.as_str());
    assert_eq!(release, Some("bin/rails db:migrate"));
}

#[test]
fn app_json_name_env_and_formation() {
    let m = import(
        "
        web: bin/web
        worker: bin/worker
        ",
        Some(
            r#"
            {
              "name": "Small Sharp Tool",
              "description": "ignored",
              "env": {
                "RUST_LOG": "info",
                "MODE": { "description": "mode", "value": "fast" },
                "SECRET_KEY": { "generator": "secret" },
                "API_TOKEN": { "description": "ask the admin", "required": true }
              },
              "formation": { "web": { "quantity": 3, "size": "standard-1x" }, "worker": { "quantity": 0 } },
              "addons": ["heroku-postgresql"]
            }
            "#,
        ),
    );
    assert_eq!(m.app, "small-sharp-tool");
    assert_eq!(m.env.len(), 2);
    assert_eq!(m.env["RUST_LOG"], "info");
    assert_eq!(m.env["MODE"], "fast");
    assert_eq!(m.services["web"].replicas, 3);
    assert_eq!(m.services["worker"].replicas, 0);
}

#[test]
fn import_snapshots() {
    check_procfile("procfile_ok", "web: bin/web\nclock: bin/clock\n", None);
    check_procfile(
        "procfile_invalid_lines",
        "
        web bin/web
        web: bin/web
        web: bin/again
        w@b: bin/x
        empty:
        2fast: bin/fast
        ",
        None,
    );
    check_procfile("procfile_release_only", "release: bin/migrate\n", None);
    check_procfile(
        "app_json_problems",
        "web: bin/web\n",
        Some(
            r#"
            {
              "env": { "bad-name": "x", "PORT": "80" },
              "formation": { "wbe": { "quantity": 1 }, "web": { "quantity": 500 } }
            }
            "#,
        ),
    );
    check_procfile(
        "app_json_syntax",
        "web: bin/web\n",
        Some("{ \"name\": \"x\",, }\n"),
    );
    check_procfile(
        "app_json_env_shape",
        "web: bin/web\n",
        Some("{ \"env\": { \"A\": 1 } }\n"),
    );
}
