//! Validation of `[metrics]`: the default scrape interval and timeout, retention by time and
//! size, and `[[metrics.targets]]` (job, URL, per-target interval and timeout, labels).

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use crate::diagnostics::Problem;
use crate::model::{MetricsSettings, StaticTarget};
use crate::names;
use crate::quantity;
use crate::raw::{RawMetrics, RawStaticTarget};
use crate::validate::context::{Ctx, Zero, join};

/// Labels pier sets itself on every scraped series; a target may not set them.
const RESERVED_LABELS: [&str; 2] = ["job", "instance"];

pub(crate) fn metrics(ctx: &mut Ctx<'_, '_>, raw: &Option<RawMetrics>) -> MetricsSettings {
    let defaults = MetricsSettings::default();
    let Some(raw) = raw else {
        return defaults;
    };
    let interval = ctx.duration(
        &raw.interval,
        "metrics.interval",
        defaults.interval,
        Zero::Rejected,
    );
    let timeout = ctx.duration(
        &raw.timeout,
        "metrics.timeout",
        defaults.timeout.min(interval),
        Zero::Rejected,
    );
    if let Some(value) = &raw.timeout
        && timeout > interval
    {
        ctx.error(
            value.span(),
            "metrics.timeout",
            longer_than_interval(timeout, interval),
        );
    }
    let retention_bytes =
        raw.retention_size
            .as_ref()
            .and_then(|size| match quantity::memory(size.get_ref()) {
                Ok(bytes) => Some(bytes),
                Err(problem) => {
                    ctx.error(size.span(), "metrics.retention_size", problem);
                    None
                }
            });
    let targets = raw
        .targets
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, target)| static_target(ctx, i, target, interval, timeout))
        .collect();
    MetricsSettings {
        interval,
        timeout,
        retention: ctx.duration(
            &raw.retention,
            "metrics.retention",
            defaults.retention,
            Zero::Rejected,
        ),
        retention_bytes,
        block_duration: block_duration(ctx, raw, defaults.block_duration),
        targets,
    }
}

fn static_target(
    ctx: &mut Ctx<'_, '_>,
    index: usize,
    raw: &Spanned<RawStaticTarget>,
    default_interval: Duration,
    default_timeout: Duration,
) -> Option<StaticTarget> {
    let path = format!("metrics.targets[{index}]");
    let value = raw.get_ref();
    let job = match &value.job {
        None => {
            ctx.missing(raw.span(), &path, "job", "job = \"node\"");
            String::new()
        }
        Some(job) if job.get_ref().trim().is_empty() => {
            ctx.error(
                job.span(),
                &join(&path, "job"),
                Problem::new("empty job name"),
            );
            String::new()
        }
        Some(job) => job.get_ref().clone(),
    };
    let url = match &value.url {
        None => {
            ctx.missing(
                raw.span(),
                &path,
                "url",
                "url = \"http://127.0.0.1:9100/metrics\"",
            );
            String::new()
        }
        Some(url) => {
            if let Err(problem) = names::http_url(url.get_ref()) {
                ctx.error(url.span(), &join(&path, "url"), problem);
            }
            url.get_ref().clone()
        }
    };
    let interval = ctx.duration(
        &value.interval,
        &join(&path, "interval"),
        default_interval,
        Zero::Rejected,
    );
    let timeout = ctx.duration(
        &value.timeout,
        &join(&path, "timeout"),
        default_timeout.min(interval),
        Zero::Rejected,
    );
    if timeout > interval {
        let span = value
            .timeout
            .as_ref()
            .or(value.interval.as_ref())
            .map_or(raw.span(), Spanned::span);
        ctx.error(
            span,
            &join(&path, "timeout"),
            longer_than_interval(timeout, interval),
        );
    }
    let mut labels = BTreeMap::new();
    for (name, label_value) in value.labels.iter().flatten() {
        let field = join(&join(&path, "labels"), name.get_ref());
        if let Err(problem) = label_name(name.get_ref()) {
            ctx.error(name.span(), &field, problem);
        }
        labels.insert(name.get_ref().clone(), label_value.get_ref().clone());
    }
    Some(StaticTarget {
        job,
        url,
        interval,
        timeout,
        labels,
    })
}

/// A Prometheus label name a user may set: `[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed (those
/// are reserved), not `job` or `instance` (pier sets them).
fn label_name(name: &str) -> Result<(), Problem> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Problem::new(format!("`{name}` is not a label name"))
            .hint("label names are letters, digits and `_`, not starting with a digit"));
    }
    if name.starts_with("__") {
        return Err(Problem::new(format!(
            "`{name}` starts with `__`, which Prometheus reserves"
        )));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(Problem::new(format!("`{name}` is set by pier"))
            .hint("`job` comes from the target's `job`, `instance` from its URL's host and port"));
    }
    Ok(())
}

/// `block_duration`: at least a minute, so the store is not cut into a block per scrape.
fn block_duration(ctx: &mut Ctx<'_, '_>, raw: &RawMetrics, default: Duration) -> Duration {
    let value = ctx.duration(
        &raw.block_duration,
        "metrics.block_duration",
        default,
        Zero::Rejected,
    );
    if let Some(given) = &raw.block_duration
        && value < Duration::from_secs(60)
    {
        ctx.error(
            given.span(),
            "metrics.block_duration",
            Problem::new("blocks shorter than 1m would cut the store into tiny files")
                .hint("leave the default of 2h unless you are testing"),
        );
        return default;
    }
    value
}

fn longer_than_interval(timeout: Duration, interval: Duration) -> Problem {
    Problem::new(format!(
        "a scrape timeout of {} is longer than the interval of {}",
        crate::format_duration(timeout),
        crate::format_duration(interval)
    ))
    .hint("a scrape must end before the next one starts: make the timeout at most the interval")
}
