//! User journey 1: `pier up examples/classroom` builds the demo and runs it; the web service
//! answers within 10 s of start, every replica is ready, and a student's answer goes through
//! the internal answers service; the daily report job runs on demand and reaches it too.

use std::time::{Duration, Instant};

use crate::harness::{Daemon, http_get, http_via, wait_for};

#[test]
fn the_classroom_demo_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/classroom");
    let dir = dir.canonicalize().unwrap();
    let _ = std::fs::remove_dir_all(dir.join(".pier"));
    // The build runs first (a no-op when .ci/run has built the demo already).
    let daemon = Daemon::start(&dir, &[]);
    let started = Instant::now();
    // Through the router, as a user opens http://classroom.localhost:8080.
    wait_for(
        "the web service to answer through the router",
        Duration::from_secs(10),
        || {
            http_via(&daemon.listen, "classroom.localhost", "/")
                .filter(|(status, _, _)| *status == 200)
        },
    );
    let web = wait_for("a web replica's port", Duration::from_secs(10), || {
        let replica = daemon.ps().into_iter().find(|r| r["name"] == "web.1")?;
        let port = replica["port"].as_u64()? as u16;
        http_get(port, "/")
            .filter(|(status, _)| *status == 200)
            .map(|_| port)
    });
    eprintln!(
        "web answered {:?} after pier published its API",
        started.elapsed()
    );
    daemon.wait_ready("web", 2);
    daemon.wait_ready("answers", 1);
    let table = daemon.ok(&["ps"]);
    assert!(table.contains("worker.1"), "{table}");
    let (_, page) = http_get(web, "/").unwrap();
    assert!(
        !page.contains("answers service unavailable"),
        "web reaches answers through ANSWERS_URL"
    );
    let (status, metrics) = http_get(web, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("http_requests_total"));

    // Journey 2: the demo's metrics are scraped into the store, replica by replica.
    wait_for("web and answers scraped", Duration::from_secs(40), || {
        let targets: serde_json::Value =
            serde_json::from_str(&daemon.ok(&["targets", "--json"])).ok()?;
        let up = |job: &str| {
            targets["targets"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["job"] == job && t["health"] == "up"))
        };
        (up("web") && up("answers") && up("pier")).then_some(())
    });
    let export = daemon.ok(&[
        "metrics",
        "export",
        "--match",
        r#"http_requests_total{job="web",app="classroom"}"#,
    ]);
    assert!(export.contains("replica=\"web.1\""), "{export}");

    // Journey 6: the cron job is listed, and runs on demand with the internal service's URL.
    let jobs = daemon.ok(&["jobs"]);
    assert!(
        jobs.contains("daily-report  0 6 * * *  America/Chicago"),
        "{jobs}"
    );
    daemon.ok(&["jobs", "run", "daily-report"]);
    let line = wait_for("the report's line", Duration::from_secs(20), || {
        let logs = daemon.ok(&["logs", "job.daily-report", "-n", "20"]);
        logs.lines()
            .find(|l| l.contains("daily report (scheduled at "))
            .map(str::to_string)
    });
    assert!(
        line.contains("from"),
        "the report reached ANSWERS_URL: {line}"
    );
    let _ = std::fs::remove_dir_all(dir.join(".pier"));
}
