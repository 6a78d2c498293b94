//! The handlers of the `/v1` routes. Each validates its input completely before changing
//! anything, writes durable changes to the state store first, then orders the supervisor.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use pier_supervisor::{LogFilter, LogLine, RestartTarget, check_formation};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::dto::*;
use crate::error::ApiError;
use crate::server::ApiContext;

type Ctx = State<Arc<ApiContext>>;

pub async fn status(State(ctx): Ctx) -> Result<Json<StatusDto>, ApiError> {
    let mut status = ctx.status.clone();
    status.canary = crate::releases::canary(&ctx).await?;
    Ok(Json(status))
}

pub async fn ps(State(ctx): Ctx) -> Json<PsDto> {
    let now = SystemTime::now();
    let replicas = ctx
        .supervisor
        .status()
        .iter()
        .map(|s| ReplicaDto::from_status(s, now))
        .collect();
    Json(PsDto { replicas })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// `web` or `web.1`; all sources when absent.
    name: Option<String>,
    /// Lines of history to send first (default 100).
    lines: Option<usize>,
    /// Keep the response open and stream new lines.
    #[serde(default)]
    follow: bool,
}

pub async fn logs(
    State(ctx): Ctx,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    let filter = LogFilter {
        name: query.name.filter(|n| !n.is_empty()),
    };
    let logs = ctx.supervisor.logs().clone();
    // Subscribe before reading history so no line falls between the two.
    let mut live = logs.subscribe();
    let history = logs.tail(&filter, query.lines.unwrap_or(100).min(100_000));
    let mut last_seq = history.last().map_or(0, |l| l.seq);
    let head =
        futures_util::stream::iter(history.into_iter().map(|l| Ok::<_, Infallible>(ndjson(&l))));
    if !query.follow {
        return Ok(ndjson_response(Body::from_stream(head)));
    }
    let mut stopping = ctx.stopping.subscribe();
    let tail = async_stream(move |tx| async move {
        // The watch guard `wait_for` yields is not `Send`; drop it inside its own future.
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                line = live.recv() => match line {
                    Ok(line) if line.seq > last_seq && filter.matches(&line) => {
                        last_seq = line.seq;
                        if tx.send(ndjson(&line)).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        let note = format!("{{\"seq\":0,\"at_ms\":0,\"source\":\"pier\",\"stream\":\"system\",\"text\":\"{n} lines skipped: the reader was too slow\"}}\n");
                        if tx.send(Bytes::from(note)).await.is_err() { return; }
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = &mut stopped => return,
            }
        }
    });
    Ok(ndjson_response(Body::from_stream(head.chain(tail))))
}

/// A stream fed by a task through a bounded channel.
fn async_stream<F, Fut>(producer: F) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(producer(tx));
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok)))
}

fn ndjson(line: &LogLine) -> Bytes {
    let mut text = serde_json::to_vec(&LogLineDto::from(line)).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

fn ndjson_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

pub async fn formation(State(ctx): Ctx) -> Result<Json<FormationDto>, ApiError> {
    Ok(Json(FormationDto {
        formation: current_formation(&ctx).await?,
    }))
}

pub async fn scale(
    State(ctx): Ctx,
    body: Result<Json<ScaleRequest>, JsonRejection>,
) -> Result<Json<FormationDto>, ApiError> {
    let Json(request) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    if request.formation.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to scale: give at least one SERVICE=COUNT",
        ));
    }
    if let Some(busy) = ctx.releases.busy() {
        return Err(ApiError::conflict(format!(
            "{busy} is in progress; scale when it has finished"
        )));
    }
    check_formation(&ctx.manifest, &request.formation)?;
    let state = ctx.state.clone();
    let changes = request.formation.clone();
    blocking(move || state.set_formation(&changes)).await??;
    ctx.supervisor.scale(request.formation).await?;
    Ok(Json(FormationDto {
        formation: current_formation(&ctx).await?,
    }))
}

pub async fn restart(
    State(ctx): Ctx,
    body: Option<Json<RestartRequest>>,
) -> Result<Json<RestartDto>, ApiError> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    if let Some(busy) = ctx.releases.busy() {
        return Err(ApiError::conflict(format!(
            "{busy} is in progress; restart when it has finished"
        )));
    }
    let target = match request.target.filter(|t| !t.is_empty()) {
        None => RestartTarget::All,
        Some(t) if t.contains('.') => RestartTarget::Replica(t),
        Some(t) => RestartTarget::Service(t),
    };
    let results = ctx.supervisor.restart(target).await?;
    Ok(Json(RestartDto {
        restarted: results.len(),
        all_ready: results.iter().all(|r| *r),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    limit: Option<usize>,
    after: Option<i64>,
    subject: Option<String>,
}

pub async fn events(
    State(ctx): Ctx,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsDto>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    let q = pier_state::EventQuery {
        after_id: query.after,
        limit: query.limit.unwrap_or(100).min(10_000),
        subject: query.subject.filter(|s| !s.is_empty()),
    };
    let state = ctx.state.clone();
    let events = blocking(move || state.events(&q)).await??;
    let events = events
        .into_iter()
        .map(|e| EventDto {
            id: e.id,
            at_ms: e.at_ms,
            kind: e.kind,
            subject: e.subject,
            message: e.message,
        })
        .collect();
    Ok(Json(EventsDto { events }))
}

pub async fn down(State(ctx): Ctx) -> impl IntoResponse {
    ctx.stopping.send_replace(true);
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "stopping": true })),
    )
}

pub async fn maintenance(State(ctx): Ctx) -> Json<MaintenanceDto> {
    Json(MaintenanceDto {
        enabled: *ctx.maintenance.borrow(),
    })
}

pub async fn set_maintenance(
    State(ctx): Ctx,
    body: Result<Json<MaintenanceDto>, JsonRejection>,
) -> Result<Json<MaintenanceDto>, ApiError> {
    let Json(request) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "invalid body: {}; send {{\"enabled\": true}} or {{\"enabled\": false}}",
            e.body_text()
        ))
    })?;
    let persist = ctx.persist_maintenance.clone();
    blocking(move || persist(request.enabled)).await??;
    ctx.maintenance.send_replace(request.enabled);
    Ok(Json(request))
}

pub async fn route_list(State(ctx): Ctx) -> Result<Json<RoutesDto>, ApiError> {
    let admin = ctx.routes.clone();
    Ok(Json(RoutesDto {
        routes: blocking(move || admin.routes()).await?,
    }))
}

pub async fn route_split(
    State(ctx): Ctx,
    body: Result<Json<SplitRequest>, JsonRejection>,
) -> Result<Json<RouteDto>, ApiError> {
    let Json(request) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let admin = ctx.routes.clone();
    Ok(Json(
        blocking(move || admin.set_percent(&request.route, request.percent)).await??,
    ))
}

pub async fn route_keys(
    State(ctx): Ctx,
    body: Result<Json<KeysRequest>, JsonRejection>,
) -> Result<Json<RouteDto>, ApiError> {
    let Json(request) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let admin = ctx.routes.clone();
    Ok(Json(
        blocking(move || {
            admin.set_keys(&request.route, request.list, &request.keys, request.remove)
        })
        .await??,
    ))
}

/// pier's own metrics in the Prometheus text format.
pub async fn metrics(State(ctx): Ctx) -> Result<Response, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &ctx.registry)
        .map_err(|e| ApiError::internal(format!("encoding metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

pub async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: "no such endpoint; see docs/api.md for the /v1 routes".into(),
    }
}

/// The formation now in effect: stored overrides over the manifest's counts.
async fn current_formation(ctx: &ApiContext) -> Result<BTreeMap<String, u32>, ApiError> {
    let state = ctx.state.clone();
    let stored = blocking(move || state.formation()).await??;
    Ok(ctx
        .manifest
        .services
        .values()
        .map(|s| {
            (
                s.name.clone(),
                stored.get(&s.name).copied().unwrap_or(s.replicas),
            )
        })
        .collect())
}

/// Runs a blocking state-store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))
}
