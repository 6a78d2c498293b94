//! The replicas of one service that can take traffic, and how one is chosen: power of two
//! choices over least outstanding requests (or round robin), a per-replica in-flight limit,
//! passive outlier ejection, and each replica's idle keep-alive connections.
//!
//! An [`Endpoint`] outlives table swaps (the table builder hands the same one to the next
//! table while the replica stays ready), so in-flight counts, ejections and pooled
//! connections are never reset by an unrelated change.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use rand::Rng;

use crate::body::RequestBody;

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

/// At most this many idle connections are kept per replica.
const MAX_IDLE_PER_ENDPOINT: usize = 256;

/// One ready replica.
pub struct Endpoint {
    pub name: crate::trace::Label,
    pub addr: SocketAddr,
    in_flight: AtomicUsize,
    /// Idle connections per worker thread (plus one slot for other threads): a connection is
    /// only reused on the thread whose runtime drives it.
    idle: Box<[Mutex<Vec<SendRequest<RequestBody>>>]>,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
    times_ejected: u32,
}

impl Endpoint {
    pub(crate) fn new(name: &str, addr: SocketAddr, workers: usize) -> Endpoint {
        Endpoint {
            name: Arc::new(name.to_string()),
            addr,
            in_flight: AtomicUsize::new(0),
            idle: (0..=workers).map(|_| Mutex::new(Vec::new())).collect(),
            health: Mutex::new(Health::default()),
        }
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
    pub(crate) fn take_idle(&self) -> Option<SendRequest<RequestBody>> {
        let mut idle = self.idle_here().lock().unwrap_or_else(|e| e.into_inner());
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Returns a connection whose last response was read completely.
    pub(crate) fn put_idle(&self, sender: SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle_here().lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_PER_ENDPOINT {
            idle.push(sender);
        }
    }

    fn idle_here(&self) -> &Mutex<Vec<SendRequest<RequestBody>>> {
        &self.idle[crate::workers::current(self.idle.len() - 1)]
    }

    fn is_ejected(&self, now: Instant) -> bool {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health.ejected_until.is_some_and(|until| until > now)
    }

    pub(crate) fn record_success(&self) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health.consecutive_failures = 0;
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
        let now = Instant::now();
        let untried: Vec<&Arc<Endpoint>> = self
            .ready
            .iter()
            .filter(|e| !tried.contains(&e.addr))
            .collect();
        if untried.is_empty() {
            return Err(NoPick::NoneReady);
        }
        let healthy: Vec<&Arc<Endpoint>> = untried
            .iter()
            .copied()
            .filter(|e| !e.is_ejected(now))
            .collect();
        let candidates = if healthy.is_empty() { untried } else { healthy };
        let open: Vec<&Arc<Endpoint>> = candidates
            .into_iter()
            .filter(|e| e.in_flight() < limit)
            .collect();
        match open.len() {
            0 => Err(NoPick::AllBusy),
            1 => Ok(open[0].clone()),
            n => Ok(match balance {
                Balance::RoundRobin => open[self.next.fetch_add(1, Ordering::Relaxed) % n].clone(),
                Balance::PowerOfTwoChoices => {
                    let mut rng = rand::rng();
                    let a = rng.random_range(0..n);
                    let b = (a + rng.random_range(1..n)) % n;
                    let (a, b) = (open[a], open[b]);
                    if b.in_flight() < a.in_flight() {
                        b.clone()
                    } else {
                        a.clone()
                    }
                }
            }),
        }
    }

    /// Records a 5xx or a connect failure of `endpoint`; returns the ejection time when this
    /// failure ejected it. Never more than half of the pool's replicas are ejected at once.
    pub(crate) fn record_failure(
        &self,
        endpoint: &Endpoint,
        settings: Ejection,
    ) -> Option<Duration> {
        let now = Instant::now();
        let ejected = self.ready.iter().filter(|e| e.is_ejected(now)).count();
        let mut health = endpoint.health.lock().unwrap_or_else(|e| e.into_inner());
        health.consecutive_failures += 1;
        let already = health.ejected_until.is_some_and(|until| until > now);
        let allowed = (ejected + 1) * 2 <= self.ready.len();
        if already || !allowed || health.consecutive_failures < settings.consecutive_failures {
            return None;
        }
        health.times_ejected += 1;
        health.consecutive_failures = 0;
        let time = settings.base_time * health.times_ejected.min(10);
        health.ejected_until = Some(now + time);
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
