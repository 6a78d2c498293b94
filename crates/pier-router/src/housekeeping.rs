//! Once a second on every worker: close the idle backend connections whose replica has closed
//! them (otherwise they sit in CLOSE_WAIT until the next request to that replica finds them).
//!
//! The tick has a second job: it keeps each worker's timer wheel from ever being empty.
//! tokio wakes a runtime's driver through its eventfd whenever a timer is registered earlier
//! than the driver's next planned wake-up, and "no timer at all" counts as later than any — so
//! with an empty wheel, arming a request's first-byte timeout cost a `write` system call on
//! about one request in five under load. A timer due within a second is always earlier than
//! the router's timeouts, so registering those never wakes the driver.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::Shared;

/// How often each worker sweeps its idle connections.
const TICK: Duration = Duration::from_secs(1);

/// Runs on each worker until the router is gone.
pub(crate) async fn run(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        sweep(&shared);
    }
}

/// Drops this worker's idle connections that the replica closed, on every replica in the
/// table.
fn sweep(shared: &Arc<Shared>) {
    let endpoints: Vec<_> = shared
        .known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    for endpoint in endpoints {
        endpoint.close_idle_closed_by_peer();
    }
}
