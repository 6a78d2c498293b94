//! up, ps, logs, scale, restart, events, down — and the formation surviving a restart of pier.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::harness::{App, alive, text, wait_for};

const MANIFEST: &str = r#"
app = "lifecycle"

[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
readiness = { http = "/", period = "200ms" }
termination_grace = "5s"

[services.worker]
command = "trap 'echo worker got TERM; exit 0' TERM; while true; do echo tick from $DYNO; sleep 0.2; done"
port = false
termination_grace = "5s"
"#;

#[test]
fn up_ps_logs_scale_restart_events_down() {
    let app = App::with_manifest(MANIFEST);
    let mut daemon = app.up();
    let web = daemon.wait_ready("web", 1);
    daemon.wait_ready("worker", 1);
    assert!(web[0]["pid"].as_u64().is_some() && web[0]["port"].as_u64().is_some());

    // ps: aligned table with every column.
    let table = daemon.ok(&["ps"]);
    let header = table.lines().next().unwrap();
    for column in [
        "NAME", "STATE", "READY", "PID", "PORT", "RESTARTS", "UPTIME",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let state_col = header.find("STATE").unwrap();
    for line in table.lines().skip(1) {
        assert_eq!(
            &line[state_col..state_col + 7],
            "running",
            "column misaligned in:\n{table}"
        );
    }

    // logs: the worker's lines, tagged with the replica.
    wait_for(
        "worker output in pier logs",
        Duration::from_secs(10),
        || {
            daemon
                .ok(&["logs", "worker"])
                .contains("app[worker.1]: tick from worker.1")
                .then_some(())
        },
    );
    assert!(
        !daemon.ok(&["logs", "web"]).contains("tick from"),
        "filter by service"
    );

    // scale, durably.
    daemon.ok(&["scale", "worker=2", "web=2"]);
    daemon.wait_ready("worker", 2);
    daemon.wait_ready("web", 2);
    assert_eq!(daemon.ok(&["scale"]).trim(), "web=2 worker=2");

    // rolling restart of web: new pids, all ready.
    let before: Vec<Value> = daemon
        .wait_ready("web", 2)
        .iter()
        .map(|r| r["pid"].clone())
        .collect();
    daemon.ok(&["restart", "web"]);
    let after: Vec<Value> = daemon
        .wait_ready("web", 2)
        .iter()
        .map(|r| r["pid"].clone())
        .collect();
    assert!(
        before.iter().all(|p| !after.contains(p)),
        "{before:?} vs {after:?}"
    );

    // events record it all.
    let events = daemon.ok(&["events", "-n", "500", "--json"]);
    for kind in [
        "replica.started",
        "replica.ready",
        "service.scaled",
        "replica.stopping",
    ] {
        assert!(events.contains(kind), "missing {kind} in {events}");
    }

    // down: graceful (the worker saw SIGTERM), exit code 0, nothing left.
    let children = daemon.descendants();
    assert!(!children.is_empty());
    daemon.ok(&["down"]);
    assert_eq!(daemon.wait_exit(), Some(0));
    assert!(children.iter().all(|p| !alive(*p)));
    let worker_log = std::fs::read_to_string(app.path().join(".pier/logs/worker.log")).unwrap();
    assert!(worker_log.contains("worker got TERM"), "{worker_log}");

    // A new daemon comes back to the stored scale.
    let daemon = app.up();
    daemon.wait_ready("worker", 2);
    daemon.wait_ready("web", 2);
}

#[test]
fn ctrl_c_stops_everything_with_exit_code_zero() {
    let app = App::with_manifest(MANIFEST);
    let mut daemon = app.up();
    daemon.wait_ready("worker", 1);
    let children = daemon.descendants();
    assert_eq!(daemon.signal_and_wait(Signal::SIGINT), Some(0));
    assert!(
        children.iter().all(|p| !alive(*p)),
        "left behind: {children:?}"
    );
    assert!(daemon.output_text().contains("stopped"));
}

#[test]
fn second_up_in_the_same_folder_is_refused() {
    let app = App::with_manifest(MANIFEST);
    let daemon = app.up();
    let second = std::process::Command::new(crate::harness::PIER)
        .args(["up", "--api-listen", "127.0.0.1:0"])
        .arg(app.path())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = text(&second.stderr);
    assert!(err.contains("already running for lifecycle"), "{err}");
    assert!(err.contains(&daemon.pid().to_string()), "{err}");
    daemon.ok(&["ps"]);
}

#[test]
fn grace_period_ends_with_sigkill() {
    let app = App::with_manifest(
        r#"
app = "stubborn"
[services.stubborn]
command = "trap 'echo ignoring TERM' TERM; while true; do sleep 0.1; done"
port = false
termination_grace = "300ms"
"#,
    );
    let mut daemon = app.up();
    daemon.wait_ready("stubborn", 1);
    daemon.ok(&["scale", "stubborn=0"]);
    wait_for("the replica to be gone", Duration::from_secs(10), || {
        daemon.ps().is_empty().then_some(())
    });
    let events = daemon.ok(&["events", "--json"]);
    assert!(events.contains("replica.killed"), "{events}");
    assert!(daemon.ok(&["logs", "stubborn"]).contains("ignoring TERM"));
    assert_eq!(daemon.signal_and_wait(Signal::SIGTERM), Some(0));
}

#[test]
fn client_errors_have_exit_codes() {
    let app = App::with_manifest(MANIFEST);
    let daemon = app.up();
    let bad = daemon.cli(&["scale", "web"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("expected SERVICE=COUNT, like web=3"));
    let unknown = daemon.cli(&["scale", "nosuch=1"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("unknown service `nosuch` (this app has: web, worker)"));
    let too_many = daemon.cli(&["scale", "web=1000"]);
    assert_eq!(too_many.status.code(), Some(2));
    assert_eq!(
        daemon.ok(&["scale"]).trim(),
        "web=1 worker=1",
        "a rejected scale changes nothing"
    );
    let replica = daemon.cli(&["restart", "web.9"]);
    assert_eq!(replica.status.code(), Some(2));
    assert!(text(&replica.stderr).contains("unknown replica `web.9`"));

    let nobody = std::process::Command::new(crate::harness::PIER)
        .args(["--api", "127.0.0.1:1", "ps"])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(3));
    assert!(text(&nobody.stderr).contains("no pier daemon answers at http://127.0.0.1:1"));
}

#[test]
fn ps_finds_the_daemon_from_the_app_folder() {
    let app = App::with_manifest(MANIFEST);
    let daemon = app.up();
    daemon.wait_ready("web", 1);
    let out = std::process::Command::new(crate::harness::PIER)
        .arg("ps")
        .current_dir(app.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("web.1"));
}
