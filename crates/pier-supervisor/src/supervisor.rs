//! The supervisor actor: owns the formation (how many replicas of each service run, of which
//! release), creates and retires replica actors, allocates ports and replica indices, and
//! executes scale, restart, start/stop-one (for rollouts, see `rollout.rs`) and shutdown
//! orders. Replicas of two releases may run side by side; each is labelled with its release.
//! Callers hold a [`SupervisorHandle`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pier_spec::{Manifest, Service};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::env::url_var;
use crate::events::{EventKind, SupervisorEvent};
use crate::logs::{LogBus, LogStream};
use crate::ports::PortAllocator;
use crate::replica::{self, ReplicaCommand, ReplicaContext, Slot};
use crate::status::ReplicaStatus;

/// Upper bound on replicas of one service.
pub const MAX_REPLICAS: u32 = 100;

/// How long a rolling restart waits for each new replica to become ready.
const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What runs: a release's code folder, environment (the manifest's `[env]` with the config
/// vars over it) and manifest snapshot.
#[derive(Debug, Clone)]
pub struct RunRelease {
    pub version: u32,
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub manifest: Arc<Manifest>,
}

/// A replica started on order (by a rollout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRef {
    pub id: u64,
    /// `web.3`.
    pub name: String,
}

/// Everything the supervisor starts with.
pub struct SupervisorConfig {
    pub release: RunRelease,
    /// Desired replicas per service; services not named use the manifest's count.
    pub formation: BTreeMap<String, u32>,
    /// The pier executable (runs the shim).
    pub shim: PathBuf,
    pub logs: LogBus,
    pub events: mpsc::UnboundedSender<SupervisorEvent>,
    /// Stable addresses of internal services (the router's per-service listeners), by service
    /// name. A service not named here is reached at its first replica's port instead.
    pub internal_urls: BTreeMap<String, String>,
    /// Awaited after a replica has been marked not ready and before it gets SIGTERM, so that
    /// whoever routes to it (the router) can stop sending it requests and let those in flight
    /// finish; bounded by the service's termination grace period.
    pub drain: Option<DrainHook>,
}

/// See [`SupervisorConfig::drain`]: called with the replica's name (`web.1`).
pub type DrainHook = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Which replicas a restart applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartTarget {
    All,
    Service(String),
    Replica(String),
}

/// Errors of supervisor orders; the messages are shown to users as they are.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SupervisorError {
    #[error("unknown service `{name}` (this app has: {known})")]
    UnknownService { name: String, known: String },
    #[error("unknown replica `{name}` (running: {known})")]
    UnknownReplica { name: String, known: String },
    #[error("cannot scale {service} to {requested}: at most {MAX_REPLICAS} replicas per service")]
    TooManyReplicas { service: String, requested: u32 },
    #[error("no free port left in the range {lo}-{hi}; widen [supervisor] port_range")]
    NoFreePort { lo: u16, hi: u16 },
    #[error("the supervisor has shut down")]
    ShutDown,
}

enum Order {
    Scale(
        BTreeMap<String, u32>,
        oneshot::Sender<Result<(), SupervisorError>>,
    ),
    Restart(
        RestartTarget,
        oneshot::Sender<Result<Vec<mpsc::Sender<ReplicaCommand>>, SupervisorError>>,
    ),
    Shutdown(oneshot::Sender<()>),
    Start(
        String,
        Arc<RunRelease>,
        oneshot::Sender<Result<ReplicaRef, SupervisorError>>,
    ),
    Stop(u64, oneshot::Sender<()>),
    SetCurrent(Arc<RunRelease>, oneshot::Sender<()>),
    Current(oneshot::Sender<Arc<RunRelease>>),
}

/// A handle on the running supervisor. Cheap to clone.
#[derive(Clone)]
pub struct SupervisorHandle {
    orders: mpsc::Sender<Order>,
    status: watch::Receiver<Vec<ReplicaStatus>>,
    logs: LogBus,
    pub(crate) events: mpsc::UnboundedSender<SupervisorEvent>,
}

impl SupervisorHandle {
    /// A snapshot of every replica, ordered by service and index.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        self.status.borrow().clone()
    }

    /// Notified on every status change (readiness, state, pid).
    pub fn watch_status(&self) -> watch::Receiver<Vec<ReplicaStatus>> {
        self.status.clone()
    }

    pub fn logs(&self) -> &LogBus {
        &self.logs
    }

    /// Validates all `changes` first; applies them only if every one is valid.
    pub async fn scale(&self, changes: BTreeMap<String, u32>) -> Result<(), SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Order::Scale(changes, tx)).await?;
        rx.await.map_err(|_| SupervisorError::ShutDown)?
    }

    /// Rolling restart: one replica at a time, each new process ready before the next stops.
    /// Returns once the last restarted replica is ready (or failed to become ready).
    pub async fn restart(&self, target: RestartTarget) -> Result<Vec<bool>, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Order::Restart(target, tx)).await?;
        let replicas = rx.await.map_err(|_| SupervisorError::ShutDown)??;
        let mut results = Vec::with_capacity(replicas.len());
        for replica in replicas {
            let (ready_tx, ready_rx) = oneshot::channel();
            let sent = replica
                .send(ReplicaCommand::Restart { ready: ready_tx })
                .await
                .is_ok();
            let ready = sent
                && tokio::time::timeout(RESTART_READY_TIMEOUT, ready_rx)
                    .await
                    .is_ok_and(|r| r.unwrap_or(false));
            results.push(ready);
        }
        Ok(results)
    }

    /// The release new replicas of a scale-up run (the last one rolled out).
    pub async fn current_release(&self) -> Result<Arc<RunRelease>, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Order::Current(tx)).await?;
        rx.await.map_err(|_| SupervisorError::ShutDown)
    }

    /// Starts one replica of `service` running `release`, at the lowest free index.
    pub(crate) async fn start_replica(
        &self,
        service: &str,
        release: Arc<RunRelease>,
    ) -> Result<ReplicaRef, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Order::Start(service.to_string(), release, tx))
            .await?;
        rx.await.map_err(|_| SupervisorError::ShutDown)?
    }

    /// Takes one replica out of the formation and stops it gracefully (drain, SIGTERM) in the
    /// background; returns once the stop has begun.
    pub(crate) async fn stop_replica(&self, id: u64) -> Result<(), SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Order::Stop(id, tx)).await?;
        rx.await.map_err(|_| SupervisorError::ShutDown)
    }

    /// Makes `release` the one scale-ups and `pier ps` consider current.
    pub(crate) async fn set_current(
        &self,
        release: Arc<RunRelease>,
    ) -> Result<(), SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Order::SetCurrent(release, tx)).await?;
        rx.await.map_err(|_| SupervisorError::ShutDown)
    }

    /// Stops every replica gracefully and waits until all have exited.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Order::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn send(&self, order: Order) -> Result<(), SupervisorError> {
        self.orders
            .send(order)
            .await
            .map_err(|_| SupervisorError::ShutDown)
    }
}

/// Starts the supervisor and every replica of the formation.
pub fn start(config: SupervisorConfig) -> Result<SupervisorHandle, SupervisorError> {
    let current = Arc::new(config.release);
    let manifest = current.manifest.clone();
    let mut ports = PortAllocator::new(manifest.supervisor.port_range);
    let desired = desired_formation(&manifest, &config.formation);
    // Internal services' first replica gets its port now so every replica can be told the URL.
    let mut first_ports = BTreeMap::new();
    let mut internal_urls = BTreeMap::new();
    for service in manifest.services.values().filter(|s| s.is_internal()) {
        if let Some(url) = config.internal_urls.get(&service.name) {
            internal_urls.insert(url_var(&service.name), url.clone());
            continue;
        }
        let port = allocate(&mut ports, &manifest)?;
        first_ports.insert(service.name.clone(), port);
        internal_urls.insert(url_var(&service.name), format!("http://127.0.0.1:{port}"));
    }
    let (board, status) = watch::channel(Vec::new());
    let ctx = Arc::new(ReplicaContext {
        app: manifest.app.clone(),
        shim: config.shim,
        internal_urls: Arc::new(internal_urls),
        logs: config.logs.clone(),
        events: config.events.clone(),
        board,
        drain: config.drain,
    });
    let (orders, rx) = mpsc::channel(16);
    let mut actor = Supervisor {
        ctx,
        current,
        ports,
        first_ports,
        services: BTreeMap::new(),
        next_id: 1,
        retiring: Vec::new(),
    };
    for (name, count) in &desired {
        actor.set_replicas(name, *count)?;
    }
    tokio::spawn(actor.run(rx));
    Ok(SupervisorHandle {
        orders,
        status,
        logs: config.logs,
        events: config.events,
    })
}

/// Checks a formation change against the manifest without applying anything.
pub fn check_formation(
    manifest: &Manifest,
    changes: &BTreeMap<String, u32>,
) -> Result<(), SupervisorError> {
    for (name, count) in changes {
        if !manifest.services.contains_key(name) {
            return Err(SupervisorError::UnknownService {
                name: name.clone(),
                known: manifest
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if *count > MAX_REPLICAS {
            return Err(SupervisorError::TooManyReplicas {
                service: name.clone(),
                requested: *count,
            });
        }
    }
    Ok(())
}

/// The replica count of each service: the stored formation where set, else the manifest's.
fn desired_formation(
    manifest: &Manifest,
    overrides: &BTreeMap<String, u32>,
) -> BTreeMap<String, u32> {
    manifest
        .services
        .values()
        .map(|s| {
            (
                s.name.clone(),
                overrides.get(&s.name).copied().unwrap_or(s.replicas),
            )
        })
        .collect()
}

fn allocate(ports: &mut PortAllocator, manifest: &Manifest) -> Result<u16, SupervisorError> {
    let (lo, hi) = manifest.supervisor.port_range;
    ports
        .allocate()
        .ok_or(SupervisorError::NoFreePort { lo, hi })
}

struct Running {
    slot: Slot,
    commands: mpsc::Sender<ReplicaCommand>,
    task: JoinHandle<()>,
}

/// A replica being stopped; its index stays taken until it has exited.
struct Retiring {
    service: String,
    index: u32,
    task: JoinHandle<()>,
}

struct Supervisor {
    ctx: Arc<ReplicaContext>,
    /// The release scale-ups start.
    current: Arc<RunRelease>,
    ports: PortAllocator,
    /// Ports reserved for replica 1 of internal services (their `<NAME>_URL`).
    first_ports: BTreeMap<String, u16>,
    services: BTreeMap<String, Vec<Running>>,
    next_id: u64,
    /// Replicas being stopped (scale-down, rollout).
    retiring: Vec<Retiring>,
}

impl Supervisor {
    async fn run(mut self, mut orders: mpsc::Receiver<Order>) {
        while let Some(order) = orders.recv().await {
            match order {
                Order::Scale(changes, reply) => {
                    let _ = reply.send(self.scale(changes));
                }
                Order::Restart(target, reply) => {
                    let _ = reply.send(self.restart_targets(&target));
                }
                Order::Shutdown(reply) => {
                    self.shutdown().await;
                    let _ = reply.send(());
                    return;
                }
                Order::Start(service, release, reply) => {
                    self.retiring.retain(|r| !r.task.is_finished());
                    let _ = reply.send(self.start_one(&service, release));
                }
                Order::Stop(id, reply) => {
                    self.stop_one(id);
                    let _ = reply.send(());
                }
                Order::SetCurrent(release, reply) => {
                    self.current = release;
                    let _ = reply.send(());
                }
                Order::Current(reply) => {
                    let _ = reply.send(self.current.clone());
                }
            }
            self.retiring.retain(|r| !r.task.is_finished());
        }
        self.shutdown().await;
    }

    fn scale(&mut self, changes: BTreeMap<String, u32>) -> Result<(), SupervisorError> {
        check_formation(&self.current.manifest, &changes)?;
        for (name, count) in &changes {
            let before = self.services.get(name).map_or(0, Vec::len);
            self.set_replicas(name, *count)?;
            if before != *count as usize {
                self.event(
                    EventKind::Scaled,
                    name,
                    format!("scaled {name} from {before} to {count}"),
                );
            }
        }
        Ok(())
    }

    fn set_replicas(&mut self, name: &str, count: u32) -> Result<(), SupervisorError> {
        self.service(name)?;
        while self.services.get(name).map_or(0, Vec::len) < count as usize {
            self.start_one(name, self.current.clone())?;
        }
        let running = self.services.entry(name.to_string()).or_default();
        let mut gone = Vec::new();
        while running.len() as u32 > count {
            let Some(replica) = running.pop() else { break };
            gone.push(replica.slot.id);
        }
        for id in gone {
            self.retire(name, id);
        }
        Ok(())
    }

    /// Starts one replica of `name` from `release`'s definition of the service.
    fn start_one(
        &mut self,
        name: &str,
        release: Arc<RunRelease>,
    ) -> Result<ReplicaRef, SupervisorError> {
        let service = release
            .manifest
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| SupervisorError::UnknownService {
                name: name.to_string(),
                known: release
                    .manifest
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let service = Arc::new(service);
        let index = self.free_index(name);
        let port = self.port_for(&service, index)?;
        let slot = Slot {
            id: self.next_id,
            release,
            service,
            index,
            port,
        };
        self.next_id += 1;
        let reference = ReplicaRef {
            id: slot.id,
            name: slot.name(),
        };
        let (commands, task) = replica::spawn(self.ctx.clone(), slot.clone());
        self.services
            .entry(name.to_string())
            .or_default()
            .push(Running {
                slot,
                commands,
                task,
            });
        Ok(reference)
    }

    /// The lowest index no running or stopping replica of `name` holds, so that two replicas
    /// never share a name (the router drains by name).
    fn free_index(&self, name: &str) -> u32 {
        let running = self.services.get(name).into_iter().flatten();
        let taken: std::collections::BTreeSet<u32> = running
            .map(|r| r.slot.index)
            .chain(
                self.retiring
                    .iter()
                    .filter(|r| r.service == name && !r.task.is_finished())
                    .map(|r| r.index),
            )
            .collect();
        (1..).find(|i| !taken.contains(i)).unwrap_or(1)
    }

    fn stop_one(&mut self, id: u64) {
        let found = self
            .services
            .iter()
            .find_map(|(name, list)| list.iter().any(|r| r.slot.id == id).then(|| name.clone()));
        if let Some(name) = found {
            self.retire(&name, id);
        }
    }

    /// Takes replica `id` of `name` out of the formation and stops it in the background.
    fn retire(&mut self, name: &str, id: u64) {
        let running = self.services.entry(name.to_string()).or_default();
        let gone = match running.iter().position(|r| r.slot.id == id) {
            Some(i) => running.remove(i),
            None => return,
        };
        let _ = gone.commands.try_send(ReplicaCommand::Stop);
        let port = gone.slot.port;
        self.retiring.push(Retiring {
            service: name.to_string(),
            index: gone.slot.index,
            task: gone.task,
        });
        if let Some(port) = port.filter(|p| self.first_ports.get(name) != Some(p)) {
            self.ports.release(port);
        }
    }

    fn port_for(&mut self, service: &Service, index: u32) -> Result<Option<u16>, SupervisorError> {
        if !service.port {
            return Ok(None);
        }
        if index == 1
            && let Some(port) = self.first_ports.get(&service.name)
        {
            return Ok(Some(*port));
        }
        let manifest = self.current.manifest.clone();
        allocate(&mut self.ports, &manifest).map(Some)
    }

    fn restart_targets(
        &self,
        target: &RestartTarget,
    ) -> Result<Vec<mpsc::Sender<ReplicaCommand>>, SupervisorError> {
        let all = self.services.values().flatten();
        let chosen: Vec<_> = match target {
            RestartTarget::All => all.collect(),
            RestartTarget::Service(name) => {
                self.service(name)?;
                all.filter(|r| r.slot.service.name == *name).collect()
            }
            RestartTarget::Replica(name) => {
                let found: Vec<_> = all.filter(|r| r.slot.name() == *name).collect();
                if found.is_empty() {
                    let known = self.services.values().flatten().map(|r| r.slot.name());
                    return Err(SupervisorError::UnknownReplica {
                        name: name.clone(),
                        known: known.collect::<Vec<_>>().join(", "),
                    });
                }
                found
            }
        };
        Ok(chosen.into_iter().map(|r| r.commands.clone()).collect())
    }

    async fn shutdown(&mut self) {
        self.ctx
            .logs
            .push("pier", LogStream::System, "stopping all processes");
        let mut tasks: Vec<_> = std::mem::take(&mut self.retiring)
            .into_iter()
            .map(|r| r.task)
            .collect();
        for running in std::mem::take(&mut self.services).into_values().flatten() {
            let _ = running.commands.send(ReplicaCommand::Stop).await;
            tasks.push(running.task);
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    fn service(&self, name: &str) -> Result<&Service, SupervisorError> {
        let services = &self.current.manifest.services;
        services
            .get(name)
            .ok_or_else(|| SupervisorError::UnknownService {
                name: name.to_string(),
                known: services.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    fn event(&self, kind: EventKind, subject: &str, message: String) {
        self.ctx
            .logs
            .push(subject, LogStream::System, message.clone());
        let _ = self.ctx.events.send(SupervisorEvent {
            at: SystemTime::now(),
            kind,
            subject: subject.to_string(),
            message,
        });
    }
}
