//! Finding a replica for a request: wait while a service's replicas boot (H20 past the boot
//! limit), queue while every replica is at its in-flight limit (H11), take an idle keep-alive
//! connection or open one, and move on to the next replica when a connect fails (nothing was
//! sent, so it is always safe), until none is left (H21, H19). Failures feed passive ejection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::Shared;
use crate::client::BackendConn;
use crate::connect::connect;
use crate::errors::ErrorKind;
use crate::pool::{Endpoint, InFlight, NoPick, Pool};
use crate::table::Timeouts;
use crate::trace::Trace;

/// A replica and a connection to it, with the request counted against it.
pub(crate) struct Checkout {
    pub endpoint: Arc<Endpoint>,
    pub pool: Arc<Pool>,
    pub in_flight: InFlight,
    pub backend: BackendConn,
    pub connect: Duration,
    /// The connection was opened for this request (not taken from the idle pool).
    pub fresh: bool,
}

/// The service's pool for a request routed to a canary's pool (`web@v3`) that has left the
/// table since (the canary was promoted or removed): the request is not failed for that.
fn canary_gone<'t>(table: &'t crate::table::Table, pool: &str) -> Option<&'t Arc<Pool>> {
    let (service, _) = pool.split_once('@')?;
    table.pool(service)
}

/// Finds a replica that can take the request: waits while replicas boot (H20 past the boot
/// limit), queues while all are at their in-flight limit (H11), and tries the next replica
/// when a connect fails (H21/H19 once none is left).
pub(crate) async fn checkout(
    shared: &Arc<Shared>,
    service: &str,
    timeouts: Timeouts,
    trace: &Trace,
    avoid: &[SocketAddr],
) -> Result<Checkout, ErrorKind> {
    let config = &shared.config;
    let boot_deadline = Instant::now() + config.boot_timeout;
    let mut queue_deadline = None;
    let mut tried: Vec<SocketAddr> = avoid.to_vec();
    let mut last_error = None;
    let mut versions = shared.version.subscribe();
    loop {
        let table = shared.table.load_full();
        let pool = table
            .pool(service)
            .or_else(|| canary_gone(&table, service))
            .cloned()
            .ok_or(ErrorKind::NoReplicas)?;
        drop(table);
        if pool.ready().is_empty() {
            if let Some(error) = last_error {
                return Err(error);
            }
            if pool.booting > 0 {
                // Counted as queued while it waits, so a boot shows on the queue gauge.
                shared.metrics.queued.inc();
                let changed = tokio::time::timeout_at(boot_deadline, versions.changed()).await;
                shared.metrics.queued.dec();
                changed
                    .map_err(|_| ErrorKind::BootTimeout)?
                    .map_err(|_| ErrorKind::BootTimeout)?;
                continue;
            }
            return Err(if pool.down > 0 {
                ErrorKind::AppCrashed
            } else {
                ErrorKind::NoReplicas
            });
        }
        let endpoint = match pool.pick(config.balance, &tried, config.max_in_flight) {
            Ok(endpoint) => endpoint,
            Err(NoPick::NoneReady) => return Err(last_error.unwrap_or(ErrorKind::AppCrashed)),
            Err(NoPick::AllBusy) => {
                let deadline = *queue_deadline.get_or_insert(Instant::now() + config.queue_timeout);
                wait_in_queue(shared, deadline).await?;
                continue;
            }
        };
        let in_flight = endpoint.begin(&shared.freed);
        if let Some(backend) = endpoint.take_idle() {
            return Ok(Checkout {
                endpoint,
                pool,
                in_flight,
                backend,
                connect: Duration::ZERO,
                fresh: false,
            });
        }
        let started = Instant::now();
        match connect(shared, &endpoint, timeouts.connect).await {
            Ok(backend) => {
                let connect = started.elapsed();
                return Ok(Checkout {
                    endpoint,
                    pool,
                    in_flight,
                    backend,
                    connect,
                    fresh: true,
                });
            }
            Err((kind, cause)) => {
                trace.update(|d| d.cause = Some(cause));
                note_failure(shared, &pool, &endpoint);
                tried.push(endpoint.addr);
                last_error = Some(kind);
            }
        }
    }
}

/// Waits for an in-flight slot to free up; H11 when the queue is full or the wait too long.
async fn wait_in_queue(shared: &Shared, deadline: Instant) -> Result<(), ErrorKind> {
    let queued = shared.queued.fetch_add(1, Ordering::AcqRel);
    let _leave = QueueSlot(shared);
    if queued >= shared.config.max_queue {
        return Err(ErrorKind::BacklogTooDeep);
    }
    shared.metrics.queued.inc();
    let waited = tokio::time::timeout_at(deadline, shared.freed.notified()).await;
    shared.metrics.queued.dec();
    waited.map_err(|_| ErrorKind::BacklogTooDeep)
}

struct QueueSlot<'a>(&'a Shared);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a failure of `endpoint` towards its ejection (and the ejection metric).
pub(crate) fn note_failure(shared: &Shared, pool: &Pool, endpoint: &Endpoint) {
    if pool
        .record_failure(endpoint, shared.config.ejection)
        .is_some()
    {
        shared
            .metrics
            .ejections
            .get_or_create(&crate::metrics::BackendLabels {
                backend: endpoint.name.clone(),
            })
            .inc();
        tracing::info!(replica = %endpoint.name, "replica ejected after consecutive failures");
    }
}
