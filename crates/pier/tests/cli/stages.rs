//! Staging environments: `pier stage NAME` runs the working tree (uncommitted changes included)
//! at `NAME.<app>.localhost` while the main environment keeps serving its deployed release;
//! config is copied, then independent; `--stage NAME` acts on the stage; its replicas are
//! scraped with `env="NAME"`; destroy leaves no process, target or state; bad input changes nothing; a restarted daemon runs its stages again.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{App, Daemon, PIER, alive, http_via, text, wait_for};
use crate::releases::git;

const SERVER: &str = r#"
import http.server, os
VERSION = open('version.txt').read().strip()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = ('%s %s\n' % (VERSION, os.environ.get('FOO', '-'))).encode()
        if self.path == '/metrics':
            body = b'# TYPE served_total counter\nserved_total 1\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler)
server.daemon_threads = True
server.serve_forever()
"#;

/// An internal service (reached as `$API_URL`) answering as web does.
const INTERNAL_API: &str = r#"
[services.api]
command = "python3 server.py"
port = true
public = false
readiness = { http = "/", period = "200ms", failure_threshold = 1 }
"#;

/// What `$API_URL` answers, from a one-off process (`pier [--stage NAME] run`).
const FETCH_API: &str = "python3 -c \"import os, urllib.request; print(urllib.request.urlopen(os.environ['API_URL']).read().decode().strip())\"";

/// A git app `stages` whose web replies `VERSION FOO`; `build` is its `[build]` command,
/// `extra` more of its manifest.
fn git_app(build: Option<&str>, extra: &str) -> App {
    let build = build
        .map(|command| format!("[build]\ncommand = {command:?}\n"))
        .unwrap_or_default();
    let app = App::with_manifest(&format!(
        r#"
app = "stages"
{build}
[deploy]
progress_deadline = "30s"

[metrics]
interval = "200ms"
timeout = "150ms"

[services.web]
command = "python3 server.py"
replicas = 2
metrics = "/metrics"
readiness = {{ http = "/", period = "200ms", failure_threshold = 1 }}
termination_grace = "5s"
{extra}
"#
    ));
    app.write("server.py", SERVER);
    app.write("version.txt", "one");
    app.write(".gitignore", ".pier/\n");
    git(&app, &["init", "-q"]);
    git(&app, &["add", "-A"]);
    git(&app, &["commit", "-q", "-m", "first"]);
    app
}

/// The body `host` answers through the router, once it answers 200.
fn body_at(daemon: &Daemon, host: &str) -> String {
    wait_for(
        &format!("{host} to answer"),
        Duration::from_secs(30),
        || match http_via(&daemon.listen, host, "/") {
            Some((200, _, body)) => Some(body.trim().to_string()),
            _ => None,
        },
    )
}

/// Waits until `host` answers `expected`.
fn wait_body(daemon: &Daemon, host: &str, expected: &str) {
    wait_for(
        &format!("{host} to answer {expected:?}"),
        Duration::from_secs(30),
        || (body_at(daemon, host) == expected).then_some(()),
    );
}

/// The pids of the stage's `count` replicas (`pier --stage NAME ps --json`), once exactly
/// that many run, all ready (the previous release's may still be stopping).
fn stage_pids(daemon: &Daemon, stage: &str, count: usize) -> Vec<u32> {
    wait_for(
        &format!("{count} ready replicas of stage {stage}"),
        Duration::from_secs(30),
        || {
            let value: Value =
                serde_json::from_str(&daemon.ok(&["--stage", stage, "ps", "--json"]))
                    .expect("ps json");
            let replicas = value["replicas"].as_array().cloned().unwrap_or_default();
            let ready = replicas.len() == count
                && replicas
                    .iter()
                    .all(|r| r["ready"] == true && r["state"] == "running");
            ready.then(|| {
                replicas
                    .iter()
                    .filter_map(|r| r["pid"].as_u64())
                    .map(|p| p as u32)
                    .collect()
            })
        },
    )
}

/// The scrape targets labelled `env=stage`.
fn stage_targets(daemon: &Daemon, stage: &str) -> Vec<Value> {
    let value: Value =
        serde_json::from_str(&daemon.ok(&["targets", "--json"])).expect("targets json");
    value["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["labels"]["env"] == stage)
        .cloned()
        .collect()
}

fn stages_json(daemon: &Daemon) -> Vec<Value> {
    let value: Value =
        serde_json::from_str(&daemon.ok(&["stage", "list", "--json"])).expect("stages json");
    value["stages"].as_array().cloned().unwrap_or_default()
}

/// Asserts `pier ARGS` fails with exit code 2 and a message containing `needle`.
fn invalid(daemon: &Daemon, args: &[&str], needle: &str) {
    let out = daemon.cli(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "pier {args:?}: {stderr}");
    assert!(stderr.contains(needle), "pier {args:?}: {stderr}");
}

fn stage_dir(app: &App, name: &str) -> std::path::PathBuf {
    app.path().join(".pier/stages").join(name)
}

#[test]
fn a_stage_serves_the_working_tree_at_its_own_host_and_destroy_leaves_nothing() {
    let app = git_app(None, INTERNAL_API);
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    daemon.ok(&["config", "set", "FOO=main"]);
    daemon.ok(&["deploy"]);
    wait_body(&daemon, "stages.localhost", "one main");

    // An uncommitted change, staged.
    app.write("version.txt", "two");
    let out = daemon.cli(&["stage", "review"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "pier stage review: {stderr}");
    assert!(
        stderr.contains("created stage review") && stderr.contains("FOO"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("v1 is the current release"));
    assert_eq!(body_at(&daemon, "review.stages.localhost"), "two main");
    assert_eq!(body_at(&daemon, "web.review.stages.localhost"), "two main");
    assert_eq!(body_at(&daemon, "stages.localhost"), "one main");

    let listed = daemon.ok(&["stage", "list"]);
    assert!(listed.contains("review") && listed.contains("http://review.stages.localhost:"));
    let stages = stages_json(&daemon);
    assert_eq!(stages.len(), 1);
    assert_eq!(stages[0]["release"], 1);
    assert_eq!(stages[0]["ready"], 3, "web ×2 and api");

    // Config: copied, then independent.
    assert!(daemon.ok(&["--stage", "review", "config"]).contains("main"));
    daemon.ok(&["--stage", "review", "config", "set", "FOO=staged"]);
    assert_eq!(body_at(&daemon, "review.stages.localhost"), "two staged");
    assert_eq!(body_at(&daemon, "stages.localhost"), "one main");
    assert!(daemon.ok(&["config"]).contains("main"));
    let out = daemon.ok(&["--stage", "review", "run", "--", "printenv", "FOO"]);
    assert_eq!(out.trim(), "staged");
    // Internal services: the stage's own, behind a listener of its own.
    assert_eq!(
        daemon
            .ok(&["--stage", "review", "run", "--", FETCH_API])
            .trim(),
        "two staged"
    );
    assert_eq!(daemon.ok(&["run", "--", FETCH_API]).trim(), "one main");
    let releases = daemon.ok(&["--stage", "review", "releases"]);
    assert!(
        releases.contains("v2") && releases.contains("Set FOO"),
        "{releases}"
    );
    assert!(
        daemon
            .ok(&["--stage", "review", "logs", "-n", "1000"])
            .contains("web.1"),
        "the stage's logs name its replicas"
    );

    // A second `pier stage` deploys the working tree again as a new release of the stage.
    app.write("version.txt", "three");
    daemon.ok(&["stage", "review"]);
    assert_eq!(body_at(&daemon, "review.stages.localhost"), "three staged");
    assert_eq!(body_at(&daemon, "stages.localhost"), "one main");

    // Its replicas are scraped, labelled with the stage.
    wait_for(
        "the stage's replicas scraped",
        Duration::from_secs(30),
        || {
            let up = stage_targets(&daemon, "review")
                .iter()
                .filter(|t| t["health"] == "up")
                .count();
            (up == 2).then_some(())
        },
    );

    // Scale acts on the stage's own formation.
    daemon.ok(&["--stage", "review", "scale", "web=3"]);
    let mut pids = stage_pids(&daemon, "review", 4);
    assert!(pids.iter().all(|p| alive(*p)));
    daemon.wait_ready("web", 2);
    assert!(
        daemon
            .ok(&["--stage", "review", "events", "-n", "500"])
            .contains("web.3"),
        "the stage's events are its own"
    );
    // A one-off process of the stage is one of its processes too.
    let pidfile = app.path().join("run.pid");
    let mut one_off = Command::new(PIER)
        .args(["--api", &daemon.api, "--stage", "review", "run", "--"])
        .arg(format!("echo $$ > {}; exec sleep 600", pidfile.display()))
        .current_dir(app.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pier run");
    pids.push(wait_for(
        "the one-off's pid",
        Duration::from_secs(30),
        || std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok(),
    ));
    let out = daemon.ok(&["stage", "destroy", "review"]);
    assert!(out.contains("destroyed"), "{out}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} of the stage still runs");
    }
    let status = wait_for("pier run to end", Duration::from_secs(30), || {
        one_off.try_wait().ok().flatten()
    });
    assert_eq!(status.code(), Some(137));
    assert!(!stage_dir(&app, "review").exists());
    assert!(stages_json(&daemon).is_empty());
    wait_for("the stage's targets gone", Duration::from_secs(30), || {
        stage_targets(&daemon, "review").is_empty().then_some(())
    });
    // The host now falls to the main environment's catch-all route.
    assert_eq!(body_at(&daemon, "review.stages.localhost"), "one main");
    invalid(&daemon, &["--stage", "review", "ps"], "no stage");
    daemon.wait_ready("web", 2);
}

#[test]
fn bad_stage_requests_change_nothing() {
    let gate = tempfile::tempdir().expect("temp dir");
    let open = gate.path().join("open");
    let build = format!("while [ ! -e {} ]; do sleep 0.05; done", open.display());
    let app = git_app(Some(&build), "");
    let daemon = Daemon::start(app.path(), &["--no-build"]);
    daemon.wait_ready("web", 2);

    invalid(&daemon, &["stage", "Bad_Name"], "invalid stage name");
    invalid(&daemon, &["stage", "web"], "service web");
    invalid(&daemon, &["stage", "-x"], "");
    invalid(
        &daemon,
        &["stage", "review", "/no/such/folder"],
        "working tree",
    );
    invalid(&daemon, &["stage", "destroy", "nope"], "no stage \"nope\"");
    invalid(&daemon, &["--stage", "nope", "ps"], "no stage");
    invalid(&daemon, &["--stage", "nope", "jobs"], "--stage applies to");
    assert!(!app.path().join(".pier/stages/Bad_Name").exists());
    assert!(!stage_dir(&app, "web").exists());

    // An invalid manifest in the working tree: nothing is created.
    let broken = App::with_manifest("app = \"broken\"\n[services.web]\ncomand = \"x\"\n");
    invalid(
        &daemon,
        &["stage", "broken", &broken.path().display().to_string()],
        "comand",
    );
    assert!(!stage_dir(&app, "broken").exists());

    // A stage whose deploy is still building: a second one of the same name, and its
    // destruction, are refused.
    let mut first = Command::new(PIER)
        .args(["--api", &daemon.api, "stage", "slow"])
        .current_dir(app.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pier stage slow");
    wait_for(
        "the stage's build to be running",
        Duration::from_secs(30),
        || {
            stages_json(&daemon)
                .iter()
                .any(|s| s["name"] == "slow" && s["busy"].is_string())
                .then_some(())
        },
    );
    invalid(&daemon, &["stage", "slow"], "in progress");
    invalid(&daemon, &["stage", "destroy", "slow"], "in progress");
    std::fs::write(&open, "").expect("open the gate");
    let status = wait_for("the first stage to finish", Duration::from_secs(60), || {
        first.try_wait().ok().flatten()
    });
    assert!(status.success());
    assert_eq!(body_at(&daemon, "slow.stages.localhost"), "one -");
    daemon.ok(&["stage", "destroy", "slow"]);
    assert!(!stage_dir(&app, "slow").exists());
}

#[test]
fn a_restarted_daemon_runs_its_stages_again() {
    let app = git_app(None, "");
    let mut daemon = app.up();
    daemon.wait_ready("web", 2);
    app.write("version.txt", "two");
    daemon.ok(&["stage", "review"]);
    assert_eq!(body_at(&daemon, "review.stages.localhost"), "two -");
    let pids = stage_pids(&daemon, "review", 2);
    daemon.signal_and_wait(nix::sys::signal::Signal::SIGTERM);
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} outlived the daemon");
    }
    drop(daemon);

    // The working tree changes meanwhile; the stage runs its release, not the folder.
    app.write("version.txt", "three");
    let daemon = Daemon::start(app.path(), &[]);
    wait_body(&daemon, "review.stages.localhost", "two -");
    stage_pids(&daemon, "review", 2);
    let stages = stages_json(&daemon);
    assert_eq!(stages.len(), 1, "{stages:?}");
    assert_eq!(stages[0]["release"], 1);
    let mut daemon = daemon;
    daemon.signal_and_wait(nix::sys::signal::Signal::SIGTERM);
    drop(daemon);

    // A stage that cannot start again (its snapshot is gone) stays on disk until destroyed.
    std::fs::remove_dir_all(stage_dir(&app, "review").join("releases")).expect("rm releases");
    let daemon = Daemon::start(app.path(), &[]);
    daemon.wait_ready("web", 2);
    let stages = stages_json(&daemon);
    assert_eq!(stages.len(), 1, "{stages:?}");
    assert_eq!(stages[0]["running"], false);
    assert!(daemon.ok(&["stage", "list"]).contains("not running"));
    assert!(stage_dir(&app, "review").exists());
    invalid(&daemon, &["stage", "review"], "`pier stage destroy review`");
    assert!(stage_dir(&app, "review").join("stage.json").exists());
    daemon.ok(&["stage", "destroy", "review"]);
    assert!(!Path::new(&stage_dir(&app, "review")).exists());
}
