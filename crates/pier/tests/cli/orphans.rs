//! No process outlives pier: not after `kill -9` of pier, not for grandchildren that run in the
//! background or leave their process group with setsid.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{App, alive, wait_for};

const MANIFEST: &str = r#"
app = "orphans"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1"
replicas = 2
[services.forks]
command = "sleep 1001 & setsid sleep 1002 & echo forked; exec sleep 1003"
port = false
"#;

#[test]
fn kill_dash_nine_of_pier_leaves_no_process_alive() {
    let app = App::with_manifest(MANIFEST);
    let mut daemon = app.up();
    daemon.wait_ready("web", 2);
    daemon.wait_ready("forks", 1);
    let tree = wait_for(
        "every process of the app to start",
        Duration::from_secs(10),
        || {
            let tree = daemon.descendants();
            let sleeps = tree
                .iter()
                .filter(|p| cmdline(**p).starts_with("sleep 100"))
                .count();
            (sleeps == 3).then_some(tree)
        },
    );
    assert!(tree.len() >= 8, "shims, apps and grandchildren: {tree:?}");
    daemon.signal_and_wait(Signal::SIGKILL);
    wait_for("every process to be gone", Duration::from_secs(10), || {
        tree.iter().all(|p| !alive(*p)).then_some(())
    });
}

#[test]
fn a_replica_exit_takes_its_background_children_along() {
    let app = App::with_manifest(
        r#"
app = "leftovers"
[services.parent]
command = "sleep 1004 & setsid sleep 1005 & sleep 0.5; exit 0"
port = false
restart_backoff = { initial = "10s", max = "10s" }
"#,
    );
    let daemon = app.up();
    let first_tree = wait_for("the background children", Duration::from_secs(10), || {
        let tree = daemon.descendants();
        (tree
            .iter()
            .filter(|p| cmdline(**p).starts_with("sleep 100"))
            .count()
            == 2)
            .then_some(tree)
    });
    let children: Vec<u32> = first_tree
        .into_iter()
        .filter(|p| cmdline(*p).starts_with("sleep 100"))
        .collect();
    wait_for(
        "the children to be killed when the replica exits",
        Duration::from_secs(10),
        || children.iter().all(|p| !alive(*p)).then_some(()),
    );
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}
