//! Validation of `[jobs.NAME]`: schedule and time zone, command, policies (concurrency,
//! catch-up) and their defaults.

use toml::Spanned;

use crate::diagnostics::Problem;
use crate::model::{CatchUp, Concurrency, Job};
use crate::raw::{Opt, RawJob};
use crate::schedule;
use crate::suggest;
use crate::validate::context::{Ctx, Zero, join};

/// A Kubernetes Job's first backoff.
const DEFAULT_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) fn job(ctx: &mut Ctx<'_, '_>, name: &Spanned<String>, raw: &Spanned<RawJob>) -> Job {
    let path = format!("jobs.{}", name.get_ref());
    let value = raw.get_ref();
    Job {
        name: ctx.label(name, &path),
        schedule: schedule_field(ctx, &value.schedule, name, &path),
        timezone: timezone(ctx, &value.timezone, &path),
        command: ctx.command(&value.command, name.span(), &path),
        timeout: ctx.optional_duration(&value.timeout, &join(&path, "timeout"), Zero::Rejected),
        concurrency: choice(
            ctx,
            &value.concurrency,
            &join(&path, "concurrency"),
            &[
                ("forbid", Concurrency::Forbid),
                ("allow", Concurrency::Allow),
                ("replace", Concurrency::Replace),
            ],
            Concurrency::Forbid,
        ),
        catch_up: choice(
            ctx,
            &value.catch_up,
            &join(&path, "catch_up"),
            &[
                ("none", CatchUp::None),
                ("latest", CatchUp::Latest),
                ("all", CatchUp::All),
            ],
            CatchUp::Latest,
        ),
        max_catch_up: ctx.count(
            &value.max_catch_up,
            &join(&path, "max_catch_up"),
            100,
            (1, u32::MAX),
        ),
        starting_deadline: ctx.optional_duration(
            &value.starting_deadline,
            &join(&path, "starting_deadline"),
            Zero::Rejected,
        ),
        retries: ctx.count(&value.retries, &join(&path, "retries"), 0, (0, 100)),
        retry_backoff: ctx
            .optional_duration(
                &value.retry_backoff,
                &join(&path, "retry_backoff"),
                Zero::Rejected,
            )
            .unwrap_or(DEFAULT_RETRY_BACKOFF),
        enabled: value.enabled.as_ref().is_none_or(|e| *e.get_ref()),
    }
}

fn schedule_field(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<String>,
    name: &Spanned<String>,
    path: &str,
) -> String {
    let Some(raw) = raw else {
        ctx.missing(name.span(), path, "schedule", "schedule = \"0 6 * * *\"");
        return String::new();
    };
    if let Err(problem) = schedule::schedule(raw.get_ref()) {
        ctx.error(raw.span(), &join(path, "schedule"), problem);
    }
    raw.get_ref().clone()
}

fn timezone(ctx: &mut Ctx<'_, '_>, raw: &Opt<String>, path: &str) -> String {
    let Some(raw) = raw else {
        return "UTC".to_string();
    };
    if let Err(problem) = schedule::time_zone(raw.get_ref()) {
        ctx.error(raw.span(), &join(path, "timezone"), problem);
    }
    raw.get_ref().clone()
}

/// One of a fixed set of words.
fn choice<T: Copy>(
    ctx: &mut Ctx<'_, '_>,
    raw: &Opt<String>,
    field: &str,
    options: &[(&str, T)],
    default: T,
) -> T {
    let Some(raw) = raw else {
        return default;
    };
    let word = raw.get_ref();
    if let Some((_, value)) = options.iter().find(|(name, _)| name == word) {
        return *value;
    }
    let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
    let problem = Problem::new(format!("unknown value `{word}`"))
        .maybe_hint(suggest::did_you_mean(word, &names, "use one of"));
    ctx.error(raw.span(), field, problem);
    default
}
