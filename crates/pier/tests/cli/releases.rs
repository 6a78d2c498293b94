//! Releases: `pier deploy` (git HEAD and working tree), the release phase, rolling updates
//! under load with zero failed requests (the bound on ready replicas asserted from the event
//! log), a release that never becomes ready, rollback, config vars (masked in logs and
//! events), one-off runs and their exit codes, and bad input that changes nothing.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{App, Daemon, http_via, text, wait_for};

pub(crate) const SERVER: &str = r#"
import http.server, os
VERSION = open('version.txt').read().strip()
UNREADY = os.path.exists('unready')
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        status = 503 if (self.path == '/healthz' and UNREADY) else 200
        body = ('%s %s\n' % (VERSION, os.environ.get('FOO', '-'))).encode()
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler)
server.daemon_threads = True
server.serve_forever()
"#;

/// The app's pier.toml: `head` goes after `app` (tables such as `[release]`), `extra` into
/// `[services.web]`.
fn manifest_with(head: &str, extra: &str) -> String {
    format!(
        r#"
app = "deploys"
{head}

[deploy]
progress_deadline = "30s"

[services.web]
command = "python3 server.py"
replicas = 2
readiness = {{ http = "/healthz", period = "200ms", failure_threshold = 1 }}
termination_grace = "5s"
{extra}
"#
    )
}

fn manifest(extra: &str) -> String {
    manifest_with("", extra)
}

/// An app folder that is a git repository with one commit of `version`.
pub(crate) fn git_app(version: &str, extra: &str) -> App {
    let app = App::with_manifest(&manifest(extra));
    app.write("server.py", SERVER);
    app.write("version.txt", version);
    app.write(".gitignore", ".pier/\n");
    git(&app, &["init", "-q"]);
    commit(&app, "first");
    app
}

pub(crate) fn git(app: &App, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(app.path())
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

pub(crate) fn commit(app: &App, message: &str) {
    git(app, &["add", "-A"]);
    git(app, &["commit", "-q", "--allow-empty", "-m", message]);
}

/// A bounded constant load through the router: 12 clients, a fresh connection per request.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<String>>>,
    pub(crate) sent: Arc<AtomicU64>,
}

impl Load {
    pub(crate) fn start(daemon: &Daemon) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let threads = (0..12)
            .map(|_| {
                let (stop, sent, addr) = (stop.clone(), sent.clone(), daemon.listen.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut bodies = Vec::new();
                    // Bounded: at most 3 minutes and 200,000 requests per client.
                    while !stop.load(Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(180)
                        && bodies.len() < 200_000
                    {
                        let body = match http_via(&addr, "deploys.localhost", "/") {
                            Some((200, _, body)) => body.trim().to_string(),
                            Some((status, head, _)) => format!("FAILED {status} {head}"),
                            None => "FAILED connection error".to_string(),
                        };
                        bodies.push(body);
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    bodies
                })
            })
            .collect();
        Load {
            stop,
            threads,
            sent,
        }
    }

    /// Stops the clients; every response body, in no particular order.
    pub(crate) fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().expect("load thread"))
            .collect()
    }
}

/// Runs `pier ARGS` while `load` runs; asserts success, and that load was flowing.
pub(crate) fn under_load(daemon: &Daemon, load: &Load, args: &[&str]) -> String {
    let before = load.sent.load(Ordering::Relaxed);
    let started = Instant::now();
    let out = daemon.ok(args);
    let rate =
        (load.sent.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "pier {args:?} took {:?} at {rate:.0} requests/s",
        started.elapsed()
    );
    out
}

fn body(daemon: &Daemon) -> String {
    let (status, _, body) = http_via(&daemon.listen, "deploys.localhost", "/").expect("request");
    assert_eq!(status, 200, "{body}");
    body.trim().to_string()
}

pub(crate) fn events(daemon: &Daemon) -> Vec<Value> {
    let value: Value =
        serde_json::from_str(&daemon.ok(&["events", "-n", "5000", "--json"])).expect("events");
    value["events"].as_array().cloned().unwrap_or_default()
}

/// The fewest ready web replicas at any point after event `after`, replayed from the log.
pub(crate) fn min_ready_after(events: &[Value], after: i64) -> usize {
    let mut ready = BTreeSet::new();
    let mut min = usize::MAX;
    for event in events {
        let subject = event["subject"].as_str().unwrap_or_default().to_string();
        if !subject.starts_with("web.") {
            continue;
        }
        match event["kind"].as_str().unwrap_or_default() {
            "replica.ready" => {
                ready.insert(subject);
            }
            "replica.not_ready"
            | "replica.draining"
            | "replica.exited"
            | "replica.stopping"
            | "replica.killed"
            | "replica.liveness_failed" => {
                ready.remove(&subject);
            }
            _ => {}
        }
        if event["id"].as_i64().unwrap_or(0) > after {
            min = min.min(ready.len());
        }
    }
    min
}

pub(crate) fn last_event_id(daemon: &Daemon) -> i64 {
    events(daemon)
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .max()
        .unwrap_or(0)
}

pub(crate) fn releases(daemon: &Daemon) -> Vec<Value> {
    let value: Value = serde_json::from_str(&daemon.ok(&["releases", "--json"])).expect("releases");
    value["releases"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn status_of(daemon: &Daemon, version: u64) -> String {
    releases(daemon)
        .iter()
        .find(|r| r["version"] == version)
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn deploy_config_and_rollback_under_load_fail_no_request() {
    let app = git_app("one", "");
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    let load = Load::start(&daemon);
    let first_id = last_event_id(&daemon);

    // v2: the committed code, built and rolled out.
    under_load(&daemon, &load, &["deploy"]);
    assert_eq!(body(&daemon), "one -");
    app.write("version.txt", "two");
    commit(&app, "second");
    under_load(&daemon, &load, &["deploy", "--description", "Version two"]);
    assert_eq!(body(&daemon), "two -");

    // Config: a new release with the same code; the value reaches processes, never the logs.
    let secret = "s3cret-value-4242";
    under_load(&daemon, &load, &["config", "set", &format!("FOO={secret}")]);
    assert_eq!(body(&daemon), format!("two {secret}"));
    assert!(daemon.ok(&["config"]).contains(secret));

    // Rollback to v2: its code and its config (no FOO).
    under_load(&daemon, &load, &["rollback", "v2"]);
    assert_eq!(body(&daemon), "one -");
    let bodies = load.finish();

    assert_no_failures(&bodies);
    // max_surge 25 % of 2 rounds up to 1, max_unavailable 25 % rounds down to 0: never < 2.
    let events = events(&daemon);
    assert_eq!(
        min_ready_after(&events, first_id),
        2,
        "ready web replicas dropped"
    );
    assert!(events.iter().any(|e| e["kind"] == "rollout.completed"));

    let list = releases(&daemon);
    let described: Vec<(u64, String, String)> = list
        .iter()
        .map(|r| {
            (
                r["version"].as_u64().unwrap(),
                r["description"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(described[0], (5, "Rollback to v2".into(), "current".into()));
    assert_eq!(described[1], (4, "Set FOO".into(), "rolled back".into()));
    assert_eq!(described[2].1, "Version two");
    assert!(described[3].1.starts_with("Deploy "), "{described:?}");
    let table = daemon.ok(&["releases"]);
    assert!(
        table.lines().next().unwrap().starts_with("VERSION"),
        "{table}"
    );
    assert!(
        daemon
            .ok(&["releases", "--log", "v3"])
            .contains("rolling out v3")
    );

    // Config values never reach logs or events.
    daemon.ok(&["config", "set", &format!("FOO={secret}")]);
    daemon.ok(&["run", "--", "sh", "-c", "echo the value is $FOO"]);
    for args in [
        &["logs", "-n", "10000"][..],
        &["events", "-n", "5000", "--json"],
    ] {
        let out = daemon.ok(args);
        assert!(!out.contains(secret), "{args:?} shows the value:\n{out}");
    }

    // One-off runs: the current env, the command's exit code.
    assert_eq!(daemon.ok(&["run", "--", "printenv", "FOO"]).trim(), secret);
    let exit = daemon.cli(&["run", "--", "sh", "-c", "exit 3"]);
    assert_eq!(exit.status.code(), Some(3), "{}", text(&exit.stderr));
    assert_eq!(
        daemon.ok(&["run", "--", "cat", "version.txt"]).trim(),
        "one"
    );
}

#[test]
fn a_release_that_never_becomes_ready_fails_at_the_deadline() {
    let app = git_app("one", "deploy = { progress_deadline = \"3s\" }");
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    daemon.ok(&["deploy"]);
    app.write("version.txt", "broken");
    app.write("unready", "");
    commit(&app, "broken");
    let load = Load::start(&daemon);
    let out = daemon.cli(&["deploy"]);
    let bodies = load.finish();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("progress deadline"), "{stderr}");
    assert!(
        stderr.contains("readiness probe"),
        "no log lines in:\n{stderr}"
    );
    assert!(bodies.len() > 100, "too little load: {}", bodies.len());
    assert!(
        bodies.iter().all(|b| b == "one -"),
        "requests reached something else: {:?}",
        bodies.iter().find(|b| *b != "one -")
    );
    assert_eq!(status_of(&daemon, 3), "failed");
    assert_eq!(status_of(&daemon, 2), "current");
    let web = daemon.wait_ready("web", 2);
    assert!(web.iter().all(|r| r["release"] == 2), "{web:?}");
}

#[test]
fn the_release_command_runs_once_per_release_and_a_failure_blocks_it() {
    let runs = tempfile::NamedTempFile::new().unwrap();
    let release = format!(
        "[release]\ncommand = \"test ! -e fail-release || exit 7; echo $PIER_RELEASE >> {}\"",
        runs.path().display()
    );
    let app = git_app("one", "");
    app.write("pier.toml", &manifest_with(&release, ""));
    commit(&app, "release phase");
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    daemon.ok(&["deploy"]);
    assert_eq!(std::fs::read_to_string(runs.path()).unwrap(), "v2\n");

    app.write("fail-release", "");
    app.write("version.txt", "two");
    commit(&app, "failing release phase");
    let out = daemon.cli(&["deploy"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("release command failed (exit code 7)"),
        "{stderr}"
    );
    assert_eq!(status_of(&daemon, 3), "failed");
    assert_eq!(body(&daemon), "one -");
    // Nothing of v3 ever started.
    assert!(daemon.ps().iter().all(|r| r["release"] == 2));
    assert!(
        !events(&daemon)
            .iter()
            .any(|e| e["message"].as_str().unwrap_or("").contains("to v3"))
    );
    assert_eq!(std::fs::read_to_string(runs.path()).unwrap(), "v2\n");
    let log = daemon.ok(&["releases", "--log", "v3"]);
    assert!(log.contains("release phase"), "{log}");
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    // Not a git repository: say so, and suggest --dirty.
    let app = App::with_manifest(&manifest(""));
    app.write("server.py", SERVER);
    app.write("version.txt", "one");
    let go = app.path().join("go");
    app.write(
        "pier.toml",
        &manifest_with(
            &format!(
                "[build]\ncommand = \"i=0; while [ ! -e {} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\"",
                go.display()
            ),
            "",
        ),
    );
    std::fs::write(&go, "").unwrap();
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    let expect_invalid = |args: &[&str], needle: &str| {
        let out = daemon.cli(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "pier {args:?}: {stderr}");
        assert!(stderr.contains(needle), "pier {args:?}: {stderr}");
    };
    expect_invalid(&["deploy"], "--dirty");
    expect_invalid(&["rollback", "v99"], "no release v99");
    expect_invalid(&["rollback", "banana"], "expected a version");
    expect_invalid(&["rollback"], "no previous release");
    expect_invalid(&["config", "set", "NOEQUALS"], "is not KEY=VALUE");
    expect_invalid(&["config", "set", "1BAD=x"], "invalid config var name");
    expect_invalid(&["config", "set", "PORT=1"], "set by pier");
    expect_invalid(&["config", "unset", "NOPE"], "NOPE is not set");
    expect_invalid(
        &["run", "--service", "nope", "--", "true"],
        "unknown service",
    );
    assert_eq!(releases(&daemon).len(), 1);

    // A deploy while a deploy runs: a conflict, and nothing changes.
    std::fs::remove_file(&go).unwrap();
    let mut first = Command::new(crate::harness::PIER)
        .args(["--api", &daemon.api, "deploy", "--dirty"])
        .current_dir(app.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        "the first deploy to be pending",
        Duration::from_secs(20),
        || (releases(&daemon).len() == 2).then_some(()),
    );
    expect_invalid(&["deploy", "--dirty"], "in progress");
    expect_invalid(&["config", "set", "A=b"], "in progress");
    expect_invalid(&["scale", "web=3"], "in progress");
    assert_eq!(releases(&daemon).len(), 2);
    std::fs::write(&go, "").unwrap();
    let status = wait_for(
        "the first deploy to finish",
        Duration::from_secs(60),
        || first.try_wait().ok().flatten(),
    );
    assert!(status.success());
    assert_eq!(status_of(&daemon, 2), "current");
    assert_eq!(releases(&daemon)[0]["source"], "working tree");
}

/// Every request of a load run succeeded, and there were enough of them to mean something.
pub(crate) fn assert_no_failures(bodies: &[String]) {
    let failed: Vec<&String> = bodies.iter().filter(|b| b.starts_with("FAILED")).collect();
    eprintln!("{} requests, {} failed", bodies.len(), failed.len());
    assert!(
        failed.is_empty(),
        "{} failed requests: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(bodies.len() > 500, "too little load: {}", bodies.len());
}
