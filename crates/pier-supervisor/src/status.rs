//! The observable state of each replica, as `pier ps` shows it.

use std::time::SystemTime;

use serde::Serialize;

/// Lifecycle state of a replica slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Spawned; readiness not yet established.
    Starting,
    /// Running (see `ready` for whether it takes traffic).
    Running,
    /// Waiting out the restart backoff after an exit (Kubernetes' CrashLoopBackOff).
    CrashLoopBackOff,
    /// SIGTERM sent, waiting for the process group to exit.
    Stopping,
    /// Not running and not going to be restarted.
    Stopped,
}

impl ReplicaState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Starting => "starting",
            ReplicaState::Running => "running",
            ReplicaState::CrashLoopBackOff => "crashloop",
            ReplicaState::Stopping => "stopping",
            ReplicaState::Stopped => "stopped",
        }
    }
}

/// A snapshot of one replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    /// Unique within the daemon's lifetime; two replicas never share it.
    #[serde(skip)]
    pub id: u64,
    /// `web.1`.
    pub name: String,
    pub service: String,
    pub index: u32,
    pub release: u32,
    pub state: ReplicaState,
    /// The application process's pid (inside the shim), when running.
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub ready: bool,
    pub restarts: u32,
    /// When the current process started.
    #[serde(with = "unix_ms_opt")]
    pub started_at: Option<SystemTime>,
    /// When the next restart is due, while in backoff.
    #[serde(with = "unix_ms_opt")]
    pub next_restart_at: Option<SystemTime>,
    /// How the previous process ended (`exit code 1`, `killed by SIGKILL`), if it did.
    pub last_exit: Option<String>,
}

mod unix_ms_opt {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            Some(d) => s.serialize_some(&(d.as_millis() as i64)),
            None => s.serialize_none(),
        }
    }
}
