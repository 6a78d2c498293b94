//! The metadata side of the Prometheus HTTP API: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/{name}/values` (what Grafana's query editor autocompletes from),
//! `/api/v1/metadata`, `/api/v1/targets` (the scrape manager's targets in Prometheus's shape)
//! and `/api/v1/status/buildinfo` (without `features`, so Grafana sees plain Prometheus).
//!
//! Reads the store through the `Storage` trait on a blocking thread. pier's scraper does not
//! keep `# HELP`/`# TYPE`/`# UNIT` after parsing, so `/api/v1/metadata` lists the store's
//! metric names with type `unknown` and empty help and unit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Path, State};
use pier_tsdb::{Labels, Matcher, Storage, TsdbError};
use serde::Serialize;

use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use super::{PromData, PromError, blocking, json};
use crate::server::ApiContext;

type Ctx = State<Arc<ApiContext>>;

const TRUNCATED: &str = "results truncated due to limit";

/// `GET|POST /api/v1/series?match[]=…&start=…&end=…&limit=…`: the label sets of the series
/// with a sample in `[start, end]`, sorted.
pub async fn series(State(ctx): Ctx, params: Params) -> Result<PromData, PromError> {
    if params.values("match[]").is_empty() {
        return Err(PromError::bad_data("no match[] parameter provided"));
    }
    let limit = params.limit()?;
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    let sets = params.matcher_sets()?;
    let tsdb = ctx.tsdb.clone();
    let found = blocking(move || -> Result<BTreeSet<Labels>, TsdbError> {
        let mut found = BTreeSet::new();
        for set in &sets {
            found.extend(tsdb.select(set, start, end)?.into_iter().map(|c| c.labels));
        }
        Ok(found)
    })
    .await?
    .map_err(storage_error)?;
    let mut found: Vec<Labels> = found.into_iter().collect();
    let warnings = truncate(&mut found, limit);
    let mut data = String::new();
    json::write_label_sets(&mut data, &found);
    Ok(PromData {
        data,
        warnings,
        infos: vec![],
    })
}

/// `GET|POST /api/v1/labels?match[]=…&start=…&end=…&limit=…`: label names, sorted.
pub async fn labels(State(ctx): Ctx, params: Params) -> Result<PromData, PromError> {
    let (limit, start, end, sets) = metadata_params(&params)?;
    let tsdb = ctx.tsdb.clone();
    let names = blocking(move || {
        collect(
            &*tsdb,
            &sets,
            start,
            end,
            |storage, set| storage.label_names(set),
            |labels, out| out.extend(labels.iter().map(|l| l.name.to_string())),
        )
    })
    .await?
    .map_err(storage_error)?;
    string_list(names, limit)
}

/// `GET|POST /api/v1/label/{name}/values?match[]=…&start=…&end=…&limit=…`: the values of
/// one label, sorted. A name may be `U__`-escaped, as Prometheus 3 allows for UTF-8 names.
pub async fn label_values(
    State(ctx): Ctx,
    Path(name): Path<String>,
    params: Params,
) -> Result<PromData, PromError> {
    let name = match name.strip_prefix("U__") {
        Some(escaped) => unescape_name(escaped).unwrap_or(name),
        None => name,
    };
    if name.is_empty() {
        return Err(PromError::bad_data(format!("invalid label name: {name:?}")));
    }
    let (limit, start, end, sets) = metadata_params(&params)?;
    let tsdb = ctx.tsdb.clone();
    let values = blocking(move || {
        let lookup = name.clone();
        collect(
            &*tsdb,
            &sets,
            start,
            end,
            move |storage, set| storage.label_values(&lookup, set),
            move |labels, out| out.extend(labels.get(&name).map(str::to_owned)),
        )
    })
    .await?
    .map_err(storage_error)?;
    string_list(values, limit)
}

/// `GET|POST /api/v1/metadata?limit=…&metric=…`: every metric name, type `unknown` (pier does
/// not keep what HELP/TYPE/UNIT said).
pub async fn metadata(State(ctx): Ctx, params: Params) -> Result<PromData, PromError> {
    let number = |name: &str| -> Result<i64, PromError> {
        match params.value(name) {
            "" => Ok(-1),
            text => text
                .parse()
                .map_err(|_| PromError::bad_data(format!("{name} must be a number"))),
        }
    };
    let limit = number("limit")?;
    number("limit_per_metric")?;
    let metric = params.value("metric").to_string();
    let tsdb = ctx.tsdb.clone();
    let names = blocking(move || tsdb.label_values("__name__", &[]))
        .await?
        .map_err(storage_error)?;
    #[derive(Serialize)]
    struct Metadata {
        #[serde(rename = "type")]
        kind: &'static str,
        help: &'static str,
        unit: &'static str,
    }
    let mut out: BTreeMap<String, Vec<Metadata>> = BTreeMap::new();
    for name in names {
        if !metric.is_empty() && name != metric {
            continue;
        }
        if limit >= 0 && out.len() as i64 >= limit {
            break;
        }
        out.insert(
            name,
            vec![Metadata {
                kind: "unknown",
                help: "",
                unit: "",
            }],
        );
    }
    PromData::json(&out)
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=…`
pub async fn targets(State(ctx): Ctx, params: Params) -> Result<PromData, PromError> {
    let state = params.value("state").trim().to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let pool = params.value("scrapePool");
    let mut active = Vec::new();
    if show_active {
        for t in ctx.scrapes.targets() {
            if !pool.is_empty() && t.job != pool {
                continue;
            }
            active.push(ActiveTarget::from(t));
        }
        active
            .sort_by(|a, b| (&a.scrape_pool, &a.scrape_url).cmp(&(&b.scrape_pool, &b.scrape_url)));
    }
    PromData::json(&TargetDiscovery {
        active_targets: active,
        dropped_targets: vec![],
        dropped_target_counts: show_dropped.then(BTreeMap::new),
    })
}

/// `GET /api/v1/status/buildinfo`. No `features`: Grafana then treats pier as Prometheus.
pub async fn buildinfo(State(ctx): Ctx) -> Result<PromData, PromError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct BuildInfo<'a> {
        version: &'a str,
        revision: &'a str,
        branch: &'a str,
        build_user: &'a str,
        build_date: &'a str,
        go_version: &'a str,
    }
    PromData::json(&BuildInfo {
        version: &ctx.status.pier_version,
        revision: "",
        branch: "",
        build_user: "pier",
        build_date: "",
        go_version: "none (pier is written in Rust)",
    })
}

/// `limit`, `start`, `end` and the optional `match[]` of `labels` and `label/…/values`.
type MetadataParams = (usize, i64, i64, Vec<Vec<Matcher>>);

fn metadata_params(params: &Params) -> Result<MetadataParams, PromError> {
    let limit = params.limit()?;
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    let sets = params.matcher_sets()?;
    Ok((limit, start, end, sets))
}

/// Names or values over the matcher sets (every series when there is none). Without a time
/// range the index answers; with one, only series with a sample in it count.
fn collect(
    storage: &dyn Storage,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
    from_index: impl Fn(&dyn Storage, &[Matcher]) -> Result<Vec<String>, TsdbError>,
    from_labels: impl Fn(&Labels, &mut BTreeSet<String>),
) -> Result<BTreeSet<String>, TsdbError> {
    let mut out = BTreeSet::new();
    if start <= MIN_TIME_MS && end >= MAX_TIME_MS {
        if sets.is_empty() {
            out.extend(from_index(storage, &[])?);
        }
        for set in sets {
            out.extend(from_index(storage, set)?);
        }
        return Ok(out);
    }
    let everything = vec![Matcher::regex("__name__", ".+").expect("a valid regex")];
    let sets = if sets.is_empty() {
        std::slice::from_ref(&everything)
    } else {
        sets
    };
    for set in sets {
        for cursor in storage.select(set, start, end)? {
            from_labels(&cursor.labels, &mut out);
        }
    }
    Ok(out)
}

fn string_list(items: BTreeSet<String>, limit: usize) -> Result<PromData, PromError> {
    let mut items: Vec<String> = items.into_iter().collect();
    let warnings = truncate(&mut items, limit);
    let mut data = PromData::json(&items)?;
    data.warnings = warnings;
    Ok(data)
}

fn truncate<T>(items: &mut Vec<T>, limit: usize) -> Vec<String> {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        vec![TRUNCATED.to_string()]
    } else {
        vec![]
    }
}

fn storage_error(error: TsdbError) -> PromError {
    PromError::internal(format!("storage error: {error}"))
}

/// Prometheus's value-encoding escape (`U__` already removed): `__` is `_`, `_HEX_` is the
/// character with that code point, anything else stands for itself.
fn unescape_name(escaped: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next()? {
                '_' => break,
                h if h.is_ascii_hexdigit() => hex.push(h),
                _ => return None,
            }
        }
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

/// Prometheus's `TargetDiscovery`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery {
    active_targets: Vec<ActiveTarget>,
    dropped_targets: Vec<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped_target_counts: Option<BTreeMap<String, usize>>,
}

/// Prometheus's `Target` of `/api/v1/targets`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget {
    discovered_labels: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    scrape_pool: String,
    scrape_url: String,
    global_url: String,
    last_error: String,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: String,
    scrape_timeout: String,
}

impl From<pier_scrape::scrape::TargetHealth> for ActiveTarget {
    fn from(t: pier_scrape::scrape::TargetHealth) -> ActiveTarget {
        let (scheme, rest) = t.url.split_once("://").unwrap_or(("http", &t.url));
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        let path = path.split('?').next().unwrap_or(path);
        let interval = model_duration(t.interval.as_millis() as u64);
        let timeout = model_duration(t.timeout.as_millis() as u64);
        let mut labels = BTreeMap::from([
            ("job".to_string(), t.job.clone()),
            ("instance".to_string(), t.instance.clone()),
        ]);
        for (name, value) in &t.labels {
            if !name.starts_with("__") && !value.is_empty() {
                labels.insert(name.clone(), value.clone());
            }
        }
        let mut discovered = labels.clone();
        discovered.remove("instance");
        discovered.insert("__address__".into(), t.instance.clone());
        discovered.insert("__metrics_path__".into(), path.to_string());
        discovered.insert("__scheme__".into(), scheme.to_string());
        discovered.insert("__scrape_interval__".into(), interval.clone());
        discovered.insert("__scrape_timeout__".into(), timeout.clone());
        ActiveTarget {
            discovered_labels: discovered,
            labels,
            scrape_pool: t.job,
            scrape_url: t.url.clone(),
            global_url: t.url,
            last_error: t.last_error.unwrap_or_default(),
            last_scrape: t
                .last_scrape
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .and_then(|d| jiff::Timestamp::from_nanosecond(d.as_nanos() as i128).ok())
                .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_string()),
            last_scrape_duration: t.last_duration.map_or(0.0, |d| d.as_secs_f64()),
            health: t.health.as_str(),
            scrape_interval: interval,
            scrape_timeout: timeout,
        }
    }
}

/// Prometheus's `model.Duration` text: `15s`, `1m30s`, `200ms`, `0s`; years and weeks only
/// when exact.
fn model_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut ms = ms;
    let mut out = String::new();
    let units: [(&str, u64, bool); 7] = [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && !ms.is_multiple_of(mult) {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_prometheus_model_durations() {
        assert_eq!(model_duration(0), "0s");
        assert_eq!(model_duration(15_000), "15s");
        assert_eq!(model_duration(90_000), "1m30s");
        assert_eq!(model_duration(200), "200ms");
        assert_eq!(model_duration(7 * 86_400_000), "1w");
        assert_eq!(model_duration(8 * 86_400_000), "8d");
        assert_eq!(model_duration(3_600_500), "1h500ms");
    }

    #[test]
    fn escaped_label_names_are_unescaped() {
        assert_eq!(unescape_name("my_2e_label").as_deref(), Some("my.label"));
        assert_eq!(unescape_name("a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_name("plain").as_deref(), Some("plain"));
        assert_eq!(unescape_name("bad_zz_"), None);
    }

    #[test]
    fn targets_have_prometheus_fields() {
        let t = pier_scrape::scrape::TargetHealth {
            job: "web".into(),
            url: "http://127.0.0.1:5273/metrics".into(),
            labels: vec![("replica".into(), "web.1".into())],
            instance: "127.0.0.1:5273".into(),
            health: pier_scrape::scrape::Health::Up,
            last_scrape: Some(UNIX_EPOCH + std::time::Duration::from_millis(1_500)),
            last_duration: Some(std::time::Duration::from_millis(2)),
            last_error: None,
            interval: std::time::Duration::from_secs(15),
            timeout: std::time::Duration::from_secs(10),
            samples: 3,
        };
        let json = serde_json::to_value(ActiveTarget::from(t)).unwrap();
        assert_eq!(json["labels"]["instance"], "127.0.0.1:5273");
        assert_eq!(json["labels"]["replica"], "web.1");
        assert_eq!(json["discoveredLabels"]["__address__"], "127.0.0.1:5273");
        assert_eq!(json["discoveredLabels"]["__metrics_path__"], "/metrics");
        assert_eq!(json["scrapePool"], "web");
        assert_eq!(json["lastError"], "");
        assert_eq!(json["lastScrape"], "1970-01-01T00:00:01.5Z");
        assert_eq!(json["scrapeInterval"], "15s");
        assert_eq!(json["health"], "up");
    }
}
