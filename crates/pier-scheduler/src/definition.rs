//! A job's definition as the scheduler keeps it: built from the manifest's `[jobs.NAME]`,
//! serialised canonically so that the state store can tell when it changed (each change is a
//! new version), and bound to its [`Slots`].

use std::time::Duration;

use pier_spec::{CatchUp, Concurrency, Job};
use serde::{Deserialize, Serialize};

use crate::slots::Slots;

/// The longest retry backoff, as a Kubernetes Job's.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(360);

/// Everything that decides when and how a job runs. Field order is the serialised order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDefinition {
    pub schedule: String,
    pub timezone: String,
    pub command: String,
    pub timeout_ms: Option<u64>,
    pub concurrency: String,
    pub catch_up: String,
    pub max_catch_up: u32,
    pub starting_deadline_ms: Option<u64>,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub enabled: bool,
}

impl JobDefinition {
    pub fn from_manifest(job: &Job) -> JobDefinition {
        JobDefinition {
            schedule: job.schedule.clone(),
            timezone: job.timezone.clone(),
            command: job.command.clone(),
            timeout_ms: job.timeout.map(millis),
            concurrency: match job.concurrency {
                Concurrency::Forbid => "forbid",
                Concurrency::Allow => "allow",
                Concurrency::Replace => "replace",
            }
            .to_string(),
            catch_up: match job.catch_up {
                CatchUp::None => "none",
                CatchUp::Latest => "latest",
                CatchUp::All => "all",
            }
            .to_string(),
            max_catch_up: job.max_catch_up,
            starting_deadline_ms: job.starting_deadline.map(millis),
            retries: job.retries,
            retry_backoff_ms: millis(job.retry_backoff),
            enabled: job.enabled,
        }
    }

    /// The canonical text stored as a version.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job definition serialises")
    }

    pub fn concurrency(&self) -> Concurrency {
        match self.concurrency.as_str() {
            "allow" => Concurrency::Allow,
            "replace" => Concurrency::Replace,
            _ => Concurrency::Forbid,
        }
    }

    pub fn catch_up(&self) -> CatchUp {
        match self.catch_up.as_str() {
            "none" => CatchUp::None,
            "all" => CatchUp::All,
            _ => CatchUp::Latest,
        }
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    pub fn starting_deadline(&self) -> Option<Duration> {
        self.starting_deadline_ms.map(Duration::from_millis)
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt` failed (1-based).
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let base = Duration::from_millis(self.retry_backoff_ms);
        let doublings = attempt.saturating_sub(1).min(20);
        base.saturating_mul(1 << doublings)
            .min(MAX_RETRY_BACKOFF.max(base))
    }

    /// Where this job's slots fall; an error names the schedule and what is wrong with it.
    pub fn slots(&self) -> Result<Slots, String> {
        let schedule = pier_spec::parse_schedule(&self.schedule)
            .map_err(|message| format!("schedule `{}`: {message}", self.schedule))?;
        Slots::new(&schedule, &self.timezone)
            .map_err(|error| format!("schedule `{}`: {error}", self.schedule))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_are_capped() {
        let def = JobDefinition {
            schedule: "@hourly".into(),
            timezone: "UTC".into(),
            command: "true".into(),
            timeout_ms: None,
            concurrency: "forbid".into(),
            catch_up: "latest".into(),
            max_catch_up: 100,
            starting_deadline_ms: None,
            retries: 10,
            retry_backoff_ms: 10_000,
            enabled: true,
        };
        assert_eq!(def.retry_delay(1), Duration::from_secs(10));
        assert_eq!(def.retry_delay(2), Duration::from_secs(20));
        assert_eq!(def.retry_delay(3), Duration::from_secs(40));
        assert_eq!(def.retry_delay(9), MAX_RETRY_BACKOFF);
    }
}
