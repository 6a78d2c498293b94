//! The scheduler's view of wall time: a [`Clock`] trait so that daylight-saving transitions,
//! clock steps and downtime are testable without waiting. [`SystemClock`] is the real one;
//! [`ManualClock`] is moved by hand (tests, the simulation).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::watch;

/// A boxed future, as the clock's sleeps are.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wall time and waiting for it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Time elapsed on a monotonic clock (never stepped) since the clock was made. The
    /// scheduler compares it with [`Clock::now`] to tell a stepped wall clock from time passing.
    fn elapsed(&self) -> Duration;

    /// Resolves once [`Clock::now`] is at or after `at` (or earlier: callers re-check the
    /// time, so a real clock may wake early to notice a stepped wall clock).
    fn sleep_until(&self, at: Timestamp) -> Sleep;
}

/// The system's wall clock. Sleeps are on the monotonic clock but never longer than
/// [`SystemClock::MAX_SLEEP`], so a wall clock stepped by an administrator or NTP is noticed
/// within that time.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub const MAX_SLEEP: Duration = Duration::from_secs(1);

    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let wait = at
            .duration_since(Timestamp::now())
            .try_into()
            .unwrap_or(Duration::ZERO)
            .min(SystemClock::MAX_SLEEP);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to: [`ManualClock::advance_to`] is time passing (wall
/// and monotonic time move together), [`ManualClock::step_to`] is a wall clock stepped by an
/// administrator (only wall time moves). Cheap to clone; clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// (wall time, monotonic time since creation)
    now: Arc<watch::Sender<(Timestamp, Duration)>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new((start, Duration::ZERO))),
        }
    }

    /// Lets time pass until `to` (no-op if `to` is not later).
    pub fn advance_to(&self, to: Timestamp) {
        self.now.send_modify(|(wall, mono)| {
            if to > *wall {
                let by: Duration = to.duration_since(*wall).try_into().unwrap_or_default();
                *mono += by;
                *wall = to;
            }
        });
    }

    /// Lets `by` pass.
    pub fn advance(&self, by: Duration) {
        let to = self.now() + jiff::SignedDuration::try_from(by).unwrap_or_default();
        self.advance_to(to);
    }

    /// Steps the wall clock to `to`, forwards or backwards, without time passing.
    pub fn step_to(&self, to: Timestamp) {
        self.now.send_modify(|(wall, _)| *wall = to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.borrow().0
    }

    fn elapsed(&self) -> Duration {
        self.now.borrow().1
    }

    /// Resolves when the time reaches `at`, or as soon as the time is moved at all, so that
    /// every move is looked at by the sleeper (a real clock stepped by hand is noticed too,
    /// within [`SystemClock::MAX_SLEEP`]).
    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            if rx.borrow_and_update().0 >= at {
                return;
            }
            let _ = rx.changed().await;
        })
    }
}
