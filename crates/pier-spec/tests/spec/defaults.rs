//! Every default of the manifest, asserted on the smallest manifests that leave it unset.

use std::path::PathBuf;
use std::time::Duration;

use pier_spec::{
    Backend, Backoff, CatchUp, Concurrency, ManifestSource, ProbeAction, Resources, RouteTimeouts,
    SplitTarget, SupervisorSettings,
};

use crate::harness::{manifest, text};

const MINIMAL: &str = "
    app = \"demo\"
    [services.web]
    command = \"bin/web\"
    [services.worker]
    command = \"bin/worker\"
    [services.api]
    command = \"bin/api\"
    readiness = { http = \"/ready\" }
    liveness = { tcp = true }
    [jobs.report]
    schedule = \"@daily\"
    command = \"bin/report\"
    [[routes]]
    to = \"web\"
    [release]
    command = \"bin/migrate\"
";

#[test]
fn top_level_defaults() {
    let m = manifest(&text(MINIMAL));
    assert_eq!(m.app, "demo");
    assert_eq!(
        m.source,
        ManifestSource::PierToml(PathBuf::from("pier.toml"))
    );
    assert_eq!(m.build, None);
    assert!(m.env.is_empty());
    assert_eq!(m.resources, Resources::default());
    assert_eq!(m.supervisor, SupervisorSettings::default());
    assert_eq!(m.supervisor.port_range, (5000, 5999));
    assert!(m.alerts.rules.is_empty() && m.alerts.notify.is_empty());
    let release = m.release.as_ref().map(|r| r.timeout);
    assert_eq!(release, Some(Duration::from_secs(3600)));
    assert!(
        m.router.pin_workers,
        "router workers are pinned unless told not to"
    );
}

#[test]
fn router_workers_can_be_left_unpinned() {
    let m = manifest(&text(&format!(
        "{MINIMAL}\n[router]\npin_workers = false\n"
    )));
    assert!(!m.router.pin_workers);
}

#[test]
fn service_defaults() {
    let m = manifest(&text(MINIMAL));
    let web = &m.services["web"];
    assert_eq!(web.name, "web");
    assert_eq!(web.replicas, 1);
    assert!(web.port);
    assert!(web.public, "a service named web is public by default");
    assert_eq!(web.metrics, None);
    assert_eq!(web.readiness, None);
    assert_eq!(web.liveness, None);
    assert_eq!(web.termination_grace, Duration::from_secs(30));
    assert_eq!(web.restart_backoff, Backoff::default());
    assert_eq!(web.restart_backoff.initial, Duration::from_secs(10));
    assert_eq!(web.restart_backoff.max, Duration::from_secs(300));
    assert_eq!(web.restart_backoff.reset_after, Duration::from_secs(600));
    assert_eq!(web.resources, Resources::default());
    assert_eq!(web.autoscale, None);
    assert!(web.env.is_empty());
    let worker = &m.services["worker"];
    assert!(
        worker.port,
        "every service has a port unless it says `port = false`"
    );
    assert!(!worker.public, "only `web` is public by default");
    assert!(worker.is_internal());
}

#[test]
fn web_without_port_is_not_public() {
    let m = manifest(&text(
        "
        app = \"demo\"
        [services.web]
        command = \"bin/web\"
        port = false
        ",
    ));
    assert!(!m.services["web"].public);
}

#[test]
fn probe_defaults() {
    let m = manifest(&text(MINIMAL));
    let api = &m.services["api"];
    let readiness = api.readiness.clone();
    let Some(readiness) = readiness else {
        panic!("readiness probe missing");
    };
    assert_eq!(
        readiness.action,
        ProbeAction::Http {
            path: "/ready".into()
        }
    );
    assert_eq!(readiness.initial_delay, Duration::ZERO);
    assert_eq!(readiness.period, Duration::from_secs(10));
    assert_eq!(readiness.timeout, Duration::from_secs(1));
    assert_eq!(readiness.success_threshold, 1);
    assert_eq!(readiness.failure_threshold, 3);
    let liveness = api.liveness.as_ref().map(|p| p.action.clone());
    assert_eq!(liveness, Some(ProbeAction::Tcp));
}

#[test]
fn job_defaults() {
    let m = manifest(&text(MINIMAL));
    let job = &m.jobs["report"];
    assert_eq!(job.name, "report");
    assert_eq!(job.schedule, "@daily");
    assert_eq!(job.timezone, "UTC");
    assert_eq!(job.command, "bin/report");
    assert_eq!(job.timeout, None);
    assert_eq!(job.concurrency, Concurrency::Forbid);
    assert_eq!(job.catch_up, CatchUp::Latest);
    assert_eq!(job.max_catch_up, 100);
    assert_eq!(job.starting_deadline, None);
    assert_eq!(job.retries, 0);
    assert!(job.enabled);
    assert_eq!(
        job.parsed_schedule(),
        Ok(pier_spec::Schedule::Cron("0 0 * * *".into()))
    );
}

#[test]
fn route_defaults() {
    let m = manifest(&text(MINIMAL));
    let route = &m.routes[0];
    assert_eq!(route.host, None);
    assert_eq!(route.path, "/");
    assert_eq!(
        route.split,
        vec![SplitTarget {
            to: Backend::Service("web".into()),
            weight: 100
        }]
    );
    assert_eq!(route.split_key, None);
    assert_eq!(route.timeouts, RouteTimeouts::default());
    assert_eq!(route.timeouts.connect, Duration::from_secs(5));
    assert_eq!(route.timeouts.first_byte, Duration::from_secs(30));
    assert_eq!(route.timeouts.idle, Duration::from_secs(55));
}

#[test]
fn app_wide_settings_are_inherited_field_by_field() {
    let m = manifest(&text(
        "
        app = \"demo\"
        [resources]
        cpu = \"250m\"
        memory = \"128Mi\"
        [supervisor]
        restart_backoff = { initial = \"2s\" }
        [services.web]
        command = \"bin/web\"
        resources = { memory = \"1Gi\" }
        restart_backoff = { max = \"1m\" }
        [services.worker]
        command = \"bin/worker\"
        ",
    ));
    let web = &m.services["web"];
    assert_eq!(web.resources.cpu_millis, Some(250));
    assert_eq!(web.resources.memory_bytes, Some(1 << 30));
    assert_eq!(web.restart_backoff.initial, Duration::from_secs(2));
    assert_eq!(web.restart_backoff.max, Duration::from_secs(60));
    assert_eq!(web.restart_backoff.reset_after, Duration::from_secs(600));
    let worker = &m.services["worker"];
    assert_eq!(worker.resources.memory_bytes, Some(128 << 20));
    assert_eq!(worker.restart_backoff.initial, Duration::from_secs(2));
    assert_eq!(worker.restart_backoff.max, Duration::from_secs(300));
    assert_eq!(m.resources.cpu_millis, Some(250));
}

#[test]
fn numbers_are_accepted_as_quantities() {
    let m = manifest(&text(
        "
        app = \"demo\"
        [services.web]
        command = \"bin/web\"
        resources = { cpu = 0.5, memory = 268435456 }
        ",
    ));
    let resources = m.services["web"].resources;
    assert_eq!(resources.cpu_millis, Some(500));
    assert_eq!(resources.memory_bytes, Some(256 << 20));
}
