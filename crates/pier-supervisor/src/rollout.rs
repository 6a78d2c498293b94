//! Rolling a release out, service by service in parallel, as a Kubernetes Deployment controller
//! does: start new replicas within `max_surge`, count them once ready for `min_ready`, stop old
//! ones (drain first, then SIGTERM) while at least desired − `max_unavailable` stay available,
//! and fail when no progress was made for `progress_deadline`. A failed rollout is reverted the
//! same way, towards the release that ran before, so the previous formation is restored
//! before the new replicas are stopped. Every step is an event.
//!
//! The arithmetic is in `rollout_plan.rs`; this module only observes the status board and
//! orders the supervisor.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pier_spec::Rollout;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::events::{EventKind, SupervisorEvent};
use crate::logs::{LogFilter, LogStream};
use crate::rollout_plan::{self, Limits, Seen};
use crate::status::{ReplicaState, ReplicaStatus};
use crate::supervisor::{RunRelease, SupervisorError, SupervisorHandle};

/// Log lines of the failing replica a failure carries.
const LOG_TAIL_LINES: usize = 20;
/// How long a revert may take at least, whatever the deadline of the failed rollout.
const MIN_REVERT_DEADLINE: Duration = Duration::from_secs(60);
/// Re-examines the board this often even when nothing is reported.
const TICK: Duration = Duration::from_millis(500);

/// Where a rollout's step messages go besides the event log (the CLI of `pier deploy`).
pub type ProgressSink = mpsc::UnboundedSender<String>;

/// Why a rollout failed; the previous release was restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RolloutFailure {
    pub service: String,
    pub reason: String,
    /// The replica that did not become available, if one was found.
    pub replica: Option<String>,
    /// Its last log lines.
    pub log_tail: Vec<String>,
}

impl SupervisorHandle {
    /// Replaces every replica with one of `release`, at `formation`'s counts (services not
    /// named use the release's manifest counts); services the release no longer has are
    /// stopped. On failure the replicas of the release that ran before are restored to the
    /// count they had, then the new ones are stopped.
    pub async fn rollout(
        &self,
        release: RunRelease,
        formation: &BTreeMap<String, u32>,
        progress: Option<ProgressSink>,
    ) -> Result<(), RolloutFailure> {
        let shut_down = |e: SupervisorError| failure("", e.to_string());
        let from = self.current_release().await.map_err(shut_down)?;
        let to = Arc::new(release);
        let before = self.counts_of(from.version);
        let plans = plans(&to, formation, &self.status());
        let result = self.roll_all(&to, &plans, progress.as_ref()).await;
        match result {
            Ok(()) => {
                self.set_current(to).await.map_err(shut_down)?;
                Ok(())
            }
            Err(failed) => {
                let back = revert_plans(&from, &before, &self.status());
                self.note(
                    progress.as_ref(),
                    EventKind::RolloutFailed,
                    &failed.service,
                    format!("{}; restoring v{}", failed.reason, from.version),
                );
                let _ = self.roll_all(&from, &back, progress.as_ref()).await;
                Err(failed)
            }
        }
    }

    async fn roll_all(
        &self,
        to: &Arc<RunRelease>,
        plans: &[ServicePlan],
        progress: Option<&ProgressSink>,
    ) -> Result<(), RolloutFailure> {
        let runs = plans
            .iter()
            .map(|plan| self.roll_service(to.clone(), plan, progress));
        let results = futures_util::future::join_all(runs).await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }

    /// Converges one service to `plan.desired` available replicas of `to` and none other.
    async fn roll_service(
        &self,
        to: Arc<RunRelease>,
        plan: &ServicePlan,
        progress: Option<&ProgressSink>,
    ) -> Result<(), RolloutFailure> {
        let service = plan.service.as_str();
        let limits = plan.limits();
        self.note(
            progress,
            EventKind::RolloutStarted,
            service,
            format!(
                "rolling {service} to v{}: {} replica(s), max surge {}, max unavailable {}, \
                 min ready {:?}, progress deadline {:?}",
                to.version,
                limits.desired,
                limits.surge,
                limits.unavailable,
                plan.rollout.min_ready,
                plan.rollout.progress_deadline
            ),
        );
        let mut board = self.watch_status();
        let mut tracker = Tracker::new(to.version, plan.rollout.min_ready);
        let mut last_progress = Instant::now();
        loop {
            let now = Instant::now();
            let seen = tracker.observe(service, &board.borrow_and_update(), now);
            if rollout_plan::done(&limits, &seen) {
                self.note(
                    progress,
                    EventKind::RolloutCompleted,
                    service,
                    format!(
                        "{service} runs v{}: {} replica(s) available",
                        to.version, limits.desired
                    ),
                );
                return Ok(());
            }
            let step = rollout_plan::step(&limits, &seen);
            let mut moved = tracker.newly_available > 0;
            for _ in 0..step.start {
                let started = self.start_replica(service, to.clone()).await;
                let started = started.map_err(|e| failure(service, e.to_string()))?;
                tracker.started.push(started.name);
                moved = true;
            }
            for id in &step.stop {
                self.stop_replica(*id)
                    .await
                    .map_err(|e| failure(service, e.to_string()))?;
                tracker.stopped.insert(*id);
                moved = true;
            }
            if moved {
                last_progress = now;
                let after = tracker.observe(service, &board.borrow(), now);
                self.note(
                    progress,
                    EventKind::RolloutProgress,
                    service,
                    describe(service, to.version, &after, &limits),
                );
            }
            let deadline = last_progress + plan.rollout.progress_deadline;
            if now >= deadline {
                return Err(self.deadline_failure(service, &to, &tracker, plan, &seen));
            }
            let wake = tracker
                .next_available_at()
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                changed = board.changed() => if changed.is_err() {
                    return Err(failure(service, "the supervisor has shut down".into()));
                },
                _ = tokio::time::sleep_until(wake.min(now + TICK)) => {}
            }
        }
    }

    fn deadline_failure(
        &self,
        service: &str,
        to: &RunRelease,
        tracker: &Tracker,
        plan: &ServicePlan,
        seen: &[Seen],
    ) -> RolloutFailure {
        let available = seen.iter().filter(|r| r.new && r.available).count();
        let board = self.status();
        let stuck = board
            .iter()
            .filter(|r| r.service == service && r.release == to.version)
            .filter(|r| !tracker.stopped.contains(&r.id))
            .find(|r| !r.ready)
            .or_else(|| board.iter().find(|r| tracker.started.contains(&r.name)));
        let replica = stuck.map(|r| r.name.clone());
        let log_tail = replica.as_ref().map_or_else(Vec::new, |name| {
            let filter = LogFilter {
                name: Some(name.clone()),
            };
            self.logs()
                .tail(&filter, LOG_TAIL_LINES)
                .iter()
                .map(|l| l.heroku_format())
                .collect()
        });
        let state = stuck.map_or(String::new(), |r| {
            let exit = r
                .last_exit
                .as_deref()
                .map(|e| format!(", last exit: {e}"))
                .unwrap_or_default();
            format!(" ({} is {}{exit})", r.name, r.state.as_str())
        });
        let reason = format!(
            "{service}: v{} made no progress for {:?} (progress deadline): {available} of {} new \
             replica(s) available{state}",
            to.version, plan.rollout.progress_deadline, plan.desired
        );
        RolloutFailure {
            service: service.to_string(),
            reason,
            replica,
            log_tail,
        }
    }

    /// Replicas of `version` per service, now.
    fn counts_of(&self, version: u32) -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for r in self
            .status()
            .iter()
            .filter(|r| r.release == version && !leaving(r))
        {
            *counts.entry(r.service.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// An event (and a log line, and a progress message) about a service's rollout or canary.
    pub(crate) fn note(
        &self,
        progress: Option<&ProgressSink>,
        kind: EventKind,
        service: &str,
        text: String,
    ) {
        if let Some(sink) = progress {
            let _ = sink.send(text.clone());
        }
        self.logs().push("pier", LogStream::System, text.clone());
        let _ = self.events.send(SupervisorEvent {
            at: SystemTime::now(),
            kind,
            subject: service.to_string(),
            message: text,
        });
    }
}

/// One service's part of a rollout.
struct ServicePlan {
    service: String,
    desired: u32,
    rollout: Rollout,
}

impl ServicePlan {
    fn limits(&self) -> Limits {
        let (surge, unavailable) = self.rollout.resolve(self.desired);
        Limits {
            desired: self.desired,
            surge,
            unavailable,
        }
    }
}

/// Every service of `to` at its desired count, and every other running service at zero.
fn plans(
    to: &RunRelease,
    formation: &BTreeMap<String, u32>,
    board: &[ReplicaStatus],
) -> Vec<ServicePlan> {
    let mut plans: Vec<ServicePlan> = to
        .manifest
        .services
        .values()
        .map(|s| ServicePlan {
            service: s.name.clone(),
            desired: formation.get(&s.name).copied().unwrap_or(s.replicas),
            rollout: s.rollout,
        })
        .collect();
    let gone: HashSet<&str> = board
        .iter()
        .map(|r| r.service.as_str())
        .filter(|s| !to.manifest.services.contains_key(*s))
        .collect();
    plans.extend(gone.into_iter().map(|s| ServicePlan {
        service: s.to_string(),
        desired: 0,
        rollout: Rollout::default(),
    }));
    plans
}

/// Back to `from` at the counts it had, with a deadline long enough to restore it.
fn revert_plans(
    from: &RunRelease,
    before: &BTreeMap<String, u32>,
    board: &[ReplicaStatus],
) -> Vec<ServicePlan> {
    let mut plans = plans(from, before, board);
    for plan in &mut plans {
        plan.desired = before.get(&plan.service).copied().unwrap_or(0);
        plan.rollout.progress_deadline = plan.rollout.progress_deadline.max(MIN_REVERT_DEADLINE);
    }
    plans
}

/// What the controller remembers between looks at the board.
struct Tracker {
    version: u32,
    min_ready: Duration,
    /// When each replica was first seen ready (cleared when it is seen not ready).
    ready_since: HashMap<u64, Instant>,
    available: HashSet<u64>,
    /// Replicas that became available at the last look.
    newly_available: usize,
    /// Replicas this rollout ordered stopped (the board may not show it yet).
    stopped: HashSet<u64>,
    started: Vec<String>,
}

impl Tracker {
    fn new(version: u32, min_ready: Duration) -> Self {
        Tracker {
            version,
            min_ready,
            ready_since: HashMap::new(),
            available: HashSet::new(),
            newly_available: 0,
            stopped: HashSet::new(),
            started: Vec::new(),
        }
    }

    fn observe(&mut self, service: &str, board: &[ReplicaStatus], now: Instant) -> Vec<Seen> {
        let mut seen = Vec::new();
        let mut available = HashSet::new();
        for r in board.iter().filter(|r| r.service == service && !leaving(r)) {
            if self.stopped.contains(&r.id) {
                continue;
            }
            let new = r.release == self.version;
            let ready = r.ready && r.state == ReplicaState::Running;
            if ready {
                self.ready_since.entry(r.id).or_insert(now);
            } else {
                self.ready_since.remove(&r.id);
            }
            let since = self.ready_since.get(&r.id).copied();
            let is_available =
                ready && (!new || since.is_some_and(|t| now.duration_since(t) >= self.min_ready));
            if is_available && new {
                available.insert(r.id);
            }
            seen.push(Seen {
                id: r.id,
                new,
                ready,
                available: is_available,
            });
        }
        self.newly_available = available.difference(&self.available).count();
        self.available = available;
        seen
    }

    /// When the next ready new replica becomes available.
    fn next_available_at(&self) -> Option<Instant> {
        self.ready_since
            .iter()
            .filter(|(id, _)| !self.available.contains(id))
            .map(|(_, since)| *since + self.min_ready)
            .min()
    }
}

fn leaving(r: &ReplicaStatus) -> bool {
    matches!(r.state, ReplicaState::Stopping | ReplicaState::Stopped)
}

fn describe(service: &str, version: u32, seen: &[Seen], limits: &Limits) -> String {
    let new_total = seen.iter().filter(|r| r.new).count();
    let new_available = seen.iter().filter(|r| r.new && r.available).count();
    let old = seen.iter().filter(|r| !r.new).count();
    let ready = seen.iter().filter(|r| r.ready).count();
    format!(
        "{service}: v{version} {new_available}/{} available ({new_total} started), {old} old; \
         ready {ready}, minimum {}",
        limits.desired,
        limits.min_available()
    )
}

fn failure(service: &str, reason: String) -> RolloutFailure {
    RolloutFailure {
        service: service.to_string(),
        reason,
        replica: None,
        log_tail: Vec::new(),
    }
}
