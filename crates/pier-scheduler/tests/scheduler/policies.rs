//! Catch-up, deadlines, concurrency, timeouts, retries, disabling and manual runs.

use jiff::{SignedDuration, Timestamp};
use pier_scheduler::ManualClock;
use pier_state::{RunState, RunTrigger};

use crate::harness::{FakeRunner, Harness, at, job, state};

const T0: &str = "2026-11-23T10:00:00Z";

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

#[tokio::test]
async fn each_slot_is_claimed_once_and_runs_with_its_slot_time() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let h = Harness::start(&state, &clock, &[("tick", job("@every 10s"))], "a");
    h.settle().await;
    for step in 1..=6 {
        h.tick_to(at(T0) + secs(10 * step)).await;
    }
    h.wait_for("six runs succeed", |h| {
        h.states("tick")
            .iter()
            .filter(|(_, s)| *s == RunState::Succeeded)
            .count()
            == 6
    })
    .await;
    let started: Vec<Timestamp> = h.runner.started().iter().map(|r| r.scheduled_at).collect();
    let expected: Vec<Timestamp> = (1..=6).map(|i| at(T0) + secs(10 * i)).collect();
    assert_eq!(started, expected);
    let first = &h.runner.started()[0];
    assert_eq!(first.run_id, "tick@2026-11-23T10:00:10Z");
    assert_eq!(h.metrics.runs("tick", "succeeded"), 6);
    // Ticking at the same time again, or in between, claims nothing new.
    h.tick_to(at(T0) + secs(65)).await;
    assert_eq!(h.runner.started().len(), 6);
    h.stop().await;
}

/// Runs a job, stops pier for 100 s (10 slots), starts it again with `catch_up`.
async fn after_downtime(catch_up: &str, max: u32, deadline: Option<u64>) -> Harness {
    let (state, dir) = state();
    std::mem::forget(dir);
    let clock = ManualClock::new(at(T0));
    let mut def = job("@every 10s");
    def.catch_up = catch_up.into();
    def.max_catch_up = max;
    def.starting_deadline_ms = deadline;
    def.concurrency = "allow".into();
    let first = Harness::start(&state, &clock, &[("j", def.clone())], "a");
    first.settle().await;
    first.tick_to(at(T0) + secs(10)).await;
    first
        .wait_for("the first run", |h| h.runner.started().len() == 1)
        .await;
    first.stop().await;
    clock.advance_to(at(T0) + secs(110));
    let second = Harness::start(&state, &clock, &[("j", def)], "b");
    second.settle().await;
    second
}

#[tokio::test]
async fn catch_up_none_records_every_missed_slot() {
    let h = after_downtime("none", 100, None).await;
    h.wait_for("ten missed slots", |h| {
        h.states("j")
            .iter()
            .filter(|(_, s)| *s == RunState::Missed)
            .count()
            == 10
    })
    .await;
    assert!(h.runner.started().is_empty());
    let missed = h
        .runs("j")
        .into_iter()
        .find(|r| r.state == RunState::Missed)
        .unwrap();
    assert_eq!(missed.trigger, RunTrigger::CatchUp);
    assert!(missed.reason.unwrap().contains("catch_up = \"none\""));
    assert_eq!(h.metrics.missed_count("j", "downtime"), 10);
    let events = h
        .state
        .events(&pier_state::EventQuery::last(10).subject("job.j"))
        .unwrap();
    assert_eq!(events.len(), 1, "one summarised event: {events:?}");
    assert!(events[0].message.starts_with("10 slots from"), "{events:?}");
    h.stop().await;
}

#[tokio::test]
async fn catch_up_latest_runs_only_the_newest_missed_slot() {
    let h = after_downtime("latest", 100, None).await;
    h.wait_for("one catch-up run", |h| h.runner.started().len() == 1)
        .await;
    assert_eq!(h.runner.started()[0].scheduled_at, at(T0) + secs(110));
    let states = h.states("j");
    assert_eq!(states.len(), 11, "every slot has a row: {states:?}");
    assert_eq!(
        states
            .iter()
            .filter(|(_, s)| *s == RunState::Missed)
            .count(),
        9
    );
    h.stop().await;
}

#[tokio::test]
async fn catch_up_all_is_bounded_by_max_catch_up_with_one_event() {
    let h = after_downtime("all", 4, None).await;
    h.wait_for("four catch-up runs", |h| h.runner.started().len() == 4)
        .await;
    let started: Vec<Timestamp> = h.runner.started().iter().map(|r| r.scheduled_at).collect();
    let newest: Vec<Timestamp> = (8..=11).map(|i| at(T0) + secs(10 * i)).collect();
    assert_eq!(started, newest, "the newest slots run, oldest first");
    assert_eq!(h.metrics.missed_count("j", "catch_up_limit"), 6);
    let events = h
        .state
        .events(&pier_state::EventQuery::last(10).subject("job.j"))
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].message.contains("max_catch_up = 4"), "{events:?}");
    h.stop().await;
}

#[tokio::test]
async fn starting_deadline_misses_slots_that_are_too_late() {
    let h = after_downtime("all", 100, Some(25_000)).await;
    h.wait_for("three runs within the deadline", |h| {
        h.runner.started().len() == 3
    })
    .await;
    let started: Vec<Timestamp> = h.runner.started().iter().map(|r| r.scheduled_at).collect();
    assert_eq!(
        started,
        vec![at(T0) + secs(90), at(T0) + secs(100), at(T0) + secs(110)]
    );
    assert_eq!(h.metrics.missed_count("j", "deadline"), 7);
    h.stop().await;
}

#[tokio::test]
async fn forbid_skips_a_slot_while_the_previous_run_is_running() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let runner = FakeRunner::default();
    let h = Harness::start_with(&state, &clock, &[("slow", job("@every 10s"))], "a", runner);
    h.settle().await;
    h.tick_to(at(T0) + secs(10)).await;
    h.wait_for("the first run", |h| h.runner.started().len() == 1)
        .await;
    h.tick_to(at(T0) + secs(20)).await;
    h.wait_for("the second slot skipped", |h| {
        h.states("slow").get(1).map(|s| s.1) == Some(RunState::Skipped)
    })
    .await;
    h.runner.exit("slow@2026-11-23T10:00:10Z", 0);
    h.wait_for("the first run succeeds", |h| {
        h.states("slow")[0].1 == RunState::Succeeded
    })
    .await;
    h.tick_to(at(T0) + secs(30)).await;
    h.wait_for("the third slot runs", |h| h.runner.started().len() == 2)
        .await;
    assert_eq!(h.metrics.missed_count("slow", "concurrency"), 1);
    h.runner.exit("slow@2026-11-23T10:00:30Z", 0);
    h.stop().await;
}

#[tokio::test]
async fn allow_overlaps_and_replace_stops_the_previous_run() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let mut allow = job("@every 10s");
    allow.concurrency = "allow".into();
    let mut replace = job("@every 10s");
    replace.concurrency = "replace".into();
    let h = Harness::start_with(
        &state,
        &clock,
        &[("allow", allow), ("replace", replace)],
        "a",
        FakeRunner::default(),
    );
    h.settle().await;
    h.tick_to(at(T0) + secs(10)).await;
    h.tick_to(at(T0) + secs(20)).await;
    h.wait_for("two of each started", |h| h.runner.started().len() == 4)
        .await;
    h.wait_for("the first replace run replaced", |h| {
        h.states("replace")[0].1 == RunState::Failed
    })
    .await;
    let replaced = &h.runs("replace")[0];
    assert!(
        replaced
            .reason
            .as_deref()
            .unwrap()
            .starts_with("replaced by run replace@2026-11-23T10:00:20Z"),
        "{replaced:?}"
    );
    assert_eq!(h.states("allow")[0].1, RunState::Running);
    assert_eq!(h.states("allow")[1].1, RunState::Running);
    h.stop().await;
}

#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_and_recorded_timed_out() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let mut def = job("@every 1m");
    def.timeout_ms = Some(5_000);
    let h = Harness::start_with(&state, &clock, &[("t", def)], "a", FakeRunner::default());
    h.settle().await;
    h.tick_to(at(T0) + secs(60)).await;
    h.wait_for("a start", |h| h.runner.started().len() == 1)
        .await;
    h.tick_to(at(T0) + secs(64)).await;
    assert_eq!(h.states("t")[0].1, RunState::Running);
    h.tick_to(at(T0) + secs(65)).await;
    h.wait_for("timed out", |h| h.states("t")[0].1 == RunState::TimedOut)
        .await;
    let run = &h.runs("t")[0];
    assert!(
        run.reason.as_deref().unwrap().contains("timeout = 5s"),
        "{run:?}"
    );
    assert_eq!(h.metrics.runs("t", "timed_out"), 1);
    h.stop().await;
}

#[tokio::test]
async fn failed_runs_are_retried_with_backoff_in_the_same_slot() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let mut def = job("@every 1h");
    def.retries = 2;
    def.retry_backoff_ms = 10_000;
    let runner = FakeRunner::default();
    runner.auto_exit(Some(1));
    let h = Harness::start_with(&state, &clock, &[("r", def)], "a", runner);
    h.settle().await;
    let slot = at("2026-11-23T11:00:00Z");
    h.tick_to(slot).await;
    h.wait_for("attempt 1 failed", |h| {
        h.runs("r")[0].state == RunState::Scheduled && h.runner.started().len() == 1
    })
    .await;
    h.tick_to(slot + secs(9)).await;
    assert_eq!(h.runner.started().len(), 1, "not before the backoff");
    h.tick_to(slot + secs(10)).await;
    h.wait_for("attempt 2", |h| h.runner.started().len() == 2)
        .await;
    h.runner.auto_exit(Some(0));
    h.wait_for("attempt 2 failed", |h| {
        h.runs("r")[0].state == RunState::Scheduled
    })
    .await;
    h.tick_to(slot + secs(29)).await;
    assert_eq!(h.runner.started().len(), 2, "the backoff doubles");
    h.tick_to(slot + secs(30)).await;
    h.wait_for("attempt 3 succeeds", |h| {
        h.runs("r")[0].state == RunState::Succeeded
    })
    .await;
    let attempts: Vec<u32> = h.runner.started().iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert!(h.runner.started().iter().all(|r| r.scheduled_at == slot));
    assert_eq!(h.runs("r").len(), 1, "one ledger row for the slot");
    assert_eq!(h.runs("r")[0].attempt, 3);
    h.stop().await;
}

/// Disables a job for three slots, enables it; returns the harness after the enable.
async fn disable_three_slots_then_enable(catch_up: &str) -> Harness {
    let (state, dir) = state();
    std::mem::forget(dir);
    let clock = ManualClock::new(at(T0));
    let mut def = job("@every 10s");
    def.catch_up = catch_up.into();
    def.concurrency = "allow".into();
    let h = Harness::start(&state, &clock, &[("d", def)], "a");
    h.settle().await;
    h.handle.set_enabled("d", false).await.unwrap();
    for step in 1..=3 {
        h.tick_to(at(T0) + secs(10 * step)).await;
    }
    h.wait_for("three suspended slots", |h| {
        h.states("d")
            .iter()
            .filter(|(_, s)| *s == RunState::Suspended)
            .count()
            == 3
    })
    .await;
    assert!(h.runner.started().is_empty());
    assert!(!h.handle.status().jobs[0].enabled);
    assert_eq!(
        h.handle.status().jobs[0].disabled_by.as_deref(),
        Some("cli")
    );
    assert_eq!(h.metrics.missed_count("d", "suspended"), 3);
    h.tick_to(at(T0) + secs(35)).await;
    h.handle.set_enabled("d", true).await.unwrap();
    h
}

#[tokio::test]
async fn enabling_with_catch_up_none_resumes_at_the_next_slot_without_a_burst() {
    let h = disable_three_slots_then_enable("none").await;
    h.settle().await;
    assert!(h.runner.started().is_empty(), "no burst on enable");
    h.tick_to(at(T0) + secs(40)).await;
    h.wait_for("the next slot runs", |h| h.runner.started().len() == 1)
        .await;
    assert_eq!(h.runner.started()[0].scheduled_at, at(T0) + secs(40));
    let state = h.state.clone();
    h.stop().await;

    // The override survives a restart.
    let clock2 = ManualClock::new(at(T0) + secs(41));
    let again = Harness::start(&state, &clock2, &[("d", job("@every 10s"))], "b");
    again.settle().await;
    assert!(again.handle.status().jobs[0].enabled);
    again.stop().await;
}

#[tokio::test]
async fn enabling_with_catch_up_latest_runs_the_newest_suspended_slot_once() {
    let h = disable_three_slots_then_enable("latest").await;
    h.wait_for("one catch-up run", |h| h.runner.started().len() == 1)
        .await;
    assert_eq!(h.runner.started()[0].scheduled_at, at(T0) + secs(30));
    let states: Vec<RunState> = h.states("d").iter().map(|(_, s)| *s).collect();
    h.wait_for("it succeeds", |h| h.states("d")[2].1 == RunState::Succeeded)
        .await;
    assert_eq!(&states[..2], &[RunState::Suspended, RunState::Suspended]);
    h.stop().await;
}

#[tokio::test]
async fn enabling_with_catch_up_all_runs_every_suspended_slot() {
    let h = disable_three_slots_then_enable("all").await;
    h.wait_for("three catch-up runs", |h| h.runner.started().len() == 3)
        .await;
    let started: Vec<Timestamp> = h.runner.started().iter().map(|r| r.scheduled_at).collect();
    assert_eq!(
        started,
        vec![at(T0) + secs(10), at(T0) + secs(20), at(T0) + secs(30)]
    );
    h.stop().await;
}

#[tokio::test]
async fn a_manual_run_neither_consumes_nor_blocks_the_next_slot() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let h = Harness::start_with(
        &state,
        &clock,
        &[("m", job("@every 10s"))],
        "a",
        FakeRunner::default(),
    );
    h.settle().await;
    let manual = h.handle.run_now("m").await.unwrap();
    assert_eq!(manual.trigger, RunTrigger::Manual);
    assert_eq!(manual.slot_ms, None);
    assert!(manual.run_id.starts_with("m@manual-"), "{manual:?}");
    h.tick_to(at(T0) + secs(10)).await;
    h.wait_for("the slot runs beside the manual run", |h| {
        h.runner.started().len() == 2
    })
    .await;
    assert_eq!(h.runner.started()[1].scheduled_at, at(T0) + secs(10));
    h.runner.exit(&manual.run_id, 0);
    h.wait_for("the manual run succeeds", |h| {
        h.state.job_run(manual.id).unwrap().unwrap().state == RunState::Succeeded
    })
    .await;
    assert!(matches!(
        h.handle.run_now("nope").await,
        Err(pier_scheduler::SchedulerError::UnknownJob(_))
    ));
    h.runner.exit("m@2026-11-23T10:00:10Z", 0);
    h.stop().await;
}

#[tokio::test]
async fn a_clock_stepped_back_never_reruns_and_forward_counts_as_downtime() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let mut def = job("@every 10s");
    def.catch_up = "none".into();
    let h = Harness::start(&state, &clock, &[("c", def)], "a");
    h.settle().await;
    h.tick_to(at(T0) + secs(10)).await;
    h.tick_to(at(T0) + secs(20)).await;
    h.wait_for("two runs", |h| h.runner.started().len() == 2)
        .await;
    // Stepped back by a minute: nothing runs again until the clock passes 10:00:20 again.
    h.step_to(at(T0) - secs(40)).await;
    h.tick_to(at(T0) + secs(10)).await;
    h.tick_to(at(T0) + secs(20)).await;
    assert_eq!(h.runner.started().len(), 2);
    h.tick_to(at(T0) + secs(30)).await;
    h.wait_for("the next new slot", |h| h.runner.started().len() == 3)
        .await;
    // Stepped forward by ten minutes: the slots in between were downtime.
    h.step_to(at(T0) + secs(630)).await;
    h.wait_for("60 slots missed", |h| {
        h.metrics.missed_count("c", "downtime") == 60
    })
    .await;
    assert_eq!(h.runner.started().len(), 3);
    let rows = h.states("c");
    let slots: Vec<Timestamp> = rows.iter().map(|(t, _)| *t).collect();
    let mut sorted = slots.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), slots.len(), "one row per slot");
    assert_eq!(slots.len(), 63);
    h.stop().await;
}

#[tokio::test]
async fn each_definition_change_is_a_new_version_recorded_on_its_runs() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let v1 = job("@every 10s");
    let h = Harness::start(&state, &clock, &[("v", v1.clone())], "a");
    h.settle().await;
    h.tick_to(at(T0) + secs(10)).await;
    h.wait_for("a v1 run", |h| h.runner.started().len() == 1)
        .await;
    assert_eq!(h.runner.started()[0].version, 1);
    h.stop().await;

    // The same definition again: still version 1.
    let h = Harness::start(&state, &clock, &[("v", v1.clone())], "b");
    h.settle().await;
    assert_eq!(h.handle.status().jobs[0].version, 1);
    h.stop().await;

    // A new command is version 2; the history keeps both.
    let mut v2 = v1;
    v2.command = "bin/report --v2".into();
    let h = Harness::start(&state, &clock, &[("v", v2)], "c");
    h.settle().await;
    assert_eq!(h.handle.status().jobs[0].version, 2);
    h.tick_to(at(T0) + secs(20)).await;
    h.wait_for("a v2 run", |h| h.runner.started().len() == 1)
        .await;
    assert_eq!(h.runner.started()[0].version, 2);
    assert_eq!(h.runner.started()[0].command, "bin/report --v2");
    h.wait_for("both recorded", |h| h.runs("v").len() == 2)
        .await;
    let versions: Vec<u32> = h.runs("v").iter().map(|r| r.version).collect();
    assert_eq!(versions, vec![1, 2]);
    let old = h.state.job_definition("v", 1).unwrap().unwrap();
    assert!(old.contains("\"command\":\"true\""), "{old}");
    h.stop().await;
}
