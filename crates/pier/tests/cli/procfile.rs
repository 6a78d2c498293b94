//! A Heroku app folder with only a Procfile (and app.json) runs as is; `pier init` converts it.

use crate::harness::{App, text};

#[test]
fn a_procfile_only_app_runs() {
    let app = App::empty();
    app.write(
        "Procfile",
        "web: python3 -m http.server $PORT --bind 127.0.0.1\nworker: while true; do echo \"working with $GREETING\"; sleep 0.3; done\n",
    );
    app.write(
        "app.json",
        r#"{ "name": "heroku-app", "env": { "GREETING": { "value": "hello" } }, "formation": { "worker": { "quantity": 2 } } }"#,
    );
    let daemon = app.up();
    daemon.wait_ready("web", 1);
    daemon.wait_ready("worker", 2);
    crate::harness::wait_for(
        "app.json env reaching the worker",
        std::time::Duration::from_secs(10),
        || {
            daemon
                .ok(&["logs", "worker.2"])
                .contains("working with hello")
                .then_some(())
        },
    );
}

#[test]
fn init_writes_a_pier_toml_that_checks() {
    let app = App::empty();
    app.write(
        "Procfile",
        "web: bundle exec puma -p $PORT\nworker: bundle exec sidekiq\nrelease: rake db:migrate\n",
    );
    let out = std::process::Command::new(crate::harness::PIER)
        .arg("init")
        .arg(app.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(app.path().join("pier.toml")).unwrap();
    assert!(written.contains("bundle exec sidekiq"));
    let check = std::process::Command::new(crate::harness::PIER)
        .arg("check")
        .arg(app.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("worker"));
    let again = std::process::Command::new(crate::harness::PIER)
        .arg("init")
        .arg(app.path())
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "init never overwrites without --force"
    );
}
