//! Daylight-saving transitions through the scheduler with a manual clock: a slot in a gap runs
//! at the first instant after the gap, a slot in an overlap runs once.

use jiff::{SignedDuration, Timestamp};
use pier_scheduler::{Clock, ManualClock};
use pier_state::RunState;

use crate::harness::{Harness, at, job, state};

/// Lets time pass slot by slot (as the scheduler plans them) until `until`, in steps of at most
/// `step`, and returns the slots that ran.
async fn run_through(h: &Harness, until: Timestamp, step: SignedDuration) -> Vec<Timestamp> {
    loop {
        let now = h.clock.now();
        if now >= until {
            break;
        }
        let next = h.handle.status().jobs[0]
            .next_slot_ms
            .map(|ms| Timestamp::from_millisecond(ms).unwrap());
        let to = next.unwrap_or(until).min(now + step).min(until);
        h.tick_to(to).await;
    }
    let ran: Vec<Timestamp> = h.runner.started().iter().map(|r| r.scheduled_at).collect();
    h.wait_for("every run recorded", |h| {
        h.runs(&h.handle.status().jobs[0].name)
            .iter()
            .all(|r| r.state == RunState::Succeeded)
    })
    .await;
    ran
}

fn daily(schedule: &str, zone: &str) -> pier_scheduler::JobDefinition {
    let mut def = job(schedule);
    def.timezone = zone.into();
    def
}

/// Starts a scheduler at `from` with one job, lets time pass to `until` and checks the slots
/// that ran.
async fn check(
    schedule: &str,
    zone: &str,
    (from, until): (&str, &str),
    step_mins: i64,
    expected: &[&str],
) {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(from));
    let h = Harness::start(&state, &clock, &[("nightly", daily(schedule, zone))], "a");
    h.settle().await;
    let ran = run_through(&h, at(until), SignedDuration::from_mins(step_mins)).await;
    let expected: Vec<Timestamp> = expected.iter().map(|t| at(t)).collect();
    assert_eq!(ran, expected, "{schedule} in {zone}");
    h.stop().await;
}

#[tokio::test]
async fn berlin_spring_forward_runs_the_skipped_slot_at_the_end_of_the_gap() {
    check(
        "30 2 * * *",
        "Europe/Berlin",
        ("2026-03-27T12:00:00Z", "2026-03-31T00:00:00Z"),
        30,
        &[
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // 02:30 does not exist: 03:00 CEST, the gap's end
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ],
    )
    .await;
}

#[tokio::test]
async fn berlin_fall_back_runs_the_repeated_slot_once() {
    // Small steps through the repeated hour, so the second 02:30 (01:30Z) is looked at.
    check(
        "30 2 * * *",
        "Europe/Berlin",
        ("2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z"),
        5,
        &[
            "2026-10-25T00:30:00Z", // the first 02:30 (CEST); the second (CET) does not run
            "2026-10-26T01:30:00Z", // 02:30 CET
        ],
    )
    .await;
}

#[tokio::test]
async fn new_york_spring_forward_runs_the_skipped_slot_at_the_end_of_the_gap() {
    check(
        "30 2 * * *",
        "America/New_York",
        ("2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z"),
        30,
        &[
            "2026-03-08T07:00:00Z", // 02:30 does not exist: 03:00 EDT
            "2026-03-09T06:30:00Z", // 02:30 EDT
        ],
    )
    .await;
}

#[tokio::test]
async fn new_york_fall_back_runs_the_repeated_slot_once() {
    check(
        "30 1 * * *",
        "America/New_York",
        ("2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
        5,
        &[
            "2026-11-01T05:30:00Z", // 01:30 EDT; 01:30 EST (06:30Z) does not run again
            "2026-11-02T06:30:00Z", // 01:30 EST
        ],
    )
    .await;
}
