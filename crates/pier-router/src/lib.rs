//! pier-router is pier's HTTP edge. It owns the routing table (Host and path prefix → service;
//! ready replicas of each service), load balancing, Heroku's timeouts, error codes, headers
//! and log line, upgrades (websockets), and its metrics.
//!
//! It knows endpoints, not processes: the daemon turns the supervisor's readiness into a
//! [`TableSpec`] and calls [`Router::update`]; the router never reaches into the supervisor.
//! The proxy core (`proxy`, `body`, `tunnel`) is separate from the routing decision (`table`,
//! `pool`), and every router-made response comes from the one table in `errors`.

mod admit;
pub mod body;
mod checkout;
mod client;
mod client_io;
mod connect;
pub mod errors;
pub mod headers;
pub mod histogram;
mod housekeeping;
pub mod metrics;
pub mod pool;
mod proxy;
mod server;
pub mod split;
pub mod table;
mod tls;
pub mod trace;
mod tunnel;
mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use errors::ErrorKind;
pub use metrics::RouterMetrics;
pub use pool::{Balance, Ejection};
pub use split::KeyLists;
pub use table::{
    Backend, CanarySplit, ExternalUrl, HostMatch, ReplicaPhase, ReplicaView, RouteRule, SplitKey,
    SplitTarget, TableSpec, Timeouts,
};
pub use trace::LogSink;

/// Router-wide settings.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub balance: Balance,
    pub ejection: Ejection,
    /// Requests in flight per replica before requests queue (Heroku: 50).
    pub max_in_flight: usize,
    /// Requests that may wait for a replica at once; beyond it, H11 at once.
    pub max_queue: usize,
    /// Longest wait in the queue before H11.
    pub queue_timeout: Duration,
    /// How long requests wait for booting replicas before H20 (Heroku: 75 s).
    pub boot_timeout: Duration,
    /// Timeouts of internal-service listeners (routes carry their own).
    pub timeouts: Timeouts,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: u64,
    /// Largest request head (431 beyond).
    pub max_header_bytes: usize,
    /// Longest request target, path and query (414 beyond; Heroku's router: 8 KiB).
    pub max_uri_bytes: usize,
    /// Most header lines in a request (431 beyond).
    pub max_headers: usize,
    /// Time given to open connections to finish when a listener stops.
    pub drain_timeout: Duration,
    /// Whether each request is logged.
    pub access_log: bool,
    /// Retry an idempotent request without a body once on another replica when the first
    /// closed the connection without answering (H13).
    pub retry_idempotent: bool,
    /// Worker threads serving client connections [default: one per core].
    pub workers: Option<usize>,
    /// Bind each worker thread to one CPU (see `workers`) [default: true].
    pub pin_workers: bool,
    /// CA certificates (PEM files) trusted for `https://` backends besides the public roots.
    pub extra_ca_files: Vec<std::path::PathBuf>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            balance: Balance::default(),
            ejection: Ejection::default(),
            max_in_flight: 50,
            max_queue: 1000,
            queue_timeout: Duration::from_secs(10),
            boot_timeout: Duration::from_secs(75),
            timeouts: Timeouts::default(),
            max_body_bytes: 1 << 30,
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_headers: 100,
            drain_timeout: Duration::from_secs(30),
            access_log: true,
            retry_idempotent: false,
            workers: None,
            pin_workers: true,
            extra_ca_files: Vec::new(),
        }
    }
}

/// What a listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The public listener: routed by Host and path through the table's rules.
    Public,
    /// An internal service's own loopback listener (like a Kubernetes ClusterIP).
    Service(String),
}

/// A listener's [`Target`] as requests use it.
pub(crate) enum Dest {
    Public,
    Service(trace::Label),
}

/// State shared by every listener and request.
pub(crate) struct Shared {
    pub table: ArcSwap<table::Table>,
    known: Mutex<HashMap<(String, SocketAddr), Arc<pool::Endpoint>>>,
    /// Replicas that left the table while requests may still be in flight on them.
    leaving: Mutex<HashMap<String, std::sync::Weak<pool::Endpoint>>>,
    /// Bumped on every table swap; requests waiting for a booting replica watch it.
    pub version: watch::Sender<u64>,
    pub config: RouterConfig,
    pub log: Option<LogSink>,
    pub metrics: Arc<RouterMetrics>,
    /// Notified whenever a request finishes on a replica (a queue slot may be free).
    pub freed: Arc<Notify>,
    pub queued: AtomicUsize,
    /// The threads that serve client connections.
    pub workers: workers::Workers,
    /// TLS towards `https://` backends.
    pub tls: tokio_rustls::TlsConnector,
}

/// The router: a routing table and the listeners that use it. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

impl Router {
    /// A router with an empty table (every request gets 404 until [`Router::update`]), and
    /// its worker threads (one per core unless `config.workers` says otherwise).
    pub fn new(
        config: RouterConfig,
        log: Option<LogSink>,
        metrics: Arc<RouterMetrics>,
    ) -> std::io::Result<Router> {
        let count = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let tls = tokio_rustls::TlsConnector::from(tls::client_config(&config.extra_ca_files)?);
        let workers = workers::Workers::start(count, config.pin_workers)?;
        let mut known = HashMap::new();
        let table = table::Table::build(&TableSpec::default(), &mut known, workers.count());
        let shared = Arc::new(Shared {
            table: ArcSwap::from_pointee(table),
            known: Mutex::new(known),
            leaving: Mutex::new(HashMap::new()),
            version: watch::channel(0).0,
            config,
            log,
            metrics,
            freed: Arc::new(Notify::new()),
            queued: AtomicUsize::new(0),
            workers,
            tls,
        });
        for index in 0..shared.workers.count() {
            let job = housekeeping::run(Arc::downgrade(&shared));
            shared.workers.run(index, Box::pin(job));
        }
        Ok(Router { shared })
    }

    /// Swaps in a table built from `spec`; requests in flight keep the snapshot they started
    /// with, and requests waiting for a booting replica look again.
    pub fn update(&self, spec: &TableSpec) {
        let mut known = self.shared.known.lock().unwrap_or_else(|e| e.into_inner());
        let before = known.clone();
        let table = table::Table::build(spec, &mut known, self.shared.workers.count());
        let mut leaving = self
            .shared
            .leaving
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        leaving.retain(|_, e| e.strong_count() > 0);
        for (key, endpoint) in before {
            if !known.contains_key(&key) {
                leaving.insert(key.0, Arc::downgrade(&endpoint));
            }
        }
        drop(leaving);
        self.shared.table.store(Arc::new(table));
        drop(known);
        self.shared.version.send_modify(|v| *v += 1);
    }

    /// Serves `listener` for `target` until `shutdown` becomes true, then drains.
    pub fn serve(
        &self,
        listener: TcpListener,
        target: Target,
        shutdown: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        server::serve(self.shared.clone(), listener, target, shutdown)
    }

    /// Resolves once replica `name` is out of the routing table and no request is in flight
    /// on it any more: the moment it can be stopped without failing a request.
    pub fn drained(&self, name: &str) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        let name = name.to_string();
        async move {
            loop {
                let in_table = {
                    let table = shared.table.load();
                    table
                        .pools
                        .values()
                        .any(|p| p.ready().iter().any(|e| *e.name == name))
                };
                let busy = shared
                    .leaving
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&name)
                    .and_then(std::sync::Weak::upgrade)
                    .is_some_and(|e| e.in_flight() > 0);
                if !in_table && !busy {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// Requests in flight on each ready replica of `service` (for `pier ps` and tests).
    pub fn in_flight(&self, service: &str) -> Vec<(String, usize)> {
        let table = self.shared.table.load();
        table
            .pool(service)
            .map(|p| {
                p.ready()
                    .iter()
                    .map(|e| (e.name.to_string(), e.in_flight()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
