//! Starts the job scheduler for `pier up` on a thread of its own (its ledger writes block on
//! fsync and its start-time precision should not depend on the router's load), with the
//! manifest's jobs, the release's environment and the router's internal URLs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pier_scheduler::{
    JobDefinition, JobRelease, ProcessRunner, Scheduler, SchedulerConfig, SchedulerHandle,
    SchedulerMetrics, SystemClock,
};
use pier_spec::Manifest;
use pier_state::State;
use pier_supervisor::LogBus;
use pier_supervisor::env::url_var;

use crate::exit::Exit;

/// What the daemon needs to start the scheduler.
pub struct SchedulerParts<'a> {
    pub manifest: &'a Manifest,
    pub state: &'a State,
    pub dir: &'a Path,
    pub shim: &'a Path,
    pub logs: &'a LogBus,
    pub release: JobRelease,
    /// Internal services' stable addresses, by service name.
    pub internal_urls: &'a BTreeMap<String, String>,
    pub metrics: SchedulerMetrics,
}

/// A running scheduler: its handle and the thread it runs on.
pub struct RunningScheduler {
    pub handle: SchedulerHandle,
    thread: std::thread::JoinHandle<()>,
}

impl RunningScheduler {
    /// Stops running jobs, gives up the lease and waits for the thread.
    pub async fn stop(self) {
        self.handle.shutdown().await;
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Registers the jobs (a changed definition becomes a new version) and starts the scheduler.
pub fn start(parts: SchedulerParts<'_>) -> anyhow::Result<RunningScheduler> {
    let jobs: BTreeMap<String, JobDefinition> = parts
        .manifest
        .jobs
        .iter()
        .map(|(name, job)| (name.clone(), JobDefinition::from_manifest(job)))
        .collect();
    let urls = parts
        .internal_urls
        .iter()
        .map(|(service, url)| (url_var(service), url.clone()))
        .collect();
    let runner = ProcessRunner::new(
        parts.manifest.app.clone(),
        parts.shim.to_path_buf(),
        parts.logs.clone(),
        urls,
        parts.release,
    );
    let config = SchedulerConfig::new(
        parts.state.clone(),
        Arc::new(SystemClock::new()),
        Arc::new(runner),
        parts.metrics,
        jobs,
    );
    let (scheduler, handle) = Scheduler::new(config).map_err(|error| {
        Exit::failed(format!(
            "cannot start the job scheduler for {}: {error}",
            parts.dir.display()
        ))
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the scheduler's runtime")?;
    let thread = std::thread::Builder::new()
        .name("pier-scheduler".into())
        .spawn(move || runtime.block_on(scheduler.run()))
        .context("cannot start the scheduler's thread")?;
    Ok(RunningScheduler { handle, thread })
}
