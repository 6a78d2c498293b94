//! The replicas of one service that can take traffic, and how one is chosen: power of two
//! choices over least outstanding requests (or round robin), a per-replica in-flight limit,
//! passive outlier ejection, and each replica's idle keep-alive connections.
//!
//! An [`Endpoint`] outlives table swaps (the table builder hands the same one to the next
//! table while the replica stays ready), so in-flight counts, ejections and pooled
//! connections are never reset by an unrelated change.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::BackendConn;

/// How a replica is chosen among the ready ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Two random replicas, the one with fewer requests in flight wins (Envoy's least
    /// request, Finagle's P2C).
    #[default]
    PowerOfTwoChoices,
    RoundRobin,
}

/// Passive health settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ejection {
    /// Consecutive 5xx responses or connect failures that eject a replica.
    pub consecutive_failures: u32,
    /// First ejection time; the n-th ejection lasts n times as long (capped at 10 ×).
    pub base_time: Duration,
}

impl Default for Ejection {
    fn default() -> Self {
        Ejection {
            consecutive_failures: 5,
            base_time: Duration::from_secs(5),
        }
    }
}

/// How a connection to an endpoint is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// TCP to `addr` (a replica on loopback).
    Direct,
    /// An external origin: its host name is resolved at connect time, TLS with SNI and
    /// certificate verification for `https`, and requests carry its `Host`.
    External(crate::table::ExternalUrl),
}

/// At most this many idle connections are kept per replica.
const MAX_IDLE_PER_ENDPOINT: usize = 256;

/// One ready replica.
pub struct Endpoint {
    pub name: crate::trace::Label,
    /// The release the replica runs (`v3`; empty when unknown), for metrics.
    pub release: crate::trace::Label,
    /// The replica's address (for an external URL, only its port is meaningful).
    pub addr: SocketAddr,
    pub upstream: Upstream,
    in_flight: AtomicUsize,
    /// Idle connections per worker thread (plus one slot for other threads): a connection is
    /// only reused on the thread whose runtime drives it. The newest is taken first; the
    /// oldest is checked each time one is returned, so that connections the replica closed
    /// do not linger (in CLOSE_WAIT) at the bottom of a pool that is never emptied.
    idle: Box<[Mutex<VecDeque<BackendConn>>]>,
    /// Passive health, lock-free since it is read on every pick.
    consecutive_failures: AtomicU32,
    /// Milliseconds since [`epoch`] until which the replica is ejected; 0 when it is not.
    ejected_until_ms: AtomicU64,
    times_ejected: AtomicU32,
}

/// The fixed origin of ejection deadlines.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

impl Endpoint {
    pub(crate) fn new(name: &str, addr: SocketAddr, workers: usize) -> Endpoint {
        Endpoint::with_upstream(name, addr, workers, Upstream::Direct)
    }

    pub(crate) fn with_upstream(
        name: &str,
        addr: SocketAddr,
        workers: usize,
        upstream: Upstream,
    ) -> Endpoint {
        Endpoint {
            name: Arc::new(name.to_string()),
            release: Arc::new(String::new()),
            addr,
            upstream,
            in_flight: AtomicUsize::new(0),
            idle: (0..=workers).map(|_| Mutex::new(VecDeque::new())).collect(),
            consecutive_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            times_ejected: AtomicU32::new(0),
        }
    }

    /// The same endpoint labelled with the release its replica runs.
    pub(crate) fn with_release(mut self, release: &str) -> Endpoint {
        self.release = Arc::new(release.to_string());
        self
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request against this replica until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>, freed: &Arc<tokio::sync::Notify>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: self.clone(),
            freed: freed.clone(),
        }
    }

    /// An idle keep-alive connection that is still open, if any.
    pub(crate) fn take_idle(&self) -> Option<BackendConn> {
        let mut idle = self.idle_here().lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut conn) = idle.pop_back() {
            if conn.is_open() {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection whose last response was read completely.
    pub(crate) fn put_idle(&self, conn: BackendConn) {
        let mut idle = self.idle_here().lock().unwrap_or_else(|e| e.into_inner());
        if idle.front_mut().is_some_and(|oldest| !oldest.is_open()) {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            idle.push_back(conn);
        }
    }

    /// Drops the idle connections on this thread that the replica has closed.
    pub(crate) fn close_idle_closed_by_peer(&self) {
        let mut idle = self.idle_here().lock().unwrap_or_else(|e| e.into_inner());
        idle.retain_mut(|conn| conn.is_open());
    }

    /// Idle connections kept on this thread.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle_here()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn idle_here(&self) -> &Mutex<VecDeque<BackendConn>> {
        &self.idle[crate::workers::current(self.idle.len() - 1)]
    }

    fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now_ms
    }

    pub(crate) fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }
}

/// Decrements a replica's in-flight count when dropped and wakes a queued request.
pub struct InFlight {
    endpoint: Arc<Endpoint>,
    freed: Arc<tokio::sync::Notify>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.freed.notify_one();
    }
}

/// The replicas of one service in one table snapshot.
pub struct Pool {
    pub service: String,
    ready: Vec<Arc<Endpoint>>,
    /// Replicas started but not ready yet.
    pub booting: usize,
    /// Replicas crashed, backing off or stopping.
    pub down: usize,
    next: AtomicUsize,
}

/// Why no replica was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPick {
    /// No ready replica that has not been tried already.
    NoneReady,
    /// Every candidate is at its in-flight limit.
    AllBusy,
}

impl Pool {
    pub(crate) fn new(
        service: &str,
        ready: Vec<Arc<Endpoint>>,
        booting: usize,
        down: usize,
    ) -> Pool {
        Pool {
            service: service.to_string(),
            ready,
            booting,
            down,
            next: AtomicUsize::new(0),
        }
    }

    pub fn ready(&self) -> &[Arc<Endpoint>] {
        &self.ready
    }

    /// Chooses a replica not in `tried`, under `limit` requests in flight, preferring replicas
    /// that are not ejected.
    pub(crate) fn pick(
        &self,
        balance: Balance,
        tried: &[SocketAddr],
        limit: usize,
    ) -> Result<Arc<Endpoint>, NoPick> {
        // Allocation-free: this runs on every request.
        let now = now_ms();
        let untried = |e: &&Arc<Endpoint>| !tried.contains(&e.addr);
        if !self.ready.iter().any(|e| untried(&e)) {
            return Err(NoPick::NoneReady);
        }
        let any_healthy = self
            .ready
            .iter()
            .filter(untried)
            .any(|e| !e.is_ejected(now));
        let candidate = |e: &&Arc<Endpoint>| {
            untried(e) && !(any_healthy && e.is_ejected(now)) && e.in_flight() < limit
        };
        let n = self.ready.iter().filter(candidate).count();
        let nth = |i: usize| self.ready.iter().filter(candidate).nth(i).cloned();
        let picked = match (n, balance) {
            (0, _) => None,
            (1, _) => nth(0),
            (n, Balance::RoundRobin) => nth(self.next.fetch_add(1, Ordering::Relaxed) % n),
            (n, Balance::PowerOfTwoChoices) => {
                let mut rng = rand::rng();
                let a = rng.random_range(0..n);
                let b = (a + rng.random_range(1..n)) % n;
                match (nth(a), nth(b)) {
                    (Some(a), Some(b)) if b.in_flight() < a.in_flight() => Some(b),
                    (a, _) => a,
                }
            }
        };
        picked.ok_or(NoPick::AllBusy)
    }

    /// Records a 5xx or a connect failure of `endpoint`; returns the ejection time when this
    /// failure ejected it. Never more than half of the pool's replicas are ejected at once.
    pub(crate) fn record_failure(
        &self,
        endpoint: &Endpoint,
        settings: Ejection,
    ) -> Option<Duration> {
        let now = now_ms();
        let failures = endpoint
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if endpoint.is_ejected(now) || failures < settings.consecutive_failures {
            return None;
        }
        let ejected = self.ready.iter().filter(|e| e.is_ejected(now)).count();
        if (ejected + 1) * 2 > self.ready.len() {
            return None;
        }
        let times = endpoint.times_ejected.fetch_add(1, Ordering::Relaxed) + 1;
        endpoint.consecutive_failures.store(0, Ordering::Relaxed);
        let time = settings.base_time * times.min(10);
        endpoint
            .ejected_until_ms
            .store(now + time.as_millis() as u64, Ordering::Relaxed);
        Some(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u16) -> Pool {
        let ready = (0..n)
            .map(|i| {
                Arc::new(Endpoint::new(
                    &format!("web.{}", i + 1),
                    SocketAddr::from(([127, 0, 0, 1], 5000 + i)),
                    1,
                ))
            })
            .collect();
        Pool::new("web", ready, 0, 0)
    }

    #[test]
    fn p2c_prefers_the_less_loaded() {
        let pool = pool(2);
        let freed = Arc::new(tokio::sync::Notify::new());
        let _busy: Vec<InFlight> = (0..5).map(|_| pool.ready()[0].begin(&freed)).collect();
        for _ in 0..50 {
            let e = pool.pick(Balance::PowerOfTwoChoices, &[], 50).unwrap();
            assert_eq!(e.name.as_str(), "web.2");
        }
    }

    #[test]
    fn tried_and_full_replicas_are_skipped() {
        let pool = pool(3);
        let freed = Arc::new(tokio::sync::Notify::new());
        let first = pool.ready()[0].addr;
        let _full = pool.ready()[1].begin(&freed);
        let e = pool.pick(Balance::RoundRobin, &[first], 1).unwrap();
        assert_eq!(e.name.as_str(), "web.3");
        let third = pool.ready()[2].addr;
        assert_eq!(
            pool.pick(Balance::RoundRobin, &[first, third], 1).err(),
            Some(NoPick::AllBusy)
        );
        let all: Vec<_> = pool.ready().iter().map(|e| e.addr).collect();
        assert_eq!(
            pool.pick(Balance::RoundRobin, &all, 1).err(),
            Some(NoPick::NoneReady)
        );
    }

    #[tokio::test]
    async fn connections_the_replica_closed_do_not_linger_at_the_bottom_of_the_pool() {
        use crate::client::BackendIo;
        use tokio::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let endpoint = Endpoint::new("web.1", addr, 1);
        let mut replica_side = Vec::new();
        for _ in 0..2 {
            let conn = TcpStream::connect(addr).await.unwrap();
            replica_side.push(listener.accept().await.unwrap().0);
            endpoint.put_idle(BackendConn::new(BackendIo::Tcp(conn)));
        }
        // The replica closes the oldest idle connection; the newest keeps being used.
        drop(replica_side.remove(0));
        let deadline = Instant::now() + Duration::from_secs(5);
        while endpoint.idle_count() == 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let newest = endpoint.take_idle().expect("the open connection");
            endpoint.put_idle(newest);
        }
        assert_eq!(endpoint.idle_count(), 1);
        assert!(endpoint.take_idle().is_some());
        assert!(endpoint.take_idle().is_none());
    }

    #[test]
    fn ejection_never_exceeds_half_and_grows() {
        let pool = pool(4);
        let settings = Ejection {
            consecutive_failures: 2,
            base_time: Duration::from_secs(1),
        };
        let ejected: Vec<bool> = (0..4)
            .map(|i| {
                let e = &pool.ready()[i];
                pool.record_failure(e, settings);
                pool.record_failure(e, settings).is_some()
            })
            .collect();
        assert_eq!(ejected, [true, true, false, false]);
        // Picks avoid the ejected replicas.
        for _ in 0..20 {
            let e = pool.pick(Balance::PowerOfTwoChoices, &[], 50).unwrap();
            assert!(e.name.as_str() == "web.3" || e.name.as_str() == "web.4");
        }
    }
}
