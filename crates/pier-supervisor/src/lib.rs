//! pier-supervisor owns the processes of a release: it spawns every service × replicas through
//! the process shim, gives each its environment and `$PORT`, runs readiness and liveness probes
//! with Kubernetes semantics, restarts exited or unhealthy replicas with CrashLoopBackOff-shaped
//! backoff, stops them gracefully (SIGTERM to the whole process group, grace period, SIGKILL),
//! captures their output line by line, and rolls a new release out (`rollout.rs`) with
//! Kubernetes' rolling-update rules, replicas of both releases side by side meanwhile.
//!
//! It knows nothing of the durable store, HTTP APIs or the router: callers get a
//! [`SupervisorHandle`] to command it, a `watch` channel of [`ReplicaStatus`] snapshots to
//! observe it, a [`LogBus`] for output, and an event channel they may persist.
//!
//! Architecture invariant: every child process is started through [`shim`], which owns the
//! child's process group and kills it when pier disappears, so no process outlives pier.

pub mod backoff;
mod canary;
pub mod env;
pub mod events;
pub mod logs;
pub mod ports;
pub mod probe;
mod replica;
mod rollout;
pub mod rollout_plan;
pub mod shim;
pub mod spawn;
pub mod status;
mod supervisor;

pub use events::{EventKind, SupervisorEvent};
pub use logs::{LogBus, LogFilter, LogLine, LogStream};
pub use rollout::{ProgressSink, RolloutFailure};
pub use status::{ReplicaState, ReplicaStatus};
pub use supervisor::{
    DrainHook, MAX_REPLICAS, ReplicaRef, RestartTarget, RunRelease, SupervisorConfig,
    SupervisorError, SupervisorHandle, check_formation, start,
};
