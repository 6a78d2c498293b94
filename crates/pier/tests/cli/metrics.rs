//! Scraping end to end: replicas that declare `metrics` are scraped and follow scaling, a
//! static target with a malformed payload is `down` with a precise error, `pier metrics stats`
//! counts what was stored, and the store survives a restart (the write-ahead log is replayed).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::harness::{App, Daemon, wait_for};

/// A `python3 -m http.server` serving the app folder, stopped on drop.
struct FileServer(Child);

impl FileServer {
    fn start(dir: &std::path::Path, port: u16) -> FileServer {
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        FileServer(child)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn targets(daemon: &Daemon) -> Vec<Value> {
    let value: Value = serde_json::from_str(&daemon.ok(&["targets", "--json"])).unwrap();
    value["targets"].as_array().cloned().unwrap_or_default()
}

fn stats(daemon: &Daemon) -> Value {
    serde_json::from_str(&daemon.ok(&["metrics", "stats", "--json"])).unwrap()
}

#[test]
fn targets_follow_replicas_and_bad_payloads_are_precise_errors() {
    let static_port = free_port();
    let app = App::with_manifest(&format!(
        r#"
app = "scraped"

[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
port = true
metrics = "/metrics"

[metrics]
interval = "200ms"
timeout = "150ms"

[[metrics.targets]]
job = "broken"
url = "http://127.0.0.1:{static_port}/bad"
labels = {{ env = "test" }}
"#
    ));
    app.write("metrics", "# TYPE demo_total counter\ndemo_total 3\n");
    app.write("bad", "demo_total{ 3\n");
    let _server = FileServer::start(app.path(), static_port);
    let daemon = app.up();

    let web_up = |n: usize| {
        move |targets: &[Value]| {
            targets
                .iter()
                .filter(|t| {
                    t["job"] == "web" && t["health"] == "up" && t["samples"].as_u64() > Some(0)
                })
                .count()
                == n
        }
    };
    wait_for(
        "web scraped and broken reported",
        Duration::from_secs(30),
        || {
            let t = targets(&daemon);
            let broken = t.iter().find(|t| t["job"] == "broken")?;
            (web_up(1)(&t) && broken["health"] == "down").then_some(())
        },
    );
    let all = targets(&daemon);
    let broken = all.iter().find(|t| t["job"] == "broken").unwrap();
    let error = broken["last_error"].as_str().unwrap();
    assert!(error.contains("line 1, column"), "{error}");
    assert_eq!(broken["labels"]["env"], "test");
    assert_eq!(broken["instance"], format!("127.0.0.1:{static_port}"));
    let web = all.iter().find(|t| t["job"] == "web").unwrap();
    assert_eq!(web["labels"]["replica"], "web.1");
    assert_eq!(web["labels"]["app"], "scraped");
    assert!(
        all.iter()
            .any(|t| t["job"] == "pier" && t["health"] == "up")
    );

    let table = daemon.ok(&["targets"]);
    assert!(
        table.starts_with("JOB     INSTANCE") || table.starts_with("JOB "),
        "{table}"
    );
    assert!(table.contains("broken"), "{table}");

    // Scaling adds and removes targets at once.
    daemon.ok(&["scale", "web=2"]);
    wait_for("two web targets up", Duration::from_secs(30), || {
        web_up(2)(&targets(&daemon)).then_some(())
    });
    // The second replica's series were stored while it ran.
    let web2 = r#"demo_total{job="web",replica="web.2"}"#;
    wait_for("web.2's series stored", Duration::from_secs(30), || {
        daemon
            .ok(&["metrics", "export", "--match", web2])
            .contains("demo_total{")
            .then_some(())
    });
    daemon.ok(&["scale", "web=1"]);
    wait_for("one web target", Duration::from_secs(30), || {
        (targets(&daemon)
            .iter()
            .filter(|t| t["job"] == "web")
            .count()
            == 1)
            .then_some(())
    });
    // Gone with its replica: its series end with a staleness marker (NaN on export), the
    // synthetic `up` too.
    for selector in [web2, r#"up{job="web",replica="web.2"}"#] {
        wait_for("a staleness marker", Duration::from_secs(30), || {
            let export = daemon.ok(&["metrics", "export", "--match", selector]);
            let last = export
                .lines()
                .rev()
                .find(|l| !l.starts_with('#'))?
                .to_string();
            last.split_whitespace()
                .nth(1)
                .is_some_and(|v| v == "NaN")
                .then_some(())
        });
    }

    let before = stats(&daemon);
    assert!(before["series"].as_u64().unwrap() > 5, "{before}");
    assert!(before["samples"].as_u64().unwrap() > 5, "{before}");
    let metrics = crate::harness::http_get(
        daemon.api.rsplit(':').next().unwrap().parse().unwrap(),
        "/metrics",
    )
    .unwrap()
    .1;
    assert!(metrics.contains("pier_tsdb_head_series "), "{metrics}");

    // The store comes back after a restart: the write-ahead log is replayed.
    let mut daemon = daemon;
    assert_eq!(daemon.signal_and_wait(Signal::SIGTERM), Some(0));
    let again = app.up();
    let after = stats(&again);
    assert!(
        after["samples"].as_u64() >= before["samples"].as_u64(),
        "before {before}, after {after}"
    );
}

#[test]
fn import_and_export_round_trip_and_a_bad_file_loads_nothing() {
    let app = App::with_manifest(
        r#"
app = "history"

[services.worker]
command = "sleep 100000"
"#,
    );
    app.write(
        "history.om",
        "# TYPE temp gauge\n\
         temp{room=\"a\"} 20.5 1700000000.000\n\
         temp{room=\"a\"} 21 1700000015\n\
         temp{room=\"b\"} NaN 1700000000\n\
         # EOF\n",
    );
    app.write(
        "bad.om",
        "# TYPE temp gauge\n\
         temp{room=\"c\"} 1 1700000000\n\
         temp{room=\"d\"} 2\n\
         # EOF\n",
    );
    let daemon = app.up();
    let out = daemon.ok(&["metrics", "import", "history.om"]);
    assert!(
        out.starts_with("imported 3 samples of 2 series from 2023-11-14T22:13:20Z"),
        "{out}"
    );

    let export = daemon.ok(&["metrics", "export", "--match", "temp{room=\"a\"}"]);
    assert!(
        export.contains("temp{room=\"a\"} 20.5 1700000000"),
        "{export}"
    );
    assert!(
        export.contains("temp{room=\"a\"} 21.0 1700000015")
            || export.contains("temp{room=\"a\"} 21 1700000015"),
        "{export}"
    );
    assert!(!export.contains("room=\"b\""), "{export}");
    assert!(export.ends_with("# EOF\n"), "{export}");
    let everything = daemon.ok(&["metrics", "export"]);
    assert!(
        everything.contains("temp{room=\"b\"} NaN 1700000000"),
        "{everything}"
    );

    let samples = |d: &Daemon| stats(d)["samples"].as_u64().unwrap();
    let before = samples(&daemon);
    let bad = daemon.cli(&["metrics", "import", "bad.om"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("line 3: sample `temp` has no timestamp"),
        "{stderr}"
    );
    assert_eq!(samples(&daemon), before, "a bad file loads nothing");

    let selector = daemon.cli(&["metrics", "export", "--match", "rate(x[5m])"]);
    assert_eq!(selector.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&selector.stderr).contains("invalid series selector `rate(x[5m])`"),
        "{}",
        String::from_utf8_lossy(&selector.stderr)
    );
}
