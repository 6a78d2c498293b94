//! Starting a job's process. The scheduler talks to a [`Runner`] so that its policies can be
//! tested with a fake one; [`ProcessRunner`] is the real one: the job's command under pier's
//! shim, with the current release's environment plus `PIER_JOB`, `PIER_RUN_ID`,
//! `PIER_SCHEDULED_AT` and `PIER_ATTEMPT`, its output in the log bus as `job.NAME`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;
use pier_supervisor::env::{ReplicaIdentity, replica_env};
use pier_supervisor::spawn::{Process, SpawnSpec, describe_exit};
use pier_supervisor::{LogBus, LogStream};

/// A boxed future borrowing the running job.
pub type JobFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub job: String,
    pub run_id: String,
    pub command: String,
    /// The slot, or the moment a manual run was asked for.
    pub scheduled_at: Timestamp,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The definition version that fired the run.
    pub version: u32,
}

/// How a run's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunExit {
    /// The exit code, if it exited rather than died of a signal.
    pub code: Option<i32>,
    /// Human words: `exit code 3`, `killed by SIGKILL`.
    pub description: String,
}

impl RunExit {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Starts runs.
pub trait Runner: Send + Sync + 'static {
    /// Starts the process; an error says why it could not start.
    fn start(&self, request: &RunRequest) -> Result<Box<dyn RunningJob>, String>;

    /// Told how a run of `job` ended, in words (the real runner writes it to the job's log).
    fn finished(&self, job: &str, summary: &str) {
        let _ = (job, summary);
    }
}

/// A started run.
pub trait RunningJob: Send {
    /// Resolves when the process has ended (cancel-safe).
    fn wait(&mut self) -> JobFuture<'_, RunExit>;
    /// Asks the process to stop (SIGTERM to its process group).
    fn terminate(&mut self) -> JobFuture<'_, ()>;
    /// Kills the process group.
    fn kill(&mut self) -> JobFuture<'_, ()>;
}

/// The release jobs run from: its folder and config vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRelease {
    pub version: u32,
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// Runs jobs as processes under the shim.
pub struct ProcessRunner {
    pub app: String,
    /// The pier executable (the shim).
    pub shim: PathBuf,
    pub logs: LogBus,
    /// `<NAME>_URL` of the internal services.
    pub internal_urls: BTreeMap<String, String>,
    release: Mutex<JobRelease>,
}

impl ProcessRunner {
    pub fn new(
        app: String,
        shim: PathBuf,
        logs: LogBus,
        internal_urls: BTreeMap<String, String>,
        release: JobRelease,
    ) -> ProcessRunner {
        ProcessRunner {
            app,
            shim,
            logs,
            internal_urls,
            release: Mutex::new(release),
        }
    }

    /// Runs from now on start from `release` (runs already started keep theirs).
    pub fn set_release(&self, release: JobRelease) {
        *self.release.lock().unwrap_or_else(PoisonError::into_inner) = release;
    }

    fn spec(&self, request: &RunRequest) -> SpawnSpec {
        let release = self
            .release
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let source = log_source(&request.job);
        let identity = ReplicaIdentity {
            app: &self.app,
            service: &request.job,
            replica: &source,
            release: release.version,
            port: None,
        };
        let mut env = replica_env(
            &identity,
            &release.env,
            &BTreeMap::new(),
            &self.internal_urls,
        );
        env.insert("PIER_JOB".into(), request.job.clone());
        env.insert("PIER_RUN_ID".into(), request.run_id.clone());
        env.insert("PIER_SCHEDULED_AT".into(), request.scheduled_at.to_string());
        env.insert("PIER_ATTEMPT".into(), request.attempt.to_string());
        SpawnSpec {
            shim: self.shim.clone(),
            command: request.command.clone(),
            dir: release.dir,
            env,
        }
    }
}

/// The log source of a job's runs: `pier logs job.NAME`.
pub fn log_source(job: &str) -> String {
    format!("job.{job}")
}

impl Runner for ProcessRunner {
    fn start(&self, request: &RunRequest) -> Result<Box<dyn RunningJob>, String> {
        let source = log_source(&request.job);
        let spec = self.spec(request);
        let process = Process::spawn(&spec, &self.logs, &source)
            .map_err(|error| format!("cannot start `{}`: {error}", request.command))?;
        self.logs.push(
            &source,
            LogStream::System,
            format!(
                "run {} started (attempt {}, scheduled at {}, definition v{})",
                request.run_id, request.attempt, request.scheduled_at, request.version
            ),
        );
        Ok(Box::new(ProcessJob { process }))
    }

    fn finished(&self, job: &str, summary: &str) {
        self.logs
            .push(&log_source(job), LogStream::System, summary.to_string());
    }
}

struct ProcessJob {
    process: Process,
}

impl RunningJob for ProcessJob {
    fn wait(&mut self) -> JobFuture<'_, RunExit> {
        Box::pin(async move {
            match self.process.wait().await {
                Ok(status) => RunExit {
                    code: status.code(),
                    description: describe_exit(&status),
                },
                Err(error) => RunExit {
                    code: None,
                    description: format!("cannot wait for the process: {error}"),
                },
            }
        })
    }

    fn terminate(&mut self) -> JobFuture<'_, ()> {
        Box::pin(self.process.terminate())
    }

    fn kill(&mut self) -> JobFuture<'_, ()> {
        Box::pin(self.process.kill())
    }
}
