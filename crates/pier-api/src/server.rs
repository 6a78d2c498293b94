//! Assembles the control API's router and serves it until shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, post};
use pier_spec::Manifest;
use pier_supervisor::SupervisorHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::dto::StatusDto;
use crate::{jobs, metrics, prometheus, releases, routes, stages};

/// What the handlers work with.
pub struct ApiContext {
    pub supervisor: SupervisorHandle,
    pub state: pier_state::State,
    pub manifest: Arc<Manifest>,
    pub status: StatusDto,
    /// Set to `true` to ask the daemon to stop (`POST /v1/down`); followers of `/v1/logs` end
    /// when it flips, so that shutdown is never held up by an open stream.
    pub stopping: watch::Sender<bool>,
    /// Maintenance mode of the router (every public request gets H80 while on).
    pub maintenance: watch::Sender<bool>,
    /// Called with the new maintenance flag to persist it before it takes effect.
    pub persist_maintenance: Arc<dyn Fn(bool) -> Result<(), pier_state::StateError> + Send + Sync>,
    /// Deploys, rollbacks, config changes and one-off runs: `pier deploy` and friends.
    pub releases: Arc<dyn crate::Releases>,
    /// The router's rules: `pier route`.
    pub routes: Arc<dyn crate::RouteAdmin>,
    /// The job scheduler: `pier jobs`.
    pub scheduler: pier_scheduler::SchedulerHandle,
    /// The scrapers: `pier targets`.
    pub scrapes: Arc<pier_scrape::scrape::ScrapeManager>,
    /// The metrics store: `pier metrics stats`.
    pub tsdb: Arc<pier_tsdb::Tsdb>,
    /// pier's own metrics (router, supervisor, scheduler), served at `/metrics`.
    pub registry: Arc<prometheus_client::registry::Registry>,
    /// The PromQL engine with its limits: the Prometheus HTTP API under `/api/v1`.
    pub promql: pier_promql::Engine,
    /// Staging environments: `pier stage`; `None` in a stage's own context.
    pub stages: Option<Arc<dyn crate::Stages>>,
}

/// The largest OpenMetrics file `POST /v1/metrics/import` takes.
const IMPORT_LIMIT: usize = 1 << 30;

/// The `/v1` routes and the Prometheus HTTP API under `/api/v1`.
pub fn router(ctx: Arc<ApiContext>) -> Router {
    Router::new()
        .route("/v1/status", get(routes::status))
        .route("/v1/ps", get(routes::ps))
        .route("/v1/logs", get(routes::logs))
        .route("/v1/formation", get(routes::formation))
        .route("/v1/scale", post(routes::scale))
        .route("/v1/restart", post(routes::restart))
        .route("/v1/events", get(routes::events))
        .route("/v1/down", post(routes::down))
        .route(
            "/v1/maintenance",
            get(routes::maintenance).post(routes::set_maintenance),
        )
        .route("/v1/releases", get(releases::list))
        .route("/v1/releases/{version}/log", get(releases::log))
        .route("/v1/deploy", post(releases::deploy))
        .route("/v1/rollback", post(releases::rollback))
        .route("/v1/canary/promote", post(releases::promote))
        .route("/v1/canary/abort", post(releases::abort))
        .route(
            "/v1/config",
            get(releases::config).post(releases::change_config),
        )
        .route("/v1/run", post(releases::run))
        .route("/v1/routes", get(routes::route_list))
        .route("/v1/routes/split", post(routes::route_split))
        .route("/v1/routes/keys", post(routes::route_keys))
        .route("/v1/jobs", get(jobs::list))
        .route("/v1/jobs/{name}/history", get(jobs::history))
        .route("/v1/jobs/{name}/run", post(jobs::run))
        .route("/v1/jobs/{name}/enable", post(jobs::enable))
        .route("/v1/jobs/{name}/disable", post(jobs::disable))
        .route("/v1/targets", get(metrics::targets))
        .route("/v1/metrics/stats", get(metrics::stats))
        .route(
            "/v1/metrics/import",
            post(metrics::import).layer(axum::extract::DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
        .route("/v1/metrics/export", get(metrics::export))
        .route("/v1/stages", get(stages::list).post(stages::deploy))
        .route("/v1/stages/{name}", axum::routing::delete(stages::destroy))
        .route("/v1/stages/{name}/{*rest}", any(stages::forward))
        .route("/metrics", get(routes::metrics))
        .merge(prometheus::routes())
        .fallback(routes::not_found)
        .with_state(ctx)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ApiContext>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx))
        .with_graceful_shutdown(shutdown)
        .await
}
