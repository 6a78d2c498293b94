//! Persists the supervisor's events into the state store, batching whatever has queued up into
//! one transaction, off the async worker threads.

use std::time::SystemTime;

use pier_state::{NewEvent, State};
use pier_supervisor::SupervisorEvent;
use tokio::sync::mpsc;

/// Consumes events until every sender is gone.
pub fn spawn(
    state: State,
    mut rx: mpsc::UnboundedReceiver<SupervisorEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![to_new_event(first)];
            while let (true, Ok(next)) = (batch.len() < 512, rx.try_recv()) {
                batch.push(to_new_event(next));
            }
            let state = state.clone();
            match tokio::task::spawn_blocking(move || state.append_events(&batch)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not record events"),
                Err(error) => tracing::warn!(%error, "event recorder task failed"),
            }
        }
    })
}

/// Records one event of the daemon itself, waiting until it is durable.
pub async fn record_now(state: &State, kind: &str, subject: &str, message: String) {
    let event = NewEvent {
        at_ms: unix_ms(SystemTime::now()),
        kind: kind.to_string(),
        subject: subject.to_string(),
        message,
    };
    let state = state.clone();
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || state.append_event(&event)).await {
        tracing::warn!(%error, "could not record event");
    }
}

fn to_new_event(event: SupervisorEvent) -> NewEvent {
    NewEvent {
        at_ms: unix_ms(event.at),
        kind: event.kind.as_str().to_string(),
        subject: event.subject,
        message: event.message,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    pier_api::unix_ms(t)
}
