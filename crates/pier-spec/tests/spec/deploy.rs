//! `[deploy]` and a service's `deploy`: the rolling-update parameters with Kubernetes' defaults
//! and rounding, and their errors at line:column.

use std::time::Duration;

use pier_spec::{Amount, Rollout};

use crate::harness::{manifest, parse, text};

#[test]
fn defaults_are_kubernetes_defaults() {
    let m = manifest("app = \"a\"\n[services.web]\ncommand = \"x\"\n");
    assert_eq!(m.deploy.keep_releases, 10);
    let r = m.services["web"].rollout;
    assert_eq!(r.max_surge, Amount::Percent(25));
    assert_eq!(r.max_unavailable, Amount::Percent(25));
    assert_eq!(r.min_ready, Duration::ZERO);
    assert_eq!(r.progress_deadline, Duration::from_secs(600));
}

#[test]
fn surge_rounds_up_and_unavailable_rounds_down() {
    let r = Rollout::default();
    assert_eq!(r.resolve(1), (1, 0));
    assert_eq!(r.resolve(2), (1, 0));
    assert_eq!(r.resolve(4), (1, 1));
    assert_eq!(r.resolve(10), (3, 2));
    let counts = Rollout {
        max_surge: Amount::Count(0),
        max_unavailable: Amount::Percent(10),
        ..Rollout::default()
    };
    // Both resolve to zero for 3 replicas: one may be unavailable, as Kubernetes does.
    assert_eq!(counts.resolve(3), (0, 1));
}

#[test]
fn services_inherit_the_app_defaults_and_override_them() {
    let m = manifest(&text(
        r#"
        app = "a"
        [deploy]
        keep_releases = 3
        max_surge = 2
        progress_deadline = "30s"
        [services.web]
        command = "x"
        deploy = { max_unavailable = 0, min_ready = "2s" }
        [services.worker]
        command = "y"
        "#,
    ));
    assert_eq!(m.deploy.keep_releases, 3);
    let web = m.services["web"].rollout;
    assert_eq!(web.max_surge, Amount::Count(2));
    assert_eq!(web.max_unavailable, Amount::Count(0));
    assert_eq!(web.min_ready, Duration::from_secs(2));
    assert_eq!(web.progress_deadline, Duration::from_secs(30));
    assert_eq!(
        m.services["worker"].rollout.max_unavailable,
        Amount::Percent(25)
    );
}

#[test]
fn bad_values_are_reported_at_their_place() {
    let error = parse(&text(
        r#"
        app = "a"
        [services.web]
        command = "x"
        deploy = { max_surge = 0, max_unavailable = "0%" }
        [services.api]
        command = "y"
        deploy = { max_unavailable = "150%", max_surge = "2", keep_releases = 2 }
        "#,
    ))
    .unwrap_err()
    .to_string();
    for expected in [
        "pier.toml:4:",
        "cannot both be 0",
        "must be at most 100%, found 150%",
        "write `2` without quotes",
        "`keep_releases` applies to the whole app",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
    let deadline = parse(
        "app = \"a\"\n[deploy]\nprogress_deadline = \"0s\"\n[services.web]\ncommand = \"x\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(deadline.contains("pier.toml:3:21"), "{deadline}");
}
