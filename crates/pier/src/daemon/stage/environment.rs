//! One staging environment: everything the main environment has, of its own, under
//! `.pier/stages/NAME/` — a state store (`state.db`: releases, config, formation, events), a
//! log bus (`logs/`), releases (`releases/vN/src`) and a build cache (`cache/`) — and, in the
//! daemon, a supervisor, a deployer and the router's listeners of its internal services. `stage.json` records which working tree it runs; the
//! folder is the whole registry of stages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pier_spec::Manifest;
use pier_state::State;
use pier_supervisor::{LogBus, RunRelease, SupervisorConfig, SupervisorHandle};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Shared, routing};
use crate::daemon::deploy::{self, Deployer, Paths};
use crate::daemon::{edge, recorder};

/// The file naming a stage and its working tree.
pub const RECORD_FILE: &str = "stage.json";

/// What `stage.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    /// The working tree the stage runs (canonical).
    pub dir: PathBuf,
    pub created_at_ms: i64,
}

impl Record {
    pub fn write(&self, stage_dir: &Path) -> anyhow::Result<()> {
        let path = stage_dir.join(RECORD_FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn read(stage_dir: &Path) -> anyhow::Result<Record> {
        let path = stage_dir.join(RECORD_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }
}

/// Whether a stopping stage records its last events (the daemon stops) or not (the stage is
/// destroyed with its state store).
pub enum Events {
    Keep,
    Discard,
}

/// A running stage.
pub struct Environment {
    pub record: Record,
    /// `.pier/stages/NAME`.
    pub dir: PathBuf,
    pub state: State,
    pub logs: LogBus,
    pub supervisor: SupervisorHandle,
    pub deployer: Arc<Deployer>,
    recorder: JoinHandle<()>,
    watcher: JoinHandle<()>,
    /// Set to stop the router's listeners of the stage's internal services.
    pub edge_stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
}

impl Environment {
    /// Opens (or creates) the stage's folder and state, and starts its supervisor with its
    /// current release — or, for a stage without one yet, with nothing running until its first
    /// deploy rolls out. `initial_config` is the config of that first release.
    pub async fn start(
        shared: &Shared,
        record: Record,
        initial_config: BTreeMap<String, String>,
    ) -> anyhow::Result<Environment> {
        let dir = shared.stage_dir(&record.name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let state = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || State::open(&dir)).await??
        };
        {
            let state = state.clone();
            tokio::task::spawn_blocking(move || {
                state.fail_interrupted_releases("interrupted: the daemon stopped during its deploy")
            })
            .await??;
        }
        let logs = LogBus::with_files(&dir.join("logs"), pier_supervisor::logs::DEFAULT_RING_LINES)
            .with_context(|| format!("cannot write logs under {}", dir.join("logs").display()))?;
        let FirstRun {
            release,
            formation,
            config,
        } = first_run(shared, &record, &dir, &state).await?;
        logs.set_masks(config.unwrap_or_else(|| initial_config.clone()));
        let (edge_stop, listeners, internal_urls) =
            internal_listeners(shared, &record.name, &state, &release.manifest).await?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let recorder = recorder::spawn(state.clone(), events_rx);
        let stage = record.name.clone();
        let router = shared.router.clone();
        let supervisor = pier_supervisor::start(SupervisorConfig {
            release,
            formation,
            shim: shared.shim.clone(),
            logs: logs.clone(),
            events: events_tx,
            internal_urls: internal_urls.clone(),
            drain: Some(Arc::new(move |replica: String| {
                let (router, name) = (router.clone(), format!("{replica}@{stage}"));
                Box::pin(async move { router.drained(&name).await }) as _
            })),
        })?;
        let deployer = Arc::new(Deployer::for_stage(
            (state.clone(), supervisor.clone(), logs.clone()),
            (shared.shim.clone(), internal_urls),
            &record.dir,
            &dir,
            initial_config,
        ));
        let watcher = {
            let mut status = supervisor.watch_status();
            let ticks = shared.ticks.clone();
            tokio::spawn(async move {
                while status.changed().await.is_ok() {
                    ticks.send_modify(|n| *n = n.wrapping_add(1));
                }
            })
        };
        Ok(Environment {
            record,
            dir,
            state,
            logs,
            supervisor,
            deployer,
            recorder,
            watcher,
            edge_stop,
            listeners,
        })
    }

    /// Stops every process (gracefully, waiting for each) and the stage's tasks; returns how
    /// many were running.
    pub async fn stop(self, events: Events) -> usize {
        let running = self.supervisor.status().len();
        self.supervisor.shutdown().await;
        self.watcher.abort();
        self.edge_stop.send_replace(true);
        let Environment {
            supervisor,
            deployer,
            recorder,
            logs,
            listeners,
            ..
        } = self;
        for listener in listeners {
            let abort = listener.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), listener)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        drop((supervisor, deployer));
        match events {
            // The recorder ends when the last replica has dropped its event sender.
            Events::Keep => {
                let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
            }
            Events::Discard => recorder.abort(),
        }
        logs.flush_files(Duration::from_secs(2));
        running
    }
}

/// What a stage's supervisor starts with.
struct FirstRun {
    release: RunRelease,
    formation: BTreeMap<String, u32>,
    /// The config of the release, if one was deployed (its values are masked in the logs).
    config: Option<BTreeMap<String, String>>,
}

/// What the supervisor starts with: the stage's current release at the stored formation (and
/// that release's config), or, before its first deploy, the working tree's manifest with
/// every service at zero.
async fn first_run(
    shared: &Shared,
    record: &Record,
    dir: &Path,
    state: &State,
) -> anyhow::Result<FirstRun> {
    let current = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.current_release()).await??
    };
    let paths = Paths::new(dir);
    if let Some(release) = current {
        let mut manifest = deploy::manifest_of(&paths, &release)?;
        manifest.supervisor.port_range = shared.port_range;
        let formation = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || state.formation()).await??
        };
        return Ok(FirstRun {
            release: deploy::run_release(&paths, &release, manifest),
            formation,
            config: Some(release.config),
        });
    }
    let mut manifest: Manifest = crate::daemon::load_manifest(&record.dir)?;
    manifest.supervisor.port_range = shared.port_range;
    let formation = manifest
        .services
        .keys()
        .map(|name| (name.clone(), 0))
        .collect();
    Ok(FirstRun {
        release: RunRelease {
            version: 0,
            dir: record.dir.clone(),
            env: BTreeMap::new(),
            manifest: Arc::new(manifest),
        },
        formation,
        config: None,
    })
}

/// One loopback listener of the router per internal service of the stage (its port kept in
/// the stage's state store, as the main environment's), so that its processes, release
/// command and one-off runs reach `<NAME>_URL` through the router, as the main environment's
/// do. Returns the switch that stops them, their tasks, and the URLs.
async fn internal_listeners(
    shared: &Shared,
    stage: &str,
    state: &State,
    manifest: &Manifest,
) -> anyhow::Result<(
    watch::Sender<bool>,
    Vec<JoinHandle<()>>,
    BTreeMap<String, String>,
)> {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut urls = BTreeMap::new();
    for service in manifest.services.values().filter(|s| s.is_internal()) {
        let listener = edge::bind_internal(state, &service.name).await?;
        urls.insert(
            service.name.clone(),
            format!("http://{}", listener.local_addr()?),
        );
        let target = pier_router::Target::Service(routing::pool(&service.name, stage));
        tasks.push(tokio::spawn(shared.router.serve(
            listener,
            target,
            stopped.clone(),
        )));
    }
    Ok((stop, tasks, urls))
}
