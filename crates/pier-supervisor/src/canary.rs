//! Replicas of another release run beside the current ones (a canary): started one per
//! service outside any rollout, awaited until ready within the service's progress deadline,
//! and stopped gracefully (drain first) when the canary is aborted. A canary's replicas are
//! ordinary replicas of their service, labelled with their release: promoting the canary is a
//! normal rollout of that release, which counts them among its new replicas.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::events::EventKind;
use crate::logs::LogFilter;
use crate::rollout::{ProgressSink, RolloutFailure};
use crate::status::ReplicaState;
use crate::supervisor::{ReplicaRef, RunRelease, SupervisorHandle};

/// Log lines of a canary replica that did not become ready carried by the failure.
const LOG_TAIL_LINES: usize = 20;
/// Re-examines the board this often even when nothing changes.
const TICK: Duration = Duration::from_millis(250);

impl SupervisorHandle {
    /// Starts one replica of each of `services` running `release` beside the current
    /// replicas, and waits until every one is ready, at most each service's progress
    /// deadline. On failure, stops the ones started and says which did not become ready.
    pub async fn start_beside(
        &self,
        release: RunRelease,
        services: &[String],
        progress: Option<&ProgressSink>,
    ) -> Result<Vec<ReplicaRef>, RolloutFailure> {
        let release = Arc::new(release);
        let mut started: Vec<(ReplicaRef, Duration)> = Vec::new();
        for service in services {
            let deadline = release
                .manifest
                .services
                .get(service)
                .map_or(Duration::from_secs(600), |s| s.rollout.progress_deadline);
            match self.start_replica(service, release.clone()).await {
                Ok(replica) => {
                    self.note(
                        progress,
                        EventKind::CanaryStarted,
                        service,
                        format!(
                            "canary {} started (v{}) beside the current replicas",
                            replica.name, release.version
                        ),
                    );
                    started.push((replica, deadline));
                }
                Err(e) => {
                    let replicas: Vec<ReplicaRef> = started.into_iter().map(|(r, _)| r).collect();
                    self.stop_beside(&replicas, progress).await;
                    return Err(RolloutFailure {
                        service: service.clone(),
                        reason: e.to_string(),
                        replica: None,
                        log_tail: Vec::new(),
                    });
                }
            }
        }
        let result = self.await_ready(&started).await;
        let replicas: Vec<ReplicaRef> = started.into_iter().map(|(r, _)| r).collect();
        match result {
            Ok(()) => {
                for replica in &replicas {
                    self.note(
                        progress,
                        EventKind::CanaryReady,
                        replica.name.split('.').next().unwrap_or(&replica.name),
                        format!("canary {} (v{}) is ready", replica.name, release.version),
                    );
                }
                Ok(replicas)
            }
            Err(failure) => {
                self.note(
                    progress,
                    EventKind::CanaryFailed,
                    &failure.service,
                    format!("{}; stopping the canary", failure.reason),
                );
                self.stop_beside(&replicas, progress).await;
                Err(failure)
            }
        }
    }

    /// Stops `replicas` gracefully (each is drained first) and waits until all have exited.
    pub async fn stop_beside(&self, replicas: &[ReplicaRef], progress: Option<&ProgressSink>) {
        let ids: HashSet<u64> = replicas.iter().map(|r| r.id).collect();
        for replica in replicas {
            if self.stop_replica(replica.id).await.is_err() {
                return;
            }
            let service = replica.name.split('.').next().unwrap_or(&replica.name);
            self.note(
                progress,
                EventKind::CanaryStopping,
                service,
                format!("stopping canary {}", replica.name),
            );
        }
        let mut board = self.watch_status();
        loop {
            if !board
                .borrow_and_update()
                .iter()
                .any(|r| ids.contains(&r.id))
            {
                return;
            }
            if board.changed().await.is_err() {
                return;
            }
        }
    }

    async fn await_ready(&self, started: &[(ReplicaRef, Duration)]) -> Result<(), RolloutFailure> {
        let begun = Instant::now();
        let mut board = self.watch_status();
        loop {
            let now = Instant::now();
            let mut waiting = None;
            {
                let snapshot = board.borrow_and_update();
                for (replica, deadline) in started {
                    let status = snapshot.iter().find(|r| r.id == replica.id);
                    let ready = status.is_some_and(|r| r.ready && r.state == ReplicaState::Running);
                    if !ready {
                        waiting = Some((replica, *deadline, status.cloned()));
                        break;
                    }
                }
            }
            let Some((replica, deadline, status)) = waiting else {
                return Ok(());
            };
            if now.duration_since(begun) >= deadline {
                let service = replica.name.split('.').next().unwrap_or(&replica.name);
                let state = status.map_or(String::new(), |r| {
                    let exit = r
                        .last_exit
                        .as_deref()
                        .map(|e| format!(", last exit: {e}"))
                        .unwrap_or_default();
                    format!(" (it is {}{exit})", r.state.as_str())
                });
                let filter = LogFilter {
                    name: Some(replica.name.clone()),
                };
                let log_tail = self
                    .logs()
                    .tail(&filter, LOG_TAIL_LINES)
                    .iter()
                    .map(|l| l.heroku_format())
                    .collect();
                return Err(RolloutFailure {
                    service: service.to_string(),
                    reason: format!(
                        "canary {} was not ready within {deadline:?} (progress deadline){state}",
                        replica.name
                    ),
                    replica: Some(replica.name.clone()),
                    log_tail,
                });
            }
            tokio::select! {
                changed = board.changed() => if changed.is_err() {
                    return Err(RolloutFailure {
                        service: String::new(),
                        reason: "the supervisor has shut down".into(),
                        replica: None,
                        log_tail: Vec::new(),
                    });
                },
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }
}
