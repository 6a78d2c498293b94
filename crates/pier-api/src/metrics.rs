//! The metrics routes of the control API: `/v1/targets` (what is scraped and how it went, for
//! `pier targets`) and `/v1/metrics/stats` (the store's size, for `pier metrics stats`).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::State;

use crate::dto::{MetricsStatsDto, TargetDto, TargetsDto};
use crate::error::ApiError;
use crate::routes::blocking;
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
        samples: stats.samples,
        chunks: stats.chunks,
        head_bytes: stats.head_bytes,
        disk_bytes: stats.wal_bytes,
        bytes_per_sample: (stats.samples > 0)
            .then(|| stats.wal_bytes as f64 / stats.samples as f64),
        min_time_ms: stats.min_time,
        max_time_ms: stats.max_time,
        out_of_order_total: stats.out_of_order_total,
        duplicate_total: stats.duplicate_total,
    }))
}
