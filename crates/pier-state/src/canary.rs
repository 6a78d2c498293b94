//! The canary: a release running beside the current one with a share of the traffic. At most
//! one at a time, recorded in the `canary` table while its release has the `canary` status.
//! A pending release becomes the canary once its replicas are ready; promoting makes it
//! pending again (then current through the normal rollout, `deploys.rs`); aborting marks it
//! `aborted`.

use rusqlite::OptionalExtension;

use crate::db::State;
use crate::error::{DbContext, StateError};

/// The active canary as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRecord {
    pub version: u32,
    /// Share of the clients sent to it, in (0, 100).
    pub percent: f64,
    /// Mixed into the split hash, so that different canaries pick different clients.
    pub salt: String,
    pub started_at_ms: i64,
}

impl State {
    /// Makes the pending release `version` the canary with `percent` of the traffic. Fails
    /// with [`StateError::Conflict`] while another canary is active.
    pub fn start_canary(&self, version: u32, percent: f64, salt: &str) -> Result<(), StateError> {
        const OP: &str = "recording a canary";
        if !(percent > 0.0 && percent < 100.0) {
            return Err(StateError::Invalid(format!(
                "a canary's percentage must be above 0 and below 100, not {percent}"
            )));
        }
        let now = self.now_ms();
        self.write(OP, |tx| {
            if let Some(active) = active(tx)? {
                return Err(StateError::Conflict(format!(
                    "v{} is the canary already; promote or abort it first",
                    active.version
                )));
            }
            let changed = tx
                .execute(
                    "UPDATE releases SET status = 'canary' WHERE version = ?1 AND status = 'pending'",
                    [version],
                )
                .during(OP)?;
            if changed != 1 {
                return Err(StateError::Invalid(format!(
                    "release v{version} is not pending"
                )));
            }
            tx.execute(
                "INSERT INTO canary (id, version, percent, salt, started_at_ms) \
                 VALUES (1, ?1, ?2, ?3, ?4)",
                (version, percent, salt, now),
            )
            .during(OP)?;
            Ok(())
        })
    }

    /// The active canary, if any.
    pub fn canary(&self) -> Result<Option<CanaryRecord>, StateError> {
        self.read(active)
    }

    /// Ends the canary `version` for its promotion: the record goes, and the release is
    /// pending again until its rollout makes it current (or fails it).
    pub fn promote_canary(&self, version: u32) -> Result<(), StateError> {
        self.end(version, "promoting a canary", "pending", None)
    }

    /// Removes the canary `version`: the record goes, and the release is `aborted` with
    /// `reason`.
    pub fn abort_canary(&self, version: u32, reason: &str) -> Result<(), StateError> {
        self.end(version, "aborting a canary", "aborted", Some(reason))
    }

    /// After a daemon start: a canary recorded by the previous daemon (whose replicas died
    /// with it) is aborted with `reason`. Returns its version.
    pub fn abort_interrupted_canary(&self, reason: &str) -> Result<Option<u32>, StateError> {
        let Some(canary) = self.canary()? else {
            return Ok(None);
        };
        self.abort_canary(canary.version, reason)?;
        Ok(Some(canary.version))
    }

    fn end(
        &self,
        version: u32,
        op: &'static str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), StateError> {
        let now = self.now_ms();
        self.write(op, |tx| {
            let deleted = tx
                .execute("DELETE FROM canary WHERE version = ?1", [version])
                .during(op)?;
            if deleted != 1 {
                return Err(StateError::Invalid(format!("v{version} is not the canary")));
            }
            let finished = (status == "aborted").then_some(now);
            tx.execute(
                "UPDATE releases SET status = ?2, failure = COALESCE(?3, failure), \
                 finished_at_ms = COALESCE(?4, finished_at_ms) \
                 WHERE version = ?1 AND status = 'canary'",
                rusqlite::params![version, status, reason, finished],
            )
            .during(op)?;
            Ok(())
        })
    }
}

fn active(conn: &rusqlite::Connection) -> Result<Option<CanaryRecord>, StateError> {
    const OP: &str = "reading the canary";
    conn.query_row(
        "SELECT version, percent, salt, started_at_ms FROM canary WHERE id = 1",
        [],
        |r| {
            Ok(CanaryRecord {
                version: r.get(0)?,
                percent: r.get(1)?,
                salt: r.get(2)?,
                started_at_ms: r.get(3)?,
            })
        },
    )
    .optional()
    .during(OP)
}
