//! The event log: the platform's audit trail (replicas started, ready, exited, restarting;
//! scale changes; daemon start and stop). Append-only, bounded to the newest
//! [`StateOptions::max_events`](crate::StateOptions) rows. Knows nothing of what kinds mean.

use rusqlite::types::Value;
use rusqlite::{Row, Transaction, params_from_iter};

use crate::db::State;
use crate::error::{DbContext, StateError};

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at_ms: i64,
    /// What happened, dotted: `replica.exited`, `formation.scaled`, `daemon.started`.
    pub kind: String,
    /// What it happened to: `web.1` (a replica), `web` (a process type) or `pier`.
    pub subject: String,
    pub message: String,
}

/// A recorded event; ids increase with time and are never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub at_ms: i64,
    pub kind: String,
    pub subject: String,
    pub message: String,
}

/// Which events to read: the last `limit` that match, returned oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events with a greater id (a cursor for following the log).
    pub after_id: Option<i64>,
    /// At most this many, the newest that match; 0 returns nothing.
    pub limit: usize,
    /// Only events whose subject is this or starts with this followed by a dot, so `web`
    /// matches `web` and `web.1` but not `webhook`.
    pub subject: Option<String>,
}

impl EventQuery {
    /// The last `limit` events of any subject.
    pub fn last(limit: usize) -> EventQuery {
        EventQuery {
            after_id: None,
            limit,
            subject: None,
        }
    }

    /// Only events after `id`.
    pub fn after(mut self, id: i64) -> EventQuery {
        self.after_id = Some(id);
        self
    }

    /// Only events about `subject` or its sub-subjects.
    pub fn subject(mut self, subject: impl Into<String>) -> EventQuery {
        self.subject = Some(subject.into());
        self
    }
}

const COLUMNS: &str = "id, at_ms, kind, subject, message";

impl State {
    /// Records one event durably.
    pub fn append_event(&self, event: &NewEvent) -> Result<Event, StateError> {
        let mut events = self.append_events(std::slice::from_ref(event))?;
        events.pop().ok_or_else(|| StateError::Corrupt {
            detail: "appending an event returned no row".to_owned(),
        })
    }

    /// Records a batch of events in one transaction: all or none.
    pub fn append_events(&self, events: &[NewEvent]) -> Result<Vec<Event>, StateError> {
        const OP: &str = "appending events";
        if let Some(bad) = events.iter().find(|e| e.kind.is_empty()) {
            return Err(StateError::Invalid(format!(
                "event about {:?} has an empty kind",
                bad.subject
            )));
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let max_events = i64::try_from(self.options().max_events.max(1)).unwrap_or(i64::MAX);
        self.write(OP, |tx| {
            let stored = insert(tx, events)?;
            let (first, last) = (stored[0].id, stored[stored.len() - 1].id);
            if crosses_prune_point(first, last, max_events) {
                tx.execute("DELETE FROM events WHERE id <= ?1", [last - max_events])
                    .during(OP)?;
            }
            Ok(stored)
        })
    }

    /// The last `query.limit` events matching `query`, oldest first.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StateError> {
        const OP: &str = "reading events";
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if let Some(after_id) = query.after_id {
            params.push(Value::Integer(after_id));
            conditions.push(format!("id > ?{}", params.len()));
        }
        if let Some(subject) = &query.subject {
            params.push(Value::Text(subject.clone()));
            let n = params.len();
            // '/' follows '.' in byte order, so this range is exactly "starts with subject.",
            // and unlike LIKE it needs no escaping and can use the (subject, id) index.
            conditions.push(format!(
                "(subject = ?{n} OR (subject >= ?{n} || '.' AND subject < ?{n} || '/'))"
            ));
        }
        params.push(Value::Integer(
            i64::try_from(query.limit).unwrap_or(i64::MAX),
        ));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM events {filter} \
             ORDER BY id DESC LIMIT ?{limit}) ORDER BY id ASC",
            limit = params.len()
        );
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql).during(OP)?;
            let rows = stmt
                .query_map(params_from_iter(params), event_from_row)
                .during(OP)?;
            rows.map(|row| row.during(OP)).collect()
        })
    }
}

fn insert(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<Vec<Event>, StateError> {
    const OP: &str = "appending events";
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO events (at_ms, kind, subject, message) VALUES (?1, ?2, ?3, ?4)",
        )
        .during(OP)?;
    let mut stored = Vec::with_capacity(events.len());
    for event in events {
        stmt.execute((event.at_ms, &event.kind, &event.subject, &event.message))
            .during(OP)?;
        stored.push(Event {
            id: tx.last_insert_rowid(),
            at_ms: event.at_ms,
            kind: event.kind.clone(),
            subject: event.subject.clone(),
            message: event.message.clone(),
        });
    }
    Ok(stored)
}

/// Pruning runs when the ids just written pass a multiple of the prune interval: about every
/// 1000 inserts at the default bound, so the log holds at most `max + interval - 1` rows and
/// an insert rarely pays for a delete.
fn crosses_prune_point(first_id: i64, last_id: i64, max_events: i64) -> bool {
    let interval = (max_events / 100).clamp(1, 1000);
    last_id / interval > (first_id - 1) / interval
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: row.get(0)?,
        at_ms: row.get(1)?,
        kind: row.get(2)?,
        subject: row.get(3)?,
        message: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::crosses_prune_point;

    #[test]
    fn prunes_once_per_interval() {
        let max = 100_000;
        let pruning: Vec<i64> = (1..=5000)
            .filter(|&id| crosses_prune_point(id, id, max))
            .collect();
        assert_eq!(pruning, vec![1000, 2000, 3000, 4000, 5000]);
        assert!(crosses_prune_point(990, 1010, max));
        assert!(!crosses_prune_point(1001, 1999, max));
        assert!(crosses_prune_point(7, 7, 10));
    }
}
