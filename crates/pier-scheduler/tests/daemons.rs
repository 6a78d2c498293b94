//! Two scheduler processes on one state, with the real clock and real job processes: each
//! slot runs once; killing the lease holder (`kill -9`) hands over at once, and a frozen holder
//! (SIGSTOP) is replaced when its lease expires and, thawed, claims nothing more.
//!
//! The scheduler processes are this test binary re-executed: `scheduler_process` is a normal
//! test that returns at once, unless `PIER_TEST_SCHEDULER_STATE` names a state directory.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pier_scheduler::runner::JobFuture;
use pier_scheduler::{
    JobDefinition, RunExit, RunRequest, Runner, RunningJob, Scheduler, SchedulerConfig,
    SchedulerMetrics, SystemClock,
};
use pier_state::{JobRun, RunState, State};

const STATE_ENV: &str = "PIER_TEST_SCHEDULER_STATE";
const TTL_ENV: &str = "PIER_TEST_SCHEDULER_TTL_MS";

/// Runs `sh -c` in its own process group (no shim: the pier binary is not built here).
struct ShellRunner {
    dir: std::path::PathBuf,
}

struct ShellJob(tokio::process::Child);

impl Runner for ShellRunner {
    fn start(&self, request: &RunRequest) -> Result<Box<dyn RunningJob>, String> {
        let child = tokio::process::Command::new("sh")
            .args(["-c", &request.command])
            .current_dir(&self.dir)
            .env("PIER_SCHEDULED_AT", request.scheduled_at.to_string())
            .env("PIER_RUN_ID", &request.run_id)
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        Ok(Box::new(ShellJob(child)))
    }
}

impl RunningJob for ShellJob {
    fn wait(&mut self) -> JobFuture<'_, RunExit> {
        Box::pin(async move {
            let status = self.0.wait().await.map_err(|e| e.to_string());
            RunExit {
                code: status.as_ref().ok().and_then(|s| s.code()),
                description: format!("{status:?}"),
            }
        })
    }

    fn terminate(&mut self) -> JobFuture<'_, ()> {
        signal_group(&self.0, Signal::SIGTERM);
        Box::pin(async {})
    }

    fn kill(&mut self) -> JobFuture<'_, ()> {
        signal_group(&self.0, Signal::SIGKILL);
        Box::pin(async {})
    }
}

fn signal_group(child: &tokio::process::Child, signal: Signal) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(-(pid as i32)), signal);
    }
}

/// The scheduler process's entry point.
#[test]
fn scheduler_process() {
    let Ok(dir) = std::env::var(STATE_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let ttl: u64 = std::env::var(TTL_ENV).unwrap().parse().unwrap();
    let state = State::open(&dir).unwrap();
    let def = JobDefinition {
        schedule: "* * * * * *".into(),
        timezone: "UTC".into(),
        command: "echo $PIER_SCHEDULED_AT $PIER_RUN_ID >> ticks.txt".into(),
        timeout_ms: None,
        concurrency: "forbid".into(),
        catch_up: "all".into(),
        max_catch_up: 100,
        starting_deadline_ms: None,
        retries: 0,
        retry_backoff_ms: 1000,
        enabled: true,
    };
    let mut config = SchedulerConfig::new(
        state,
        Arc::new(SystemClock::new()),
        Arc::new(ShellRunner { dir: dir.clone() }),
        SchedulerMetrics::unregistered(),
        BTreeMap::from([("tick".to_string(), def)]),
    );
    config.lease_ttl = Duration::from_millis(ttl);
    let (scheduler, _handle) = Scheduler::new(config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(scheduler.run());
}

/// A scheduler process; killed on drop.
struct Daemon(Child);

impl Daemon {
    fn start(dir: &std::path::Path, ttl_ms: u64) -> Daemon {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "scheduler_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(STATE_ENV, dir)
            .env(TTL_ENV, ttl_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Daemon(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid() as i32), signal).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGCONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

fn holder_pid(state: &State) -> Option<u32> {
    let lease = state.scheduler_lease().ok()??;
    lease.holder.split('/').nth(1)?.parse().ok()
}

fn runs(state: &State) -> Vec<JobRun> {
    let mut runs = state.job_runs("tick", 1_000_000, None).unwrap();
    runs.sort_by_key(|r| r.slot_ms);
    runs
}

fn succeeded_by(state: &State, pid: u32) -> usize {
    runs(state)
        .iter()
        .filter(|r| {
            r.state == RunState::Succeeded
                && r.claimed_by.split('/').nth(1) == Some(&pid.to_string())
        })
        .count()
}

/// Every second between the first and last slot has one row; every succeeded slot wrote its
/// line once; nothing wrote twice.
fn check_ledger(dir: &std::path::Path, state: &State) -> BTreeMap<String, usize> {
    let runs = runs(state);
    for pair in runs.windows(2) {
        let end = pair[0].covers_until_ms.unwrap_or(pair[0].slot_ms.unwrap());
        assert_eq!(
            pair[1].slot_ms.unwrap() - end,
            1000,
            "gap or overlap between {} and {}",
            pair[0].run_id,
            pair[1].run_id
        );
    }
    let text = std::fs::read_to_string(dir.join("ticks.txt")).unwrap_or_default();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        *lines
            .entry(line.split_whitespace().next().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        lines.values().all(|n| *n == 1),
        "a slot ran twice: {lines:?}"
    );
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs {
        *states.entry(run.state.to_string()).or_default() += 1;
        let at = jiff::Timestamp::from_millisecond(run.slot_ms.unwrap())
            .unwrap()
            .to_string();
        if run.state == RunState::Succeeded {
            assert_eq!(
                lines.get(&at),
                Some(&1),
                "{} succeeded without its line",
                run.run_id
            );
        }
        assert_ne!(run.state, RunState::Missed, "{run:?}");
    }
    states
}

#[test]
fn killing_the_lease_holder_hands_over_and_each_slot_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(dir.path()).unwrap();
    let a = Daemon::start(dir.path(), 15_000);
    wait_for("A to hold the lease", || {
        holder_pid(&state) == Some(a.pid())
    });
    let b = Daemon::start(dir.path(), 15_000);
    wait_for("A to run three slots", || {
        succeeded_by(&state, a.pid()) >= 3
    });
    assert_eq!(succeeded_by(&state, b.pid()), 0, "B only follows");

    a.signal(Signal::SIGKILL);
    let killed = Instant::now();
    wait_for("B to take the lease", || {
        holder_pid(&state) == Some(b.pid())
    });
    // A dead holder on this machine is replaced without waiting for its 15 s lease.
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "{:?}",
        killed.elapsed()
    );
    wait_for("B to run three slots", || {
        succeeded_by(&state, b.pid()) >= 3
    });
    drop(b);
    drop(a);
    let states = check_ledger(dir.path(), &state);
    eprintln!("ledger: {states:?}");
}

#[test]
fn a_frozen_holder_loses_the_lease_when_it_expires_and_claims_nothing_after() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(dir.path()).unwrap();
    let a = Daemon::start(dir.path(), 2_000);
    wait_for("A to hold the lease", || {
        holder_pid(&state) == Some(a.pid())
    });
    let b = Daemon::start(dir.path(), 2_000);
    wait_for("A to run two slots", || succeeded_by(&state, a.pid()) >= 2);

    a.signal(Signal::SIGSTOP);
    wait_for("B to take the expired lease", || {
        holder_pid(&state) == Some(b.pid())
    });
    wait_for("B to run two slots", || succeeded_by(&state, b.pid()) >= 2);
    a.signal(Signal::SIGCONT);
    let thawed = jiff::Timestamp::now().as_millisecond() + 1500;
    wait_for("B to run three slots after A thawed", || {
        runs(&state)
            .iter()
            .filter(|r| r.slot_ms.unwrap() > thawed && r.state == RunState::Succeeded)
            .count()
            >= 3
    });
    assert_eq!(holder_pid(&state), Some(b.pid()));
    let after: Vec<JobRun> = runs(&state)
        .into_iter()
        .filter(|r| r.slot_ms.unwrap() > thawed)
        .collect();
    assert!(
        after
            .iter()
            .all(|r| r.claimed_by.split('/').nth(1) == Some(&b.pid().to_string())),
        "A claimed a slot after it thawed: {after:?}"
    );
    drop(a);
    drop(b);
    let states = check_ledger(dir.path(), &state);
    eprintln!("ledger: {states:?}");
}
