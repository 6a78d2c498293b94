//! The router's metrics, defined once and registered in pier's registry under `pier_router_`:
//! requests by route, backend, status and H-code, a latency histogram, upstream connect time,
//! open client connections, queued requests and ejections. Comparing two backends of a split
//! (the legacy app and the new one) is a query over `backend`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::trace::{Label, TraceData};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Label,
    pub backend: Label,
    pub status: u16,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: Label,
}

/// Every metric the router records.
pub struct RouterMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<BackendLabels, Histogram>,
    pub connect: Family<BackendLabels, Histogram>,
    pub connections: Gauge,
    pub queued: Gauge,
    pub ejections: Family<BackendLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl RouterMetrics {
    /// Creates the metrics and registers them in `registry` (under `pier_router_`).
    pub fn new(registry: &mut Registry) -> RouterMetrics {
        let metrics = RouterMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            connect: Family::new_with_constructor(latency_histogram),
            connections: Gauge::default(),
            queued: Gauge::default(),
            ejections: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("pier_router");
        registry.register(
            "requests",
            "Requests finished by the router, by route, backend, status and Heroku error code",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's arrival to the end of its response",
            metrics.duration.clone(),
        );
        registry.register(
            "upstream_connect_seconds",
            "Time to open a connection to a replica",
            metrics.connect.clone(),
        );
        registry.register(
            "client_connections",
            "Client connections open on the router's listeners",
            metrics.connections.clone(),
        );
        registry.register(
            "queued_requests",
            "Requests waiting for a replica under its in-flight limit",
            metrics.queued.clone(),
        );
        registry.register(
            "ejections",
            "Replicas ejected after consecutive failures",
            metrics.ejections.clone(),
        );
        metrics
    }

    /// Metrics with no registry, for tests and benchmarks.
    pub fn unregistered() -> RouterMetrics {
        RouterMetrics::new(&mut Registry::default())
    }

    pub(crate) fn observe(&self, data: &TraceData, total: Duration) {
        let info = data.error.map(|e| e.info());
        let status = match (info, data.status) {
            (Some(i), None) => i.status,
            (Some(i), _) if i.status == 499 => 499,
            (_, Some(s)) => s,
            (None, None) => 0,
        };
        let backend = data.service.clone();
        self.requests
            .get_or_create(&RequestLabels {
                route: data.route.clone(),
                backend: backend.clone(),
                status,
                code: info.map_or("", |i| i.code),
            })
            .inc();
        let labels = BackendLabels { backend };
        self.duration
            .get_or_create(&labels)
            .observe(total.as_secs_f64());
        if let (Some(connect), true) = (data.connect, data.new_connection) {
            self.connect
                .get_or_create(&labels)
                .observe(connect.as_secs_f64());
        }
    }
}
