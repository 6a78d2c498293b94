//! Staging environments: `pier stage NAME [DIR]`, `pier stage list`, `pier stage destroy NAME`,
//! and `pier --stage NAME ps|logs|config|releases|rollback|run|…`. The daemon implements
//! [`Stages`] (each stage is an environment of its own: state, processes, releases); this module
//! validates requests and serves a stage's own routes under `/v1/stages/NAME/…` by handing the
//! request, its path shortened to `/v1/…`, to the `/v1` router built on the stage's context.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::release_dto::ProgressDto;
use crate::releases::{BoxFuture, ndjson_stream};
use crate::server::ApiContext;

/// What the daemon does for the stage routes. Each operation is validated completely first:
/// an `Err` changes nothing.
pub trait Stages: Send + Sync {
    /// Creates the stage (config copied from the main environment) and deploys `dir`'s working
    /// tree to it, or deploys it again as a new release of an existing stage.
    fn deploy(
        &self,
        request: StageRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>>;
    fn list(&self) -> BoxFuture<'_, Result<StagesDto, ApiError>>;
    /// Stops every process of the stage (waiting for them) and deletes its state and files.
    fn destroy(&self, name: String) -> BoxFuture<'_, Result<StageDestroyedDto, ApiError>>;
    /// The context the stage's own `/v1` routes run with.
    fn context(&self, name: String) -> BoxFuture<'_, Result<Arc<ApiContext>, ApiError>>;
}

/// `POST /v1/stages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// A DNS label: the stage answers at `NAME.<app>.localhost`.
    pub name: String,
    /// The folder whose working tree the stage runs (absolute).
    pub dir: String,
}

/// One stage of `GET /v1/stages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageDto {
    pub name: String,
    /// The working tree it runs.
    pub dir: String,
    /// Its current release, if one was rolled out.
    pub release: Option<u32>,
    /// `NAME.<app>.localhost`.
    pub host: String,
    /// `http://NAME.<app>.localhost:PORT` through the router.
    pub url: String,
    pub replicas: usize,
    pub ready: usize,
    pub created_at_ms: i64,
    /// What is being deployed to it, if anything.
    pub busy: Option<String>,
    /// False for a stage left on disk that could not start with the daemon (`pier stage
    /// destroy` deletes it).
    pub running: bool,
}

/// `GET /v1/stages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StagesDto {
    pub stages: Vec<StageDto>,
}

/// `DELETE /v1/stages/NAME`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageDestroyedDto {
    pub name: String,
    /// Processes that were running and have exited.
    pub stopped: usize,
}

/// The routes of the main environment a stage has too, under `/v1/stages/NAME/`.
const STAGE_ROUTES: &[&str] = &[
    "status",
    "ps",
    "logs",
    "formation",
    "scale",
    "restart",
    "events",
    "releases",
    "rollback",
    "config",
    "run",
];

type Ctx = State<Arc<ApiContext>>;

fn stages(ctx: &ApiContext) -> Result<&Arc<dyn Stages>, ApiError> {
    ctx.stages
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("a stage has no stages of its own"))
}

pub async fn deploy(
    State(ctx): Ctx,
    request: Result<Json<StageRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) =
        request.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let rx = stages(&ctx)?.deploy(request).await?;
    Ok(ndjson_stream(rx))
}

pub async fn list(State(ctx): Ctx) -> Result<Json<StagesDto>, ApiError> {
    Ok(Json(stages(&ctx)?.list().await?))
}

pub async fn destroy(
    State(ctx): Ctx,
    Path(name): Path<String>,
) -> Result<Json<StageDestroyedDto>, ApiError> {
    Ok(Json(stages(&ctx)?.destroy(name).await?))
}

/// `/v1/stages/NAME/REST` → the stage's `/v1/REST`.
pub async fn forward(
    State(ctx): Ctx,
    Path((name, rest)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let first = rest.split('/').next().unwrap_or_default();
    if !STAGE_ROUTES.contains(&first) {
        return Err(ApiError::not_found(
            "not_found",
            format!(
                "/v1/{rest} is not available for a stage (stages have: {})",
                STAGE_ROUTES.join(", ")
            ),
        ));
    }
    let stage = stages(&ctx)?.context(name).await?;
    let (mut parts, body) = request.into_parts();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.uri = format!("/v1/{rest}{query}")
        .parse::<Uri>()
        .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))?;
    let response = crate::server::router(stage)
        .oneshot(Request::from_parts(parts, Body::new(body)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(response.into_response())
}
