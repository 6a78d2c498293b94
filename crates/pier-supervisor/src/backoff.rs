//! Restart backoff shaped like Kubernetes' CrashLoopBackOff: the first restart is immediate,
//! then the delay starts at `initial` and doubles up to `max`; a replica that ran for
//! `reset_after` without trouble starts again from zero. Pure: the caller supplies the times.

use std::time::Duration;

use pier_spec::Backoff;

/// Tracks consecutive failures of one replica slot and answers "how long until the restart".
#[derive(Debug, Clone)]
pub struct RestartBackoff {
    policy: Backoff,
    consecutive: u32,
}

impl RestartBackoff {
    pub fn new(policy: Backoff) -> Self {
        RestartBackoff {
            policy,
            consecutive: 0,
        }
    }

    /// Records that the process stopped after running for `ran_for` and returns the delay before
    /// the next start.
    pub fn on_exit(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.policy.reset_after {
            self.consecutive = 0;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        self.delay_for(self.consecutive)
    }

    /// The delay before restart number `n` (1-based) of an uninterrupted crash loop.
    fn delay_for(&self, n: u32) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        let doublings = (n - 2).min(32);
        self.policy
            .initial
            .checked_mul(1u32 << doublings.min(31))
            .map_or(self.policy.max, |d| d.min(self.policy.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }

    #[test]
    fn follows_kubernetes_sequence() {
        let mut b = RestartBackoff::new(policy());
        let delays: Vec<u64> = (0..9)
            .map(|_| b.on_exit(Duration::from_secs(1)).as_secs())
            .collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn long_clean_run_resets() {
        let mut b = RestartBackoff::new(policy());
        for _ in 0..5 {
            b.on_exit(Duration::from_secs(1));
        }
        assert_eq!(b.on_exit(Duration::from_secs(600)), Duration::ZERO);
        assert_eq!(b.on_exit(Duration::from_secs(1)), Duration::from_secs(10));
    }

    #[test]
    fn never_overflows() {
        let mut b = RestartBackoff::new(policy());
        for _ in 0..200 {
            assert!(b.on_exit(Duration::ZERO) <= Duration::from_secs(300));
        }
    }
}
