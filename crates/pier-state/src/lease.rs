//! The scheduler lease: one row saying which daemon schedules jobs for this state and until
//! when. A daemon renews it well before it expires; another takes it over once it has expired
//! (or at once, when the caller has proved the holder dead). Claims of slots check the lease in
//! the same transaction, and the ledger's unique key backs it up if two holders ever overlap.

use rusqlite::{Connection, OptionalExtension};

use crate::db::State;
use crate::error::{DbContext, StateError};

/// Who holds the lease, since and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub acquired_at_ms: i64,
    pub expires_at_ms: i64,
}

impl State {
    /// The lease as stored, whether or not it has expired.
    pub fn scheduler_lease(&self) -> Result<Option<Lease>, StateError> {
        self.read(read_lease)
    }

    /// Takes or renews the lease for `holder` until `now_ms + ttl_ms` if it is free, expired,
    /// already `holder`'s, or held by `steal_from` (a holder the caller knows to be dead).
    /// Returns the lease as it stands afterwards.
    pub fn take_scheduler_lease(
        &self,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
        steal_from: Option<&str>,
    ) -> Result<Lease, StateError> {
        const OP: &str = "taking the scheduler lease";
        self.write(OP, |tx| {
            let current = read_lease(tx)?;
            let free = match &current {
                None => true,
                Some(lease) => {
                    lease.holder == holder
                        || lease.expires_at_ms <= now_ms
                        || steal_from == Some(lease.holder.as_str())
                }
            };
            if !free {
                return Ok(current.expect("a lease that is not free exists"));
            }
            let acquired_at_ms = match &current {
                Some(lease) if lease.holder == holder => lease.acquired_at_ms,
                _ => now_ms,
            };
            let lease = Lease {
                holder: holder.to_string(),
                acquired_at_ms,
                expires_at_ms: now_ms.saturating_add(ttl_ms),
            };
            tx.execute(
                "INSERT INTO scheduler_lease (id, holder, acquired_at_ms, expires_at_ms)
                 VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder,
                     acquired_at_ms = excluded.acquired_at_ms,
                     expires_at_ms = excluded.expires_at_ms",
                (&lease.holder, lease.acquired_at_ms, lease.expires_at_ms),
            )
            .during(OP)?;
            Ok(lease)
        })
    }

    /// Gives the lease up (on a clean stop), so the next daemon need not wait for it.
    pub fn release_scheduler_lease(&self, holder: &str) -> Result<(), StateError> {
        const OP: &str = "releasing the scheduler lease";
        self.write(OP, |tx| {
            tx.execute("DELETE FROM scheduler_lease WHERE holder = ?1", [holder])
                .during(OP)?;
            Ok(())
        })
    }
}

/// Whether `holder` holds an unexpired lease at `now_ms`.
pub(crate) fn held_by(conn: &Connection, holder: &str, now_ms: i64) -> Result<bool, StateError> {
    Ok(read_lease(conn)?.is_some_and(|l| l.holder == holder && l.expires_at_ms > now_ms))
}

fn read_lease(conn: &Connection) -> Result<Option<Lease>, StateError> {
    conn.query_row(
        "SELECT holder, acquired_at_ms, expires_at_ms FROM scheduler_lease WHERE id = 1",
        [],
        |row| {
            Ok(Lease {
                holder: row.get(0)?,
                acquired_at_ms: row.get(1)?,
                expires_at_ms: row.get(2)?,
            })
        },
    )
    .optional()
    .during("reading the scheduler lease")
}
