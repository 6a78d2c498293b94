//! The daemon's [`Stages`]: creates a stage (its folder, state with the main environment's
//! config, supervisor) and deploys the working tree to it, redeploys, lists, destroys (every
//! process stopped and waited for, its routes gone, `.pier/stages/NAME` deleted), and gives
//! each stage's own `/v1` routes their context. A request that fails validation changes
//! nothing; a stage whose first deploy cannot even start is removed again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use pier_api::{
    ApiContext, ApiError, BoxFuture, DeployRequest, ProgressDto, Releases, StageDestroyedDto,
    StageDto, StageRequest, Stages, StagesDto, StatusDto,
};
use pier_router::TableSpec;
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::environment::{Environment, Events, Record};
use super::{name, routing};

/// The stages of one daemon.
pub struct StageManager {
    pub(super) shared: Arc<Shared>,
    pub(super) envs: Mutex<BTreeMap<String, Arc<Environment>>>,
    /// Names being created or destroyed: any other request for them is a conflict.
    changing: Mutex<BTreeSet<String>>,
    /// The main environment's API context, whose shared parts a stage's context reuses.
    main: OnceLock<Arc<ApiContext>>,
}

/// Holds a name in [`StageManager::changing`] until dropped.
struct Changing<'a> {
    manager: &'a StageManager,
    name: String,
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        lock(&self.manager.changing).remove(&self.name);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl StageManager {
    pub fn new(shared: Shared) -> Arc<StageManager> {
        Arc::new(StageManager {
            shared: Arc::new(shared),
            envs: Mutex::new(BTreeMap::new()),
            changing: Mutex::new(BTreeSet::new()),
            main: OnceLock::new(),
        })
    }

    /// Called once the main environment's context exists.
    pub fn set_main_context(&self, ctx: Arc<ApiContext>) {
        let _ = self.main.set(ctx);
    }

    /// Rebuilds the stages' part of the routing table (and their scrape targets) whenever a stage's replicas change or
    /// a stage comes or goes.
    pub fn follow_routing(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let manager = self.clone();
        let mut ticks = self.shared.ticks.subscribe();
        tokio::spawn(async move {
            loop {
                let envs: Vec<Arc<Environment>> = lock(&manager.envs).values().cloned().collect();
                let mut spec = TableSpec::default();
                let mut targets = Vec::new();
                for env in envs {
                    let Ok(release) = env.supervisor.current_release().await else {
                        continue;
                    };
                    let replicas = env.supervisor.status();
                    routing::add_stage(
                        &mut spec,
                        &manager.shared.app,
                        &env.record.name,
                        &release.manifest,
                        &replicas,
                    );
                    targets.extend(routing::scrape_targets(
                        &env.record.name,
                        &release.manifest,
                        &replicas,
                    ));
                }
                manager.shared.table.send_replace(spec);
                manager.shared.targets.send_replace(targets);
                if ticks.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    fn tick(&self) {
        self.shared.ticks.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Adds a started stage.
    pub(super) fn insert(&self, env: Environment) -> Arc<Environment> {
        let env = Arc::new(env);
        lock(&self.envs).insert(env.record.name.clone(), env.clone());
        self.tick();
        env
    }

    fn get(&self, name: &str) -> Result<Arc<Environment>, ApiError> {
        lock(&self.envs).get(name).cloned().ok_or_else(|| {
            ApiError::not_found(
                "unknown_stage",
                format!(
                    "there is no stage {name:?}; `pier stage list` lists them (nothing was changed)"
                ),
            )
        })
    }

    fn begin_change(&self, name: &str) -> Result<Changing<'_>, ApiError> {
        if !lock(&self.changing).insert(name.to_string()) {
            return Err(ApiError::conflict(format!(
                "stage {name} is being created or destroyed; wait for it to finish (nothing was changed)"
            )));
        }
        Ok(Changing {
            manager: self,
            name: name.to_string(),
        })
    }

    /// Stops every stage's processes (the daemon is stopping; the stages stay on disk).
    pub async fn shutdown(&self) {
        let envs = std::mem::take(&mut *lock(&self.envs));
        for env in envs.into_values() {
            stop(env, Events::Keep).await;
        }
    }

    async fn deploy(&self, request: StageRequest) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        name::check(&request.name, &self.shared.services)?;
        let dir = working_tree(&request.dir)?;
        let deploy = DeployRequest {
            dirty: true,
            description: Some("Stage the working tree".into()),
            dir: Some(dir.display().to_string()),
            canary: None,
        };
        if lock(&self.changing).contains(&request.name) {
            return Err(ApiError::conflict(format!(
                "stage {} is being created or destroyed; wait for it to finish (nothing was changed)",
                request.name
            )));
        }
        if let Ok(env) = self.get(&request.name) {
            if env.record.dir != dir {
                return Err(ApiError::bad_request(format!(
                    "stage {} runs {}, not {}; destroy it first with `pier stage destroy {}` \
                     (nothing was changed)",
                    request.name,
                    env.record.dir.display(),
                    dir.display(),
                    request.name
                )));
            }
            return env.deployer.deploy(deploy).await;
        }
        self.create(request.name, dir, deploy).await
    }

    async fn create(
        &self,
        name: String,
        dir: PathBuf,
        deploy: DeployRequest,
    ) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        let _changing = self.begin_change(&name)?;
        if self.get(&name).is_ok() {
            return Err(ApiError::conflict(format!(
                "stage {name} has just been created by another request; run `pier stage {name}` \
                 again to deploy to it (nothing was changed)"
            )));
        }
        if self.shared.stage_dir(&name).exists() {
            return Err(ApiError::conflict(format!(
                "stage {name} is on disk but could not start when the daemon started (see \
                 pier's output); delete it with `pier stage destroy {name}` (nothing was changed)"
            )));
        }
        // Checked before anything is created: an invalid manifest changes nothing.
        crate::daemon::load_manifest(&dir).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        let main = {
            let state = self.shared.main_state.clone();
            tokio::task::spawn_blocking(move || state.current_release())
                .await
                .map_err(|e| ApiError::internal(e.to_string()))??
        };
        let (config, from) = main.map_or_else(
            || (BTreeMap::new(), "no release".to_string()),
            |r| (r.config, format!("v{}", r.version)),
        );
        let record = Record {
            name: name.clone(),
            dir,
            created_at_ms: pier_api::unix_ms(SystemTime::now()),
        };
        let stage_dir = self.shared.stage_dir(&name);
        let keys: Vec<String> = config.keys().cloned().collect();
        let started = async {
            let env = Environment::start(&self.shared, record.clone(), config).await?;
            record.write(&stage_dir)?;
            anyhow::Ok(env)
        }
        .await;
        let env = match started {
            Ok(env) => self.insert(env),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&stage_dir);
                return Err(ApiError::internal(format!(
                    "cannot create stage {name}: {e:#}"
                )));
            }
        };
        match env.deployer.deploy(deploy).await {
            Ok(rx) => Ok(prepend(
                self,
                rx,
                format!(
                    "created stage {name}: its own processes, state and config (copied from {} {from}: {})",
                    self.shared.app,
                    if keys.is_empty() {
                        "no config vars".to_string()
                    } else {
                        keys.join(", ")
                    }
                ),
            )),
            Err(e) => {
                // The deploy could not even start: the stage goes away again.
                let removed = lock(&self.envs).remove(&name);
                if let Some(env) = removed {
                    self.tick();
                    stop(env, Events::Discard).await;
                }
                let _ = std::fs::remove_dir_all(&stage_dir);
                Err(e)
            }
        }
    }

    async fn destroy(&self, name: String) -> Result<StageDestroyedDto, ApiError> {
        let env = match self.get(&name) {
            Ok(env) => env,
            Err(unknown) => return self.destroy_stopped(name, unknown),
        };
        let _changing = self.begin_change(&name)?;
        let _held = env
            .deployer
            .hold(&format!("the destruction of stage {name}"))
            .map_err(|_| {
                ApiError::conflict(format!(
                    "{} is in progress on stage {name}; destroy it when it has finished \
                     (nothing was changed)",
                    env.deployer.busy().unwrap_or_else(|| "a deploy".into())
                ))
            })?;
        lock(&self.envs).remove(&name);
        self.tick();
        env.deployer
            .end_one_offs(std::time::Duration::from_secs(10))
            .await;
        let stage_dir = env.dir.clone();
        let stopped = stop(env, Events::Discard).await;
        std::fs::remove_dir_all(&stage_dir).map_err(|e| {
            ApiError::internal(format!(
                "stage {name}'s processes have stopped, but {} could not be deleted: {e}",
                stage_dir.display()
            ))
        })?;
        self.note(format!(
            "stage {name} destroyed: {stopped} process(es) stopped, its state and files deleted"
        ));
        Ok(StageDestroyedDto { name, stopped })
    }

    /// A stage left on disk that could not be started when the daemon started (its folder
    /// holds `stage.json`): nothing runs, so destroying it deletes its folder.
    fn destroy_stopped(
        &self,
        name: String,
        unknown: ApiError,
    ) -> Result<StageDestroyedDto, ApiError> {
        if name::check(&name, &[]).is_err() {
            return Err(unknown);
        }
        let stage_dir = self.shared.stage_dir(&name);
        if !stage_dir.join(super::environment::RECORD_FILE).is_file() {
            return Err(unknown);
        }
        let _changing = self.begin_change(&name)?;
        std::fs::remove_dir_all(&stage_dir).map_err(|e| {
            ApiError::internal(format!("cannot delete {}: {e}", stage_dir.display()))
        })?;
        Ok(StageDestroyedDto { name, stopped: 0 })
    }

    /// A line about the stages in the main environment's log (and console).
    fn note(&self, text: String) {
        self.shared
            .logs
            .push("stage", pier_supervisor::LogStream::System, text);
    }

    async fn list(&self) -> Result<StagesDto, ApiError> {
        let envs: Vec<Arc<Environment>> = lock(&self.envs).values().cloned().collect();
        let mut stages = Vec::new();
        for env in envs {
            let state = env.state.clone();
            let current = tokio::task::spawn_blocking(move || state.current_release())
                .await
                .map_err(|e| ApiError::internal(e.to_string()))??;
            let status = env.supervisor.status();
            let host = routing::host(&env.record.name, &self.shared.app);
            stages.push(StageDto {
                name: env.record.name.clone(),
                dir: env.record.dir.display().to_string(),
                release: current.map(|r| r.version),
                url: format!("http://{host}:{}", self.shared.public_port),
                host,
                replicas: status.len(),
                ready: status.iter().filter(|r| r.ready).count(),
                created_at_ms: env.record.created_at_ms,
                busy: env.deployer.busy(),
                running: true,
            });
        }
        stages.extend(self.stopped_stages(&stages));
        stages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(StagesDto { stages })
    }

    /// The stages on disk that are not running (they could not start with the daemon).
    fn stopped_stages(&self, running: &[StageDto]) -> Vec<StageDto> {
        let Ok(entries) = std::fs::read_dir(self.shared.stages_dir()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| Record::read(&entry.path()).ok())
            .filter(|record| !running.iter().any(|s| s.name == record.name))
            .map(|record| {
                let host = routing::host(&record.name, &self.shared.app);
                StageDto {
                    name: record.name,
                    dir: record.dir.display().to_string(),
                    release: None,
                    url: format!("http://{host}:{}", self.shared.public_port),
                    host,
                    replicas: 0,
                    ready: 0,
                    created_at_ms: record.created_at_ms,
                    busy: None,
                    running: false,
                }
            })
            .collect()
    }

    async fn context(&self, name: String) -> Result<Arc<ApiContext>, ApiError> {
        let env = self.get(&name)?;
        let main = self
            .main
            .get()
            .ok_or_else(|| ApiError::internal("the daemon is still starting"))?;
        let release = env.supervisor.current_release().await?;
        let (maintenance, _) = watch::channel(false);
        Ok(Arc::new(ApiContext {
            supervisor: env.supervisor.clone(),
            state: env.state.clone(),
            manifest: release.manifest.clone(),
            status: StatusDto {
                app: format!("{} (stage {name})", main.status.app),
                dir: env.record.dir.display().to_string(),
                release: release.version,
                started_at_ms: env.record.created_at_ms,
                ..main.status.clone()
            },
            stopping: main.stopping.clone(),
            maintenance,
            persist_maintenance: Arc::new(|_| Ok(())),
            releases: env.deployer.clone(),
            routes: main.routes.clone(),
            scheduler: main.scheduler.clone(),
            scrapes: main.scrapes.clone(),
            tsdb: main.tsdb.clone(),
            registry: main.registry.clone(),
            promql: main.promql.clone(),
            stages: None,
        }))
    }
}

/// Stops a stage that has left the map; how many processes were running.
async fn stop(env: Arc<Environment>, events: Events) -> usize {
    match Arc::try_unwrap(env) {
        Ok(env) => env.stop(events).await,
        // A request still holds it: stop its processes; the rest goes with the last holder.
        Err(env) => {
            let running = env.supervisor.status().len();
            env.supervisor.shutdown().await;
            env.edge_stop.send_replace(true);
            env.logs.flush_files(std::time::Duration::from_secs(2));
            running
        }
    }
}

/// The folder a stage runs: an existing directory, made canonical.
fn working_tree(dir: &str) -> Result<PathBuf, ApiError> {
    let path = Path::new(dir);
    let canonical = path.canonicalize().map_err(|e| {
        ApiError::bad_request(format!("working tree {dir}: {e} (nothing was changed)"))
    })?;
    if !canonical.is_dir() {
        return Err(ApiError::bad_request(format!(
            "working tree {dir} is not a folder (nothing was changed)"
        )));
    }
    Ok(canonical)
}

/// `rx` with one more step first, also noted in the main environment's log.
fn prepend(
    manager: &StageManager,
    mut rx: mpsc::Receiver<ProgressDto>,
    first: String,
) -> mpsc::Receiver<ProgressDto> {
    manager.note(first.clone());
    let (tx, out) = mpsc::channel(64);
    tokio::spawn(async move {
        if tx.send(ProgressDto::Step { text: first }).await.is_err() {
            return;
        }
        while let Some(item) = rx.recv().await {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    out
}

impl Stages for StageManager {
    fn deploy(
        &self,
        request: StageRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>> {
        Box::pin(StageManager::deploy(self, request))
    }

    fn list(&self) -> BoxFuture<'_, Result<StagesDto, ApiError>> {
        Box::pin(StageManager::list(self))
    }

    fn destroy(&self, name: String) -> BoxFuture<'_, Result<StageDestroyedDto, ApiError>> {
        Box::pin(StageManager::destroy(self, name))
    }

    fn context(&self, name: String) -> BoxFuture<'_, Result<Arc<ApiContext>, ApiError>> {
        Box::pin(StageManager::context(self, name))
    }
}
