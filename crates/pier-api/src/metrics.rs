//! The metrics routes of the control API: `/v1/targets` (what is scraped and how it went, for
//! `pier targets`), `/v1/metrics/stats` (the store's size, for `pier metrics stats`), and
//! `/v1/metrics/import` and `/v1/metrics/export` (history in and out, as OpenMetrics).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use pier_scrape::backfill;

use crate::dto::{ImportDto, MetricsStatsDto, TargetDto, TargetsDto};
use crate::error::ApiError;
use crate::routes::blocking;
use crate::selector::{parse_selector, parse_time};
use crate::server::ApiContext;

type Ctx = State<Arc<ApiContext>>;

pub async fn targets(State(ctx): Ctx) -> Json<TargetsDto> {
    let mut targets: Vec<TargetDto> = ctx
        .scrapes
        .targets()
        .into_iter()
        .map(|t| TargetDto {
            job: t.job,
            instance: t.instance,
            url: t.url,
            labels: t.labels.into_iter().collect(),
            health: t.health.as_str().to_string(),
            last_scrape_ms: t
                .last_scrape
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64),
            last_duration_ms: t.last_duration.map(|d| d.as_secs_f64() * 1000.0),
            last_error: t.last_error,
            interval_ms: t.interval.as_millis() as u64,
            timeout_ms: t.timeout.as_millis() as u64,
            samples: t.samples,
        })
        .collect();
    targets.sort_by(|a, b| (&a.job, &a.instance).cmp(&(&b.job, &b.instance)));
    Json(TargetsDto { targets })
}

pub async fn stats(State(ctx): Ctx) -> Result<Json<MetricsStatsDto>, ApiError> {
    let tsdb = ctx.tsdb.clone();
    let stats = blocking(move || tsdb.stats()).await?;
    Ok(Json(MetricsStatsDto {
        series: stats.series,
        samples: stats.total_samples,
        chunks: stats.chunks,
        blocks: stats.blocks,
        head_bytes: stats.head_bytes,
        disk_bytes: stats.disk_bytes,
        bytes_per_sample: stats.bytes_per_sample(),
        min_time_ms: stats.oldest_time,
        max_time_ms: stats.newest_time,
        out_of_order_total: stats.out_of_order_total,
        duplicate_total: stats.duplicate_total,
    }))
}

/// Loads an OpenMetrics file (every sample timestamped, ending in `# EOF`); a bad file
/// changes nothing and gets a 400 naming the line.
pub async fn import(State(ctx): Ctx, body: Bytes) -> Result<Json<ImportDto>, ApiError> {
    let tsdb = ctx.tsdb.clone();
    let report = blocking(move || {
        let report = backfill::import(&tsdb, &body)?;
        // History goes to blocks on disk at once rather than waiting in the head.
        tsdb.maintain()
            .map_err(|e| backfill::ImportError::Store(e.to_string()))?;
        Ok(report)
    })
    .await?
    .map_err(|error| match error {
        backfill::ImportError::Store(message) => ApiError::internal(message),
        other => ApiError::bad_request(other.to_string()),
    })?;
    Ok(Json(ImportDto {
        series: report.series,
        samples: report.samples,
        rejected: report.rejected,
        too_old: report.too_old,
        oldest_accepted_ms: report.oldest_accepted_ms,
        min_time_ms: report.min_time_ms,
        max_time_ms: report.max_time_ms,
    }))
}

/// Writes the series selected by `match[]` (all if none) with their samples between `start`
/// and `end` (default: all time) as OpenMetrics.
pub async fn export(
    State(ctx): Ctx,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let mut selectors = Vec::new();
    let (mut start, mut end) = (i64::MIN, i64::MAX);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "match[]" => selectors.push(parse_selector(&value).map_err(ApiError::bad_request)?),
            "start" => start = parse_time("start", &value).map_err(ApiError::bad_request)?,
            "end" => end = parse_time("end", &value).map_err(ApiError::bad_request)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{other}`; use match[], start and end"
                )));
            }
        }
    }
    if start > end {
        return Err(ApiError::bad_request(
            "invalid parameters: `end` is before `start`",
        ));
    }
    let tsdb = ctx.tsdb.clone();
    let text = blocking(move || backfill::export(&*tsdb, &selectors, start, end))
        .await?
        .map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
