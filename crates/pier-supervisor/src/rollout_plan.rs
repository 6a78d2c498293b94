//! The arithmetic of a rolling update, as a pure function: given the desired count, the
//! resolved `max_surge` and `max_unavailable`, and the replicas of a service as they are now,
//! how many new replicas to start and which old ones to stop. Kubernetes' rules: the total
//! never exceeds desired + surge, and the available replicas never drop below
//! desired − unavailable because of a stop (old replicas that are not ready go first, since
//! stopping them costs no availability).

/// One replica of the service, as the rollout sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub id: u64,
    /// Runs the release being rolled out.
    pub new: bool,
    pub ready: bool,
    /// Ready, and for a new replica ready for at least `min_ready`.
    pub available: bool,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// New replicas to start.
    pub start: u32,
    /// Old replicas to stop (drain, then SIGTERM), in this order.
    pub stop: Vec<u64>,
}

/// The limits of one service's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub desired: u32,
    pub surge: u32,
    pub unavailable: u32,
}

impl Limits {
    /// The fewest available replicas a stop may leave.
    pub fn min_available(&self) -> u32 {
        self.desired.saturating_sub(self.unavailable)
    }
}

/// Whether the rollout is complete: `desired` new replicas, all available, and no old one.
pub fn done(limits: &Limits, replicas: &[Seen]) -> bool {
    let new_available = replicas.iter().filter(|r| r.new && r.available).count();
    replicas.iter().all(|r| r.new)
        && replicas.len() == limits.desired as usize
        && new_available == limits.desired as usize
}

/// The next step of the rollout.
pub fn step(limits: &Limits, replicas: &[Seen]) -> Step {
    let total = replicas.len() as u32;
    let new_total = replicas.iter().filter(|r| r.new).count() as u32;
    let ceiling = limits.desired + limits.surge;
    let start = limits
        .desired
        .saturating_sub(new_total)
        .min(ceiling.saturating_sub(total));
    let old = replicas.iter().filter(|r| !r.new);
    let mut stop: Vec<u64> = old.clone().filter(|r| !r.ready).map(|r| r.id).collect();
    let available = replicas.iter().filter(|r| r.available).count() as u32;
    let removable = available.saturating_sub(limits.min_available());
    stop.extend(
        old.filter(|r| r.ready)
            .take(removable as usize)
            .map(|r| r.id),
    );
    // Extra new replicas (the desired count went down) go too, unready ones first.
    let mut extra: Vec<&Seen> = replicas.iter().filter(|r| r.new).collect();
    extra.sort_by_key(|r| r.ready);
    let excess = new_total.saturating_sub(limits.desired) as usize;
    stop.extend(extra.iter().take(excess).map(|r| r.id));
    Step { start, stop }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(id: u64, ready: bool) -> Seen {
        Seen {
            id,
            new: false,
            ready,
            available: ready,
        }
    }

    fn new(id: u64, ready: bool, available: bool) -> Seen {
        Seen {
            id,
            new: true,
            ready,
            available,
        }
    }

    /// Plays a rollout where every started replica becomes available at the next step, and
    /// checks the bounds at every step; returns the number of steps.
    fn play(limits: Limits) -> usize {
        let mut replicas: Vec<Seen> = (1..=u64::from(limits.desired))
            .map(|i| old(i, true))
            .collect();
        let mut next = 100;
        for round in 0..100 {
            if done(&limits, &replicas) {
                return round;
            }
            for r in replicas.iter_mut().filter(|r| r.new) {
                r.ready = true;
                r.available = true;
            }
            let step = step(&limits, &replicas);
            replicas.retain(|r| !step.stop.contains(&r.id));
            let available = replicas.iter().filter(|r| r.available).count() as u32;
            assert!(
                available >= limits.min_available(),
                "{limits:?}: {replicas:?}"
            );
            for _ in 0..step.start {
                replicas.push(new(next, false, false));
                next += 1;
            }
            assert!(
                replicas.len() as u32 <= limits.desired + limits.surge,
                "{limits:?}"
            );
        }
        panic!("no convergence for {limits:?}");
    }

    #[test]
    fn every_combination_converges_within_bounds() {
        for desired in 0..6 {
            for surge in 0..3 {
                for unavailable in 0..3 {
                    if surge == 0 && unavailable == 0 {
                        continue;
                    }
                    play(Limits {
                        desired,
                        surge,
                        unavailable,
                    });
                }
            }
        }
    }

    #[test]
    fn surge_starts_first_and_waits_for_availability() {
        let limits = Limits {
            desired: 2,
            surge: 1,
            unavailable: 0,
        };
        let replicas = [old(1, true), old(2, true)];
        assert_eq!(
            step(&limits, &replicas),
            Step {
                start: 1,
                stop: vec![]
            }
        );
        // Ready but not yet available (min_ready): nothing stops.
        let replicas = [old(1, true), old(2, true), new(3, true, false)];
        assert_eq!(
            step(&limits, &replicas),
            Step {
                start: 0,
                stop: vec![]
            }
        );
        let replicas = [old(1, true), old(2, true), new(3, true, true)];
        assert_eq!(
            step(&limits, &replicas),
            Step {
                start: 0,
                stop: vec![1]
            }
        );
    }

    #[test]
    fn old_replicas_that_are_not_ready_go_first() {
        let limits = Limits {
            desired: 3,
            surge: 0,
            unavailable: 1,
        };
        let replicas = [old(1, true), old(2, false), old(3, true)];
        assert_eq!(
            step(&limits, &replicas),
            Step {
                start: 0,
                stop: vec![2]
            }
        );
    }
}
