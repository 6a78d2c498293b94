//! pier-scheduler owns cron jobs: when each job's slots fall (`slots`, pure), which slots run
//! after downtime (`policy`, pure), the durable claim of each slot in the ledger before its
//! process starts, the lease that makes one daemon the scheduler of a state, and the actor
//! that ties them to a clock and a process runner.

pub mod slots;

pub mod clock;
pub mod definition;
pub mod holder;
pub mod metrics;
pub mod policy;
pub mod runner;
mod scheduler;

pub use clock::{Clock, ManualClock, SystemClock};
pub use definition::JobDefinition;
pub use metrics::SchedulerMetrics;
pub use runner::{JobRelease, ProcessRunner, RunExit, RunRequest, Runner, RunningJob};
pub use scheduler::{
    DEFAULT_LEASE_TTL, DEFAULT_STOP_GRACE, JobStatus, Scheduler, SchedulerConfig, SchedulerError,
    SchedulerHandle, SchedulerStatus, run_id,
};
