//! The lifecycle of a deployed release and its release-phase ledger. A deploy, a rollback or
//! a config change is recorded as a `pending` release before anything is built or started
//! (write-ahead); it then becomes `current` (the one it replaces `superseded` or
//! `rolled-back`) or `failed` with the reason. A release-phase run is recorded before its
//! command starts, so that a crash can never make it run a second time unnoticed.

use rusqlite::OptionalExtension;

use crate::db::State;
use crate::error::{DbContext, StateError};
use crate::releases::{
    COLUMNS, NewRelease, RawRelease, Release, ReleaseStatus, by_version, current, insert,
};

/// The release phase of one release, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePhase {
    pub version: u32,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub state: String,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub detail: Option<String>,
}

impl State {
    /// Records `new` as the next version in the `pending` status. Fails with
    /// [`StateError::Conflict`] while another release is pending.
    pub fn begin_release(&self, new: &NewRelease) -> Result<Release, StateError> {
        const OP: &str = "recording a pending release";
        let now = self.now_ms();
        self.write(OP, |tx| {
            let version = insert(tx, new, ReleaseStatus::Pending, now)?;
            by_version(tx, version)?.ok_or_else(|| StateError::Corrupt {
                detail: format!("release v{version} vanished while being recorded"),
            })
        })
    }

    /// Makes the pending release `version` current; the release it replaces becomes
    /// `replaced` (superseded, or rolled-back when `version` is a rollback). One transaction.
    pub fn complete_release(
        &self,
        version: u32,
        replaced: ReleaseStatus,
    ) -> Result<Release, StateError> {
        const OP: &str = "making a release current";
        let now = self.now_ms();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE releases SET status = ?1 WHERE status = 'current'",
                [replaced.as_str()],
            )
            .during(OP)?;
            let changed = tx
                .execute(
                    "UPDATE releases SET status = 'current', finished_at_ms = ?2 \
                     WHERE version = ?1 AND status = 'pending'",
                    (version, now),
                )
                .during(OP)?;
            if changed != 1 {
                return Err(StateError::Invalid(format!(
                    "release v{version} is not pending"
                )));
            }
            by_version(tx, version)?.ok_or_else(|| StateError::Corrupt {
                detail: format!("release v{version} vanished"),
            })
        })
    }

    /// Marks the pending release `version` failed with `reason`; the current release stays.
    pub fn fail_release(&self, version: u32, reason: &str) -> Result<(), StateError> {
        const OP: &str = "marking a release failed";
        let now = self.now_ms();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE releases SET status = 'failed', failure = ?2, finished_at_ms = ?3 \
                 WHERE version = ?1 AND status = 'pending'",
                (version, reason, now),
            )
            .during(OP)?;
            Ok(())
        })
    }

    /// After a daemon start: every pending release failed with `reason` (its deploy was
    /// interrupted), and every running release phase is marked interrupted — never re-run.
    /// Returns the versions marked failed.
    pub fn fail_interrupted_releases(&self, reason: &str) -> Result<Vec<u32>, StateError> {
        const OP: &str = "recovering interrupted deploys";
        let now = self.now_ms();
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare("SELECT version FROM releases WHERE status = 'pending'")
                .during(OP)?;
            let versions = stmt
                .query_map([], |r| r.get::<_, u32>(0))
                .during(OP)?
                .collect::<Result<Vec<_>, _>>()
                .during(OP)?;
            tx.execute(
                "UPDATE releases SET status = 'failed', failure = ?1, finished_at_ms = ?2 \
                 WHERE status = 'pending'",
                (reason, now),
            )
            .during(OP)?;
            tx.execute(
                "UPDATE release_phase SET state = 'interrupted', finished_at_ms = ?1, \
                 detail = 'the daemon stopped while it ran; it was not run again' \
                 WHERE state = 'running'",
                [now],
            )
            .during(OP)?;
            Ok(versions)
        })
    }

    /// The release `pier rollback` returns to by default: the newest release older than the
    /// current one that was current once (superseded or rolled back).
    pub fn previous_release(&self) -> Result<Option<Release>, StateError> {
        const OP: &str = "finding the previous release";
        self.read(|conn| {
            let Some(current) = current(conn)? else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT {COLUMNS} FROM releases WHERE version < ?1 \
                 AND status IN ('superseded', 'rolled-back') ORDER BY version DESC LIMIT 1"
            );
            let raw = conn
                .query_row(&sql, [current.version], RawRelease::from_row)
                .optional()
                .during(OP)?;
            raw.map(RawRelease::decode).transpose()
        })
    }

    /// Records that the release phase of `version` starts now. Fails with
    /// [`StateError::Conflict`] if it was ever started before, whatever its outcome.
    pub fn begin_release_phase(&self, version: u32) -> Result<(), StateError> {
        const OP: &str = "recording a release phase";
        let now = self.now_ms();
        self.write(OP, |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO release_phase (version, state, started_at_ms) \
                     VALUES (?1, 'running', ?2) ON CONFLICT (version) DO NOTHING",
                    (version, now),
                )
                .during(OP)?;
            if inserted == 0 {
                return Err(StateError::Conflict(format!(
                    "the release phase of v{version} already ran; it runs once per release"
                )));
            }
            Ok(())
        })
    }

    /// Records how the release phase of `version` ended.
    pub fn finish_release_phase(
        &self,
        version: u32,
        succeeded: bool,
        detail: &str,
    ) -> Result<(), StateError> {
        const OP: &str = "recording a release phase's end";
        let now = self.now_ms();
        let state = if succeeded { "succeeded" } else { "failed" };
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE release_phase SET state = ?2, finished_at_ms = ?3, detail = ?4 \
                 WHERE version = ?1",
                (version, state, now, detail),
            )
            .during(OP)?;
            Ok(())
        })
    }

    /// The recorded release phase of `version`, if it ever started.
    pub fn release_phase(&self, version: u32) -> Result<Option<ReleasePhase>, StateError> {
        const OP: &str = "reading a release phase";
        self.read(|conn| {
            conn.query_row(
                "SELECT version, state, started_at_ms, finished_at_ms, detail \
                 FROM release_phase WHERE version = ?1",
                [version],
                |r| {
                    Ok(ReleasePhase {
                        version: r.get(0)?,
                        state: r.get(1)?,
                        started_at_ms: r.get(2)?,
                        finished_at_ms: r.get(3)?,
                        detail: r.get(4)?,
                    })
                },
            )
            .optional()
            .during(OP)
        })
    }
}
