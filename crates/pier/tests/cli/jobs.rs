//! `pier jobs` end to end with the real daemon and real job processes: the table, history,
//! manual runs, disable/enable, errors, metrics — and the crash test: pier killed with SIGKILL
//! at random moments, again and again, never starts a slot twice and never loses one silently.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pier_state::{JobRun, RunState, State};
use serde_json::Value;

use crate::harness::{App, Daemon, text, wait_for};

const TICK: &str = r#"
app = "ticker"

[services.worker]
command = "sleep 100000"

[jobs.tick]
schedule = "* * * * * *"
command = "echo $PIER_SCHEDULED_AT $PIER_RUN_ID $PIER_JOB >> ticks.txt"
catch_up = "all"
"#;

/// The ledger of `job`, oldest slot first (manual runs left out).
fn ledger(app: &App, job: &str) -> Vec<JobRun> {
    let state = State::open(&app.path().join(".pier")).expect("open state");
    let mut runs: Vec<JobRun> = state
        .job_runs(job, 1_000_000, None)
        .expect("read ledger")
        .into_iter()
        .filter(|r| r.slot_ms.is_some())
        .collect();
    runs.sort_by_key(|r| r.slot_ms);
    runs
}

/// How often each `PIER_SCHEDULED_AT` appears in ticks.txt.
fn ticks(app: &App) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(app.path().join("ticks.txt")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let at = line.split_whitespace().next().unwrap_or("").to_string();
        *counts.entry(at).or_insert(0) += 1;
    }
    counts
}

fn succeeded(daemon: &Daemon) -> usize {
    let history: Value =
        serde_json::from_str(&daemon.ok(&["jobs", "history", "tick", "-n", "1000", "--json"]))
            .expect("history json");
    history["runs"]
        .as_array()
        .map(|runs| runs.iter().filter(|r| r["state"] == "succeeded").count())
        .unwrap_or(0)
}

#[test]
fn jobs_table_history_manual_run_disable_enable_and_metrics() {
    let app = App::with_manifest(TICK);
    let daemon = app.up();
    wait_for("two scheduled runs", Duration::from_secs(20), || {
        (succeeded(&daemon) >= 2).then_some(())
    });

    let table = daemon.ok(&["jobs"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAME  SCHEDULE     TIMEZONE  NEXT RUN"),
        "{table}"
    );
    assert!(table.contains("tick  * * * * * *  UTC"), "{table}");
    let jobs: Value = serde_json::from_str(&daemon.ok(&["jobs", "--json"])).unwrap();
    assert_eq!(jobs["leader"], true);
    assert_eq!(jobs["jobs"][0]["name"], "tick");
    assert_eq!(jobs["jobs"][0]["version"], 1);
    assert!(jobs["jobs"][0]["next_run_ms"].as_i64().is_some());

    let history = daemon.ok(&["jobs", "history", "tick", "-n", "3"]);
    assert!(
        history.starts_with("SLOT  ") || history.starts_with("SLOT "),
        "{history}"
    );
    assert!(history.contains("succeeded"), "{history}");
    assert!(history.contains(" v1 "), "{history}");

    // A manual run has its own run id and environment.
    let out = daemon.ok(&["jobs", "run", "tick"]);
    assert!(out.starts_with("started run tick@manual-"), "{out}");
    let run_id = out.split_whitespace().nth(2).unwrap().to_string();
    wait_for("the manual run's line", Duration::from_secs(10), || {
        std::fs::read_to_string(app.path().join("ticks.txt"))
            .ok()?
            .lines()
            .any(|l| l.contains(&run_id) && l.ends_with(" tick"))
            .then_some(())
    });

    // Disabled: slots are recorded as suspended and nothing runs.
    daemon.ok(&["jobs", "disable", "tick"]);
    let before = ledger(&app, "tick").len();
    wait_for("three suspended slots", Duration::from_secs(20), || {
        let runs = ledger(&app, "tick");
        (runs[before..]
            .iter()
            .filter(|r| r.state == RunState::Suspended)
            .count()
            >= 3)
            .then_some(())
    });
    let table = daemon.ok(&["jobs"]);
    assert!(table.contains("no (pier jobs disable)"), "{table}");
    let counts = ticks(&app);
    for run in ledger(&app, "tick")
        .iter()
        .filter(|r| r.state == RunState::Suspended)
    {
        let at = jiff::Timestamp::from_millisecond(run.slot_ms.unwrap())
            .unwrap()
            .to_string();
        assert!(!counts.contains_key(&at), "suspended slot {at} ran");
    }
    daemon.ok(&["jobs", "enable", "tick"]);
    let enabled_at = succeeded(&daemon);
    wait_for("runs again after enable", Duration::from_secs(20), || {
        (succeeded(&daemon) > enabled_at).then_some(())
    });

    // Metrics a user can alert on.
    let metrics = crate::harness::http_get(
        daemon.api.rsplit(':').next().unwrap().parse().unwrap(),
        "/metrics",
    )
    .expect("metrics")
    .1;
    assert!(
        metrics.contains("pier_job_runs_total{job=\"tick\",result=\"succeeded\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("pier_job_last_success_timestamp_seconds{job=\"tick\"}"));
    assert!(metrics.contains("pier_job_missed_slots_total{job=\"tick\",reason=\"suspended\"}"));
    assert!(metrics.contains("pier_job_duration_seconds_bucket{"));

    // The output of runs is in `pier logs job.tick`.
    let logs = daemon.ok(&["logs", "job.tick", "-n", "20"]);
    assert!(logs.contains("pier[job.tick]: run tick@"), "{logs}");
}

#[test]
fn unknown_jobs_are_clear_errors() {
    let app = App::with_manifest(TICK);
    let daemon = app.up();
    for args in [
        &["jobs", "run", "tock"][..],
        &["jobs", "history", "tock"],
        &["jobs", "disable", "tock"],
    ] {
        let out = daemon.cli(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("no job named `tock`; `pier jobs` lists them"),
            "{args:?}: {stderr}"
        );
    }
}

/// A deterministic stream of kill moments (printed, so a failure can be replayed).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

#[test]
fn sigkill_at_random_moments_never_runs_a_slot_twice_or_loses_one() {
    let app = App::with_manifest(TICK);
    let seed = std::env::var("PIER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    eprintln!("crash test seed {seed} (set PIER_CRASH_SEED to replay)");
    let mut moments = Moments(seed);
    let began = Instant::now();
    for _ in 0..20 {
        let mut daemon = app.up();
        // A random moment within the daemon's first 1.5 s: during start-up, claims, runs.
        std::thread::park_timeout(Duration::from_millis(moments.next_ms(1500)));
        daemon.signal_and_wait(Signal::SIGKILL);
        // Another random pause while pier is down: those slots are downtime.
        std::thread::park_timeout(Duration::from_millis(moments.next_ms(1200)));
    }
    let daemon = app.up();
    let restarted_at = jiff::Timestamp::now();
    wait_for("the scheduler to catch up", Duration::from_secs(30), || {
        ledger(&app, "tick")
            .iter()
            .any(|r| {
                r.state == RunState::Succeeded
                    && r.slot_ms.unwrap() > restarted_at.as_millisecond() + 1000
            })
            .then_some(())
    });
    drop(daemon);
    eprintln!("crash test took {:?}", began.elapsed());

    let runs = ledger(&app, "tick");
    let counts = ticks(&app);
    assert!(runs.len() > 20, "{} slots", runs.len());
    // Every second from the first slot to the last has exactly one row.
    for pair in runs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let a_end = a.covers_until_ms.unwrap_or(a.slot_ms.unwrap());
        assert_eq!(
            b.slot_ms.unwrap() - a_end,
            1000,
            "a gap or overlap between {} and {}",
            a.run_id,
            b.run_id
        );
    }
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        *by_state.entry(run.state.as_str()).or_default() += 1;
        let at = jiff::Timestamp::from_millisecond(run.slot_ms.unwrap())
            .unwrap()
            .to_string();
        let ran = counts.get(&at).copied().unwrap_or(0);
        match run.state {
            RunState::Succeeded => assert_eq!(ran, 1, "{} ran {ran} times", run.run_id),
            // Killed with pier: it may have written its line or not, but only once.
            RunState::Lost | RunState::Failed => {
                assert!(ran <= 1, "{} ran {ran} times", run.run_id);
                assert!(run.reason.is_some(), "{run:?}");
            }
            RunState::Missed | RunState::Skipped => {
                assert_eq!(ran, 0, "{} did not run but wrote a line", run.run_id);
                assert!(run.reason.is_some(), "{run:?}");
            }
            other => panic!("{} left {other} after a clean stop", run.run_id),
        }
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "a slot ran twice: {counts:?}"
    );
    assert!(
        by_state.get("succeeded").copied().unwrap_or(0) > runs.len() / 2,
        "{by_state:?}"
    );
    eprintln!("ledger after 20 kills: {by_state:?}");
}

#[test]
fn a_run_past_its_timeout_is_stopped_with_its_process_group() {
    let app = App::with_manifest(
        r#"
app = "slow"

[services.worker]
command = "sleep 100000"

[jobs.slow]
schedule = "@yearly"
command = "sleep 300 & sleep 300; wait"
timeout = "1s"
"#,
    );
    let daemon = app.up();
    daemon.ok(&["jobs", "run", "slow"]);
    let run = wait_for("the run to time out", Duration::from_secs(30), || {
        let history: Value =
            serde_json::from_str(&daemon.ok(&["jobs", "history", "slow", "--json"])).ok()?;
        let run = history["runs"][0].clone();
        (run["state"] == "timed_out").then_some(run)
    });
    let reason = run["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("ran longer than timeout = 1s; killed by SIGTERM"),
        "{reason}"
    );
    // Both sleeps (the shell's background child too) are gone; only the worker's remains.
    wait_for(
        "the job's processes to end",
        Duration::from_secs(10),
        || {
            let sleeps = daemon
                .descendants()
                .into_iter()
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| c.starts_with("sleep\u{0}300"))
                })
                .count();
            (sleeps == 0).then_some(())
        },
    );
    let events = daemon.ok(&["events", "job.slow"]);
    assert!(events.contains("job.timed_out"), "{events}");
}
