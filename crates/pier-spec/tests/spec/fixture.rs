//! A realistic, classroom-like manifest (tests/fixtures/classroom.toml) resolves as expected.

use std::path::Path;
use std::time::Duration;

use pier_spec::{Backend, Notifier, ProbeAction, SplitKey, parse_pier_toml};

use crate::harness::snapshot;

const CLASSROOM: &str = include_str!("../fixtures/classroom.toml");

fn classroom() -> pier_spec::Manifest {
    match parse_pier_toml(CLASSROOM, Path::new("tests/fixtures/classroom.toml")) {
        Ok(m) => m,
        Err(e) => panic!("the classroom fixture must parse:\n{e}"),
    }
}

#[test]
fn classroom_resolves() {
    let m = classroom();
    assert_eq!(m.app, "classroom");
    assert_eq!(m.supervisor.port_range, (6000, 6999));
    let web = &m.services["web"];
    assert_eq!(web.replicas, 2);
    assert!(web.public && web.port);
    assert_eq!(web.resources.cpu_millis, Some(500));
    assert_eq!(web.resources.memory_bytes, Some(256 << 20));
    assert_eq!(web.restart_backoff.initial, Duration::from_secs(5));
    let answers = &m.services["answers"];
    assert!(answers.is_internal());
    assert_eq!(answers.resources.memory_bytes, Some(512 << 20));
    assert_eq!(
        answers.readiness.as_ref().map(|p| &p.action),
        Some(&ProbeAction::Tcp)
    );
    let worker = &m.services["worker"];
    assert!(!worker.port && !worker.public);
    assert_eq!(
        worker.restart_backoff.reset_after,
        Duration::from_secs(1800)
    );
    assert_eq!(m.jobs["daily-report"].timezone, "America/Chicago");
    assert!(!m.jobs["heartbeat"].enabled);
    let split = &m.routes[0].split;
    assert_eq!(
        split[1].to,
        Backend::Url("https://legacy.example.com".into())
    );
    assert_eq!(
        m.routes[0].split_key,
        Some(SplitKey::Cookie("tenant".into()))
    );
    assert_eq!(m.routes[1].timeouts.first_byte, Duration::from_secs(10));
    assert_eq!(m.routes[1].timeouts.idle, Duration::from_secs(55));
    assert!(matches!(m.alerts.notify[0], Notifier::Slack { .. }));
}

#[test]
fn classroom_snapshot() {
    snapshot(
        "classroom_manifest",
        "# tests/fixtures/classroom.toml\n",
        &format!("{:#?}", classroom()),
    );
}

/// The example in DESIGN.md's manifest sketch is valid as written (with its `...` URL).
#[test]
fn design_sketch_parses() {
    let sketch = crate::harness::text(
        r#"
        app = "classroom"

        [build]
        command = "cargo build --release -p classroom"

        [env]
        RUST_LOG = "info"

        [services.web]
        command = "target/release/classroom-web"     # gets $PORT
        replicas = 2
        public = true                                 # routed by the public listener
        metrics = "/metrics"                          # scraped into the tsdb
        readiness = { http = "/healthz", period = "2s", timeout = "1s", failure_threshold = 3 }
        liveness  = { http = "/healthz", period = "10s" }
        resources = { cpu = "500m", memory = "256Mi" }
        autoscale = { min = 2, max = 8, target_cpu = 0.6 }

        [services.answers]                            # internal: reachable as $ANSWERS_URL only
        command = "target/release/classroom-answers"

        [services.worker]
        command = "target/release/classroom-worker"
        port = false                                  # no $PORT, no routing

        [jobs.daily-report]
        schedule = "0 6 * * *"
        timezone = "America/Chicago"
        command = "target/release/classroom-report"
        concurrency = "forbid"
        catch_up = "latest"

        [[routes]]
        host = "classroom.localhost"
        split = [{ to = "web", weight = 90 }, { to = "https://legacy.example.com", weight = 10 }]
        split_key = { cookie = "tenant" }

        [alerts]
        rules = ["alerts.yml"]                        # Prometheus rule files, unchanged
        notify = [{ slack = "https://hooks.slack.com/services/..." }]
        "#,
    );
    let m = crate::harness::manifest(&sketch);
    assert_eq!(m.services.len(), 3);
}
