//! The router inside `pier up`: public traffic by Host, only ready replicas, Heroku's log line
//! in `pier logs router`, maintenance mode, and internal services behind stable loopback
//! listeners that their `<NAME>_URL` points to.

use std::time::Duration;

use crate::harness::{App, Daemon, http_via, wait_for};

const MANIFEST: &str = r#"
app = "shop"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1 --directory site"
replicas = 2
public = true
readiness = { http = "/", period = "200ms" }
[services.api]
command = "python3 -m http.server $PORT --bind 127.0.0.1 --directory internal"
readiness = { http = "/", period = "200ms" }
[services.env]
command = "echo API_URL=$API_URL; exec sleep 1000"
port = false
"#;

/// The shop app: `web` serves `site/`, the internal `api` serves `internal/`.
fn shop() -> App {
    let app = App::with_manifest(MANIFEST);
    std::fs::create_dir_all(app.path().join("site")).unwrap();
    std::fs::create_dir_all(app.path().join("internal")).unwrap();
    app.write("site/hello.txt", "hello from the app");
    app.write("internal/secret.txt", "internal only");
    app
}

#[test]
fn public_traffic_goes_through_the_router_to_ready_replicas() {
    let app = shop();
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    for host in ["shop.localhost", "web.shop.localhost", "anything.example"] {
        let (status, head, body) = http_via(&daemon.listen, host, "/hello.txt").unwrap();
        assert_eq!(status, 200, "{host}: {head}");
        assert_eq!(body, "hello from the app");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("via: 1.1 pier"),
            "{head}"
        );
    }
    // Requests spread over both replicas, and each is logged in Heroku's format.
    for _ in 0..20 {
        http_via(&daemon.listen, "shop.localhost", "/hello.txt").unwrap();
    }
    let logs = daemon.ok(&["logs", "router", "-n", "100"]);
    assert!(
        logs.contains("at=info method=GET path=\"/hello.txt\" host=shop.localhost"),
        "{logs}"
    );
    assert!(
        logs.contains("dyno=web.1") && logs.contains("dyno=web.2"),
        "{logs}"
    );
    assert!(logs.contains("status=200"), "{logs}");

    // pier's /metrics counts them by route, backend, status and code.
    let (status, _, metrics) = http_via(&daemon.api, "127.0.0.1", "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"pier_router_requests_total{route="shop.localhost",backend="web",release="v1",status="200",code=""}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("pier_router_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // Scaled to zero: H14 from the router.
    daemon.ok(&["scale", "web=0"]);
    let (status, _, body) = wait_for("H14", Duration::from_secs(20), || {
        http_via(&daemon.listen, "shop.localhost", "/").filter(|(s, _, _)| *s == 503)
    });
    assert_eq!(status, 503);
    assert!(body.contains("(H14)"), "{body}");
}

#[test]
fn maintenance_mode_is_persisted_and_serves_h80() {
    let app = shop();
    let mut daemon = app.up();
    daemon.wait_ready("web", 2);
    assert!(daemon.ok(&["maintenance"]).contains("off"));
    daemon.ok(&["maintenance", "on"]);
    let (status, _, body) = http_via(&daemon.listen, "shop.localhost", "/").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("Maintenance mode (H80)"), "{body}");
    let bad = daemon.cli(&["maintenance", "maybe"]);
    assert_eq!(bad.status.code(), Some(2));
    // A restarted daemon is still in maintenance.
    daemon.ok(&["down"]);
    daemon.wait_exit();
    let daemon = Daemon::start(app.path(), &[]);
    daemon.wait_ready("web", 2);
    assert!(daemon.ok(&["maintenance"]).contains("on"));
    daemon.ok(&["maintenance", "off"]);
    let (status, _, _) = http_via(&daemon.listen, "shop.localhost", "/").unwrap();
    assert_eq!(status, 200);
}

#[test]
fn internal_services_have_a_stable_address_behind_the_router() {
    let app = shop();
    let url = {
        let mut daemon = app.up();
        daemon.wait_ready("api", 1);
        let url = wait_for(
            "API_URL in the env service's output",
            Duration::from_secs(10),
            || {
                let logs = daemon.ok(&["logs", "env"]);
                logs.lines()
                    .find_map(|l| l.split("API_URL=http://").nth(1).map(str::to_string))
            },
        );
        let addr = url.trim().to_string();
        let (status, _, body) = http_via(&addr, "api", "/secret.txt").unwrap();
        assert_eq!(
            (status, body.as_str()),
            (200, "internal only"),
            "the internal listener reaches api"
        );
        // Internal services are not reachable through the public listener, by any host name.
        for host in ["api.shop.localhost", "api", "shop.localhost"] {
            let (status, _, _) = http_via(&daemon.listen, host, "/secret.txt").unwrap();
            assert_eq!(status, 404, "{host} must not reach the internal service");
        }
        daemon.ok(&["down"]);
        daemon.wait_exit();
        url
    };
    let daemon = Daemon::start(app.path(), &[]);
    let again = wait_for("API_URL after a restart", Duration::from_secs(10), || {
        let logs = daemon.ok(&["logs", "env"]);
        logs.lines()
            .find_map(|l| l.split("API_URL=http://").nth(1).map(str::to_string))
    });
    assert_eq!(url, again, "the internal address is stable across restarts");
}

/// A threaded server whose `/slow` takes 300 ms: requests are in flight whenever a replica
/// is stopped, and it dies at once on SIGTERM, as many apps do.
const SLOW_SERVER: &str = r#"
import http.server, os, time
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.3)
        body = b"hello from the app"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

#[test]
fn a_rolling_restart_under_load_fails_no_request() {
    let app = App::with_manifest(
        r#"
app = "steady"
[services.web]
command = "python3 server.py"
replicas = 2
public = true
readiness = { http = "/", period = "100ms" }
termination_grace = "5s"
"#,
    );
    app.write("server.py", SLOW_SERVER);
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Four clients, each bounded: it stops when told, after 2,000 requests or 60 s.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (listen, stop) = (daemon.listen.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && ok < 2_000
                    && std::time::Instant::now() < deadline
                {
                    match http_via(&listen, "steady.localhost", "/slow") {
                        Some((200, _, body)) if body == "hello from the app" => ok += 1,
                        other => failed.push(format!(
                            "{:?}",
                            other.map(|(status, _, body)| (
                                status,
                                body.lines()
                                    .find(|l| l.starts_with("<h1>"))
                                    .map(str::to_string)
                            ))
                        )),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    wait_for("traffic", Duration::from_secs(10), || {
        daemon
            .ok(&["logs", "router", "-n", "20"])
            .contains("status=200")
            .then_some(())
    });
    let restarted = daemon.ok(&["restart", "web"]);
    assert!(restarted.contains("all ready"), "{restarted}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for client in clients {
        let (o, f) = client.join().unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok >= 8, "only {ok} requests went through");
    let events = daemon.ok(&["events", "web", "-n", "100"]);
    assert!(events.matches("replica.stopping").count() >= 2, "{events}");
}

#[test]
fn an_unreadable_ca_file_stops_pier_up_before_anything_starts() {
    let app = App::with_manifest(
        r#"
app = "legacy"
[services.web]
command = "exec sleep 1000"
public = true
[[routes]]
host = "legacy.localhost"
split = [{ to = "web", weight = 90 }, { to = "https://legacy.example.com", weight = 10 }]
ca_file = "certs/missing.pem"
"#,
    );
    let out = std::process::Command::new(crate::harness::PIER)
        .args([
            "up",
            "--api-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--no-color",
        ])
        .arg(app.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certs/missing.pem"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("starting process"));
}

#[test]
fn router_settings_from_the_manifest_take_effect() {
    let app = App::with_manifest(
        r#"
app = "rr"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
replicas = 2
public = true
readiness = { http = "/", period = "200ms" }
[router]
balance = "round_robin"
retry_idempotent = true
"#,
    );
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    for i in 0..10 {
        let (status, _, _) = http_via(&daemon.listen, "rr.localhost", &format!("/?n={i}")).unwrap();
        assert_eq!(status, 200);
    }
    let logs = daemon.ok(&["logs", "router", "-n", "10"]);
    let dynos: Vec<&str> = logs
        .lines()
        .filter_map(|l| l.split(" dyno=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(dynos.len(), 10, "{logs}");
    assert!(
        dynos.windows(2).all(|w| w[0] != w[1]),
        "round robin alternates: {dynos:?}"
    );
}

/// The CPUs each of the daemon's router worker threads may run on (`Cpus_allowed_list`, as
/// the kernel reports it), by thread name.
fn router_worker_cpus(daemon: &Daemon) -> Vec<(String, String)> {
    let pid = daemon.child.as_ref().expect("daemon running").id();
    let mut workers = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !name.starts_with("pier-router-") {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or_default();
        workers.push((name.trim().to_string(), cpus.trim().to_string()));
    }
    workers.sort();
    workers
}

/// The CPUs this test process may run on, as the kernel lists them.
fn own_cpus() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"));
    line.unwrap().trim().to_string()
}

#[test]
fn router_workers_are_pinned_one_per_cpu_unless_the_manifest_says_not_to() {
    const WEB: &str = r#"
app = "pin"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
public = true
"#;
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = App::with_manifest(WEB).up();
    let workers = wait_for("one router worker per CPU", Duration::from_secs(10), || {
        let workers = router_worker_cpus(&pinned);
        (workers.len() == parallelism).then_some(workers)
    });
    if parallelism > 1 {
        for (name, cpus) in &workers {
            assert!(
                cpus.parse::<usize>().is_ok(),
                "{name} on one CPU: {workers:?}"
            );
        }
        let mut distinct: Vec<&String> = workers.iter().map(|(_, cpus)| cpus).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), workers.len(), "one CPU each: {workers:?}");
    }
    drop(pinned);

    let unpinned = App::with_manifest(&format!("{WEB}[router]\npin_workers = false\n")).up();
    let workers = wait_for("one router worker per CPU", Duration::from_secs(10), || {
        let workers = router_worker_cpus(&unpinned);
        (workers.len() == parallelism).then_some(workers)
    });
    for (name, cpus) in &workers {
        assert_eq!(*cpus, own_cpus(), "{name} may run anywhere the daemon may");
    }
}
