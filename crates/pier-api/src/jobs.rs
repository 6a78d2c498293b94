//! The `/v1/jobs` routes: the scheduler's jobs with their next and last runs, a job's ledger,
//! manual runs, enabling and disabling. Orders go to the scheduler's handle; reads of the
//! ledger go to the state store.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pier_scheduler::SchedulerError;
use pier_state::{JobRun, RunState};
use serde::Deserialize;

use crate::dto::{JobDto, JobHistoryDto, JobRunDto, JobsDto};
use crate::error::ApiError;
use crate::routes::blocking;
use crate::server::ApiContext;

type Ctx = State<Arc<ApiContext>>;

pub async fn list(State(ctx): Ctx) -> Result<Json<JobsDto>, ApiError> {
    let status = ctx.scheduler.status();
    let state = ctx.state.clone();
    let names: Vec<String> = status.jobs.iter().map(|j| j.name.clone()).collect();
    let ended: Vec<RunState> = RunState::ALL.into_iter().filter(|s| s.is_final()).collect();
    let last = blocking(move || {
        names
            .iter()
            .map(|name| state.last_job_run(name, &ended))
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    let jobs = status
        .jobs
        .into_iter()
        .zip(last)
        .map(|(job, last)| JobDto {
            name: job.name,
            schedule: job.schedule,
            timezone: job.timezone,
            command: job.command,
            version: job.version,
            enabled: job.enabled,
            disabled_by: job.disabled_by,
            next_run_ms: job.next_slot_ms,
            running: job.running,
            last: last.map(run_dto),
        })
        .collect();
    Ok(Json(JobsDto {
        leader: status.leader,
        jobs,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

pub async fn history(
    State(ctx): Ctx,
    Path(name): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<JobHistoryDto>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    known(&ctx, &name)?;
    let limit = query.limit.unwrap_or(20).clamp(1, 100_000);
    let (state, job) = (ctx.state.clone(), name.clone());
    let runs = blocking(move || state.job_runs(&job, limit, query.before)).await??;
    Ok(Json(JobHistoryDto {
        job: name,
        runs: runs.into_iter().map(run_dto).collect(),
    }))
}

pub async fn run(
    State(ctx): Ctx,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<JobRunDto>), ApiError> {
    let run = ctx.scheduler.run_now(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(run_dto(run))))
}

pub async fn enable(State(ctx): Ctx, Path(name): Path<String>) -> Result<Json<JobsDto>, ApiError> {
    ctx.scheduler.set_enabled(&name, true).await?;
    list(State(ctx)).await
}

pub async fn disable(State(ctx): Ctx, Path(name): Path<String>) -> Result<Json<JobsDto>, ApiError> {
    ctx.scheduler.set_enabled(&name, false).await?;
    list(State(ctx)).await
}

fn known(ctx: &ApiContext, name: &str) -> Result<(), ApiError> {
    if ctx.scheduler.status().jobs.iter().any(|j| j.name == name) {
        return Ok(());
    }
    Err(SchedulerError::UnknownJob(name.to_string()).into())
}

/// The wire shape of a ledger row.
pub fn run_dto(run: JobRun) -> JobRunDto {
    JobRunDto {
        id: run.id,
        run_id: run.run_id,
        job: run.job,
        slot_ms: run.slot_ms,
        covers: run.covers,
        covers_until_ms: run.covers_until_ms,
        trigger: run.trigger.as_str().to_string(),
        version: run.version,
        attempt: run.attempt,
        state: run.state.as_str().to_string(),
        reason: run.reason,
        started_at_ms: run.started_at_ms,
        finished_at_ms: run.finished_at_ms,
        exit_code: run.exit_code,
    }
}

impl From<SchedulerError> for ApiError {
    fn from(error: SchedulerError) -> Self {
        let (status, code) = match &error {
            SchedulerError::UnknownJob(_) => (StatusCode::NOT_FOUND, "unknown_job"),
            SchedulerError::InvalidJob { .. } => (StatusCode::BAD_REQUEST, "invalid_job"),
            SchedulerError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            SchedulerError::State(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            code,
            message: error.to_string(),
        }
    }
}
