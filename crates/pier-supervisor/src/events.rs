//! Events the supervisor emits about replicas (started, ready, exited, restarting, …).
//! The daemon persists them; the supervisor only sends them.

use std::time::SystemTime;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Started,
    Ready,
    NotReady,
    Exited,
    LivenessFailed,
    BackOff,
    Stopping,
    Killed,
    Stopped,
    SpawnFailed,
    Scaled,
    /// Marked not ready before a stop: the router stops sending it requests.
    Draining,
    RolloutStarted,
    RolloutProgress,
    RolloutCompleted,
    RolloutFailed,
    /// A canary replica was started beside the current release's.
    CanaryStarted,
    CanaryReady,
    CanaryFailed,
    CanaryStopping,
}

impl EventKind {
    /// The stable dotted name stored in the event log (`replica.exited`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "replica.started",
            EventKind::Ready => "replica.ready",
            EventKind::NotReady => "replica.not_ready",
            EventKind::Exited => "replica.exited",
            EventKind::LivenessFailed => "replica.liveness_failed",
            EventKind::BackOff => "replica.backoff",
            EventKind::Stopping => "replica.stopping",
            EventKind::Killed => "replica.killed",
            EventKind::Stopped => "replica.stopped",
            EventKind::SpawnFailed => "replica.spawn_failed",
            EventKind::Scaled => "service.scaled",
            EventKind::Draining => "replica.draining",
            EventKind::RolloutStarted => "rollout.started",
            EventKind::RolloutProgress => "rollout.progress",
            EventKind::RolloutCompleted => "rollout.completed",
            EventKind::RolloutFailed => "rollout.failed",
            EventKind::CanaryStarted => "canary.started",
            EventKind::CanaryReady => "canary.ready",
            EventKind::CanaryFailed => "canary.failed",
            EventKind::CanaryStopping => "canary.stopping",
        }
    }
}

/// One supervisor event.
#[derive(Debug, Clone)]
pub struct SupervisorEvent {
    pub at: SystemTime,
    pub kind: EventKind,
    /// `web.1` for a replica, `web` for a service.
    pub subject: String,
    pub message: String,
}
