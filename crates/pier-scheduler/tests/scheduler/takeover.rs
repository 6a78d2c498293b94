//! Two schedulers on one state: only the lease holder claims slots; when it dies (no clean
//! stop, as with `kill -9`) the other takes over once the lease expires, marks its running
//! runs lost, and handles the slots in between by the catch-up policy.

use std::time::Duration;

use jiff::SignedDuration;
use pier_scheduler::ManualClock;
use pier_state::RunState;

use crate::harness::{FakeRunner, Harness, at, job, state};

const T0: &str = "2026-11-23T10:00:00Z";

#[tokio::test]
async fn the_follower_takes_over_when_the_leader_dies_and_nothing_runs_twice() {
    let (state, _dir) = state();
    let clock = ManualClock::new(at(T0));
    let mut def = job("@every 10s");
    def.catch_up = "all".into();
    def.concurrency = "allow".into();
    let leader = Harness::start_with(
        &state,
        &clock,
        &[("j", def.clone())],
        "a",
        FakeRunner::default(),
    );
    leader.settle().await;
    let follower = Harness::start(&state, &clock, &[("j", def)], "b");
    follower.settle().await;
    assert!(leader.handle.status().leader);
    assert!(!follower.handle.status().leader);

    for step in 1..=3 {
        let t = at(T0) + SignedDuration::from_secs(10 * step);
        clock.advance_to(t);
        leader.settle().await;
        follower.settle().await;
    }
    leader
        .wait_for("three runs on the leader", |h| {
            h.runner.started().len() == 3
        })
        .await;
    assert!(
        follower.runner.started().is_empty(),
        "the follower claims nothing"
    );

    // The leader dies with its three runs in flight.
    leader.runner.exit("j@2026-11-23T10:00:10Z", 0);
    leader
        .wait_for("the first run recorded", |h| {
            h.states("j")[0].1 == RunState::Succeeded
        })
        .await;
    let leader_runner = leader.runner.clone();
    leader.crash().await;

    // Same process, so the follower cannot prove the leader dead: it waits for the lease
    // (15 s from the last renewal) to expire. Slots keep coming meanwhile.
    for step in 4..=6 {
        clock.advance_to(at(T0) + SignedDuration::from_secs(10 * step));
        follower.settle().await;
    }
    follower
        .wait_for("the follower leads", |h| h.handle.status().leader)
        .await;
    follower
        .wait_for("caught-up slots ran", |h| {
            h.states("j")
                .iter()
                .filter(|(_, s)| *s == RunState::Succeeded)
                .count()
                >= 4
        })
        .await;
    let states = follower.states("j");
    let lost: Vec<_> = states
        .iter()
        .filter(|(_, s)| *s == RunState::Lost)
        .collect();
    assert_eq!(
        lost.len(),
        2,
        "the dead leader's two running runs: {states:?}"
    );
    // Every slot from 10 s to 60 s has exactly one row, and no slot was started twice.
    let slots: Vec<_> = states.iter().map(|(t, _)| *t).collect();
    let expected: Vec<_> = (1..=6)
        .map(|i| at(T0) + SignedDuration::from_secs(10 * i))
        .collect();
    assert_eq!(slots, expected);
    let mut started: Vec<_> = leader_runner
        .started()
        .into_iter()
        .chain(follower.runner.started())
        .map(|r| r.run_id)
        .collect();
    let total = started.len();
    started.sort();
    started.dedup();
    assert_eq!(started.len(), total, "no slot started twice");
    follower.stop().await;
    let _ = Duration::ZERO;
}
