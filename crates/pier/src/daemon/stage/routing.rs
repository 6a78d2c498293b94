//! What the router knows of the stages: for each stage, one pool per service with a port
//! (`web@NAME`, its replicas named `web.1@NAME`), and rules sending `NAME.<app>.localhost` to
//! its main public service (`web`, else the first public one) and
//! `<service>.NAME.<app>.localhost` to each public service. These rules come before the main
//! environment's, so a catch-all route of the app never hides a stage. A stage's own
//! `[[routes]]` are not used. Its replicas with a metrics path are scraped as the main
//! environment's are, with the label `env="NAME"`.

use std::collections::HashMap;

use pier_router::{HostMatch, ReplicaView, RouteRule, TableSpec, Timeouts};
use pier_spec::Manifest;
use pier_supervisor::ReplicaStatus;

use crate::daemon::edge;

/// The host a stage answers at.
pub fn host(stage: &str, app: &str) -> String {
    format!("{stage}.{app}.localhost")
}

/// A stage service's pool in the router.
pub fn pool(service: &str, stage: &str) -> String {
    format!("{service}@{stage}")
}

/// Adds one stage's rules and pools to `spec`.
pub fn add_stage(
    spec: &mut TableSpec,
    app: &str,
    stage: &str,
    manifest: &Manifest,
    replicas: &[ReplicaStatus],
) {
    let mut services: HashMap<String, Vec<ReplicaView>> = manifest
        .services
        .values()
        .filter(|s| s.port)
        .map(|s| (pool(&s.name, stage), Vec::new()))
        .collect();
    for replica in replicas {
        if let (Some(views), Some(mut view)) = (
            services.get_mut(&pool(&replica.service, stage)),
            edge::replica_view(replica),
        ) {
            view.name = format!("{}@{stage}", view.name);
            views.push(view);
        }
    }
    spec.services.extend(services);
    let public = edge::public_services(manifest);
    let Some(main) = edge::main_service(&public) else {
        return;
    };
    let base = host(stage, app);
    let rule = |host: String, service: &str| {
        RouteRule::to_service(
            &host,
            HostMatch::Exact(host.clone()),
            "/",
            &pool(service, stage),
            Timeouts::default(),
        )
    };
    for service in &public {
        spec.routes.push(rule(format!("{service}.{base}"), service));
    }
    spec.routes.push(rule(base, main));
}

/// The stage's replicas to scrape: the main environment's rules, with `env="NAME"`.
pub fn scrape_targets(
    stage: &str,
    manifest: &Manifest,
    replicas: &[ReplicaStatus],
) -> Vec<pier_scrape::scrape::Target> {
    let mut targets = crate::daemon::metrics::replica_targets(manifest, replicas);
    for target in &mut targets {
        target.labels.push(("env".into(), stage.to_string()));
    }
    targets
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use pier_router::{Backend, HostMatch, ReplicaPhase, TableSpec};
    use pier_supervisor::{ReplicaState, ReplicaStatus};

    use super::{add_stage, scrape_targets};

    fn manifest() -> pier_spec::Manifest {
        pier_spec::parse_pier_toml(
            r#"
app = "shop"
[services.web]
command = "x"
metrics = "/metrics"
[services.admin]
command = "x"
port = true
public = true
[services.api]
command = "x"
port = true
public = false
[services.worker]
command = "x"
port = false
"#,
            Path::new("pier.toml"),
        )
        .expect("manifest")
    }

    fn replica(service: &str, port: u16, ready: bool) -> ReplicaStatus {
        ReplicaStatus {
            id: u64::from(port),
            name: format!("{service}.1"),
            service: service.into(),
            index: 1,
            release: 1,
            state: ReplicaState::Running,
            pid: Some(1),
            port: Some(port),
            ready,
            restarts: 0,
            started_at: None,
            next_restart_at: None,
            last_exit: None,
        }
    }

    #[test]
    fn a_stage_has_its_hosts_and_pools() {
        let mut spec = TableSpec::default();
        let replicas = [replica("web", 7001, true), replica("api", 7002, false)];
        add_stage(&mut spec, "shop", "review", &manifest(), &replicas);
        let rules: Vec<(HostMatch, Backend)> = spec
            .routes
            .iter()
            .map(|r| (r.host.clone(), r.targets[0].backend.clone()))
            .collect();
        let exact = |h: &str| HostMatch::Exact(h.into());
        let to = |s: &str| Backend::Service(s.into());
        assert_eq!(
            rules,
            vec![
                (exact("admin.review.shop.localhost"), to("admin@review")),
                (exact("web.review.shop.localhost"), to("web@review")),
                (exact("review.shop.localhost"), to("web@review")),
            ]
        );
        let mut pools: Vec<&String> = spec.services.keys().collect();
        pools.sort();
        assert_eq!(pools, ["admin@review", "api@review", "web@review"]);
        let web = &spec.services["web@review"];
        assert_eq!(web[0].name, "web.1@review");
        assert_eq!(web[0].phase, ReplicaPhase::Ready);
        assert_eq!(spec.services["api@review"][0].phase, ReplicaPhase::Booting);
    }

    #[test]
    fn its_replicas_are_scraped_with_the_stage_label() {
        let targets = scrape_targets("review", &manifest(), &[replica("web", 7001, true)]);
        assert_eq!(targets.len(), 1);
        assert!(
            targets[0]
                .labels
                .contains(&("env".to_string(), "review".to_string()))
        );
        assert_eq!(targets[0].url, "http://127.0.0.1:7001/metrics");
    }
}
