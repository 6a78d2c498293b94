//! Stage two of reading `pier.toml`: turns the raw structs into the resolved [`Manifest`],
//! applying defaults and checking every rule and cross-reference, reporting all problems.
//! One file per section; this one owns the top level and the checks spanning sections.

mod alerts;
mod context;
mod deploy;
mod job;
mod metrics;
mod probe;
mod route;
mod service;
mod settings;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::diagnostics::{Problem, Reporter};
use crate::model::{
    Build, Job, Manifest, ManifestSource, ReleaseCommand, Resources, Service, SupervisorSettings,
};
use crate::raw::{Named, Opt, RawJob, RawManifest, RawService};
use crate::recover::Recovered;

pub(crate) use context::Ctx;
use context::Zero;
use service::ServiceDefaults;
pub(crate) use service::{MAX_REPLICAS, TERMINATION_GRACE};

/// Default upper bound on the release command's run time.
pub(crate) const RELEASE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Validates a recovered document; problems go to `reporter`, and the manifest returned is
/// meaningful only when none were reported.
pub(crate) fn manifest(
    recovered: &Recovered,
    reporter: &mut Reporter<'_>,
    source: ManifestSource,
) -> Manifest {
    let mut ctx = Ctx::new(reporter, &recovered.dropped);
    let raw: &RawManifest = &recovered.raw;
    let (supervisor, backoff) = settings::supervisor(&mut ctx, &raw.supervisor);
    let resources =
        settings::resources(&mut ctx, &raw.resources, "resources", Resources::default());
    let deploy = deploy::app(&mut ctx, &raw.deploy);
    let defaults = ServiceDefaults {
        backoff,
        resources,
        rollout: deploy.rollout,
    };
    let services = services(&mut ctx, &raw.services, &defaults);
    ports_fit(&mut ctx, raw, &supervisor, &services);
    Manifest {
        app: app(&mut ctx, &raw.app),
        source,
        build: raw.build.as_ref().map(|b| Build {
            command: ctx.command(&b.get_ref().command, b.span(), "build"),
        }),
        release: raw.release.as_ref().map(|r| ReleaseCommand {
            command: ctx.command(&r.get_ref().command, r.span(), "release"),
            timeout: ctx.duration(
                &r.get_ref().timeout,
                "release.timeout",
                RELEASE_TIMEOUT,
                Zero::Rejected,
            ),
        }),
        env: ctx.env(&raw.env, "env"),
        jobs: jobs(&mut ctx, &raw.jobs, &services),
        routes: route::routes(&mut ctx, &raw.routes, &services),
        alerts: alerts::alerts(&mut ctx, &raw.alerts),
        services,
        resources,
        supervisor,
        router: settings::router(&mut ctx, &raw.router),
        metrics: metrics::metrics(&mut ctx, &raw.metrics),
        deploy,
    }
}

fn app(ctx: &mut Ctx<'_, '_>, raw: &Opt<String>) -> String {
    match raw {
        Some(name) => ctx.label(name, "app"),
        None => {
            ctx.missing(0..0, "", "app", "app = \"myapp\"");
            String::new()
        }
    }
}

fn services(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<Named<RawService>>,
    defaults: &ServiceDefaults,
) -> BTreeMap<String, Service> {
    let declared = raw.as_ref().map(|s| s.get_ref());
    if declared.is_none_or(BTreeMap::is_empty) && !ctx.was_dropped("services") {
        let span = raw.as_ref().map_or(0..0, |s| s.span());
        let problem = Problem::new("an app needs at least one service")
            .hint("add a `[services.web]` table with `command = \"…\"`");
        ctx.error(span, "services", problem);
    }
    declared
        .into_iter()
        .flatten()
        .map(|(name, raw)| {
            (
                name.get_ref().clone(),
                service::service(ctx, name, raw, defaults),
            )
        })
        .collect()
}

fn jobs(
    ctx: &mut Ctx<'_, '_>,
    raw: &Option<Named<RawJob>>,
    services: &BTreeMap<String, Service>,
) -> BTreeMap<String, Job> {
    let mut jobs = BTreeMap::new();
    for (name, raw) in raw.iter().flatten() {
        if services.contains_key(name.get_ref()) {
            let problem = Problem::new(format!("a service is also named `{}`", name.get_ref()))
                .hint("rename the job: logs and `pier ps` tell processes apart by name");
            ctx.error(name.span(), &format!("jobs.{}", name.get_ref()), problem);
        }
        jobs.insert(name.get_ref().clone(), job::job(ctx, name, raw));
    }
    jobs
}

/// Every replica with a port needs one from the range, at its largest scale.
fn ports_fit(
    ctx: &mut Ctx<'_, '_>,
    raw: &RawManifest,
    settings: &SupervisorSettings,
    services: &BTreeMap<String, Service>,
) {
    let (lo, hi) = settings.port_range;
    let available = u32::from(hi) - u32::from(lo) + 1;
    let needed: u32 = services
        .values()
        .filter(|s| s.port)
        .map(|s| s.replicas.max(s.autoscale.as_ref().map_or(0, |a| a.max)))
        .sum();
    if needed <= available {
        return;
    }
    let span = raw
        .supervisor
        .as_ref()
        .and_then(|s| s.port_range.as_ref())
        .map_or(0..0, |r| r.span());
    let problem = Problem::new(format!(
        "the port range has {available} ports, but services with a port may run {needed} replicas"
    ))
    .hint("widen `port_range` in `[supervisor]`");
    ctx.error(span, "supervisor.port_range", problem);
}
