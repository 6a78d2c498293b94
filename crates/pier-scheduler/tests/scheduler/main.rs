//! The scheduler's policies, driven by a manual clock and a fake runner: every slot claimed
//! once, catch-up after downtime, deadlines, concurrency, timeouts, retries, disabling,
//! manual runs, daylight-saving transitions and clock steps, takeover after a crash.

mod dst;
mod harness;
mod policies;
mod takeover;
