//! Canary deploys: `pier deploy --canary PCT` and `pier promote` under a bounded constant load
//! with zero failed requests (the bound on ready web replicas asserted from the event log), a
//! sticky split close to its percentage, both releases side by side in the router's metrics,
//! `pier deploy --abort` returning every client to the current release and leaving no canary
//! process, a canary aborted by a daemon restart, a canary that never becomes ready, and bad
//! input that changes nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Daemon, alive, http_via, http_via_with, text};
use crate::releases::{
    Load, assert_no_failures, commit, events, git_app, last_event_id, min_ready_after, releases,
    status_of, under_load,
};

/// The body a client with split key `key` gets (`one -`, `two -`).
fn body_for(daemon: &Daemon, key: &str) -> String {
    let cookie = format!("Cookie: pier_split={key}\r\n");
    let (status, _, body) =
        http_via_with(&daemon.listen, "deploys.localhost", "/", &cookie).expect("request");
    assert_eq!(status, 200, "{body}");
    body.trim().to_string()
}

/// How many of `keys` distinct clients the canary serves, checking each client's answer
/// twice (sticky).
fn canary_clients(daemon: &Daemon, keys: usize, canary_body: &str) -> usize {
    (0..keys)
        .filter(|i| {
            let key = format!("client-{i}");
            let first = body_for(daemon, &key);
            assert_eq!(
                body_for(daemon, &key),
                first,
                "{key} moved between releases"
            );
            first == canary_body
        })
        .count()
}

fn web_releases(daemon: &Daemon) -> Vec<u64> {
    let mut releases: Vec<u64> = daemon
        .ps()
        .iter()
        .filter(|r| r["service"] == "web")
        .filter_map(|r| r["release"].as_u64())
        .collect();
    releases.sort_unstable();
    releases
}

fn canary_of(daemon: &Daemon) -> Value {
    let value: Value = serde_json::from_str(&daemon.ok(&["releases", "--json"])).unwrap();
    value["canary"].clone()
}

/// Waits until the load has sent `more` requests beyond what it had sent.
fn let_load_run(load: &Load, more: u64) {
    let until = load.sent.load(Ordering::Relaxed) + more;
    crate::harness::wait_for("the load to flow", Duration::from_secs(60), || {
        (load.sent.load(Ordering::Relaxed) >= until).then_some(())
    });
}

fn expect_invalid(daemon: &Daemon, args: &[&str], needle: &str) {
    let out = daemon.cli(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "pier {args:?}: {stderr}");
    assert!(stderr.contains(needle), "pier {args:?}: {stderr}");
}

#[test]
fn a_canary_gets_its_sticky_share_then_promotes_under_load_without_a_failed_request() {
    let app = git_app("one", "");
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    let load = Load::start(&daemon);
    let first_id = last_event_id(&daemon);

    app.write("version.txt", "two");
    commit(&app, "second");
    let out = under_load(&daemon, &load, &["deploy", "--canary", "20"]);
    assert!(
        out.contains("v2 is the canary with 20% of the clients"),
        "{out}"
    );
    assert_eq!(status_of(&daemon, 2), "canary");
    assert_eq!(canary_of(&daemon)["percent"], 20.0);
    assert_eq!(
        web_releases(&daemon),
        [1, 1, 2],
        "one canary replica beside two"
    );
    assert!(daemon.ok(&["ps"]).contains("v2 is a canary with 20%"));
    assert!(daemon.ok(&["releases"]).contains("canary 20%"));

    // Sticky per client, and close to 20 % of 300 distinct clients (±3 standard deviations).
    let to_canary = canary_clients(&daemon, 300, "two -");
    eprintln!("{to_canary} of 300 clients on the canary");
    assert!((39..=81).contains(&to_canary), "{to_canary} of 300 clients");

    // Both releases' codes side by side in the router's metrics.
    let (_, _, metrics) = http_via(&daemon.api, "127.0.0.1", "/metrics").unwrap();
    for release in ["v1", "v2"] {
        let series = format!(r#"backend="web",release="{release}",status="200",code="""#);
        assert!(metrics.contains(&series), "no {series} in /metrics");
    }

    // Nothing else changes while the canary runs.
    let count = releases(&daemon).len();
    expect_invalid(&daemon, &["deploy"], "running as a canary");
    expect_invalid(
        &daemon,
        &["deploy", "--canary", "30"],
        "running as a canary",
    );
    expect_invalid(&daemon, &["config", "set", "A=b"], "running as a canary");
    expect_invalid(&daemon, &["rollback"], "running as a canary");
    expect_invalid(&daemon, &["scale", "web=3"], "the canary of v2");
    assert_eq!(releases(&daemon).len(), count);

    let out = under_load(&daemon, &load, &["promote"]);
    assert!(out.contains("v2 is the current release"), "{out}");
    let sent = load.sent.load(Ordering::Relaxed);
    let bodies = load.finish();
    eprintln!("{sent} requests sent during the test's load");
    assert_no_failures(&bodies);
    assert!(
        bodies.iter().any(|b| b == "two -"),
        "the canary served no load"
    );

    assert_eq!(status_of(&daemon, 2), "current");
    assert_eq!(status_of(&daemon, 1), "superseded");
    assert!(canary_of(&daemon).is_null());
    assert_eq!(web_releases(&daemon), [2, 2]);
    assert_eq!(canary_clients(&daemon, 20, "two -"), 20);
    // replicas 2, max_unavailable 25 % of 2 rounds down to 0: never fewer than 2 ready.
    let events = events(&daemon);
    assert!(
        min_ready_after(&events, first_id) >= 2,
        "ready web replicas dropped below 2"
    );
    for kind in [
        "canary.started",
        "canary.ready",
        "canary.split",
        "canary.promoted",
        "rollout.completed",
    ] {
        assert!(events.iter().any(|e| e["kind"] == kind), "no {kind} event");
    }
}

#[test]
fn abort_returns_every_client_to_the_current_release_and_a_restart_aborts_a_canary() {
    let app = git_app("one", "");
    let mut daemon = app.up();
    daemon.wait_ready("web", 2);
    app.write("version.txt", "two");
    commit(&app, "second");
    daemon.ok(&["deploy", "--canary", "50"]);
    let canary_pids: Vec<u32> = daemon
        .ps()
        .iter()
        .filter(|r| r["release"] == 2)
        .filter_map(|r| r["pid"].as_u64().map(|p| p as u32))
        .collect();
    assert_eq!(canary_pids.len(), 1);
    assert!(canary_clients(&daemon, 40, "two -") > 0);

    let load = Load::start(&daemon);
    let first_id = last_event_id(&daemon);
    let_load_run(&load, 300);
    let out = under_load(&daemon, &load, &["deploy", "--abort"]);
    assert!(
        out.contains("v2 was aborted; v1 serves all traffic"),
        "{out}"
    );
    let_load_run(&load, 300);
    let bodies = load.finish();
    assert_no_failures(&bodies);
    assert!(
        bodies.iter().any(|b| b == "two -"),
        "the canary served no load"
    );
    assert!(min_ready_after(&events(&daemon), first_id) >= 2);

    assert_eq!(canary_clients(&daemon, 100, "two -"), 0);
    assert_eq!(status_of(&daemon, 2), "aborted");
    assert!(canary_of(&daemon).is_null());
    assert_eq!(web_releases(&daemon), [1, 1]);
    assert!(
        canary_pids.iter().all(|pid| !alive(*pid)),
        "a canary process is left"
    );

    // A canary running when the daemon stops is aborted when it starts again.
    app.write("version.txt", "three");
    commit(&app, "third");
    daemon.ok(&["deploy", "--canary", "10"]);
    assert_eq!(status_of(&daemon, 3), "canary");
    daemon.ok(&["down"]);
    daemon.wait_exit();
    drop(daemon);
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    assert_eq!(status_of(&daemon, 3), "aborted");
    assert!(canary_of(&daemon).is_null());
    let aborted = events(&daemon)
        .iter()
        .filter(|e| e["kind"] == "canary.aborted")
        .count();
    assert_eq!(aborted, 2, "one abort by hand, one by the restart");
    assert_eq!(web_releases(&daemon), [1, 1]);
    // A new canary can start, with a decimal share.
    daemon.ok(&["deploy", "--canary", "12.5%"]);
    assert_eq!(status_of(&daemon, 4), "canary");
    assert_eq!(canary_of(&daemon)["percent"], 12.5);
    assert!(daemon.ok(&["releases"]).contains("canary 12.5%"));
    daemon.ok(&["deploy", "--abort"]);
}

#[test]
fn bad_canary_input_gets_a_clear_error_and_changes_nothing() {
    let app = git_app("one", "deploy = { progress_deadline = \"3s\" }");
    let daemon = app.up();
    daemon.wait_ready("web", 2);
    for bad in ["0", "150", "99.5", "abc", "0.5"] {
        expect_invalid(&daemon, &["deploy", "--canary", bad], "from 1 to 99");
    }
    expect_invalid(&daemon, &["promote"], "no canary to promote");
    expect_invalid(&daemon, &["deploy", "--abort"], "no canary to abort");
    assert_eq!(releases(&daemon).len(), 1);
    assert_eq!(web_releases(&daemon), [1, 1]);

    // A canary that never becomes ready fails at the progress deadline and leaves nothing.
    app.write("unready", "");
    commit(&app, "unready");
    let out = daemon.cli(&["deploy", "--canary", "10"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("was not ready within"), "{stderr}");
    assert_eq!(status_of(&daemon, 2), "failed");
    assert!(canary_of(&daemon).is_null());
    crate::harness::wait_for(
        "the canary replica to stop",
        Duration::from_secs(20),
        || (web_releases(&daemon) == [1, 1]).then_some(()),
    );
    expect_invalid(&daemon, &["promote"], "no canary to promote");
}
