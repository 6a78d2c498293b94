//! Readiness, liveness and restart backoff, observed through `pier ps` and the event log.

use std::time::Duration;

use crate::harness::{App, wait_for};

#[test]
fn a_replica_failing_readiness_is_shown_not_ready() {
    let app = App::with_manifest(
        r#"
app = "unready"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
readiness = { http = "/missing", period = "200ms", timeout = "1s" }
"#,
    );
    let daemon = app.up();
    // It serves (a 404), so the process is up, but readiness never passes.
    let replica = wait_for("the web process to answer", Duration::from_secs(20), || {
        let replica = daemon.ps().into_iter().next()?;
        let port = replica["port"].as_u64()? as u16;
        crate::harness::http_get(port, "/missing")
            .filter(|(s, _)| *s == 404)
            .map(|_| replica)
    });
    assert_eq!(replica["ready"], false);
    // Still not ready after several periods.
    wait_for(
        "readiness failures in the logs",
        Duration::from_secs(10),
        || {
            (daemon
                .ok(&["logs", "web"])
                .matches("readiness probe failed")
                .count()
                >= 5)
                .then_some(())
        },
    );
    let replica = &daemon.ps()[0];
    assert_eq!(replica["ready"], false);
    assert_eq!(replica["state"], "starting");
    assert!(daemon.ok(&["ps"]).contains(" no "));
}

#[test]
fn crash_backoff_then_recovery() {
    let app = App::with_manifest(
        r#"
app = "crashy"
[services.crashy]
command = "if [ -f healthy ]; then echo recovered; exec sleep 1000; else echo crashing; exit 3; fi"
port = false
restart_backoff = { initial = "300ms", max = "1s", reset_after = "10m" }
"#,
    );
    let daemon = app.up();
    // Crash loop: visible in ps as crashloop with the last exit and growing restarts.
    let looping = wait_for("a crashloop state in ps", Duration::from_secs(20), || {
        daemon
            .ps()
            .into_iter()
            .find(|r| r["state"] == "crashloop" && r["restarts"].as_u64() >= Some(2))
    });
    assert_eq!(looping["last_exit"], "exit code 3");
    assert!(looping["next_restart_in_seconds"].as_u64().is_some());
    wait_for("back-off in the ps table", Duration::from_secs(10), || {
        daemon
            .ok(&["ps"])
            .contains("back-off, restarting in")
            .then_some(())
    });
    // Recovery once the cause is fixed.
    app.write("healthy", "");
    let replica = wait_for("recovery", Duration::from_secs(20), || {
        daemon
            .ps()
            .into_iter()
            .find(|r| r["state"] == "running" && r["pid"].is_u64())
    });
    assert!(replica["restarts"].as_u64().unwrap() >= 2);
    assert!(daemon.ok(&["logs", "crashy"]).contains("recovered"));
    let events = daemon.ok(&["events", "crashy", "-n", "200"]);
    assert!(events.contains("replica.backoff"), "{events}");
}

#[test]
fn liveness_failure_restarts_the_replica() {
    let app = App::with_manifest(
        r#"
app = "hangs"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
readiness = { http = "/", period = "200ms" }
liveness = { http = "/alive.txt", period = "200ms", failure_threshold = 3, initial_delay = "2s" }
restart_backoff = { initial = "100ms", max = "1s" }
termination_grace = "2s"
"#,
    );
    app.write("alive.txt", "ok");
    let daemon = app.up();
    let ready = daemon.wait_ready("web", 1);
    let (first, restarts) = (ready[0]["pid"].clone(), ready[0]["restarts"].as_u64());
    // Probes also fail while python starts on a loaded machine, so the restart to wait for is
    // one that happens after the file is gone.
    app.remove("alive.txt");
    wait_for("a liveness restart", Duration::from_secs(20), || {
        daemon
            .ps()
            .into_iter()
            .find(|r| r["pid"] != first && r["restarts"].as_u64() > restarts)
    });
    app.write("alive.txt", "ok");
    let replica = wait_for(
        "the restarted replica ready",
        Duration::from_secs(20),
        || {
            daemon.ps().into_iter().find(|r| {
                r["ready"] == true && r["pid"] != first && r["restarts"].as_u64() > restarts
            })
        },
    );
    assert_ne!(replica["pid"], first);
    assert!(
        daemon
            .ok(&["logs", "web"])
            .contains("liveness probe failed")
    );
    let events = daemon.ok(&["events", "--json", "-n", "500"]);
    assert!(events.contains("replica.liveness_failed"), "{events}");
}

#[test]
fn exec_and_tcp_probes() {
    let app = App::with_manifest(
        r#"
app = "probes"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
readiness = { tcp = true, period = "200ms" }
[services.worker]
command = "exec sleep 1000"
port = false
readiness = { exec = "test -f ready", period = "200ms" }
"#,
    );
    let daemon = app.up();
    daemon.wait_ready("web", 1);
    let worker = wait_for("the worker process", Duration::from_secs(10), || {
        daemon
            .ps()
            .into_iter()
            .find(|r| r["service"] == "worker" && r["pid"].is_u64())
    });
    assert_eq!(worker["ready"], false);
    app.write("ready", "");
    daemon.wait_ready("worker", 1);
}
