//! Validation of readiness and liveness probes: exactly one action, Kubernetes defaults and
//! rules (liveness needs `success_threshold = 1`), and that network probes have a port.

use std::time::Duration;

use toml::Spanned;

use crate::diagnostics::Problem;
use crate::model::{Probe, ProbeAction};
use crate::raw::{Opt, RawProbe};
use crate::validate::context::{Ctx, Zero, join};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    Readiness,
    Liveness,
}

/// A probe of a service at `field` (`services.web.readiness`); `port` says whether the
/// service listens on `$PORT`.
pub(crate) fn probe(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<RawProbe>,
    field: &str,
    kind: ProbeKind,
    port: bool,
) -> Option<Probe> {
    let raw = raw.as_ref()?;
    let value = raw.get_ref();
    let action = action(ctx, raw, field, port);
    let success_field = join(field, "success_threshold");
    let success_threshold = ctx.count(&value.success_threshold, &success_field, 1, (1, u32::MAX));
    if let (ProbeKind::Liveness, Some(given)) = (kind, &value.success_threshold)
        && *given.get_ref() != 1
    {
        let problem = Problem::new("must be 1 for a liveness probe, as in Kubernetes")
            .hint("remove `success_threshold`; a readiness probe can require several successes");
        ctx.error(given.span(), &success_field, problem);
    }
    let probe = Probe {
        action: action?,
        initial_delay: ctx.duration(
            &value.initial_delay,
            &join(field, "initial_delay"),
            Duration::ZERO,
            Zero::Allowed,
        ),
        period: ctx.duration(
            &value.period,
            &join(field, "period"),
            Duration::from_secs(10),
            Zero::Rejected,
        ),
        timeout: ctx.duration(
            &value.timeout,
            &join(field, "timeout"),
            Duration::from_secs(1),
            Zero::Rejected,
        ),
        success_threshold,
        failure_threshold: ctx.count(
            &value.failure_threshold,
            &join(field, "failure_threshold"),
            3,
            (1, u32::MAX),
        ),
    };
    Some(probe)
}

/// The one action of a probe: `http = "/path"`, `tcp = true` or `exec = "command"`.
fn action(
    ctx: &mut Ctx<'_, '_>,
    raw: &Spanned<RawProbe>,
    field: &str,
    port: bool,
) -> Option<ProbeAction> {
    let value = raw.get_ref();
    let given: Vec<&str> = [
        ("http", value.http.is_some()),
        ("tcp", value.tcp.is_some()),
        ("exec", value.exec.is_some()),
    ]
    .iter()
    .filter(|(_, present)| *present)
    .map(|(name, _)| *name)
    .collect();
    match given.as_slice() {
        [] => {
            let dropped = ["http", "tcp", "exec"]
                .iter()
                .any(|k| ctx.was_dropped(&join(field, k)));
            if !dropped {
                let key = field.rsplit('.').next().unwrap_or(field);
                let problem = Problem::new("a probe needs one of `http`, `tcp` or `exec`")
                    .hint(format!("write `{key} = {{ http = \"/healthz\" }}`"));
                ctx.error(raw.span(), field, problem);
            }
            None
        }
        [_] => single_action(ctx, value, field, port),
        [first, second, ..] => {
            let problem = Problem::new(format!(
                "a probe has exactly one of `http`, `tcp` or `exec`, found `{first}` and `{second}`"
            ));
            ctx.error(raw.span(), field, problem);
            None
        }
    }
}

fn single_action(
    ctx: &mut Ctx<'_, '_>,
    value: &RawProbe,
    field: &str,
    port: bool,
) -> Option<ProbeAction> {
    if let Some(exec) = &value.exec {
        if exec.get_ref().trim().is_empty() {
            ctx.error(
                exec.span(),
                &join(field, "exec"),
                Problem::new("command must not be empty"),
            );
        }
        return Some(ProbeAction::Exec {
            command: exec.get_ref().clone(),
        });
    }
    let (key, span, action) = match (&value.http, &value.tcp) {
        (Some(http), _) => {
            let path = http.get_ref();
            if !path.starts_with('/') {
                let problem = Problem::new(format!(
                    "an http probe path must start with `/`, found `{path}`"
                ))
                .hint(format!(
                    "write `http = \"/{}\"`",
                    path.trim_start_matches('/')
                ));
                ctx.error(http.span(), &join(field, "http"), problem);
            }
            (
                "http",
                http.span(),
                ProbeAction::Http { path: path.clone() },
            )
        }
        (None, Some(tcp)) => {
            if !*tcp.get_ref() {
                let problem = Problem::new("`tcp = false` does not describe a probe")
                    .hint("write `tcp = true`, or remove the probe");
                ctx.error(tcp.span(), &join(field, "tcp"), problem);
            }
            ("tcp", tcp.span(), ProbeAction::Tcp)
        }
        (None, None) => return None,
    };
    if !port {
        let article = if key == "http" { "an" } else { "a" };
        let problem = Problem::new(format!(
            "{article} `{key}` probe connects to `$PORT`, but this service has `port = false`"
        ))
        .hint("use `exec = \"…\"` for a service without a port, or remove `port = false`");
        ctx.error(span, &join(field, key), problem);
    }
    Some(action)
}
