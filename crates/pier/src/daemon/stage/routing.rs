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
    let public: Vec<&str> = manifest
        .services
        .values()
        .filter(|s| s.public && s.port)
        .map(|s| s.name.as_str())
        .collect();
    let Some(main) = public
        .iter()
        .find(|s| **s == "web")
        .or(public.first())
        .copied()
    else {
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
