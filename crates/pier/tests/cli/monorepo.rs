//! Deploying an app that lives in a subfolder of a bigger git repository (a monorepo, a Cargo
//! workspace member such as examples/classroom): the release's snapshot holds the whole
//! repository, so its build can use files outside the app folder at the deployed commit; the
//! build's output stays in the release's folder, so each release runs its own artifact (and a
//! rollback the old one); `$PIER_CACHE_DIR` is kept across deploys. The demo itself is
//! deployed by `scripts/bench-deploy --classroom` (a release build of it is too slow here).

use std::process::Command;

use nix::sys::signal::Signal;

use crate::harness::{Daemon, http_via, text};

const SERVER: &str = r#"
import http.server, os
BODY = open('bin/version.txt').read().encode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler)
server.daemon_threads = True
server.serve_forever()
"#;

/// The build "compiles" `../lib/version.txt`, outside the app folder, into `bin/`, and counts
/// its runs in the cache (absent in `pier up`'s build of the app folder).
const MANIFEST: &str = r#"
app = "mono"

[build]
command = "mkdir -p bin && cp ../../lib/version.txt bin/ && if [ -n \"$PIER_CACHE_DIR\" ]; then echo $PIER_RELEASE >> $PIER_CACHE_DIR/builds; fi"

[services.web]
command = "python3 ../../tools/server.py"
replicas = 1
readiness = { http = "/", period = "200ms", failure_threshold = 1 }
termination_grace = "5s"
"#;

fn git(repo: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

fn body(daemon: &Daemon) -> String {
    let (status, _, body) = http_via(&daemon.listen, "mono.localhost", "/").expect("request");
    assert_eq!(status, 200, "{body}");
    body.trim().to_string()
}

#[test]
fn an_app_in_a_subfolder_deploys_with_its_repository_and_keeps_its_artifacts() {
    let repo = tempfile::Builder::new()
        .prefix("pier-test-")
        .tempdir()
        .expect("temp dir");
    let root = repo.path();
    let app = root.join("apps/web");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::create_dir_all(root.join("tools")).unwrap();
    std::fs::write(app.join("pier.toml"), MANIFEST).unwrap();
    std::fs::write(root.join("tools/server.py"), SERVER).unwrap();
    std::fs::write(root.join("lib/version.txt"), "one\n").unwrap();
    std::fs::write(root.join(".gitignore"), ".pier/\nbin/\n").unwrap();
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "one"]);

    // v1: the app folder, built in place.
    let daemon = Daemon::start(&app, &[]);
    daemon.wait_ready("web", 1);
    assert_eq!(body(&daemon), "one");

    // v2: a commit that changes only a file outside the app folder.
    std::fs::write(root.join("lib/version.txt"), "two\n").unwrap();
    git(root, &["commit", "-qam", "two"]);
    let out = daemon.cli(&["deploy"]);
    let progress = text(&out.stderr);
    assert!(out.status.success(), "{progress}");
    assert!(progress.contains("build succeeded"), "{progress}");
    assert_eq!(body(&daemon), "two");
    let v2 = app.join(".pier/releases/v2");
    assert_eq!(
        std::fs::read_link(v2.join("src")).expect("src is a symlink"),
        std::path::Path::new("repo/apps/web")
    );
    assert!(v2.join("repo/tools/server.py").is_file());

    // v3: the working tree, uncommitted change included.
    std::fs::write(root.join("lib/version.txt"), "three\n").unwrap();
    daemon.ok(&["deploy", "--dirty"]);
    assert_eq!(body(&daemon), "three");
    assert_eq!(
        daemon.ok(&["run", "--", "cat", "bin/version.txt"]).trim(),
        "three"
    );

    // v4: back to v2's artifact, built from v2's commit, not rebuilt.
    daemon.ok(&["rollback", "v2"]);
    assert_eq!(body(&daemon), "two");
    assert_eq!(
        std::fs::read_to_string(v2.join("src/bin/version.txt")).unwrap(),
        "two\n"
    );

    // The cache saw both deploys' builds; the app folder was built only by `pier up`.
    let builds = std::fs::read_to_string(app.join(".pier/cache/builds")).unwrap_or_default();
    assert_eq!(builds.lines().collect::<Vec<_>>(), ["v2", "v3"], "{builds}");
    assert_eq!(
        std::fs::read_to_string(app.join("bin/version.txt")).unwrap(),
        "one\n"
    );
    let table = daemon.ok(&["releases"]);
    assert!(table.contains("Rollback to v2"), "{table}");
    assert!(table.contains("working tree"), "{table}");

    // After a restart, `pier up` runs the current release from its snapshot, not the folder.
    let mut daemon = daemon;
    assert_eq!(daemon.signal_and_wait(Signal::SIGTERM), Some(0));
    let daemon = Daemon::start(&app, &[]);
    daemon.wait_ready("web", 1);
    assert_eq!(body(&daemon), "two");
}
