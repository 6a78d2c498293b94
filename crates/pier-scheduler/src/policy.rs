//! What happens to slots that came while no scheduler was watching (pier was down, another
//! daemon died holding the lease, the wall clock jumped forward, the job was disabled): pure
//! decisions from the job's `catch_up`, `max_catch_up` and `starting_deadline`. The newest
//! [`RECORDED_INDIVIDUALLY`] slots of a backlog get a ledger row each; older ones are
//! summarised in one row, so a month of downtime of a per-second job stays one row.

use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;
use pier_spec::CatchUp;

use crate::slots::Slots;

/// Backlog slots recorded one row each; older ones share one summary row.
pub const RECORDED_INDIVIDUALLY: usize = 1000;

/// Why a slot did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissReason {
    /// No scheduler ran at the slot and `catch_up = "none"`.
    Downtime,
    /// No scheduler ran at the slot and a later slot ran instead (`catch_up = "latest"`).
    Superseded,
    /// More slots were missed than `max_catch_up` (`catch_up = "all"`).
    CatchUpLimit,
    /// It could not start within `starting_deadline` of its slot.
    Deadline,
    /// `concurrency = "forbid"` and the previous run was still running.
    Concurrency,
    /// The job was disabled.
    Suspended,
}

impl MissReason {
    /// The `reason` label of `pier_job_missed_slots_total`.
    pub fn code(self) -> &'static str {
        match self {
            MissReason::Downtime => "downtime",
            MissReason::Superseded => "catch_up",
            MissReason::CatchUpLimit => "catch_up_limit",
            MissReason::Deadline => "deadline",
            MissReason::Concurrency => "concurrency",
            MissReason::Suspended => "suspended",
        }
    }

    /// The words in the ledger.
    pub fn describe(self, max_catch_up: u32, deadline: Option<Duration>) -> String {
        match self {
            MissReason::Downtime => {
                "no scheduler was running at the slot (catch_up = \"none\")".to_string()
            }
            MissReason::Superseded => {
                "no scheduler was running at the slot; a later slot ran instead (catch_up = \"latest\")"
                    .to_string()
            }
            MissReason::CatchUpLimit => format!(
                "more than max_catch_up = {max_catch_up} slots were missed; only the latest ran"
            ),
            MissReason::Deadline => format!(
                "could not start within starting_deadline = {}",
                deadline.map(pier_spec::format_duration).unwrap_or_default()
            ),
            MissReason::Concurrency => {
                "the previous run was still running (concurrency = \"forbid\")".to_string()
            }
            MissReason::Suspended => "the job was disabled".to_string(),
        }
    }
}

/// The decision for one slot (or a summarised stretch of slots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Claim it to run.
    Run,
    /// Record it as missed (or suspended) for this reason.
    Miss(MissReason),
}

/// A backlog slot or stretch with its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub slot: Timestamp,
    /// Slots this entry stands for (more than 1 only for the summary of an old stretch).
    pub covers: u64,
    /// The last slot of a summarised stretch.
    pub until: Option<Timestamp>,
    pub decision: Decision,
}

/// The catch-up rules of a job.
#[derive(Debug, Clone, Copy)]
pub struct CatchUpPolicy {
    pub catch_up: CatchUp,
    pub max_catch_up: u32,
    pub starting_deadline: Option<Duration>,
    /// A disabled job records its slots as suspended.
    pub enabled: bool,
}

/// Decides every slot in (after, now]: the backlog of a scheduler that was not watching.
pub fn plan_backlog(
    slots: &Slots,
    after: Timestamp,
    now: Timestamp,
    policy: CatchUpPolicy,
) -> Vec<Planned> {
    let mut newest: VecDeque<Timestamp> = VecDeque::with_capacity(RECORDED_INDIVIDUALLY);
    let mut older: Option<(Timestamp, Timestamp, u64)> = None;
    for slot in slots.between(after, now) {
        if newest.len() == RECORDED_INDIVIDUALLY {
            let old = newest.pop_front().expect("the window is full");
            older = Some(match older {
                None => (old, old, 1),
                Some((first, _, n)) => (first, old, n + 1),
            });
        }
        newest.push_back(slot);
    }
    let count = newest.len();
    let run_from = if !policy.enabled {
        count
    } else {
        match policy.catch_up {
            CatchUp::None => count,
            CatchUp::Latest => count.saturating_sub(1),
            CatchUp::All => count.saturating_sub(policy.max_catch_up as usize),
        }
    };
    let skipped_reason = if !policy.enabled {
        MissReason::Suspended
    } else {
        match policy.catch_up {
            CatchUp::None => MissReason::Downtime,
            CatchUp::Latest => MissReason::Superseded,
            CatchUp::All => MissReason::CatchUpLimit,
        }
    };
    let mut planned = Vec::with_capacity(count + 1);
    if let Some((first, last, n)) = older {
        planned.push(Planned {
            slot: first,
            covers: n,
            until: Some(last),
            decision: Decision::Miss(skipped_reason),
        });
    }
    for (index, slot) in newest.into_iter().enumerate() {
        let decision = if index < run_from {
            Decision::Miss(skipped_reason)
        } else if past_deadline(slot, now, policy.starting_deadline) {
            Decision::Miss(MissReason::Deadline)
        } else {
            Decision::Run
        };
        planned.push(Planned {
            slot,
            covers: 1,
            until: None,
            decision,
        });
    }
    planned
}

/// Whether a slot can no longer start at `now` under `deadline`.
pub fn past_deadline(slot: Timestamp, now: Timestamp, deadline: Option<Duration>) -> bool {
    let Some(deadline) = deadline else {
        return false;
    };
    let late = now.duration_since(slot);
    late > jiff::SignedDuration::try_from(deadline).unwrap_or(jiff::SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_spec::Schedule;

    fn every_second() -> Slots {
        Slots::new(&Schedule::Every(Duration::from_secs(1)), "UTC").unwrap()
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn policy(catch_up: CatchUp) -> CatchUpPolicy {
        CatchUpPolicy {
            catch_up,
            max_catch_up: 3,
            starting_deadline: None,
            enabled: true,
        }
    }

    fn runs(plan: &[Planned]) -> Vec<Timestamp> {
        plan.iter()
            .filter(|p| p.decision == Decision::Run)
            .map(|p| p.slot)
            .collect()
    }

    #[test]
    fn none_misses_everything_latest_runs_one_all_runs_up_to_the_limit() {
        let slots = every_second();
        let none = plan_backlog(&slots, t(0), t(10), policy(CatchUp::None));
        assert_eq!(none.len(), 10);
        assert!(runs(&none).is_empty());
        assert!(
            none.iter()
                .all(|p| p.decision == Decision::Miss(MissReason::Downtime))
        );

        let latest = plan_backlog(&slots, t(0), t(10), policy(CatchUp::Latest));
        assert_eq!(runs(&latest), vec![t(10)]);
        assert_eq!(latest[0].decision, Decision::Miss(MissReason::Superseded));

        let all = plan_backlog(&slots, t(0), t(10), policy(CatchUp::All));
        assert_eq!(runs(&all), vec![t(8), t(9), t(10)]);
        assert_eq!(all[0].decision, Decision::Miss(MissReason::CatchUpLimit));
    }

    #[test]
    fn the_deadline_and_disabling_win() {
        let slots = every_second();
        let mut p = policy(CatchUp::All);
        p.starting_deadline = Some(Duration::from_secs(1));
        let plan = plan_backlog(&slots, t(0), t(10), p);
        assert_eq!(runs(&plan), vec![t(9), t(10)]);
        assert_eq!(plan[7].decision, Decision::Miss(MissReason::Deadline));

        p.enabled = false;
        let plan = plan_backlog(&slots, t(0), t(10), p);
        assert!(
            plan.iter()
                .all(|p| p.decision == Decision::Miss(MissReason::Suspended))
        );
    }

    #[test]
    fn a_long_backlog_is_summarised_and_every_slot_is_accounted_for() {
        let slots = every_second();
        let plan = plan_backlog(&slots, t(0), t(5000), policy(CatchUp::Latest));
        assert_eq!(plan.len(), RECORDED_INDIVIDUALLY + 1);
        assert_eq!(plan[0].slot, t(1));
        assert_eq!(plan[0].until, Some(t(4000)));
        assert_eq!(plan[0].covers, 4000);
        assert_eq!(plan.iter().map(|p| p.covers).sum::<u64>(), 5000);
        assert_eq!(runs(&plan), vec![t(5000)]);
    }
}
