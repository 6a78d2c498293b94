//! The release routes' handlers and the [`Releases`] trait the daemon implements: deploy,
//! rollback, config changes and one-off runs are orchestrated by the daemon (snapshot, build,
//! release phase, rollout); this module validates requests, lists releases and config from the
//! state store, and streams what the daemon reports as newline-delimited JSON.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pier_state::{Release, ReleaseSource, ReleaseStatus};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::release_dto::*;
use crate::routes::blocking;
use crate::server::ApiContext;

/// A boxed future, for the object-safe [`Releases`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the daemon does for the release routes. Each long operation is validated completely
/// (an `Err` changes nothing), then runs on its own and reports through the receiver, which
/// ends with [`ProgressDto::Done`] / [`RunEventDto::Exit`].
pub trait Releases: Send + Sync {
    fn deploy(
        &self,
        request: DeployRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>>;
    fn rollback(
        &self,
        request: RollbackRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>>;
    fn change_config(
        &self,
        request: ConfigRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>>;
    fn run(
        &self,
        request: RunRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<RunEventDto>, ApiError>>;
    /// `pier promote`: rolls the canary out fully.
    fn promote(&self) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>>;
    /// `pier deploy --abort`: removes the canary.
    fn abort(&self) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>>;
    /// The log of release `version` (build, release phase, rollout).
    fn log(&self, version: u32) -> BoxFuture<'_, Result<String, ApiError>>;
    /// What is being deployed, if anything (`pier scale` and `pier restart` wait for it).
    fn busy(&self) -> Option<String>;
}

type Ctx = State<Arc<ApiContext>>;

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))
}

pub async fn deploy(
    State(ctx): Ctx,
    request: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let rx = ctx.releases.deploy(body(request)?).await?;
    Ok(ndjson_stream(rx))
}

pub async fn rollback(
    State(ctx): Ctx,
    request: Result<Json<RollbackRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let rx = ctx.releases.rollback(body(request)?).await?;
    Ok(ndjson_stream(rx))
}

pub async fn change_config(
    State(ctx): Ctx,
    request: Result<Json<ConfigRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let rx = ctx.releases.change_config(body(request)?).await?;
    Ok(ndjson_stream(rx))
}

pub async fn promote(State(ctx): Ctx) -> Result<Response, ApiError> {
    let rx = ctx.releases.promote().await?;
    Ok(ndjson_stream(rx))
}

pub async fn abort(State(ctx): Ctx) -> Result<Response, ApiError> {
    let rx = ctx.releases.abort().await?;
    Ok(ndjson_stream(rx))
}

/// The active canary as recorded in the state store.
pub async fn canary(ctx: &ApiContext) -> Result<Option<CanaryDto>, ApiError> {
    let state = ctx.state.clone();
    let canary = blocking(move || state.canary()).await??;
    Ok(canary.map(|c| CanaryDto {
        version: c.version,
        percent: c.percent,
        started_at_ms: c.started_at_ms,
    }))
}

pub async fn run(
    State(ctx): Ctx,
    request: Result<Json<RunRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let rx = ctx.releases.run(body(request)?).await?;
    Ok(ndjson_stream(rx))
}

pub async fn config(State(ctx): Ctx) -> Result<Json<ConfigDto>, ApiError> {
    let state = ctx.state.clone();
    let current = blocking(move || state.current_release()).await??;
    let current = current.ok_or_else(|| ApiError::internal("no release was ever recorded"))?;
    Ok(Json(ConfigDto {
        release: current.version,
        vars: current.config,
    }))
}

pub async fn list(State(ctx): Ctx) -> Result<Json<ReleasesDto>, ApiError> {
    let state = ctx.state.clone();
    let releases = blocking(move || state.releases()).await??;
    Ok(Json(ReleasesDto {
        releases: releases.iter().map(release_dto).collect(),
        canary: canary(&ctx).await?,
    }))
}

pub async fn log(State(ctx): Ctx, Path(version): Path<String>) -> Result<Response, ApiError> {
    let version = parse_version(&version)?;
    let text = ctx.releases.log(version).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `v3` or `3`.
pub fn parse_version(text: &str) -> Result<u32, ApiError> {
    text.strip_prefix('v')
        .unwrap_or(text)
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid release {text:?}: expected a version such as v3"
            ))
        })
}

fn release_dto(release: &Release) -> ReleaseDto {
    let source = match (release.source, &release.commit) {
        (ReleaseSource::Git, Some(commit)) => commit.chars().take(7).collect(),
        (ReleaseSource::Git, None) => "git".to_string(),
        (ReleaseSource::WorkingTree, _) => "working tree".to_string(),
        (ReleaseSource::Folder, _) => "app folder".to_string(),
    };
    let status = match release.status {
        ReleaseStatus::RolledBack => "rolled back".to_string(),
        other => other.as_str().to_string(),
    };
    ReleaseDto {
        version: release.version,
        created_at_ms: release.created_at_ms,
        description: release.description.clone(),
        source,
        commit: release.commit.clone(),
        status,
        artifact: release.artifact,
        failure: release.failure.clone(),
        config_keys: release.config.keys().cloned().collect(),
    }
}

/// Streams every item of `rx` as one JSON line.
pub(crate) fn ndjson_stream<T: Serialize + Send + 'static>(mut rx: mpsc::Receiver<T>) -> Response {
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|item| {
            item.map(|item| {
                let mut line = serde_json::to_vec(&item).unwrap_or_default();
                line.push(b'\n');
                Ok::<_, std::convert::Infallible>(Bytes::from(line))
            })
        })
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}
