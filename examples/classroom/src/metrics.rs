//! Prometheus instrumentation shared by the classroom services: every metric name is defined
//! here once, HTTP requests are counted and timed by one middleware, and `/metrics` is rendered
//! in the OpenMetrics text format. It knows nothing of what the services do.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `http_requests_total{route,method,status}` (the encoder appends `_total` to counters).
const HTTP_REQUESTS: &str = "http_requests";
/// `http_request_duration_seconds{route}`.
const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";
/// Students of the web service seen in the last five minutes.
pub const CONNECTED_STUDENTS: &str = "classroom_connected_students";
/// Answers held by the answers service.
pub const ANSWERS_STORED: &str = "classroom_answers_stored";
/// `classroom_worker_ticks_total`.
pub const WORKER_TICKS: &str = "classroom_worker_ticks";
/// `classroom_worker_errors_total`.
pub const WORKER_ERRORS: &str = "classroom_worker_errors";

/// The route label of requests that matched no route, so stray paths cannot grow the series.
const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets in seconds: Prometheus' defaults, which suit a small web app.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Request counters and latency histograms, recorded by [`track`].
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: DurationFamily,
}

impl HttpMetrics {
    /// Creates the HTTP metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = DurationFamily::new_with_constructor(new_duration_histogram);
        registry.register(
            HTTP_REQUESTS,
            "HTTP requests served, by route, method and status",
            requests.clone(),
        );
        registry.register(
            HTTP_REQUEST_DURATION,
            "Time to produce an HTTP response, by route",
            duration.clone(),
        );
        HttpMetrics { requests, duration }
    }
}

fn new_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Registers an integer gauge under `name` and returns it.
pub fn register_gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

/// Registers a counter under `name` (exposed as `name_total`) and returns it.
pub fn register_counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let counter = Counter::default();
    registry.register(name, help, counter.clone());
    counter
}

/// Middleware counting and timing every request by its route pattern (not its raw path).
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status,
        })
        .inc();
    response
}

/// Renders `registry` as an OpenMetrics text response.
pub fn render(registry: &Arc<Registry>) -> Response {
    let mut body = String::new();
    if encode(&mut body, registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
