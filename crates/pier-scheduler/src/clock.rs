//! The scheduler's view of wall time: a [`Clock`] trait so that daylight-saving transitions,
//! clock steps and downtime are testable without waiting. [`SystemClock`] is the real one;
//! [`ManualClock`] is moved by hand (tests, the simulation).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

/// A boxed future, as the clock's sleeps are.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wall time and waiting for it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Resolves once [`Clock::now`] is at or after `at` (or earlier: callers re-check the
    /// time, so a real clock may wake early to notice a stepped wall clock).
    fn sleep_until(&self, at: Timestamp) -> Sleep;
}

/// The system's wall clock. Sleeps are on the monotonic clock but never longer than
/// [`SystemClock::MAX_SLEEP`], so a wall clock stepped by an administrator or NTP is noticed
/// within that time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    pub const MAX_SLEEP: Duration = Duration::from_secs(1);
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
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

/// A clock that moves only when told to. Cheap to clone; clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Sets the time, forwards or backwards (a stepped clock).
    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to);
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| {
            *now = now
                .checked_add(jiff::SignedDuration::try_from(by).unwrap_or_default())
                .unwrap_or(*now);
        });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|now| *now >= at).await;
        })
    }
}
