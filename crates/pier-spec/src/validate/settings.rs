//! Validation of app-wide settings: `[supervisor]` (port range, restart backoff),
//! `[resources]` (CPU and memory limits services may override) and `[router]`.

use std::time::Duration;

use crate::diagnostics::Problem;
use crate::model::{Backoff, Balance, Resources, RouterSettings, SupervisorSettings};
use crate::quantity;
use crate::raw::{Opt, RawBackoff, RawQuantity, RawResources, RawRouter, RawSupervisor};
use crate::suggest;
use crate::validate::context::{Ctx, Zero, join};

/// Lowest port a range may start at: ports below need root.
const LOWEST_PORT: u16 = 1024;

/// Memory limits below this cannot start a process; usually a forgotten `Mi`.
const MIN_MEMORY: u64 = 4 << 20;

/// `[supervisor]`: its settings and the restart backoff every service starts from.
pub(crate) fn supervisor(
    ctx: &mut Ctx<'_, '_>,
    raw: &Option<RawSupervisor>,
) -> (SupervisorSettings, Backoff) {
    let mut settings = SupervisorSettings::default();
    let Some(raw) = raw else {
        return (settings, Backoff::default());
    };
    if let Some(range) = &raw.port_range {
        match port_range(range.get_ref()) {
            Ok(parsed) => settings.port_range = parsed,
            Err(problem) => ctx.error(range.span(), "supervisor.port_range", problem),
        }
    }
    let backoff = backoff(
        ctx,
        &raw.restart_backoff,
        "supervisor.restart_backoff",
        Backoff::default(),
    );
    (settings, backoff)
}

/// `[router]`: load balancing, idempotent retries, the in-flight limit and the boot wait.
pub(crate) fn router(ctx: &mut Ctx<'_, '_>, raw: &Option<RawRouter>) -> RouterSettings {
    let defaults = RouterSettings::default();
    let Some(raw) = raw else {
        return defaults;
    };
    let balance = match &raw.balance {
        None => defaults.balance,
        Some(word) => match word.get_ref().as_str() {
            "least_requests" => Balance::LeastRequests,
            "round_robin" => Balance::RoundRobin,
            other => {
                let options = ["least_requests", "round_robin"];
                let problem = Problem::new(format!("unknown value `{other}`"))
                    .maybe_hint(suggest::did_you_mean(other, &options, "use one of"));
                ctx.error(word.span(), "router.balance", problem);
                defaults.balance
            }
        },
    };
    RouterSettings {
        balance,
        retry_idempotent: raw
            .retry_idempotent
            .as_ref()
            .map_or(defaults.retry_idempotent, |b| *b.get_ref()),
        pin_workers: raw
            .pin_workers
            .as_ref()
            .map_or(defaults.pin_workers, |b| *b.get_ref()),
        max_in_flight: ctx.count(
            &raw.max_in_flight,
            "router.max_in_flight",
            defaults.max_in_flight,
            (1, 100_000),
        ),
        boot_timeout: ctx.duration(
            &raw.boot_timeout,
            "router.boot_timeout",
            defaults.boot_timeout,
            Zero::Rejected,
        ),
    }
}

/// `"5000-5999"`: an inclusive range of unprivileged ports.
fn port_range(s: &str) -> Result<(u16, u16), Problem> {
    let shape = || {
        Problem::new(format!("`{s}` is not a port range"))
            .hint("write `port_range = \"5000-5999\"`")
    };
    let (lo, hi) = s.split_once('-').ok_or_else(shape)?;
    let lo: u16 = lo.trim().parse().map_err(|_| shape())?;
    let hi: u16 = hi.trim().parse().map_err(|_| shape())?;
    if lo < LOWEST_PORT {
        return Err(
            Problem::new(format!("port range starts at {lo}, below {LOWEST_PORT}"))
                .hint("ports below 1024 need root; start the range at 1024 or above"),
        );
    }
    if lo > hi {
        return Err(
            Problem::new(format!("port range `{s}` ends before it starts"))
                .hint(format!("write `port_range = \"{hi}-{lo}\"`")),
        );
    }
    Ok((lo, hi))
}

/// A restart backoff: fields given override `base`; checks that `initial` ≤ `max`.
pub(crate) fn backoff(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<RawBackoff>,
    field: &str,
    base: Backoff,
) -> Backoff {
    let Some(raw) = raw else {
        return base;
    };
    let value = raw.get_ref();
    let resolved = Backoff {
        initial: ctx.duration(
            &value.initial,
            &join(field, "initial"),
            base.initial,
            Zero::Rejected,
        ),
        max: ctx.duration(&value.max, &join(field, "max"), base.max, Zero::Rejected),
        reset_after: ctx.duration(
            &value.reset_after,
            &join(field, "reset_after"),
            base.reset_after,
            Zero::Rejected,
        ),
    };
    if resolved.initial > resolved.max {
        let problem = Problem::new(format!(
            "initial backoff ({}) is longer than the maximum ({})",
            show(resolved.initial),
            show(resolved.max)
        ))
        .hint("make `initial` at most `max`");
        let span = value.initial.as_ref().map_or(raw.span(), |i| i.span());
        ctx.error(span, &join(field, "initial"), problem);
    }
    resolved
}

fn show(d: Duration) -> String {
    crate::duration::format_duration(d)
}

/// CPU and memory limits: fields given override `base`.
pub(crate) fn resources(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<RawResources>,
    field: &str,
    base: Resources,
) -> Resources {
    let Some(raw) = raw else {
        return base;
    };
    let value = raw.get_ref();
    Resources {
        cpu_millis: cpu(ctx, &value.cpu, &join(field, "cpu")).or(base.cpu_millis),
        memory_bytes: memory(ctx, &value.memory, &join(field, "memory")).or(base.memory_bytes),
    }
}

fn cpu(ctx: &mut Ctx<'_, '_>, raw: &Opt<RawQuantity>, field: &str) -> Option<u32> {
    let raw = raw.as_ref()?;
    match quantity::cpu(&raw.get_ref().0) {
        Ok(0) => ctx.error(
            raw.span(),
            field,
            Problem::new("a cpu limit must be greater than zero"),
        ),
        Ok(millis) => return Some(millis),
        Err(problem) => ctx.error(raw.span(), field, problem),
    }
    None
}

fn memory(ctx: &mut Ctx<'_, '_>, raw: &Opt<RawQuantity>, field: &str) -> Option<u64> {
    let raw = raw.as_ref()?;
    let text = &raw.get_ref().0;
    match quantity::memory(text) {
        Ok(bytes) if bytes < MIN_MEMORY => {
            let mut problem = Problem::new(format!(
                "memory limit `{text}` is below 4Mi, too little to run a process"
            ));
            if text.chars().all(|c| c.is_ascii_digit()) {
                problem = problem.hint(format!("did you mean `memory = \"{text}Mi\"`?"));
            }
            ctx.error(raw.span(), field, problem);
        }
        Ok(bytes) => return Some(bytes),
        Err(problem) => ctx.error(raw.span(), field, problem),
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(port_range("5000-5999"), Ok((5000, 5999)));
        assert_eq!(port_range("8000 - 8000"), Ok((8000, 8000)));
        assert!(port_range("80-90").is_err());
        assert!(port_range("6000-5000").is_err());
        assert!(port_range("5000").is_err());
        assert!(port_range("5000-70000").is_err());
    }
}
