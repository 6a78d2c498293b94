//! Traffic splits in a running pier: `pier route` shows them, `pier route split|allow|deny`
//! changes them live, the changes survive a restart of the daemon, and bad requests change
//! nothing.

use crate::harness::{App, Daemon, http_via_with};

const MANIFEST: &str = r#"
app = "shop"
[services.web]
command = "python3 -m http.server $PORT --bind 127.0.0.1 --directory old"
public = true
readiness = { http = "/", period = "200ms" }
[services.beta]
command = "python3 -m http.server $PORT --bind 127.0.0.1 --directory new"
public = true
readiness = { http = "/", period = "200ms" }

[[routes]]
host = "shop.localhost"
split = [{ to = "web", weight = 90 }, { to = "beta", weight = 10 }]
split_key = { cookie = "tenant" }
"#;

fn shop() -> App {
    let app = App::with_manifest(MANIFEST);
    for (dir, text) in [("old", "old app"), ("new", "new app")] {
        std::fs::create_dir_all(app.path().join(dir)).unwrap();
        app.write(&format!("{dir}/which.txt"), text);
    }
    app
}

/// Which app served `tenant`.
fn app_for(daemon: &Daemon, tenant: &str) -> String {
    let cookie = format!("Cookie: tenant={tenant}\r\n");
    let (status, _, body) =
        http_via_with(&daemon.listen, "shop.localhost", "/which.txt", &cookie).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn splits_change_live_and_survive_a_restart() {
    let app = shop();
    let mut daemon = app.up();
    daemon.wait_ready("web", 1);
    daemon.wait_ready("beta", 1);
    let table = daemon.ok(&["route"]);
    assert!(
        table.contains("shop.localhost") && table.contains("web 90%, beta 10%"),
        "{table}"
    );
    assert!(table.contains("cookie tenant"), "{table}");

    let tenants: Vec<String> = (0..60).map(|i| format!("tenant-{i}")).collect();
    let before: Vec<String> = tenants.iter().map(|t| app_for(&daemon, t)).collect();
    // Sticky: asking again gives the same answers.
    assert_eq!(
        before,
        tenants
            .iter()
            .map(|t| app_for(&daemon, t))
            .collect::<Vec<_>>()
    );

    daemon.ok(&["route", "split", "shop.localhost", "100"]);
    daemon.ok(&["route", "deny", "shop.localhost", "tenant-7"]);
    for tenant in &tenants {
        let expected = if tenant == "tenant-7" {
            "old app"
        } else {
            "new app"
        };
        assert_eq!(app_for(&daemon, tenant), expected, "{tenant}");
    }

    daemon.ok(&["down"]);
    daemon.wait_exit();
    let daemon = Daemon::start(app.path(), &[]);
    daemon.wait_ready("beta", 1);
    daemon.wait_ready("web", 1);
    let table = daemon.ok(&["route"]);
    assert!(
        table.contains("web 0%, beta 100%") && table.contains("tenant-7"),
        "{table}"
    );
    assert_eq!(app_for(&daemon, "tenant-7"), "old app");
    assert_eq!(app_for(&daemon, "tenant-8"), "new app");

    // Taking the split back to 0 sends everyone but allow-listed tenants to the old app.
    daemon.ok(&["route", "split", "shop.localhost", "0"]);
    daemon.ok(&["route", "allow", "shop.localhost", "tenant-1"]);
    assert_eq!(app_for(&daemon, "tenant-1"), "new app");
    assert_eq!(app_for(&daemon, "tenant-2"), "old app");
}

#[test]
fn bad_route_changes_are_refused_and_change_nothing() {
    let app = shop();
    let daemon = app.up();
    daemon.wait_ready("web", 1);
    let before = daemon.ok(&["route"]);
    for (args, message) in [
        (
            vec!["route", "split", "nowhere", "10"],
            "no route named `nowhere`",
        ),
        (
            vec!["route", "split", "shop.localhost", "101"],
            "101 is not a percentage",
        ),
        (vec!["route", "split", "*", "10"], "no route named `*`"),
    ] {
        let out = daemon.cli(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let usage = daemon.cli(&["route", "allow", "shop.localhost"]);
    assert_eq!(usage.status.code(), Some(2), "keys are required");
    assert_eq!(daemon.ok(&["route"]), before);
}
