//! Validation of `[services.NAME]`: defaults (one replica, a port, `web` public), the rules
//! between fields (public and metrics need a port), probes, backoff, resources, autoscaling.

use std::time::Duration;

use toml::Spanned;

use crate::diagnostics::Problem;
use crate::model::{Autoscale, Backoff, Resources, Rollout, Service};
use crate::raw::{Opt, RawAutoscale, RawService};
use crate::validate::context::{Ctx, Zero, join};
use crate::validate::probe::{ProbeKind, probe};
use crate::validate::settings;

/// Upper bound on replicas of one service on one machine.
pub(crate) const MAX_REPLICAS: u32 = 100;

/// Default time between SIGTERM and SIGKILL (Kubernetes' default).
pub(crate) const TERMINATION_GRACE: Duration = Duration::from_secs(30);

/// App-wide values a service falls back to.
pub(crate) struct ServiceDefaults {
    pub backoff: Backoff,
    pub resources: Resources,
    pub rollout: Rollout,
}

pub(crate) fn service(
    ctx: &mut Ctx<'_, '_>,
    name: &Spanned<String>,
    raw: &Spanned<RawService>,
    defaults: &ServiceDefaults,
) -> Service {
    let path = format!("services.{}", name.get_ref());
    let value = raw.get_ref();
    let port = value.port.as_ref().is_none_or(|p| *p.get_ref());
    let resources = settings::resources(
        ctx,
        &value.resources,
        &join(&path, "resources"),
        defaults.resources,
    );
    Service {
        name: ctx.label(name, &path),
        command: ctx.command(&value.command, name.span(), &path),
        replicas: ctx.count(
            &value.replicas,
            &join(&path, "replicas"),
            1,
            (0, MAX_REPLICAS),
        ),
        port,
        public: public(ctx, name.get_ref(), value, &path, port),
        metrics: metrics(ctx, &value.metrics, &path, port),
        readiness: probe(
            ctx,
            &value.readiness,
            &join(&path, "readiness"),
            ProbeKind::Readiness,
            port,
        ),
        liveness: probe(
            ctx,
            &value.liveness,
            &join(&path, "liveness"),
            ProbeKind::Liveness,
            port,
        ),
        termination_grace: ctx.duration(
            &value.termination_grace,
            &join(&path, "termination_grace"),
            TERMINATION_GRACE,
            Zero::Allowed,
        ),
        restart_backoff: settings::backoff(
            ctx,
            &value.restart_backoff,
            &join(&path, "restart_backoff"),
            defaults.backoff,
        ),
        autoscale: autoscale(ctx, &value.autoscale, &join(&path, "autoscale"), &resources),
        resources,
        env: ctx.env(&value.env, &join(&path, "env")),
        rollout: crate::validate::deploy::service(ctx, &value.deploy, &path, defaults.rollout),
    }
}

/// `public` defaults to true for `web` (when it has a port) and must not be set without a port.
fn public(ctx: &mut Ctx<'_, '_>, name: &str, value: &RawService, path: &str, port: bool) -> bool {
    let Some(public) = &value.public else {
        return name == "web" && port;
    };
    if *public.get_ref() && !port {
        let problem =
            Problem::new("a public service needs a port, but this one has `port = false`")
                .hint("remove `port = false`, or set `public = false`");
        ctx.error(public.span(), &join(path, "public"), problem);
    }
    *public.get_ref()
}

/// The metrics path: starts with `/` and needs a port to be scraped on.
fn metrics(ctx: &mut Ctx<'_, '_>, raw: &Opt<String>, path: &str, port: bool) -> Option<String> {
    let raw = raw.as_ref()?;
    let field = join(path, "metrics");
    let metrics = raw.get_ref();
    if !metrics.starts_with('/') {
        let problem = Problem::new(format!(
            "a metrics path must start with `/`, found `{metrics}`"
        ))
        .hint(format!(
            "write `metrics = \"/{}\"`",
            metrics.trim_start_matches('/')
        ));
        ctx.error(raw.span(), &field, problem);
    } else if !port {
        let problem = Problem::new(
            "metrics are scraped over HTTP on `$PORT`, but this service has `port = false`",
        )
        .hint("remove `metrics`, or remove `port = false`");
        ctx.error(raw.span(), &field, problem);
    }
    Some(metrics.clone())
}

fn autoscale(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<RawAutoscale>,
    field: &str,
    resources: &Resources,
) -> Option<Autoscale> {
    let raw = raw.as_ref()?;
    let value = raw.get_ref();
    let bounds = (1, MAX_REPLICAS);
    let min = ctx.count(&value.min, &join(field, "min"), 1, bounds);
    let max = match &value.max {
        Some(_) => ctx.count(&value.max, &join(field, "max"), min, bounds),
        None => {
            ctx.missing(
                raw.span(),
                field,
                "max",
                "autoscale = { min = 2, max = 8, target_cpu = 0.6 }",
            );
            min
        }
    };
    if let Some(given) = &value.max
        && min > max
    {
        let problem = Problem::new(format!("max ({max}) is below min ({min})"));
        ctx.error(given.span(), &join(field, "max"), problem);
    }
    let target_cpu = value.target_cpu.as_ref().map(|t| {
        target(ctx, t, &join(field, "target_cpu"), resources);
        *t.get_ref()
    });
    Some(Autoscale {
        min,
        max,
        target_cpu,
    })
}

/// `target_cpu`: a fraction of the CPU limit, so it needs one.
fn target(ctx: &mut Ctx<'_, '_>, raw: &Spanned<f64>, field: &str, resources: &Resources) {
    let x = *raw.get_ref();
    if !(x > 0.0 && x <= 1.0) {
        let mut problem = Problem::new(format!(
            "must be a fraction greater than 0 and at most 1, found {x}"
        ));
        if x > 1.0 && x <= 100.0 {
            problem = problem.hint(format!("write `target_cpu = {}` for {x} %", x / 100.0));
        }
        ctx.error(raw.span(), field, problem);
    } else if resources.cpu_millis.is_none() {
        let problem = Problem::new(
            "`target_cpu` is a fraction of the cpu limit, and this service has none",
        )
        .hint("add `resources = { cpu = \"500m\" }` to the service, or `cpu` to `[resources]`");
        ctx.error(raw.span(), field, problem);
    }
}
