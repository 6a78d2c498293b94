//! A scheduler on a manual clock with a fake runner whose jobs end when the test says so
//! (or at once, with `auto_exit`), and helpers to poll for what the scheduler did.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use pier_scheduler::runner::JobFuture;
use pier_scheduler::{
    Clock, JobDefinition, ManualClock, RunExit, RunRequest, Runner, RunningJob, Scheduler,
    SchedulerConfig, SchedulerHandle, SchedulerMetrics,
};
use pier_state::{JobRun, RunState, State};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started fake run.
#[derive(Debug, Clone)]
pub struct Started {
    pub request: RunRequest,
    exit: watch::Sender<Option<RunExit>>,
}

#[derive(Default)]
struct Inner {
    started: Vec<Started>,
    auto_exit: Option<i32>,
}

/// Runs nothing; remembers what it was asked to run.
#[derive(Clone, Default)]
pub struct FakeRunner {
    inner: Arc<Mutex<Inner>>,
}

impl FakeRunner {
    /// Every run started from now on exits at once with `code`.
    pub fn auto_exit(&self, code: Option<i32>) {
        self.inner.lock().unwrap().auto_exit = code;
    }

    pub fn started(&self) -> Vec<RunRequest> {
        let inner = self.inner.lock().unwrap();
        inner.started.iter().map(|s| s.request.clone()).collect()
    }

    /// Ends the newest attempt of `run_id` with exit `code`.
    pub fn exit(&self, run_id: &str, code: i32) {
        let inner = self.inner.lock().unwrap();
        let run = inner
            .started
            .iter()
            .rev()
            .find(|s| s.request.run_id == run_id)
            .unwrap_or_else(|| panic!("{run_id} was never started"));
        run.exit.send_replace(Some(exit(code)));
    }
}

fn exit(code: i32) -> RunExit {
    RunExit {
        code: Some(code),
        description: format!("exit code {code}"),
    }
}

impl Runner for FakeRunner {
    fn start(&self, request: &RunRequest) -> Result<Box<dyn RunningJob>, String> {
        let mut inner = self.inner.lock().unwrap();
        let (tx, rx) = watch::channel(inner.auto_exit.map(exit));
        inner.started.push(Started {
            request: request.clone(),
            exit: tx.clone(),
        });
        Ok(Box::new(FakeJob { tx, rx }))
    }
}

struct FakeJob {
    tx: watch::Sender<Option<RunExit>>,
    rx: watch::Receiver<Option<RunExit>>,
}

impl RunningJob for FakeJob {
    fn wait(&mut self) -> JobFuture<'_, RunExit> {
        Box::pin(async move {
            let exit = self.rx.wait_for(Option::is_some).await;
            exit.map(|e| e.clone().expect("some")).unwrap_or(RunExit {
                code: None,
                description: "gone".into(),
            })
        })
    }

    fn terminate(&mut self) -> JobFuture<'_, ()> {
        self.tx.send_if_modified(|exit| {
            exit.get_or_insert(RunExit {
                code: None,
                description: "killed by SIGTERM".into(),
            });
            true
        });
        Box::pin(async {})
    }

    fn kill(&mut self) -> JobFuture<'_, ()> {
        self.terminate()
    }
}

/// A job definition with the manifest's defaults.
pub fn job(schedule: &str) -> JobDefinition {
    JobDefinition {
        schedule: schedule.into(),
        timezone: "UTC".into(),
        command: "true".into(),
        timeout_ms: None,
        concurrency: "forbid".into(),
        catch_up: "latest".into(),
        max_catch_up: 100,
        starting_deadline_ms: None,
        retries: 0,
        retry_backoff_ms: 10_000,
        enabled: true,
    }
}

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A running scheduler and what it talks to.
pub struct Harness {
    pub clock: ManualClock,
    pub runner: FakeRunner,
    pub state: State,
    pub handle: SchedulerHandle,
    pub metrics: SchedulerMetrics,
    task: JoinHandle<()>,
}

impl Harness {
    pub fn start(
        state: &State,
        clock: &ManualClock,
        jobs: &[(&str, JobDefinition)],
        holder: &str,
    ) -> Harness {
        let runner = FakeRunner::default();
        runner.auto_exit(Some(0));
        Harness::start_with(state, clock, jobs, holder, runner)
    }

    pub fn start_with(
        state: &State,
        clock: &ManualClock,
        jobs: &[(&str, JobDefinition)],
        holder: &str,
        runner: FakeRunner,
    ) -> Harness {
        let metrics = SchedulerMetrics::unregistered();
        let jobs: BTreeMap<String, JobDefinition> = jobs
            .iter()
            .map(|(name, def)| (name.to_string(), def.clone()))
            .collect();
        let mut config = SchedulerConfig::new(
            state.clone(),
            Arc::new(clock.clone()),
            Arc::new(runner.clone()),
            metrics.clone(),
            jobs,
        );
        config.holder = holder.to_string();
        config.lease_ttl = Duration::from_secs(15);
        config.stop_grace = Duration::from_millis(200);
        let (scheduler, handle) = Scheduler::new(config).expect("scheduler starts");
        let task = tokio::spawn(scheduler.run());
        Harness {
            clock: clock.clone(),
            runner,
            state: state.clone(),
            handle,
            metrics,
            task,
        }
    }

    /// Polls `condition` until it holds (5 s of real time at most).
    pub async fn wait_for(&self, what: &str, condition: impl Fn(&Harness) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !condition(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; ledger: {:#?}",
                self.all_runs()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Lets time pass until `t` and waits until the scheduler has ticked at that time.
    pub async fn tick_to(&self, t: Timestamp) {
        self.clock.advance_to(t);
        self.settle().await;
    }

    /// Steps the wall clock to `t` (no time passes) and waits for the scheduler's tick.
    pub async fn step_to(&self, t: Timestamp) {
        self.clock.step_to(t);
        self.settle().await;
    }

    /// Waits until the scheduler has ticked at the clock's current time.
    pub async fn settle(&self) {
        let now = self.clock.now().as_millisecond();
        let mut status = self.handle.watch_status();
        let ticked = status.wait_for(|s| s.last_tick_ms >= now);
        tokio::time::timeout(Duration::from_secs(5), ticked)
            .await
            .expect("the scheduler ticks within 5 s")
            .expect("the scheduler runs");
    }

    /// The ledger rows of `job`, oldest first.
    pub fn runs(&self, job: &str) -> Vec<JobRun> {
        let mut runs = self.state.job_runs(job, 100_000, None).unwrap();
        runs.reverse();
        runs
    }

    fn all_runs(&self) -> Vec<(String, Option<i64>, RunState, Option<String>)> {
        let mut all = Vec::new();
        for record in self.state.job_records().unwrap() {
            for run in self.runs(&record.job) {
                all.push((run.run_id, run.slot_ms, run.state, run.reason));
            }
        }
        all
    }

    pub fn states(&self, job: &str) -> Vec<(Timestamp, RunState)> {
        self.runs(job)
            .into_iter()
            .filter_map(|r| Some((Timestamp::from_millisecond(r.slot_ms?).ok()?, r.state)))
            .collect()
    }

    pub async fn stop(self) {
        self.handle.shutdown().await;
        let _ = self.task.await;
    }

    /// Drops the scheduler without any cleanup, as `kill -9` would: its lease stays, its
    /// runs stay `running` in the ledger.
    pub async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A state store in a temporary directory (kept alive by the returned guard).
pub fn state() -> (State, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (State::open(dir.path()).unwrap(), dir)
}
