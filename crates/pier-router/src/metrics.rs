//! The router's metrics, defined once and registered in pier's registry under `pier_router_`:
//! requests by route, backend, status and H-code, a latency histogram, upstream connect time,
//! open client connections, queued requests and ejections. Comparing two backends of a split
//! (the legacy app and the new one) is a query over `backend`; comparing a canary with the
//! current release, a query over `release` (the release of the replica that served it).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

use crate::histogram::AtomicHistogram;
use crate::trace::{Label, TraceData};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Label,
    pub backend: Label,
    pub release: Label,
    pub status: u16,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: Label,
}

/// Every metric the router records.
pub struct RouterMetrics {
    /// Distinguishes instances in the per-thread handle cache.
    id: u64,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<BackendLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    pub connect: Family<BackendLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    pub connections: Gauge,
    pub queued: Gauge,
    pub ejections: Family<BackendLabels, Counter>,
}

fn latency_histogram() -> AtomicHistogram {
    AtomicHistogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl RouterMetrics {
    /// Creates the metrics and registers them in `registry` (under `pier_router_`).
    pub fn new(registry: &mut Registry) -> RouterMetrics {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let metrics = RouterMetrics {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> AtomicHistogram),
            connect: Family::new_with_constructor(latency_histogram as fn() -> AtomicHistogram),
            connections: Gauge::default(),
            queued: Gauge::default(),
            ejections: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("pier_router");
        registry.register(
            "requests",
            "Requests finished by the router, by route, backend, release, status and Heroku error code",
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
            "Requests waiting for a replica: all at their in-flight limit, or none ready yet",
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
        let key = HandleKey {
            metrics: self.id,
            route: Arc::as_ptr(&data.route),
            backend: Arc::as_ptr(&data.service),
            release: Arc::as_ptr(&data.release),
            status,
            code: info.map_or("", |i| i.code),
        };
        let connect = data.connect.filter(|_| data.new_connection);
        HANDLES.with(|handles| {
            let mut handles = handles.borrow_mut();
            if handles.len() > MAX_CACHED_HANDLES {
                handles.clear();
            }
            let handles = handles
                .entry(key)
                .or_insert_with(|| self.handles(data, status, key.code));
            handles.requests.inc();
            handles.duration.observe(total.as_secs_f64());
            if let Some(connect) = connect {
                handles.connect.observe(connect.as_secs_f64());
            }
        });
    }

    /// The metrics one kind of request records, looked up in the families once per thread.
    fn handles(&self, data: &TraceData, status: u16, code: &'static str) -> Handles {
        let labels = RequestLabels {
            route: data.route.clone(),
            backend: data.service.clone(),
            release: data.release.clone(),
            status,
            code,
        };
        let backend = BackendLabels {
            backend: data.service.clone(),
        };
        Handles {
            requests: self.requests.get_or_create(&labels).clone(),
            duration: self.duration.get_or_create(&backend).clone(),
            connect: self.connect.get_or_create(&backend).clone(),
            _names: (
                data.route.clone(),
                data.service.clone(),
                data.release.clone(),
            ),
        }
    }
}

/// Each thread keeps the metric handles its requests use, so recording a request takes no
/// lock: the families' maps are read once per kind of request, not once per request.
const MAX_CACHED_HANDLES: usize = 4096;

thread_local! {
    // foldhash: the key is a few words hashed on every request; SipHash's DoS resistance buys
    // nothing for keys made of the router's own pointers.
    static HANDLES: RefCell<HashMap<HandleKey, Handles, foldhash::fast::FixedState>> =
        RefCell::new(HashMap::with_hasher(foldhash::fast::FixedState::default()));
}

/// What identifies a kind of request: names by address (the table's shared strings, kept
/// alive by the cached [`Handles`], so an address is never reused while it is a key), which
/// spares every request the reference counting of the shared names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct HandleKey {
    metrics: u64,
    route: *const String,
    backend: *const String,
    release: *const String,
    status: u16,
    code: &'static str,
}

struct Handles {
    requests: Counter,
    duration: AtomicHistogram,
    connect: AtomicHistogram,
    /// Keeps the key's names alive.
    _names: (Label, Label, Label),
}
