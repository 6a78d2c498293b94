//! The scheduler actor: owns the jobs, their queues of claimed slots and their running
//! processes; takes and renews the lease; claims each slot in the ledger (committed) before it
//! starts the slot's process; records every slot that does not run with its reason; enforces
//! timeouts, the concurrency policy and retries; publishes a status snapshot. Callers hold a
//! [`SchedulerHandle`].
//!
//! One loop: sleep until the next slot, retry, timeout or lease renewal (or a command, or a
//! process ending), then tick. A tick that finds the wall clock moved further than monotonic
//! time since the last tick — the clock was stepped forward — treats the slots in between as
//! downtime, as it does right after taking the lease. A clock stepped back finds nothing due
//! until it passes the cursor again, so no slot runs twice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pier_spec::Concurrency;
use pier_state::{Claim, JobRun, NewEvent, NewSlotRun, RunState, RunTrigger, State, StateError};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::definition::JobDefinition;
use crate::holder;
use crate::metrics::SchedulerMetrics;
use crate::policy::{self, CatchUpPolicy, Decision, MissReason, Planned};
use crate::runner::{RunExit, RunRequest, Runner, RunningJob};
use crate::slots::Slots;

/// How long a lease lasts without renewal (renewed every third of it).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);
/// SIGTERM-to-SIGKILL grace for a run stopped by a timeout, a replacement or shutdown.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// Wall time running this much ahead of monotonic time between two ticks means the wall
/// clock was stepped forward.
const JUMP_THRESHOLD: SignedDuration = SignedDuration::from_secs(5);
/// How often a scheduler without the lease looks at it.
const FOLLOWER_POLL: SignedDuration = SignedDuration::from_secs(1);
/// The longest sleep when nothing is planned.
const IDLE_WAKE: SignedDuration = SignedDuration::from_secs(3600);

/// Everything a scheduler starts with.
pub struct SchedulerConfig {
    pub state: State,
    pub clock: Arc<dyn Clock>,
    pub runner: Arc<dyn Runner>,
    pub metrics: SchedulerMetrics,
    /// The manifest's jobs.
    pub jobs: BTreeMap<String, JobDefinition>,
    pub lease_ttl: Duration,
    pub stop_grace: Duration,
    /// This scheduler's name in the lease.
    pub holder: String,
}

impl SchedulerConfig {
    /// A configuration with the default lease, grace and a holder name for this process.
    pub fn new(
        state: State,
        clock: Arc<dyn Clock>,
        runner: Arc<dyn Runner>,
        metrics: SchedulerMetrics,
        jobs: BTreeMap<String, JobDefinition>,
    ) -> SchedulerConfig {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let nonce = format!("{:x}", nanos as u64);
        SchedulerConfig {
            state,
            clock,
            runner,
            metrics,
            jobs,
            lease_ttl: DEFAULT_LEASE_TTL,
            stop_grace: DEFAULT_STOP_GRACE,
            holder: holder::this_process(&nonce),
        }
    }
}

/// What can go wrong asking the scheduler for something.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("no job named `{0}`; `pier jobs` lists them")]
    UnknownJob(String),
    #[error("job `{job}`: {message}")]
    InvalidJob { job: String, message: String },
    #[error("the scheduler has stopped")]
    Stopped,
    #[error(transparent)]
    State(#[from] StateError),
}

/// A snapshot of the scheduler for `pier jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerStatus {
    /// Whether this daemon holds the lease and so runs the schedule.
    pub leader: bool,
    pub holder: String,
    /// The clock's time at the scheduler's last look (Unix ms).
    pub last_tick_ms: i64,
    pub jobs: Vec<JobStatus>,
}

/// One job in [`SchedulerStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatus {
    pub name: String,
    pub schedule: String,
    pub timezone: String,
    pub command: String,
    pub version: u32,
    pub enabled: bool,
    /// `manifest` or `cli` when disabled.
    pub disabled_by: Option<String>,
    /// The next slot (Unix ms), if the schedule fires again.
    pub next_slot_ms: Option<i64>,
    /// Run ids of the runs in progress.
    pub running: Vec<String>,
}

enum Command {
    RunNow {
        job: String,
        reply: oneshot::Sender<Result<JobRun, SchedulerError>>,
    },
    SetEnabled {
        job: String,
        enabled: bool,
        reply: oneshot::Sender<Result<(), SchedulerError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Commands the scheduler; cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<SchedulerStatus>,
}

impl SchedulerHandle {
    /// Starts a manual run of `job` now; it has its own run id and neither consumes nor
    /// blocks a slot.
    pub async fn run_now(&self, job: &str) -> Result<JobRun, SchedulerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::RunNow {
            job: job.to_string(),
            reply,
        })?;
        answer.await.map_err(|_| SchedulerError::Stopped)?
    }

    /// Enables or disables `job` (kept in state; overrides the manifest's `enabled`).
    pub async fn set_enabled(&self, job: &str, enabled: bool) -> Result<(), SchedulerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SetEnabled {
            job: job.to_string(),
            enabled,
            reply,
        })?;
        answer.await.map_err(|_| SchedulerError::Stopped)?
    }

    /// Stops the scheduler: running jobs get SIGTERM (then SIGKILL after the grace period)
    /// and are recorded as stopped; the lease is given up.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self.send(Command::Shutdown { reply }).is_ok() {
            let _ = answer.await;
        }
    }

    pub fn status(&self) -> SchedulerStatus {
        self.status.borrow().clone()
    }

    pub fn watch_status(&self) -> watch::Receiver<SchedulerStatus> {
        self.status.clone()
    }

    fn send(&self, command: Command) -> Result<(), SchedulerError> {
        self.commands
            .send(command)
            .map_err(|_| SchedulerError::Stopped)
    }
}

struct JobEntry {
    name: String,
    def: JobDefinition,
    version: u32,
    slots: Slots,
    enabled_override: Option<bool>,
    cursor: Option<Timestamp>,
    queue: VecDeque<Queued>,
}

impl JobEntry {
    fn enabled(&self) -> bool {
        self.enabled_override.unwrap_or(self.def.enabled)
    }
}

/// A claimed slot (or retry) waiting to start.
#[derive(Debug, Clone)]
struct Queued {
    id: i64,
    run_id: String,
    slot: Timestamp,
    attempt: u32,
    not_before: Option<Timestamp>,
    trigger: RunTrigger,
}

enum StopReason {
    Timeout,
    Replaced(String),
    Shutdown,
}

struct Active {
    job: String,
    run_id: String,
    slot: Timestamp,
    trigger: RunTrigger,
    attempt: u32,
    started: Timestamp,
    deadline: Option<Timestamp>,
    stop: mpsc::UnboundedSender<()>,
    stop_reason: Option<StopReason>,
}

/// The actor. Build with [`Scheduler::new`], drive with [`Scheduler::run`].
pub struct Scheduler {
    state: State,
    clock: Arc<dyn Clock>,
    runner: Arc<dyn Runner>,
    metrics: SchedulerMetrics,
    lease_ttl: Duration,
    stop_grace: Duration,
    holder: String,
    jobs: BTreeMap<String, JobEntry>,
    active: HashMap<i64, Active>,
    leader: bool,
    /// When to look at the lease next.
    lease_check_at: Timestamp,
    /// Wall and monotonic time at the last tick, to notice a stepped wall clock.
    last_tick: Option<(Timestamp, Duration)>,
    commands: mpsc::UnboundedReceiver<Command>,
    done_tx: mpsc::UnboundedSender<(i64, RunExit)>,
    done_rx: mpsc::UnboundedReceiver<(i64, RunExit)>,
    status: watch::Sender<SchedulerStatus>,
}

impl Scheduler {
    /// Registers the manifest's jobs in the store (a changed definition is a new version) and
    /// builds the actor. Fails, changing nothing, if a job's schedule cannot be used.
    pub fn new(config: SchedulerConfig) -> Result<(Scheduler, SchedulerHandle), SchedulerError> {
        let mut slots = BTreeMap::new();
        for (name, def) in &config.jobs {
            let s = def.slots().map_err(|message| SchedulerError::InvalidJob {
                job: name.clone(),
                message,
            })?;
            slots.insert(name.clone(), s);
        }
        let definitions: Vec<(String, String)> = config
            .jobs
            .iter()
            .map(|(name, def)| (name.clone(), def.to_json()))
            .collect();
        let records = config.state.register_jobs(&definitions)?;
        let mut jobs = BTreeMap::new();
        for record in records.into_iter().filter(|r| r.in_manifest) {
            let Some(def) = config.jobs.get(&record.job) else {
                continue;
            };
            jobs.insert(
                record.job.clone(),
                JobEntry {
                    name: record.job.clone(),
                    def: def.clone(),
                    version: record.version,
                    slots: slots
                        .remove(&record.job)
                        .expect("slots built for every job"),
                    enabled_override: record.enabled_override,
                    cursor: record.cursor_ms.and_then(from_ms),
                    queue: VecDeque::new(),
                },
            );
        }
        for name in jobs.keys() {
            if let Some(finished_ms) = config
                .state
                .last_job_run(name, &[RunState::Succeeded])?
                .and_then(|run| run.finished_at_ms)
            {
                config
                    .metrics
                    .succeeded_at(name, finished_ms as f64 / 1000.0);
            }
        }
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let now = config.clock.now();
        let scheduler = Scheduler {
            state: config.state,
            clock: config.clock,
            runner: config.runner,
            metrics: config.metrics,
            lease_ttl: config.lease_ttl,
            stop_grace: config.stop_grace,
            holder: config.holder.clone(),
            jobs,
            active: HashMap::new(),
            leader: false,
            lease_check_at: now,
            last_tick: None,
            commands,
            done_tx,
            done_rx,
            status: watch::Sender::new(SchedulerStatus {
                leader: false,
                holder: config.holder,
                last_tick_ms: 0,
                jobs: Vec::new(),
            }),
        };
        let handle = SchedulerHandle {
            commands: commands_tx,
            status: scheduler.status.subscribe(),
        };
        Ok((scheduler, handle))
    }

    /// Runs until [`SchedulerHandle::shutdown`] (or every handle is dropped).
    pub async fn run(mut self) {
        let mut shutdown_reply = None;
        loop {
            let now = self.clock.now();
            self.tick(now);
            let wake = self.next_wake(self.clock.now());
            let sleep = self.clock.sleep_until(wake);
            tokio::select! {
                _ = sleep => {}
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    None => break,
                    Some(command) => self.command(command),
                },
                Some((id, exit)) = self.done_rx.recv() => self.finish(id, exit),
            }
        }
        self.stop_everything().await;
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn tick(&mut self, now: Timestamp) {
        let elapsed = self.clock.elapsed();
        let jumped = self.last_tick.is_some_and(|(wall, mono)| {
            let wall_moved = now.duration_since(wall);
            let time_passed = signed(elapsed.saturating_sub(mono));
            wall_moved - time_passed > JUMP_THRESHOLD
        });
        self.last_tick = Some((now, elapsed));
        let became_leader = self.check_lease(now);
        if self.leader {
            let catching_up = became_leader || jumped;
            let names: Vec<String> = self.jobs.keys().cloned().collect();
            for name in &names {
                self.record_due(name, now, catching_up);
            }
            for name in &names {
                self.start_ready(name, now);
            }
        }
        self.enforce_timeouts(now);
        self.publish(now);
    }

    /// Takes or renews the lease when due; true if this scheduler has just become leader.
    fn check_lease(&mut self, now: Timestamp) -> bool {
        if now < self.lease_check_at {
            return false;
        }
        let now_ms = now.as_millisecond();
        let ttl_ms = i64::try_from(self.lease_ttl.as_millis()).unwrap_or(i64::MAX);
        let result = self.state.scheduler_lease().and_then(|current| {
            let steal = current
                .filter(|l| {
                    l.holder != self.holder
                        && l.expires_at_ms > now_ms
                        && holder::is_dead(&l.holder)
                })
                .map(|l| l.holder);
            self.state
                .take_scheduler_lease(&self.holder, now_ms, ttl_ms, steal.as_deref())
        });
        let lease = match result {
            Ok(lease) => lease,
            Err(error) => {
                tracing::error!(%error, "cannot take or renew the scheduler lease");
                self.lease_check_at = now + FOLLOWER_POLL;
                return false;
            }
        };
        let was_leader = self.leader;
        self.leader = lease.holder == self.holder;
        if self.leader {
            self.lease_check_at = now + signed(self.lease_ttl / 3);
        } else {
            let expiry = from_ms(lease.expires_at_ms).unwrap_or(now);
            self.lease_check_at = (now + FOLLOWER_POLL).min(expiry.max(now));
            if was_leader {
                tracing::warn!(holder = %lease.holder, "lost the scheduler lease");
                for job in self.jobs.values_mut() {
                    job.queue.clear();
                }
            }
        }
        if self.leader && !was_leader {
            self.take_over(now);
            return true;
        }
        false
    }

    /// Reconciles the ledger after taking the lease: runs another daemon left running are
    /// lost, claimed slots it never started are adopted, cursors are re-read.
    fn take_over(&mut self, now: Timestamp) {
        let reason = "the daemon running it stopped (killed or crashed) before it finished; \
                      its process was stopped with it, outcome unknown";
        let (lost, adopted) =
            match self
                .state
                .adopt_open_runs(&self.holder, now.as_millisecond(), reason)
            {
                Ok(runs) => runs,
                Err(error) => {
                    tracing::error!(%error, "cannot reconcile the job ledger");
                    return;
                }
            };
        let mut events = Vec::new();
        for run in &lost {
            self.metrics.run_ended(&run.job, "lost", None);
            events.push(event(
                now,
                "job.lost",
                &run.job,
                format!("run {} was lost: {reason}", run.run_id),
            ));
        }
        self.append_events(&events);
        match self.state.job_records() {
            Ok(records) => {
                for record in records {
                    if let Some(job) = self.jobs.get_mut(&record.job) {
                        job.cursor = record.cursor_ms.and_then(from_ms);
                        job.enabled_override = record.enabled_override;
                        job.queue.clear();
                    }
                }
            }
            Err(error) => tracing::error!(%error, "cannot read jobs"),
        }
        for run in adopted {
            if self.active.contains_key(&run.id) {
                continue;
            }
            if !self.jobs.contains_key(&run.job) {
                let reason = "the job is no longer in the manifest";
                self.record_final(run.id, RunState::Missed, reason, None, now);
                continue;
            }
            if let (Some(job), Some(slot)) =
                (self.jobs.get_mut(&run.job), run.slot_ms.and_then(from_ms))
            {
                job.queue.push_back(Queued {
                    id: run.id,
                    run_id: run.run_id,
                    slot,
                    attempt: run.attempt.max(1) + u32::from(run.started_at_ms.is_some()),
                    not_before: run.not_before_ms.and_then(from_ms),
                    trigger: run.trigger,
                });
            }
        }
    }

    /// Writes a ledger row for every slot of `name` in (cursor, now] and queues those to run.
    fn record_due(&mut self, name: &str, now: Timestamp, catching_up: bool) {
        let job = self.jobs.get(name).expect("known job");
        let Some(cursor) = job.cursor else {
            // A job seen for the first time starts with its next slot.
            self.claim(name, now, Vec::new(), false);
            return;
        };
        if now <= cursor {
            return;
        }
        let policy = CatchUpPolicy {
            catch_up: job.def.catch_up(),
            max_catch_up: job.def.max_catch_up,
            starting_deadline: job.def.starting_deadline(),
            enabled: job.enabled(),
        };
        let planned = if catching_up {
            policy::plan_backlog(&job.slots, cursor, now, policy)
        } else {
            let forbid = job.def.concurrency() == Concurrency::Forbid;
            let mut busy = self.scheduled_busy(name);
            job.slots
                .between(cursor, now)
                .map(|slot| {
                    let decision = if !policy.enabled {
                        Decision::Miss(MissReason::Suspended)
                    } else if policy::past_deadline(slot, now, policy.starting_deadline) {
                        Decision::Miss(MissReason::Deadline)
                    } else if forbid && busy {
                        Decision::Miss(MissReason::Concurrency)
                    } else {
                        busy = true;
                        Decision::Run
                    };
                    Planned {
                        slot,
                        covers: 1,
                        until: None,
                        decision,
                    }
                })
                .collect()
        };
        if planned.is_empty() {
            return;
        }
        self.claim(name, now, planned, catching_up);
    }

    /// Claims planned slots in one transaction and queues the runnable ones.
    fn claim(&mut self, name: &str, now: Timestamp, planned: Vec<Planned>, catching_up: bool) {
        let job = self.jobs.get(name).expect("known job");
        let trigger = if catching_up {
            RunTrigger::CatchUp
        } else {
            RunTrigger::Schedule
        };
        let rows: Vec<NewSlotRun> = planned
            .iter()
            .map(|p| {
                let (state, reason) = match p.decision {
                    Decision::Run => (RunState::Scheduled, None),
                    Decision::Miss(why) => (
                        match why {
                            MissReason::Concurrency => RunState::Skipped,
                            MissReason::Suspended => RunState::Suspended,
                            _ => RunState::Missed,
                        },
                        Some(why.describe(job.def.max_catch_up, job.def.starting_deadline())),
                    ),
                };
                NewSlotRun {
                    run_id: match p.until {
                        Some(until) => format!("{name}@{}..{until}", p.slot),
                        None => run_id(name, p.slot),
                    },
                    slot_ms: p.slot.as_millisecond(),
                    covers: p.covers,
                    covers_until_ms: p.until.map(|u| u.as_millisecond()),
                    trigger,
                    state,
                    reason,
                }
            })
            .collect();
        let claimed = self.state.claim_slots(
            &self.holder,
            now.as_millisecond(),
            name,
            job.version,
            &rows,
            now.as_millisecond(),
        );
        let written = match claimed {
            Ok(Claim::Written(written)) => written,
            Ok(Claim::NotLeaseHolder) => {
                tracing::warn!("the scheduler lease was taken over; not claiming slots");
                self.leader = false;
                self.lease_check_at = now;
                return;
            }
            Err(error) => {
                tracing::error!(%error, job = name, "cannot claim job slots; will retry");
                return;
            }
        };
        let job = self.jobs.get_mut(name).expect("known job");
        job.cursor = Some(now);
        let mut missed: BTreeMap<&'static str, (u64, Timestamp, Timestamp, String)> =
            BTreeMap::new();
        for (plan, run) in planned.iter().zip(written) {
            let Some(run) = run else {
                continue;
            };
            match plan.decision {
                Decision::Run => job.queue.push_back(Queued {
                    id: run.id,
                    run_id: run.run_id,
                    slot: plan.slot,
                    attempt: 1,
                    not_before: None,
                    trigger,
                }),
                Decision::Miss(why) => {
                    self.metrics.missed(name, why.code(), plan.covers);
                    let last = plan.until.unwrap_or(plan.slot);
                    let entry = missed.entry(why.code()).or_insert((
                        0,
                        plan.slot,
                        last,
                        run.reason.clone().unwrap_or_default(),
                    ));
                    entry.0 += plan.covers;
                    entry.2 = last;
                }
            }
        }
        let events: Vec<NewEvent> = missed
            .into_iter()
            .filter(|(code, _)| *code != MissReason::Suspended.code())
            .map(|(_, (count, first, last, reason))| {
                let what = if count == 1 {
                    format!("slot {first} did not run")
                } else {
                    format!("{count} slots from {first} to {last} did not run")
                };
                event(now, "job.missed", name, format!("{what}: {reason}"))
            })
            .collect();
        self.append_events(&events);
    }

    /// Whether a scheduled (not manual) run of `name` is running or waiting.
    fn scheduled_busy(&self, name: &str) -> bool {
        self.jobs.get(name).is_some_and(|j| !j.queue.is_empty())
            || self
                .active
                .values()
                .any(|a| a.job == name && a.trigger != RunTrigger::Manual)
    }

    /// Starts the queued runs of `name` that may start now.
    fn start_ready(&mut self, name: &str, now: Timestamp) {
        loop {
            let job = self.jobs.get(name).expect("known job");
            let Some(next) = job.queue.front().cloned() else {
                return;
            };
            if next.not_before.is_some_and(|t| t > now) {
                return;
            }
            let deadline = job.def.starting_deadline();
            if next.attempt == 1 && policy::past_deadline(next.slot, now, deadline) {
                self.jobs
                    .get_mut(name)
                    .expect("known job")
                    .queue
                    .pop_front();
                let reason = MissReason::Deadline.describe(0, deadline);
                self.record_final(next.id, RunState::Missed, &reason, None, now);
                self.metrics.missed(name, MissReason::Deadline.code(), 1);
                self.append_events(&[event(
                    now,
                    "job.missed",
                    name,
                    format!("slot {} did not run: {reason}", next.slot),
                )]);
                continue;
            }
            let running: Vec<i64> = self
                .active
                .iter()
                .filter(|(_, a)| a.job == name && a.trigger != RunTrigger::Manual)
                .map(|(id, _)| *id)
                .collect();
            if !running.is_empty() {
                match job.def.concurrency() {
                    Concurrency::Allow => {}
                    Concurrency::Replace
                        if next.trigger == RunTrigger::Schedule && next.attempt == 1 =>
                    {
                        for id in running {
                            self.stop_run(id, StopReason::Replaced(next.run_id.clone()));
                        }
                    }
                    // Catch-up slots and retries wait for their turn.
                    _ => return,
                }
            }
            self.jobs
                .get_mut(name)
                .expect("known job")
                .queue
                .pop_front();
            self.start(name, next, now);
        }
    }

    fn start(&mut self, name: &str, queued: Queued, now: Timestamp) {
        let job = self.jobs.get(name).expect("known job");
        match self.state.start_run(
            &self.holder,
            now.as_millisecond(),
            queued.id,
            queued.attempt,
        ) {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::error!(%error, job = name, "cannot record a run's start; will retry");
                self.jobs
                    .get_mut(name)
                    .expect("known job")
                    .queue
                    .push_front(queued);
                return;
            }
        }
        if queued.attempt == 1 {
            self.metrics
                .started_late_by(now.duration_since(queued.slot).as_secs_f64());
        }
        let request = RunRequest {
            job: name.to_string(),
            run_id: queued.run_id.clone(),
            command: job.def.command.clone(),
            scheduled_at: queued.slot,
            attempt: queued.attempt,
            version: job.version,
        };
        let timeout = job.def.timeout();
        self.launch(queued.id, request, queued.trigger, timeout, now);
    }

    /// Starts the process of a run already recorded as running.
    fn launch(
        &mut self,
        id: i64,
        request: RunRequest,
        trigger: RunTrigger,
        timeout: Option<Duration>,
        now: Timestamp,
    ) {
        match self.runner.start(&request) {
            Ok(process) => {
                let stop = spawn_run(process, id, self.stop_grace, self.done_tx.clone());
                self.active.insert(
                    id,
                    Active {
                        job: request.job,
                        run_id: request.run_id,
                        slot: request.scheduled_at,
                        trigger,
                        attempt: request.attempt,
                        started: now,
                        deadline: timeout.map(|t| now + signed(t)),
                        stop,
                        stop_reason: None,
                    },
                );
            }
            Err(reason) => {
                self.record_final(id, RunState::Failed, &reason, None, now);
                self.metrics.run_ended(&request.job, "failed", None);
                self.append_events(&[event(
                    now,
                    "job.failed",
                    &request.job,
                    format!("run {} failed to start: {reason}", request.run_id),
                )]);
            }
        }
    }

    fn enforce_timeouts(&mut self, now: Timestamp) {
        let expired: Vec<i64> = self
            .active
            .iter()
            .filter(|(_, a)| a.stop_reason.is_none() && a.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.stop_run(id, StopReason::Timeout);
        }
    }

    fn stop_run(&mut self, id: i64, reason: StopReason) {
        if let Some(active) = self.active.get_mut(&id)
            && active.stop_reason.is_none()
        {
            active.stop_reason = Some(reason);
            let _ = active.stop.send(());
        }
    }

    /// Records how a run ended, and retries it if its job says so.
    fn finish(&mut self, id: i64, exit: RunExit) {
        let Some(active) = self.active.remove(&id) else {
            return;
        };
        let now = self.clock.now();
        let took = now.duration_since(active.started).as_secs_f64().max(0.0);
        let (state, reason) = match &active.stop_reason {
            Some(StopReason::Timeout) => {
                let timeout = self
                    .jobs
                    .get(&active.job)
                    .and_then(|j| j.def.timeout())
                    .map(pier_spec::format_duration)
                    .unwrap_or_default();
                (
                    RunState::TimedOut,
                    Some(format!(
                        "ran longer than timeout = {timeout}; {}",
                        exit.description
                    )),
                )
            }
            Some(StopReason::Replaced(by)) => (
                RunState::Failed,
                Some(format!(
                    "replaced by run {by} (concurrency = \"replace\"); {}",
                    exit.description
                )),
            ),
            Some(StopReason::Shutdown) => (
                RunState::Failed,
                Some(format!(
                    "stopped because pier shut down; {}",
                    exit.description
                )),
            ),
            None if exit.success() => (RunState::Succeeded, None),
            None => (RunState::Failed, Some(exit.description.clone())),
        };
        self.metrics
            .run_ended(&active.job, state.as_str(), Some(took));
        self.runner.finished(
            &active.job,
            &format!(
                "run {} {} after {took:.1}s{}",
                active.run_id,
                state,
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        );
        if state == RunState::Succeeded {
            self.metrics
                .succeeded_at(&active.job, now.as_millisecond() as f64 / 1000.0);
            self.record_final(id, state, "", exit.code, now);
            return;
        }
        let reason = reason.unwrap_or_default();
        let retriable = matches!(active.stop_reason, None | Some(StopReason::Timeout))
            && active.trigger != RunTrigger::Manual;
        let job = self.jobs.get(&active.job);
        if let Some(job) = job.filter(|j| retriable && active.attempt <= j.def.retries) {
            let delay = job.def.retry_delay(active.attempt);
            let not_before = now + signed(delay);
            let message = format!(
                "run {} attempt {} of {} {state} ({reason}); retrying in {}",
                active.run_id,
                active.attempt,
                job.def.retries + 1,
                pier_spec::format_duration(delay)
            );
            match self.state.retry_run(
                id,
                &reason,
                not_before.as_millisecond(),
                now.as_millisecond(),
            ) {
                Ok(()) => {
                    self.append_events(&[event(now, "job.failed", &active.job, message)]);
                    let attempt = active.attempt + 1;
                    if let Some(job) = self.jobs.get_mut(&active.job) {
                        job.queue.push_back(Queued {
                            id,
                            run_id: active.run_id,
                            slot: active.slot,
                            attempt,
                            not_before: Some(not_before),
                            trigger: active.trigger,
                        });
                    }
                    return;
                }
                Err(error) => tracing::error!(%error, "cannot schedule a retry"),
            }
        }
        self.record_final(id, state, &reason, exit.code, now);
        let kind = if state == RunState::TimedOut {
            "job.timed_out"
        } else {
            "job.failed"
        };
        self.append_events(&[event(
            now,
            kind,
            &active.job,
            format!("run {} {state}: {reason}", active.run_id),
        )]);
    }

    fn command(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::RunNow { job, reply } => {
                let _ = reply.send(self.run_now(&job, now));
            }
            Command::SetEnabled {
                job,
                enabled,
                reply,
            } => {
                let was_enabled = self.jobs.get(&job).map(JobEntry::enabled);
                let result = match self.jobs.get_mut(&job) {
                    None => Err(SchedulerError::UnknownJob(job.clone())),
                    Some(entry) => self
                        .state
                        .set_job_enabled(&job, Some(enabled))
                        .map(|()| {
                            entry.enabled_override = Some(enabled);
                        })
                        .map_err(SchedulerError::from),
                };
                if result.is_ok() && enabled && was_enabled == Some(false) && self.leader {
                    self.catch_up_suspended(&job, now);
                }
                if result.is_ok() {
                    let verb = if enabled { "enabled" } else { "disabled" };
                    self.append_events(&[event(
                        now,
                        &format!("job.{verb}"),
                        &job,
                        format!("job {job} {verb}"),
                    )]);
                }
                let _ = reply.send(result);
            }
            Command::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    /// After `pier jobs enable`: the slots suspended while the job was disabled are a backlog
    /// like downtime's, handled by `catch_up` — `none` leaves them suspended, `latest` runs
    /// the newest, `all` up to `max_catch_up` of them (each within `starting_deadline`).
    fn catch_up_suspended(&mut self, name: &str, now: Timestamp) {
        let job = self.jobs.get(name).expect("known job");
        let keep = match job.def.catch_up() {
            pier_spec::CatchUp::None => return,
            pier_spec::CatchUp::Latest => 1,
            pier_spec::CatchUp::All => job.def.max_catch_up as usize,
        };
        let deadline = job.def.starting_deadline();
        let recent = match self.state.job_runs(name, keep, None) {
            Ok(runs) => runs,
            Err(error) => {
                tracing::error!(%error, job = name, "cannot read suspended slots");
                return;
            }
        };
        let mut ids: Vec<i64> = recent
            .iter()
            .take_while(|r| r.state == RunState::Suspended && r.covers == 1)
            .filter(|r| {
                r.slot_ms
                    .and_then(from_ms)
                    .is_some_and(|slot| !policy::past_deadline(slot, now, deadline))
            })
            .map(|r| r.id)
            .collect();
        ids.reverse();
        if ids.is_empty() {
            return;
        }
        let resumed = match self
            .state
            .resume_suspended(&self.holder, now.as_millisecond(), &ids)
        {
            Ok(resumed) => resumed,
            Err(error) => {
                tracing::error!(%error, job = name, "cannot resume suspended slots");
                return;
            }
        };
        let job = self.jobs.get_mut(name).expect("known job");
        for run in resumed {
            if let Some(slot) = run.slot_ms.and_then(from_ms) {
                job.queue.push_back(Queued {
                    id: run.id,
                    run_id: run.run_id,
                    slot,
                    attempt: 1,
                    not_before: None,
                    trigger: RunTrigger::CatchUp,
                });
            }
        }
        self.start_ready(name, now);
    }

    fn run_now(&mut self, name: &str, now: Timestamp) -> Result<JobRun, SchedulerError> {
        let job = self
            .jobs
            .get(name)
            .ok_or_else(|| SchedulerError::UnknownJob(name.to_string()))?;
        let run =
            self.state
                .create_manual_run(name, job.version, &self.holder, now.as_millisecond())?;
        let request = RunRequest {
            job: name.to_string(),
            run_id: run.run_id.clone(),
            command: job.def.command.clone(),
            scheduled_at: from_ms(now.as_millisecond()).unwrap_or(now),
            attempt: 1,
            version: job.version,
        };
        let timeout = job.def.timeout();
        self.launch(run.id, request, RunTrigger::Manual, timeout, now);
        Ok(self.state.job_run(run.id)?.unwrap_or(run))
    }

    /// On shutdown: stops running jobs (recording them), gives up the lease.
    async fn stop_everything(&mut self) {
        let ids: Vec<i64> = self.active.keys().copied().collect();
        for id in ids {
            self.stop_run(id, StopReason::Shutdown);
        }
        let bound = self.stop_grace + Duration::from_secs(5);
        let _ = tokio::time::timeout(bound, async {
            while !self.active.is_empty() {
                match self.done_rx.recv().await {
                    Some((id, exit)) => self.finish(id, exit),
                    None => return,
                }
            }
        })
        .await;
        if self.leader
            && let Err(error) = self.state.release_scheduler_lease(&self.holder)
        {
            tracing::warn!(%error, "cannot release the scheduler lease");
        }
        self.leader = false;
        self.publish(self.clock.now());
    }

    fn next_wake(&self, now: Timestamp) -> Timestamp {
        let mut wake = now + IDLE_WAKE;
        wake = wake.min(self.lease_check_at.max(now));
        if self.leader {
            for job in self.jobs.values() {
                let from = job.cursor.unwrap_or(now).max(now);
                if let Some(next) = job.slots.next_after(from) {
                    wake = wake.min(next);
                }
                if let Some(front) = job.queue.front() {
                    wake = wake.min(front.not_before.unwrap_or(now));
                }
            }
        }
        for active in self.active.values() {
            if let (Some(deadline), None) = (active.deadline, &active.stop_reason) {
                wake = wake.min(deadline);
            }
        }
        wake.max(now)
    }

    fn record_final(
        &self,
        id: i64,
        state: RunState,
        reason: &str,
        exit_code: Option<i32>,
        now: Timestamp,
    ) {
        let reason = (!reason.is_empty()).then_some(reason);
        if let Err(error) =
            self.state
                .finish_run(id, state, reason, exit_code, now.as_millisecond())
        {
            tracing::error!(%error, "cannot record the end of a job run");
        }
    }

    fn append_events(&self, events: &[NewEvent]) {
        if events.is_empty() {
            return;
        }
        if let Err(error) = self.state.append_events(events) {
            tracing::error!(%error, "cannot record scheduler events");
        }
    }

    fn publish(&self, now: Timestamp) {
        let jobs = self
            .jobs
            .values()
            .map(|job| JobStatus {
                name: job.name.clone(),
                schedule: job.def.schedule.clone(),
                timezone: job.def.timezone.clone(),
                command: job.def.command.clone(),
                version: job.version,
                enabled: job.enabled(),
                disabled_by: (!job.enabled()).then(|| {
                    if job.enabled_override == Some(false) {
                        "cli".to_string()
                    } else {
                        "manifest".to_string()
                    }
                }),
                next_slot_ms: job
                    .slots
                    .next_after(job.cursor.unwrap_or(now).max(now))
                    .map(|t| t.as_millisecond()),
                running: self
                    .active
                    .values()
                    .filter(|a| a.job == job.name)
                    .map(|a| a.run_id.clone())
                    .collect(),
            })
            .collect();
        self.status.send_if_modified(|status| {
            let next = SchedulerStatus {
                leader: self.leader,
                holder: self.holder.clone(),
                last_tick_ms: now.as_millisecond(),
                jobs,
            };
            if *status == next {
                return false;
            }
            *status = next;
            true
        });
    }
}

/// Runs a started job until it ends or is asked to stop (SIGTERM, then SIGKILL after
/// `grace`), then reports its exit. Returns the stop switch.
fn spawn_run(
    mut process: Box<dyn RunningJob>,
    id: i64,
    grace: Duration,
    done: mpsc::UnboundedSender<(i64, RunExit)>,
) -> mpsc::UnboundedSender<()> {
    let (stop_tx, mut stop_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        let exit = tokio::select! {
            exit = process.wait() => exit,
            Some(()) = stop_rx.recv() => {
                process.terminate().await;
                match tokio::time::timeout(grace, process.wait()).await {
                    Ok(exit) => exit,
                    Err(_) => {
                        process.kill().await;
                        process.wait().await
                    }
                }
            }
        };
        let _ = done.send((id, exit));
    });
    stop_tx
}

/// The run id of a slot: `nightly@2026-11-23T06:00:00Z`.
pub fn run_id(job: &str, slot: Timestamp) -> String {
    format!("{job}@{slot}")
}

fn event(now: Timestamp, kind: &str, job: &str, message: String) -> NewEvent {
    NewEvent {
        at_ms: now.as_millisecond(),
        kind: kind.to_string(),
        subject: format!("job.{job}"),
        message,
    }
}

fn from_ms(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}
