//! `pier deploy`, `pier rollback`, `pier config set|unset` and `pier run`: the daemon's side of
//! the release routes. Each change is validated completely (an invalid one changes nothing),
//! recorded as a pending release (write-ahead), then carried out by `pipeline.rs` in the
//! background while the client follows its progress. One at a time: a second one gets a
//! conflict, and so does any change but `pier promote` or `pier deploy --abort` while a canary
//! runs (`canary.rs`).

mod artifacts;
mod canary;
mod command;
mod one_off;
mod pipeline;
mod progress;
mod snapshot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pier_api::{
    ApiError, BoxFuture, ConfigRequest, DeployRequest, ProgressDto, Releases, RollbackRequest,
    RunEventDto, RunRequest,
};
use pier_state::{NewArtifact, NewRelease, Release, ReleaseStatus, State};
use pier_supervisor::{LogBus, SupervisorHandle};
use tokio::sync::{OwnedMutexGuard, mpsc, watch};

use crate::daemon::edge::CanaryRoute;

pub use artifacts::{Paths, manifest_of, release_env, run_release};

/// What the release routes work with.
pub struct Inner {
    pub state: State,
    pub supervisor: SupervisorHandle,
    pub logs: LogBus,
    pub app_dir: PathBuf,
    pub paths: Paths,
    pub shim: PathBuf,
    /// `<service> → http://127.0.0.1:PORT` of internal services.
    pub internal_urls: BTreeMap<String, String>,
    /// The config of a first deploy, when no release is current yet (a new stage's, copied
    /// from the main environment).
    initial_config: BTreeMap<String, String>,
    lock: Arc<tokio::sync::Mutex<()>>,
    busy: Mutex<Option<String>>,
    runs: std::sync::atomic::AtomicU32,
    /// One-off processes running now; set to `true` in `ending` to kill them (a stage being
    /// destroyed).
    one_offs: tokio::sync::watch::Sender<usize>,
    ending: tokio::sync::watch::Sender<bool>,
    /// The canary running beside the current release.
    canary: Mutex<Option<canary::Active>>,
    /// What the router follows of the canary.
    canary_route: watch::Sender<Option<CanaryRoute>>,
}

/// The daemon's [`Releases`].
pub struct Deployer {
    inner: Arc<Inner>,
}

impl Deployer {
    pub fn new(
        state: State,
        supervisor: SupervisorHandle,
        logs: LogBus,
        app_dir: &Path,
        shim: PathBuf,
        internal_urls: BTreeMap<String, String>,
        canary_route: watch::Sender<Option<CanaryRoute>>,
    ) -> Self {
        Deployer {
            inner: Arc::new(Inner {
                paths: Paths::new(&app_dir.join(".pier")),
                state,
                supervisor,
                logs,
                app_dir: app_dir.to_path_buf(),
                shim,
                internal_urls,
                initial_config: BTreeMap::new(),
                lock: Arc::new(tokio::sync::Mutex::new(())),
                busy: Mutex::new(None),
                runs: std::sync::atomic::AtomicU32::new(1),
                one_offs: tokio::sync::watch::Sender::new(0),
                ending: tokio::sync::watch::Sender::new(false),
                canary: Mutex::new(None),
                canary_route,
            }),
        }
    }

    /// Holds the deployer as a deploy does, so that none starts until the guard is dropped;
    /// a conflict if one runs. `what` is what a refused deploy is told is in progress.
    pub fn hold(&self, what: &str) -> Result<impl Send + use<>, ApiError> {
        self.inner.begin(what)
    }

    /// Kills the one-off processes (`pier run`) running now and waits until they have exited
    /// (at most `timeout`); later ones are refused. For a stage being destroyed.
    pub async fn end_one_offs(&self, timeout: std::time::Duration) {
        self.inner.ending.send_replace(true);
        let mut running = self.inner.one_offs.subscribe();
        let _ = tokio::time::timeout(timeout, running.wait_for(|n| *n == 0)).await;
    }

    /// The deployer of a staging environment: it snapshots `working_tree`, keeps its releases
    /// under `stage_dir` (`releases/`, `cache/`), and gives its first release `initial_config`.
    pub fn for_stage(
        (state, supervisor, logs): (State, SupervisorHandle, LogBus),
        (shim, internal_urls): (PathBuf, BTreeMap<String, String>),
        working_tree: &Path,
        stage_dir: &Path,
        initial_config: BTreeMap<String, String>,
    ) -> Self {
        // A stage has no canaries: nothing follows its canary route.
        let (canary_route, _) = watch::channel(None);
        let mut deployer = Deployer::new(
            state,
            supervisor,
            logs,
            working_tree,
            shim,
            internal_urls,
            canary_route,
        );
        if let Some(inner) = Arc::get_mut(&mut deployer.inner) {
            inner.paths = Paths::new(stage_dir);
            inner.initial_config = initial_config;
        }
        deployer
    }
}

/// Held for the whole of one operation; clears the busy note when dropped.
struct Busy {
    inner: Arc<Inner>,
    _guard: OwnedMutexGuard<()>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.inner.busy.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Inner {
    fn begin(self: &Arc<Self>, what: &str) -> Result<Busy, ApiError> {
        let guard = self.lock.clone().try_lock_owned().map_err(|_| {
            let doing = self.busy.lock().unwrap_or_else(|e| e.into_inner()).clone();
            ApiError::conflict(format!(
                "{} is in progress; wait for it to finish (nothing was changed)",
                doing.unwrap_or_else(|| "another deploy".into())
            ))
        })?;
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) = Some(what.to_string());
        Ok(Busy {
            inner: self.clone(),
            _guard: guard,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&State) -> Result<T, pier_state::StateError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(ApiError::from)
    }

    async fn current(&self) -> Result<Release, ApiError> {
        self.blocking(|s| s.current_release())
            .await?
            .ok_or_else(|| ApiError::internal("no release was ever recorded"))
    }

    async fn deploy(
        self: Arc<Self>,
        request: DeployRequest,
    ) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        if let Some(dir) = &request.dir {
            let asked = Path::new(dir)
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(dir));
            if asked != self.app_dir {
                return Err(ApiError::bad_request(format!(
                    "this daemon runs {}, not {dir}; start pier for that folder, or point at \
                     its daemon with --api",
                    self.app_dir.display()
                )));
            }
        }
        let kind = match request.canary {
            Some(percent) => pipeline::Kind::Canary {
                percent: canary::check_percent(percent)?,
            },
            None => pipeline::Kind::Deploy,
        };
        let busy = self.begin("a deploy")?;
        self.no_canary()?;
        let incoming = self.paths.incoming();
        let (app_dir, dest, dirty) = (self.app_dir.clone(), incoming.clone(), request.dirty);
        let taken = tokio::task::spawn_blocking(move || snapshot::take(&app_dir, &dest, dirty))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let cleanup = || self.paths.discard(&incoming);
        let snap = taken.map_err(|e| {
            cleanup();
            ApiError::bad_request(e.0)
        })?;
        let manifest = pier_spec::load_dir(&incoming).map_err(|e| {
            cleanup();
            ApiError::bad_request(format!(
                "invalid manifest in the snapshot; nothing was deployed\n{e}"
            ))
        })?;
        let text = std::fs::read_to_string(incoming.join("pier.toml"))
            .or_else(|_| {
                std::fs::read_to_string(incoming.join("Procfile"))
                    .map(|t| format!("# Procfile\n{t}"))
            })
            .unwrap_or_default();
        let config = match self.blocking(|s| s.current_release()).await {
            Ok(Some(current)) => current.config,
            Ok(None) => self.initial_config.clone(),
            Err(e) => {
                cleanup();
                return Err(e);
            }
        };
        let short = snap
            .commit
            .as_deref()
            .map(|c| c.chars().take(7).collect::<String>());
        let description = request
            .description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| match (snap.source, &short) {
                (pier_state::ReleaseSource::Git, Some(c)) => format!("Deploy {c}"),
                _ => "Deploy working tree".to_string(),
            });
        let new = NewRelease {
            description,
            source_dir: self.app_dir.clone(),
            env: manifest.env.clone(),
            manifest: text,
            source: snap.source,
            commit: snap.commit.clone(),
            artifact: NewArtifact::Own,
            config,
        };
        let placed = self
            .place_and_launch(busy, new, manifest, &incoming, kind)
            .await;
        let (release, rx) = match placed {
            Ok(ok) => ok,
            Err(e) => {
                cleanup();
                return Err(e);
            }
        };
        if snap.uncommitted {
            self.logs.push(
                "release",
                pier_supervisor::LogStream::System,
                format!(
                    "v{}: uncommitted changes are not part of it (deploy them with --dirty)",
                    release.version
                ),
            );
        }
        Ok(rx)
    }

    /// Records the deploy, moves its snapshot into place, and starts it.
    async fn place_and_launch(
        self: &Arc<Self>,
        busy: Busy,
        new: NewRelease,
        manifest: pier_spec::Manifest,
        incoming: &Path,
        kind: pipeline::Kind,
    ) -> Result<(Release, mpsc::Receiver<ProgressDto>), ApiError> {
        // The number is known only once recorded; the pipeline starts after the move.
        let release = self.blocking(move |s| s.begin_release(&new)).await?;
        let target = self.paths.src(release.version);
        if let Err(e) = self.paths.place(incoming, release.version) {
            let version = release.version;
            let reason = format!("cannot move the snapshot into {}: {e}", target.display());
            let message = reason.clone();
            let _ = self
                .blocking(move |s| s.fail_release(version, &reason))
                .await;
            return Err(ApiError::internal(message));
        }
        self.start_recorded(busy, release, manifest, kind, ReleaseStatus::Superseded)
    }

    fn start_recorded(
        self: &Arc<Self>,
        busy: Busy,
        release: Release,
        manifest: pier_spec::Manifest,
        kind: pipeline::Kind,
        replaced: ReleaseStatus,
    ) -> Result<(Release, mpsc::Receiver<ProgressDto>), ApiError> {
        let (tx, rx) = mpsc::channel(progress::STREAM_BUFFER);
        let progress = Arc::new(progress::Progress::new(
            tx,
            &self.paths.log(release.version),
            self.logs.clone(),
        ));
        progress.step(&format!("v{}: {}", release.version, release.description));
        let doing = match kind {
            pipeline::Kind::Promote => "the promotion",
            _ => "the deploy",
        };
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
            "{doing} of v{} ({})",
            release.version, release.description
        ));
        let job = pipeline::Job {
            release: release.clone(),
            manifest,
            kind,
            replaced,
        };
        let inner = self.clone();
        tokio::spawn(async move {
            pipeline::run(inner, job, progress).await;
            drop(busy);
        });
        Ok((release, rx))
    }

    async fn rollback(
        self: Arc<Self>,
        request: RollbackRequest,
    ) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        let busy = self.begin("a rollback")?;
        self.no_canary()?;
        let current = self.current().await?;
        let target = match request.version {
            Some(v) => self.blocking(move |s| s.release(v)).await?.ok_or_else(|| {
                ApiError::not_found(
                    "unknown_release",
                    format!("there is no release v{v}; `pier releases` lists them"),
                )
            })?,
            None => self
                .blocking(|s| s.previous_release())
                .await?
                .ok_or_else(|| {
                    ApiError::bad_request("there is no previous release to roll back to")
                })?,
        };
        if target.version == current.version {
            return Err(ApiError::bad_request(format!(
                "v{} is the current release already",
                target.version
            )));
        }
        if matches!(
            target.status,
            ReleaseStatus::Failed | ReleaseStatus::Pending
        ) {
            return Err(ApiError::bad_request(format!(
                "v{} never ran (it is {}); roll back to a release that did",
                target.version, target.status
            )));
        }
        let manifest = manifest_of(&self.paths, &target).map_err(|e| {
            ApiError::bad_request(format!("cannot roll back to v{}: {e:#}", target.version))
        })?;
        let new = NewRelease {
            description: format!("Rollback to v{}", target.version),
            source_dir: target.source_dir.clone(),
            env: target.env.clone(),
            manifest: target.manifest.clone(),
            source: target.source,
            commit: target.commit.clone(),
            artifact: target.artifact.map_or(NewArtifact::None, NewArtifact::Of),
            config: target.config.clone(),
        };
        let release = self.blocking(move |s| s.begin_release(&new)).await?;
        self.logs
            .set_masks(current.config.into_iter().chain(release.config.clone()));
        self.start_recorded(
            busy,
            release,
            manifest,
            pipeline::Kind::Reuse,
            ReleaseStatus::RolledBack,
        )
        .map(|(_, rx)| rx)
    }

    async fn change_config(
        self: Arc<Self>,
        request: ConfigRequest,
    ) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        let description = config_description(&request)?;
        let busy = self.begin("a config change")?;
        self.no_canary()?;
        let current = self.current().await?;
        let mut config = current.config.clone();
        for key in &request.unset {
            if config.remove(key).is_none() {
                return Err(ApiError::bad_request(format!(
                    "{key} is not set; `pier config` lists the config vars (nothing was changed)"
                )));
            }
        }
        config.extend(request.set.clone());
        let manifest = manifest_of(&self.paths, &current)
            .map_err(|e| ApiError::internal(format!("cannot read the current release: {e:#}")))?;
        let new = NewRelease {
            description,
            source_dir: current.source_dir.clone(),
            env: current.env.clone(),
            manifest: current.manifest.clone(),
            source: current.source,
            commit: current.commit.clone(),
            artifact: current.artifact.map_or(NewArtifact::None, NewArtifact::Of),
            config,
        };
        let release = self.blocking(move |s| s.begin_release(&new)).await?;
        self.logs
            .set_masks(current.config.into_iter().chain(release.config.clone()));
        self.start_recorded(
            busy,
            release,
            manifest,
            pipeline::Kind::Reuse,
            ReleaseStatus::Superseded,
        )
        .map(|(_, rx)| rx)
    }
}

/// `Set FOO, BAR`, `Unset FOO`, `Set FOO; unset BAR`, after checking every key.
fn config_description(request: &ConfigRequest) -> Result<String, ApiError> {
    if request.set.is_empty() && request.unset.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to change: give KEY=VALUE pairs or keys to unset",
        ));
    }
    for key in request.set.keys().chain(&request.unset) {
        check_key(key)?;
        if request.set.contains_key(key) && request.unset.contains(key) {
            return Err(ApiError::bad_request(format!(
                "{key} is both set and unset"
            )));
        }
    }
    let set: Vec<&str> = request.set.keys().map(String::as_str).collect();
    let unset: Vec<&str> = request.unset.iter().map(String::as_str).collect();
    Ok(match (set.is_empty(), unset.is_empty()) {
        (false, true) => format!("Set {}", set.join(", ")),
        (true, false) => format!("Unset {}", unset.join(", ")),
        _ => format!("Set {}; unset {}", set.join(", "), unset.join(", ")),
    })
}

/// A config var name: a letter or `_`, then letters, digits and `_`; not one pier sets.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    let mut chars = key.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ApiError::bad_request(format!(
            "invalid config var name {key:?}: use letters, digits and _, not starting with a digit (nothing was changed)"
        )));
    }
    if key == "PORT" || key == "DYNO" || key.starts_with("PIER_") {
        return Err(ApiError::bad_request(format!(
            "{key} is set by pier for each process and cannot be a config var (nothing was changed)"
        )));
    }
    Ok(())
}

impl Releases for Deployer {
    fn deploy(
        &self,
        request: DeployRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>> {
        Box::pin(self.inner.clone().deploy(request))
    }

    fn rollback(
        &self,
        request: RollbackRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>> {
        Box::pin(self.inner.clone().rollback(request))
    }

    fn change_config(
        &self,
        request: ConfigRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>> {
        Box::pin(self.inner.clone().change_config(request))
    }

    fn run(
        &self,
        request: RunRequest,
    ) -> BoxFuture<'_, Result<mpsc::Receiver<RunEventDto>, ApiError>> {
        Box::pin(one_off::start(self.inner.clone(), request))
    }

    fn promote(&self) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>> {
        Box::pin(self.inner.clone().promote())
    }

    fn abort(&self) -> BoxFuture<'_, Result<mpsc::Receiver<ProgressDto>, ApiError>> {
        Box::pin(self.inner.clone().abort())
    }

    fn log(&self, version: u32) -> BoxFuture<'_, Result<String, ApiError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let release = inner.blocking(move |s| s.release(version)).await?;
            if release.is_none() {
                return Err(ApiError::not_found(
                    "unknown_release",
                    format!("there is no release v{version}; `pier releases` lists them"),
                ));
            }
            match std::fs::read_to_string(inner.paths.log(version)) {
                Ok(text) => Ok(text),
                Err(_) => Ok(format!(
                    "v{version} has no deploy log (it was recorded by `pier up`, or its log was collected)\n"
                )),
            }
        })
    }

    fn busy(&self) -> Option<String> {
        let busy = self
            .inner
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        busy.or_else(|| self.inner.canary_note())
    }
}
