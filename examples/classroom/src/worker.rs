//! The background worker: every `$WORKER_INTERVAL` seconds (default 5) it fetches the tally from
//! the answers service and logs it. It listens on no port unless `$METRICS_PORT` is set, in
//! which case it serves `/metrics` and `/healthz` there. SIGTERM or SIGINT ends it with status 0.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Router, middleware};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::time::MissedTickBehavior;

use crate::ConfigError;
use crate::client::AnswersClient;
use crate::metrics::{self, HttpMetrics};
use crate::page::plural;
use crate::serve::{self, Signals};

/// Seconds between tallies when `$WORKER_INTERVAL` is not set.
const DEFAULT_INTERVAL_SECS: f64 = 5.0;

/// Runs the worker until SIGTERM or SIGINT.
pub async fn run() -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let interval = interval_from_env()?;
    let metrics_port = serve::optional_port("METRICS_PORT")?;
    let mut registry = Registry::default();
    let counters = Counters::register(&mut registry);
    if let Some(port) = metrics_port {
        let listener = serve::bind("worker metrics", port).await?;
        let app = metrics_router(registry);
        // Dropped with the runtime on exit: nothing in flight there is worth draining.
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    log!("worker started, tallying every {interval:?}");
    let client = AnswersClient::from_env();
    tokio::select! {
        () = tally_forever(client, interval, counters) => {}
        signal = signals.recv() => log!("worker: {signal} received, finishing"),
    }
    Ok(())
}

fn interval_from_env() -> Result<Duration, ConfigError> {
    let Ok(value) = std::env::var("WORKER_INTERVAL") else {
        return Ok(Duration::from_secs_f64(DEFAULT_INTERVAL_SECS));
    };
    match value.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(ConfigError(format!(
            "WORKER_INTERVAL={value:?} is not a number of seconds (greater than 0, at most 86400)"
        ))),
    }
}

#[derive(Clone)]
struct Counters {
    ticks: Counter,
    errors: Counter,
}

impl Counters {
    fn register(registry: &mut Registry) -> Self {
        let ticks = metrics::register_counter(registry, metrics::WORKER_TICKS, "Tallies attempted");
        let errors = metrics::register_counter(
            registry,
            metrics::WORKER_ERRORS,
            "Tallies that failed because the answers service could not be reached",
        );
        Counters { ticks, errors }
    }
}

fn metrics_router(mut registry: Registry) -> Router {
    let http = HttpMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || async move { metrics::render(&registry) }),
        )
        .layer(middleware::from_fn_with_state(http, metrics::track))
}

/// Tallies on every tick; the first tick is immediate. Never returns.
async fn tally_forever(client: Option<AnswersClient>, interval: Duration, counters: Counters) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    if client.is_none() {
        log!("worker: ANSWERS_URL is not set, nothing to tally");
    }
    loop {
        ticker.tick().await;
        counters.ticks.inc();
        let Some(client) = &client else { continue };
        match client.stats().await {
            Ok(stats) => log!(
                "tallied {} from {}",
                plural(stats.count, "answer"),
                plural(stats.students, "student")
            ),
            Err(error) => {
                counters.errors.inc();
                log!("worker: cannot tally, answers service {error}");
            }
        }
    }
}
