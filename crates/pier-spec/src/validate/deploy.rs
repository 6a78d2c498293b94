//! Validation of `[deploy]` (release retention, the rolling-update defaults) and of a
//! service's `deploy` (its own rolling update): counts and percentages with Kubernetes'
//! rules (a surge and an unavailable amount that are both zero are refused), durations.

use std::ops::Range;
use std::time::Duration;

use crate::diagnostics::Problem;
use crate::model::{Amount, DeploySettings, Rollout};
use crate::raw::{Opt, RawAmount, RawDeploy};
use crate::validate::context::{Ctx, Zero, join};

/// Upper bound on `keep_releases`.
const MAX_KEEP: u32 = 1000;

/// `[deploy]`: the app's settings.
pub(crate) fn app(ctx: &mut Ctx<'_, '_>, raw: &Opt<RawDeploy>) -> DeploySettings {
    let defaults = DeploySettings::default();
    let Some(raw) = raw else {
        return defaults;
    };
    DeploySettings {
        keep_releases: ctx.count(
            &raw.get_ref().keep_releases,
            "deploy.keep_releases",
            defaults.keep_releases,
            (1, MAX_KEEP),
        ),
        rollout: rollout(ctx, raw.get_ref(), raw.span(), "deploy", defaults.rollout),
    }
}

/// A service's `deploy`, over the app's defaults.
pub(crate) fn service(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<RawDeploy>,
    path: &str,
    defaults: Rollout,
) -> Rollout {
    let Some(raw) = raw else {
        return defaults;
    };
    let field = join(path, "deploy");
    if let Some(keep) = &raw.get_ref().keep_releases {
        let problem = Problem::new("`keep_releases` applies to the whole app")
            .hint("move it to the top-level `[deploy]` table");
        ctx.error(keep.span(), &join(&field, "keep_releases"), problem);
    }
    rollout(ctx, raw.get_ref(), raw.span(), &field, defaults)
}

fn rollout(
    ctx: &mut Ctx<'_, '_>,
    raw: &RawDeploy,
    span: Range<usize>,
    field: &str,
    defaults: Rollout,
) -> Rollout {
    let max_surge =
        amount(ctx, &raw.max_surge, &join(field, "max_surge"), None).unwrap_or(defaults.max_surge);
    let max_unavailable = amount(
        ctx,
        &raw.max_unavailable,
        &join(field, "max_unavailable"),
        Some(100),
    )
    .unwrap_or(defaults.max_unavailable);
    if max_surge.is_zero() && max_unavailable.is_zero() {
        let problem = Problem::new("`max_surge` and `max_unavailable` cannot both be 0").hint(
            "allow one extra replica (`max_surge = 1`) or one missing one (`max_unavailable = 1`)",
        );
        let at = raw
            .max_unavailable
            .as_ref()
            .or(raw.max_surge.as_ref())
            .map_or(span, |v| v.span());
        ctx.error(at, field, problem);
    }
    Rollout {
        max_surge,
        max_unavailable,
        min_ready: ctx.duration(
            &raw.min_ready,
            &join(field, "min_ready"),
            defaults.min_ready,
            Zero::Allowed,
        ),
        progress_deadline: progress_deadline(ctx, raw, field, defaults.progress_deadline),
    }
}

fn progress_deadline(
    ctx: &mut Ctx<'_, '_>,
    raw: &RawDeploy,
    field: &str,
    default: Duration,
) -> Duration {
    ctx.duration(
        &raw.progress_deadline,
        &join(field, "progress_deadline"),
        default,
        Zero::Rejected,
    )
}

/// A count or a percentage; `max_percent` bounds percentages (`max_unavailable`: 100).
fn amount(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<RawAmount>,
    field: &str,
    max_percent: Option<u32>,
) -> Option<Amount> {
    let raw = raw.as_ref()?;
    let parsed = match raw.get_ref() {
        RawAmount::Count(n) => u32::try_from(*n)
            .map(Amount::Count)
            .map_err(|_| Problem::new(format!("must be a count of 0 or more, found {n}"))),
        RawAmount::Text(text) => percent(text),
    };
    let checked = parsed.and_then(|amount| match (amount, max_percent) {
        (Amount::Percent(p), Some(max)) if p > max => {
            Err(Problem::new(format!("must be at most {max}%, found {p}%")))
        }
        _ => Ok(amount),
    });
    match checked {
        Ok(amount) => Some(amount),
        Err(problem) => {
            ctx.error(raw.span(), field, problem);
            None
        }
    }
}

/// `"25%"`; a bare number in a string is refused with a hint.
fn percent(text: &str) -> Result<Amount, Problem> {
    let trimmed = text.trim();
    if let Some(number) = trimmed.strip_suffix('%')
        && let Ok(p) = number.trim().parse::<u32>()
    {
        return Ok(Amount::Percent(p));
    }
    let problem = Problem::new(format!(
        "expected a count such as 1 or a percentage such as \"25%\", found \"{text}\""
    ));
    Err(match trimmed.parse::<u32>() {
        Ok(n) => problem.hint(format!(
            "write `{n}` without quotes for a count, or \"{n}%\""
        )),
        Err(_) => problem,
    })
}
