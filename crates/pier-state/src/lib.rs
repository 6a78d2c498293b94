//! pier-state owns the durable store of one app: a SQLite database at `<app>/.pier/state.db`
//! holding the formation (replica counts set by `pier scale`), immutable releases (with their
//! config vars, pending/current/failed lifecycle, the release-phase ledger and the canary), the event
//! log, job definitions with the slot ledger and the scheduler lease, its schema migrations, and the daemon lock that keeps one daemon per app directory.
//!
//! Every write is committed with `synchronous=FULL` in WAL mode before the call returns, so an
//! acknowledged change survives `kill -9` and power loss. The API is blocking: async callers
//! wrap calls in `spawn_blocking`. [`State`] is a cheap-to-clone handle.
//!
//! Architecture invariant: this crate depends on no other pier crate. It stores what it is
//! given (a manifest snapshot is opaque text) and knows nothing of processes, HTTP or the
//! manifest's format.

#![forbid(unsafe_code)]

mod canary;
mod db;
mod deploys;
mod error;
mod events;
mod formation;
mod jobs;
mod lease;
mod lock;
mod migrations;
mod releases;
mod settings;

pub use canary::CanaryRecord;
pub use db::{Clock, DEFAULT_MAX_EVENTS, State, StateOptions, SystemClock};
pub use deploys::ReleasePhase;
pub use error::StateError;
pub use events::{Event, EventQuery, NewEvent};
pub use jobs::{Claim, JobRecord, JobRun, MAX_RUNS_PER_JOB, NewSlotRun, RunState, RunTrigger};
pub use lease::Lease;
pub use lock::{DaemonInfo, DaemonLock, LockError, read_daemon_info};
pub use migrations::LATEST_SCHEMA_VERSION;
pub use releases::{
    NewArtifact, NewRelease, ParseReleaseStatusError, Release, ReleaseSource, ReleaseStatus,
};
