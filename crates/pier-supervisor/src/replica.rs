//! One replica slot (`web.2`) as an actor: it spawns the process, runs its probes, restarts it
//! after an exit or a liveness failure with backoff, and stops it gracefully when told to.
//! It reports through the status board, the event channel and the log bus.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use pier_spec::{Probe, ProbeAction, Service};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::backoff::RestartBackoff;
use crate::env::{ReplicaIdentity, replica_env};
use crate::events::{EventKind, SupervisorEvent};
use crate::logs::{LogBus, LogStream};
use crate::probe::{self, Verdict};
use crate::spawn::{Process, SpawnSpec, describe_exit};
use crate::status::{ReplicaState, ReplicaStatus};
use crate::supervisor::RunRelease;

/// Orders sent to a replica actor.
pub(crate) enum ReplicaCommand {
    /// Stop the process gracefully and start a new one; `ready` fires once the new one is
    /// ready (or with `false` if it stopped before becoming ready).
    Restart { ready: oneshot::Sender<bool> },
    /// Stop gracefully and end the actor.
    Stop,
}

/// What a replica needs from its supervisor, shared by all replicas.
pub(crate) struct ReplicaContext {
    pub app: String,
    pub shim: std::path::PathBuf,
    pub internal_urls: Arc<BTreeMap<String, String>>,
    pub logs: LogBus,
    pub events: mpsc::UnboundedSender<SupervisorEvent>,
    pub board: watch::Sender<Vec<ReplicaStatus>>,
    pub drain: Option<crate::supervisor::DrainHook>,
}

/// The identity of one slot: which service of which release, at which index and port.
#[derive(Clone)]
pub(crate) struct Slot {
    pub id: u64,
    pub release: Arc<RunRelease>,
    pub service: Arc<Service>,
    pub index: u32,
    pub port: Option<u16>,
}

impl Slot {
    pub fn name(&self) -> String {
        format!("{}.{}", self.service.name, self.index)
    }
}

/// Starts the actor; it runs until it receives [`ReplicaCommand::Stop`].
pub(crate) fn spawn(
    ctx: Arc<ReplicaContext>,
    slot: Slot,
) -> (mpsc::Sender<ReplicaCommand>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(8);
    let actor = Replica::new(ctx, slot, rx);
    (tx, tokio::spawn(actor.run()))
}

/// How one process lifetime ended.
enum Outcome {
    /// The process exited, could not start, or failed liveness: restart with backoff.
    Failed,
    Restart(oneshot::Sender<bool>),
    Stop,
}

struct Replica {
    ctx: Arc<ReplicaContext>,
    slot: Slot,
    name: String,
    rx: mpsc::Receiver<ReplicaCommand>,
    backoff: RestartBackoff,
    restarts: u32,
    /// A caller waiting for this replica to become ready after a manual restart.
    ready_waiter: Option<oneshot::Sender<bool>>,
}

impl Replica {
    fn new(ctx: Arc<ReplicaContext>, slot: Slot, rx: mpsc::Receiver<ReplicaCommand>) -> Self {
        let name = slot.name();
        let backoff = RestartBackoff::new(slot.service.restart_backoff);
        let replica = Replica {
            ctx,
            slot,
            name,
            rx,
            backoff,
            restarts: 0,
            ready_waiter: None,
        };
        replica.publish(|s| s.state = ReplicaState::Starting);
        replica
    }

    async fn run(mut self) {
        loop {
            let started = Instant::now();
            let outcome = match self.spawn_process() {
                Ok(process) => self.supervise(process).await,
                Err(()) => Outcome::Failed,
            };
            // A restart someone asked for is not a failure: it neither backs off nor counts.
            let (delay, counts) = match outcome {
                Outcome::Stop => return self.finish(),
                Outcome::Restart(ready) => {
                    self.ready_waiter = Some(ready);
                    (Duration::ZERO, false)
                }
                Outcome::Failed => (self.backoff.on_exit(started.elapsed()), true),
            };
            if let Some(waiter) = self.ready_waiter.take_if(|_| delay > Duration::ZERO) {
                let _ = waiter.send(false);
            }
            if !self.wait_backoff(delay).await {
                return self.finish();
            }
            self.restarts += u32::from(counts);
        }
    }

    fn spawn_process(&mut self) -> Result<Process, ()> {
        let spec = self.spawn_spec(&self.slot.service.command);
        let process = Process::spawn(&spec, &self.ctx.logs, &self.name).map_err(|error| {
            self.event(EventKind::SpawnFailed, format!("could not start: {error}"));
        })?;
        self.event(
            EventKind::Started,
            format!(
                "starting process with command `{}`",
                self.slot.service.command
            ),
        );
        let no_probe = readiness_probe(&self.slot.service).is_none();
        self.publish(|s| {
            s.state = if no_probe {
                ReplicaState::Running
            } else {
                ReplicaState::Starting
            };
            s.ready = no_probe;
            s.pid = None;
            s.started_at = Some(SystemTime::now());
            s.next_restart_at = None;
        });
        if no_probe && let Some(waiter) = self.ready_waiter.take() {
            let _ = waiter.send(true);
        }
        Ok(process)
    }

    fn spawn_spec(&self, command: &str) -> SpawnSpec {
        let release = &self.slot.release;
        let id = ReplicaIdentity {
            app: &self.ctx.app,
            service: &self.slot.service.name,
            replica: &self.name,
            release: release.version,
            port: self.slot.port,
        };
        SpawnSpec {
            shim: self.ctx.shim.clone(),
            command: command.to_string(),
            dir: release.dir.clone(),
            env: replica_env(
                &id,
                &release.env,
                &self.slot.service.env,
                &self.ctx.internal_urls,
            ),
        }
    }

    /// Watches one process until it exits, fails liveness, or a command arrives.
    async fn supervise(&mut self, mut process: Process) -> Outcome {
        let pid = process.wait_app_pid().await;
        self.publish(|s| s.pid = pid);
        let (probe_tx, mut probe_rx) = mpsc::channel(4);
        let probes = self.start_probes(probe_tx);
        let mut readiness = readiness_probe(&self.slot.service).map(|p| Verdict::new(&p, false));
        let mut liveness = self
            .slot
            .service
            .liveness
            .as_ref()
            .map(|p| Verdict::new(p, true));

        let mut process_running = true;
        let outcome = loop {
            tokio::select! {
                status = process.wait() => {
                    process_running = false;
                    let how = status.map_or_else(|e| format!("wait failed: {e}"), |s| describe_exit(&s));
                    self.event(EventKind::Exited, format!("process exited ({how})"));
                    self.publish(|s| { s.last_exit = Some(how.clone()); s.pid = None; s.ready = false; });
                    break Outcome::Failed;
                }
                Some((kind, result)) = probe_rx.recv() => {
                    let verdict = match kind { ProbeKind::Readiness => readiness.as_mut(), ProbeKind::Liveness => liveness.as_mut() };
                    let Some(verdict) = verdict else { continue };
                    if self.on_probe(kind, verdict, result) {
                        break Outcome::Failed;
                    }
                }
                command = self.rx.recv() => match command {
                    Some(ReplicaCommand::Restart { ready }) => break Outcome::Restart(ready),
                    Some(ReplicaCommand::Stop) | None => break Outcome::Stop,
                },
            }
        };
        for task in probes {
            task.abort();
        }
        if process_running {
            self.stop_process(&mut process).await;
        }
        outcome
    }

    /// Applies one probe result; returns `true` when liveness has failed.
    fn on_probe(
        &mut self,
        kind: ProbeKind,
        verdict: &mut Verdict,
        result: Result<(), String>,
    ) -> bool {
        let ok = result.is_ok();
        if let Err(reason) = &result {
            self.ctx.logs.push(
                &self.name,
                LogStream::System,
                format!("{} probe failed: {reason}", kind.as_str()),
            );
        }
        let Some(flipped) = verdict.record(ok) else {
            return false;
        };
        match (kind, flipped) {
            (ProbeKind::Readiness, true) => {
                self.event(
                    EventKind::Ready,
                    "readiness probe passed; taking traffic".into(),
                );
                self.publish(|s| {
                    s.ready = true;
                    s.state = ReplicaState::Running;
                });
                if let Some(waiter) = self.ready_waiter.take() {
                    let _ = waiter.send(true);
                }
                false
            }
            (ProbeKind::Readiness, false) => {
                let why = result.err().unwrap_or_default();
                self.event(
                    EventKind::NotReady,
                    format!("readiness probe failing ({why}); no traffic"),
                );
                self.publish(|s| s.ready = false);
                false
            }
            (ProbeKind::Liveness, false) => {
                let why = result.err().unwrap_or_default();
                let reason = format!(
                    "liveness probe failed {} times ({why}); restarting",
                    verdict.failures()
                );
                self.event(EventKind::LivenessFailed, reason);
                true
            }
            (ProbeKind::Liveness, true) => false,
        }
    }

    fn start_probes(
        &self,
        tx: mpsc::Sender<(ProbeKind, Result<(), String>)>,
    ) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        let exec = self.spawn_spec("");
        let probes = [
            (ProbeKind::Readiness, readiness_probe(&self.slot.service)),
            (ProbeKind::Liveness, self.slot.service.liveness.clone()),
        ];
        for (kind, probe) in probes {
            let Some(probe) = probe else { continue };
            let (tx, exec, logs, port) = (
                tx.clone(),
                exec.clone(),
                self.ctx.logs.clone(),
                self.slot.port,
            );
            let source = self.name.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(probe.initial_delay).await;
                let mut ticks = tokio::time::interval(probe.period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let result = probe::run_once(&probe, port, &exec, &logs, &source).await;
                    if tx.send((kind, result)).await.is_err() {
                        return;
                    }
                }
            }));
        }
        tasks
    }

    async fn stop_process(&mut self, process: &mut Process) {
        let grace = self.slot.service.termination_grace;
        self.publish(|s| {
            s.state = ReplicaState::Stopping;
            s.ready = false;
        });
        self.event(
            EventKind::Draining,
            "out of the routing table; draining requests in flight".into(),
        );
        // Out of the routing table first; the requests it is serving finish before SIGTERM.
        // The drain and the stop share the grace period, as a Kubernetes preStop hook does.
        let started = tokio::time::Instant::now();
        if let Some(drain) = &self.ctx.drain {
            let _ = tokio::time::timeout(grace, drain(self.name.clone())).await;
        }
        let grace = grace.saturating_sub(started.elapsed());
        self.event(
            EventKind::Stopping,
            format!("stopping with SIGTERM (grace {:.1}s)", grace.as_secs_f64()),
        );
        let (status, killed) = process.stop(grace).await;
        let how = status.map_or_else(|| "unknown".to_string(), |s| describe_exit(&s));
        if killed {
            self.event(
                EventKind::Killed,
                format!("still running after {grace:?}; sent SIGKILL ({how})"),
            );
        } else {
            self.event(EventKind::Stopped, format!("process stopped ({how})"));
        }
        self.publish(|s| {
            s.last_exit = Some(how.clone());
            s.pid = None;
        });
    }

    /// Waits out the restart delay; returns `false` if told to stop meanwhile.
    async fn wait_backoff(&mut self, delay: Duration) -> bool {
        if delay.is_zero() {
            return true;
        }
        let next = SystemTime::now() + delay;
        self.publish(|s| {
            s.state = ReplicaState::CrashLoopBackOff;
            s.ready = false;
            s.next_restart_at = Some(next);
        });
        self.event(
            EventKind::BackOff,
            format!("back-off {delay:?} restarting failed replica"),
        );
        // A restart order cuts the back-off short; a stop order (or a dropped handle) ends it.
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            command = self.rx.recv() => match command {
                Some(ReplicaCommand::Restart { ready }) => {
                    self.ready_waiter = Some(ready);
                    true
                }
                Some(ReplicaCommand::Stop) | None => false,
            },
        }
    }

    fn finish(self) {
        let id = self.slot.id;
        self.ctx
            .board
            .send_modify(|board| board.retain(|s| s_id(s) != id));
    }

    fn publish(&self, change: impl FnOnce(&mut ReplicaStatus)) {
        let id = self.slot.id;
        let restarts = self.restarts;
        self.ctx.board.send_modify(|board| {
            let entry = match board.iter().position(|s| s_id(s) == id) {
                Some(i) => &mut board[i],
                None => {
                    board.push(self.blank_status());
                    board.sort_by(|a, b| (&a.service, a.index).cmp(&(&b.service, b.index)));
                    let i = board.iter().position(|s| s_id(s) == id).unwrap_or(0);
                    &mut board[i]
                }
            };
            entry.restarts = restarts;
            change(entry);
        });
    }

    fn blank_status(&self) -> ReplicaStatus {
        ReplicaStatus {
            id: self.slot.id,
            name: self.name.clone(),
            service: self.slot.service.name.clone(),
            index: self.slot.index,
            release: self.slot.release.version,
            state: ReplicaState::Starting,
            pid: None,
            port: self.slot.port,
            ready: false,
            restarts: 0,
            started_at: None,
            next_restart_at: None,
            last_exit: None,
        }
    }

    fn event(&self, kind: EventKind, message: String) {
        self.ctx
            .logs
            .push(&self.name, LogStream::System, message.clone());
        let _ = self.ctx.events.send(SupervisorEvent {
            at: SystemTime::now(),
            kind,
            subject: self.name.clone(),
            message,
        });
    }
}

fn s_id(status: &ReplicaStatus) -> u64 {
    status.id
}

#[derive(Debug, Clone, Copy)]
enum ProbeKind {
    Readiness,
    Liveness,
}

impl ProbeKind {
    fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "readiness",
            ProbeKind::Liveness => "liveness",
        }
    }
}

/// The readiness probe in effect: the declared one, or for a service with a port and no probe,
/// an implicit TCP probe of `$PORT` every second (Heroku's "bound to $PORT" boot check).
fn readiness_probe(service: &Service) -> Option<Probe> {
    if let Some(probe) = &service.readiness {
        return Some(probe.clone());
    }
    service.port.then(|| Probe {
        action: ProbeAction::Tcp,
        initial_delay: Duration::ZERO,
        period: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        success_threshold: 1,
        failure_threshold: 3,
    })
}
