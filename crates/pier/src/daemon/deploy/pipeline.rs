//! The steps of one recorded (pending) release, in order: build (a deploy only), release phase
//! (recorded before it starts, run once), rollout; then the release becomes current, or
//! failed with the reason while the previous release keeps running. Old snapshots are
//! collected after a success. A canary deploy starts the canary (`canary.rs`) instead of the
//! rollout; a promotion is the rollout alone (the canary's build and release phase ran).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pier_api::OutcomeDto;
use pier_spec::Manifest;
use pier_state::{Release, ReleaseStatus};
use pier_supervisor::env::{ReplicaIdentity, replica_env, url_var};

use super::Inner;
use super::artifacts::{self, release_env};
use super::command::{self, CommandFailure};
use super::progress::Progress;

/// No build runs longer than this (a cold cargo build of a big workspace fits).
const BUILD_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// A pending release and what to do with it.
pub struct Job {
    pub release: Release,
    pub manifest: Manifest,
    pub kind: Kind,
    /// What the release it replaces becomes.
    pub replaced: ReleaseStatus,
}

/// Which steps a job runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Build, release phase, rollout (`pier deploy`).
    Deploy,
    /// Release phase, rollout: a rollback or config change reuses a snapshot.
    Reuse,
    /// Build, release phase, then the canary with `percent` of the clients.
    Canary { percent: f64 },
    /// The rollout of the canary's release (`pier promote`).
    Promote,
}

/// Runs `job` to its end and reports the outcome.
pub async fn run(inner: Arc<Inner>, job: Job, progress: Arc<Progress>) {
    let version = job.release.version;
    let outcome = steps(&inner, &job, &progress).await;
    let state = inner.state.clone();
    let outcome = match outcome {
        Ok(()) if matches!(job.kind, Kind::Canary { .. }) => OutcomeDto {
            ok: true,
            release: Some(version),
            message: super::canary::started_message(&job),
            log_tail: Vec::new(),
        },
        Ok(()) => {
            let replaced = job.replaced;
            let done =
                tokio::task::spawn_blocking(move || state.complete_release(version, replaced))
                    .await;
            match done {
                Ok(Ok(release)) => {
                    inner.logs.set_masks(release.config.clone());
                    collect(&inner, &job.manifest, &progress).await;
                    OutcomeDto {
                        ok: true,
                        release: Some(version),
                        message: format!("v{version} is the current release"),
                        log_tail: Vec::new(),
                    }
                }
                Ok(Err(e)) => failed(
                    version,
                    format!("cannot record v{version} as current: {e}"),
                    vec![],
                ),
                Err(e) => failed(
                    version,
                    format!("cannot record v{version} as current: {e}"),
                    vec![],
                ),
            }
        }
        Err(failure) => {
            let reason = failure.message.clone();
            let _ = tokio::task::spawn_blocking(move || state.fail_release(version, &reason)).await;
            if let Ok(Ok(Some(current))) = {
                let state = inner.state.clone();
                tokio::task::spawn_blocking(move || state.current_release()).await
            } {
                inner.logs.set_masks(current.config);
            }
            failed(version, failure.message, failure.log_tail)
        }
    };
    progress.done(outcome).await;
}

fn failed(version: u32, message: String, log_tail: Vec<String>) -> OutcomeDto {
    OutcomeDto {
        ok: false,
        release: Some(version),
        message: format!("v{version} failed: {message}"),
        log_tail,
    }
}

async fn steps(
    inner: &Arc<Inner>,
    job: &Job,
    progress: &Arc<Progress>,
) -> Result<(), CommandFailure> {
    let release = &job.release;
    let dir = inner.paths.code_dir(release);
    let env = release_env(&job.manifest, &release.config);
    let masks: Vec<(String, String)> = release.config.clone().into_iter().collect();
    let build = matches!(job.kind, Kind::Deploy | Kind::Canary { .. });
    if build && let Some(build) = &job.manifest.build {
        progress.step(&format!(
            "building v{} with `{}`",
            release.version, build.command
        ));
        let cache = inner.paths.cache();
        let _ = std::fs::create_dir_all(&cache);
        let mut build_env: BTreeMap<String, String> = std::env::vars().collect();
        build_env.extend(env.clone());
        build_env.insert("PIER_CACHE_DIR".into(), cache.display().to_string());
        build_env.insert("PIER_RELEASE".into(), format!("v{}", release.version));
        let spec = command::spec(&inner.shim, &build.command, dir.clone(), build_env);
        let started = std::time::Instant::now();
        command::run(
            &spec,
            "build",
            "build",
            BUILD_TIMEOUT,
            &inner.logs,
            masks.clone(),
            progress,
        )
        .await?;
        progress.step(&format!(
            "build succeeded in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
    }
    if job.kind != Kind::Promote
        && let Some(phase) = &job.manifest.release
    {
        release_phase(inner, job, phase, &env, masks, progress).await?;
    }
    match job.kind {
        Kind::Canary { percent } => super::canary::start(inner, job, percent, progress).await,
        _ => rollout(inner, job, progress).await,
    }
}

async fn release_phase(
    inner: &Arc<Inner>,
    job: &Job,
    phase: &pier_spec::ReleaseCommand,
    env: &BTreeMap<String, String>,
    masks: Vec<(String, String)>,
    progress: &Arc<Progress>,
) -> Result<(), CommandFailure> {
    let version = job.release.version;
    let state = inner.state.clone();
    // Write-ahead: recorded before the command starts, so it can never run twice.
    tokio::task::spawn_blocking(move || state.begin_release_phase(version))
        .await
        .map_err(|e| plain(e.to_string()))?
        .map_err(|e| plain(e.to_string()))?;
    progress.step(&format!("release phase: `{}`", phase.command));
    let name = format!("release.v{version}");
    let urls: BTreeMap<String, String> = inner
        .internal_urls
        .iter()
        .map(|(service, url)| (url_var(service), url.clone()))
        .collect();
    let id = ReplicaIdentity {
        app: &job.manifest.app,
        service: "release",
        replica: &name,
        release: version,
        port: None,
    };
    let env = replica_env(&id, env, &BTreeMap::new(), &urls);
    let dir = inner.paths.code_dir(&job.release);
    let spec = command::spec(&inner.shim, &phase.command, dir, env);
    let result = command::run(
        &spec,
        "release command",
        "release",
        phase.timeout,
        &inner.logs,
        masks,
        progress,
    )
    .await;
    let (ok, detail) = match &result {
        Ok(()) => (true, "exit code 0".to_string()),
        Err(failure) => (false, failure.message.clone()),
    };
    let state = inner.state.clone();
    let _ =
        tokio::task::spawn_blocking(move || state.finish_release_phase(version, ok, &detail)).await;
    result
}

async fn rollout(
    inner: &Arc<Inner>,
    job: &Job,
    progress: &Arc<Progress>,
) -> Result<(), CommandFailure> {
    let state = inner.state.clone();
    let formation = tokio::task::spawn_blocking(move || state.formation())
        .await
        .map_err(|e| plain(e.to_string()))?
        .map_err(|e| plain(e.to_string()))?;
    let run = artifacts::run_release(&inner.paths, &job.release, job.manifest.clone());
    progress.step(&format!("rolling out v{}", job.release.version));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let echo = {
        let progress = progress.clone();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                progress.step(&line);
            }
        })
    };
    let result = inner.supervisor.rollout(run, &formation, Some(tx)).await;
    let _ = echo.await;
    result.map_err(|failure| {
        let mut tail = Vec::new();
        if let Some(replica) = &failure.replica {
            tail.push(format!("last log lines of {replica}:"));
        }
        tail.extend(failure.log_tail);
        CommandFailure {
            message: format!(
                "{}; v{} was not rolled out and the previous release still runs",
                failure.reason, job.release.version
            ),
            log_tail: tail,
        }
    })
}

async fn collect(inner: &Arc<Inner>, manifest: &Manifest, progress: &Arc<Progress>) {
    let (paths, state) = (inner.paths.clone(), inner.state.clone());
    let keep = manifest.deploy.keep_releases as usize;
    let collected =
        tokio::task::spawn_blocking(move || artifacts::collect(&paths, &state, keep)).await;
    match collected {
        Ok(Ok(versions)) if !versions.is_empty() => {
            let list: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
            progress.step(&format!("collected the snapshots of {}", list.join(", ")));
        }
        Ok(Err(e)) => progress.step(&format!("could not collect old snapshots: {e:#}")),
        _ => {}
    }
}

pub(super) fn plain(message: String) -> CommandFailure {
    CommandFailure {
        message,
        log_tail: Vec::new(),
    }
}
