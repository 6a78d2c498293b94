//! Job definitions and their versions, and the slot ledger: one row per (job, slot), claimed
//! and committed before the job's process starts, so a slot is started at most once even by
//! two daemons on one state; every slot that does not run gets a row saying why. Definitions
//! are opaque text (the scheduler serialises them); this module compares, never parses, them.

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, Row, Transaction};

use crate::db::State;
use crate::error::{DbContext, StateError};
use crate::lease;

/// What the store knows about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job: String,
    /// The current definition version (1 for the first).
    pub version: u32,
    /// The current definition, as registered.
    pub definition: String,
    /// Every slot at or before this instant has a ledger row. `None` before the first tick.
    pub cursor_ms: Option<i64>,
    /// Set by `pier jobs enable|disable`; overrides the manifest's `enabled`.
    pub enabled_override: Option<bool>,
    /// Whether the last registered manifest defines this job.
    pub in_manifest: bool,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunState {
    /// Claimed, not started yet (waiting for its turn or a retry's backoff).
    Scheduled,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// Not started because of the concurrency policy.
    Skipped,
    /// Not started because of downtime, the catch-up policy or the starting deadline.
    Missed,
    /// Not started because the job was disabled.
    Suspended,
    /// Started, then the daemon running it died; its outcome is unknown.
    Lost,
}

impl RunState {
    pub const ALL: [RunState; 9] = [
        RunState::Scheduled,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::TimedOut,
        RunState::Skipped,
        RunState::Missed,
        RunState::Suspended,
        RunState::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Scheduled => "scheduled",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Skipped => "skipped",
            RunState::Missed => "missed",
            RunState::Suspended => "suspended",
            RunState::Lost => "lost",
        }
    }

    /// Whether the run is over (or never happens).
    pub fn is_final(self) -> bool {
        !matches!(self, RunState::Scheduled | RunState::Running)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown run state `{s}`"))
    }
}

/// What made a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    /// Its slot came while the scheduler was running.
    Schedule,
    /// Its slot passed while no scheduler ran (downtime, a clock jump, a disabled period).
    CatchUp,
    /// `pier jobs run`.
    Manual,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Schedule => "schedule",
            RunTrigger::CatchUp => "catch-up",
            RunTrigger::Manual => "manual",
        }
    }
}

impl FromStr for RunTrigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RunTrigger::Schedule,
            RunTrigger::CatchUp,
            RunTrigger::Manual,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| format!("unknown run trigger `{s}`"))
    }
}

/// A ledger row to write for one slot (or a stretch of missed slots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSlotRun {
    /// Unique across the ledger; the job sees it as `PIER_RUN_ID`.
    pub run_id: String,
    pub slot_ms: i64,
    /// How many slots the row stands for (1, or more for a summarised stretch of missed ones).
    pub covers: u64,
    /// The last slot a summarising row covers.
    pub covers_until_ms: Option<i64>,
    pub trigger: RunTrigger,
    /// `Scheduled` to claim the slot for a start, or a final state with a reason.
    pub state: RunState,
    pub reason: Option<String>,
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub id: i64,
    pub run_id: String,
    pub job: String,
    /// `None` for a manual run.
    pub slot_ms: Option<i64>,
    pub covers: u64,
    pub covers_until_ms: Option<i64>,
    pub trigger: RunTrigger,
    pub version: u32,
    pub attempt: u32,
    pub state: RunState,
    pub reason: Option<String>,
    pub claimed_by: String,
    pub created_at_ms: i64,
    pub not_before_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
}

/// The result of [`State::claim_slots`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The rows written, in order; `None` where the slot already had a row (another daemon,
    /// or this one before a crash, got there first).
    Written(Vec<Option<JobRun>>),
    /// The caller does not hold the scheduler lease; nothing was written.
    NotLeaseHolder,
}

/// Ledger rows kept per job; older ended rows are pruned as new slots are claimed. The
/// job's cursor, not old rows, is what keeps a slot from being claimed twice; the unique key
/// guards the recent past, where two holders could ever overlap.
pub const MAX_RUNS_PER_JOB: i64 = 10_000;

const RUN_COLUMNS: &str = "id, run_id, job, slot_ms, covers, covers_until_ms, trigger, version, \
    attempt, state, reason, claimed_by, created_at_ms, not_before_ms, started_at_ms, \
    finished_at_ms, exit_code";

impl State {
    /// Registers the manifest's jobs: a definition that differs from a job's current one
    /// becomes its next version; jobs absent from `definitions` are marked as no longer in
    /// the manifest (their history stays). Returns every job's record.
    pub fn register_jobs(
        &self,
        definitions: &[(String, String)],
    ) -> Result<Vec<JobRecord>, StateError> {
        const OP: &str = "registering job definitions";
        let now = self.now_ms();
        self.write(OP, |tx| {
            tx.execute("UPDATE jobs SET in_manifest = 0", [])
                .during(OP)?;
            for (job, definition) in definitions {
                let current: Option<(u32, String)> = tx
                    .query_row(
                        "SELECT j.version, v.definition FROM jobs j
                         JOIN job_versions v ON v.job = j.job AND v.version = j.version
                         WHERE j.job = ?1",
                        [job],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                    .during(OP)?;
                let version = match current {
                    Some((version, ref old)) if old == definition => version,
                    Some((version, _)) => version + 1,
                    None => 1,
                };
                if current.as_ref().is_none_or(|(v, _)| *v != version) {
                    tx.execute(
                        "INSERT INTO job_versions (job, version, definition, created_at_ms)
                         VALUES (?1, ?2, ?3, ?4)",
                        (job, version, definition, now),
                    )
                    .during(OP)?;
                }
                tx.execute(
                    "INSERT INTO jobs (job, version, in_manifest, updated_at_ms)
                     VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT (job) DO UPDATE SET version = excluded.version, in_manifest = 1,
                         updated_at_ms = excluded.updated_at_ms",
                    (job, version, now),
                )
                .during(OP)?;
            }
            job_records(tx)
        })
    }

    /// Every job the store knows, by name.
    pub fn job_records(&self) -> Result<Vec<JobRecord>, StateError> {
        self.read(job_records)
    }

    /// The definition a job had at `version`.
    pub fn job_definition(&self, job: &str, version: u32) -> Result<Option<String>, StateError> {
        const OP: &str = "reading a job definition";
        self.read(|conn| {
            conn.query_row(
                "SELECT definition FROM job_versions WHERE job = ?1 AND version = ?2",
                (job, version),
                |row| row.get(0),
            )
            .optional()
            .during(OP)
        })
    }

    /// Sets (or clears, with `None`) the enable/disable override of a job.
    pub fn set_job_enabled(&self, job: &str, enabled: Option<bool>) -> Result<(), StateError> {
        const OP: &str = "enabling or disabling a job";
        let now = self.now_ms();
        self.write(OP, |tx| {
            let changed = tx
                .execute(
                    "UPDATE jobs SET enabled_override = ?2, updated_at_ms = ?3 WHERE job = ?1",
                    (job, enabled, now),
                )
                .during(OP)?;
            if changed == 0 {
                return Err(StateError::Invalid(format!("no job named `{job}`")));
            }
            Ok(())
        })
    }

    /// Writes ledger rows for slots of `job` and moves its cursor to `cursor_ms`, in one
    /// transaction, only if `holder` holds the scheduler lease at `now_ms`. A slot that
    /// already has a row keeps it (the unique key makes this the exactly-once guarantee).
    pub fn claim_slots(
        &self,
        holder: &str,
        now_ms: i64,
        job: &str,
        version: u32,
        rows: &[NewSlotRun],
        cursor_ms: i64,
    ) -> Result<Claim, StateError> {
        const OP: &str = "claiming job slots";
        self.write(OP, |tx| {
            if !lease::held_by(tx, holder, now_ms)? {
                return Ok(Claim::NotLeaseHolder);
            }
            let mut written = Vec::with_capacity(rows.len());
            for row in rows {
                let id: Option<i64> = tx
                    .query_row(
                        "INSERT INTO job_runs (run_id, job, slot_ms, covers, covers_until_ms,
                             trigger, version, state, reason, claimed_by, created_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                         ON CONFLICT DO NOTHING
                         RETURNING id",
                        rusqlite::params![
                            row.run_id,
                            job,
                            row.slot_ms,
                            i64::try_from(row.covers).unwrap_or(i64::MAX),
                            row.covers_until_ms,
                            row.trigger.as_str(),
                            version,
                            row.state.as_str(),
                            row.reason,
                            holder,
                            now_ms,
                        ],
                        |r| r.get(0),
                    )
                    .optional()
                    .during(OP)?;
                written.push(match id {
                    Some(id) => Some(run_by_id(tx, id)?),
                    None => None,
                });
            }
            tx.execute(
                "UPDATE jobs SET cursor_ms = MAX(COALESCE(cursor_ms, ?2), ?2) WHERE job = ?1",
                (job, cursor_ms),
            )
            .during(OP)?;
            if written.iter().any(Option::is_some) {
                prune(tx, job)?;
            }
            Ok(Claim::Written(written))
        })
    }

    /// Turns suspended slots back into claims to run (`pier jobs enable` with a catch-up
    /// policy), only if `holder` holds the lease. Returns the rows changed, in id order.
    pub fn resume_suspended(
        &self,
        holder: &str,
        now_ms: i64,
        ids: &[i64],
    ) -> Result<Vec<JobRun>, StateError> {
        const OP: &str = "resuming suspended job slots";
        self.write(OP, |tx| {
            if !lease::held_by(tx, holder, now_ms)? {
                return Ok(Vec::new());
            }
            let mut resumed = Vec::new();
            for id in ids {
                let changed = tx
                    .execute(
                        "UPDATE job_runs SET state = 'scheduled', trigger = 'catch-up',
                             reason = NULL, claimed_by = ?2
                         WHERE id = ?1 AND state = 'suspended' AND covers = 1",
                        (id, holder),
                    )
                    .during(OP)?;
                if changed == 1 {
                    resumed.push(run_by_id(tx, *id)?);
                }
            }
            Ok(resumed)
        })
    }

    /// Moves a claimed run to `running`, committed before the caller spawns its process.
    /// False (and nothing changed) if the run is not `scheduled` any more, or `holder` lost
    /// the lease.
    pub fn start_run(
        &self,
        holder: &str,
        now_ms: i64,
        id: i64,
        attempt: u32,
    ) -> Result<bool, StateError> {
        const OP: &str = "starting a job run";
        self.write(OP, |tx| {
            if !lease::held_by(tx, holder, now_ms)? {
                return Ok(false);
            }
            let changed = tx
                .execute(
                    "UPDATE job_runs SET state = 'running', attempt = ?2, started_at_ms = ?3,
                         claimed_by = ?4, not_before_ms = NULL
                     WHERE id = ?1 AND state = 'scheduled'",
                    (id, attempt, now_ms, holder),
                )
                .during(OP)?;
            Ok(changed == 1)
        })
    }

    /// Records a manual run (`pier jobs run`) as already `running`: it has no slot, so it
    /// neither consumes nor blocks one.
    pub fn create_manual_run(
        &self,
        job: &str,
        version: u32,
        claimed_by: &str,
        now_ms: i64,
    ) -> Result<JobRun, StateError> {
        const OP: &str = "recording a manual job run";
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO job_runs (run_id, job, trigger, version, state, claimed_by,
                     created_at_ms, started_at_ms)
                 VALUES ('pending-' || ?1 || '-' || ?3 || '-' || random(), ?1, 'manual', ?2,
                     'running', ?4, ?3, ?3)",
                (job, version, now_ms, claimed_by),
            )
            .during(OP)?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE job_runs SET run_id = job || '@manual-' || id WHERE id = ?1",
                [id],
            )
            .during(OP)?;
            run_by_id(tx, id)
        })
    }

    /// Records how a run ended. A run marked `lost` by another daemon gets its real outcome
    /// if the daemon that ran it lived to see it.
    pub fn finish_run(
        &self,
        id: i64,
        state: RunState,
        reason: Option<&str>,
        exit_code: Option<i32>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        const OP: &str = "recording the end of a job run";
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE job_runs SET state = ?2, reason = ?3, exit_code = ?4, finished_at_ms = ?5
                 WHERE id = ?1 AND state IN ('scheduled', 'running', 'lost')",
                (id, state.as_str(), reason, exit_code, now_ms),
            )
            .during(OP)?;
            Ok(())
        })
    }

    /// Puts a failed run back to `scheduled` for another attempt, not before `not_before_ms`.
    pub fn retry_run(
        &self,
        id: i64,
        reason: &str,
        not_before_ms: i64,
        now_ms: i64,
    ) -> Result<(), StateError> {
        const OP: &str = "scheduling a job retry";
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE job_runs SET state = 'scheduled', reason = ?2, not_before_ms = ?3,
                     finished_at_ms = ?4
                 WHERE id = ?1 AND state = 'running'",
                (id, reason, not_before_ms, now_ms),
            )
            .during(OP)?;
            Ok(())
        })
    }

    /// Reconciles the ledger for a scheduler that just took the lease: runs left `running` by
    /// any other daemon are marked `lost` (their process died with that daemon), and claimed
    /// slots that never started are taken over. Returns (lost, adopted).
    pub fn adopt_open_runs(
        &self,
        holder: &str,
        now_ms: i64,
        lost_reason: &str,
    ) -> Result<(Vec<JobRun>, Vec<JobRun>), StateError> {
        const OP: &str = "reconciling open job runs";
        self.write(OP, |tx| {
            let lost = select_runs(
                tx,
                "WHERE state = 'running' AND claimed_by <> ?1 ORDER BY id",
                holder,
            )?;
            tx.execute(
                "UPDATE job_runs SET state = 'lost', reason = ?2, finished_at_ms = ?3
                 WHERE state = 'running' AND claimed_by <> ?1",
                (holder, lost_reason, now_ms),
            )
            .during(OP)?;
            tx.execute(
                "UPDATE job_runs SET claimed_by = ?1 WHERE state = 'scheduled'",
                [holder],
            )
            .during(OP)?;
            let adopted = select_runs(tx, "WHERE state = 'scheduled' ORDER BY id", holder)?;
            let lost = lost
                .into_iter()
                .map(|run| run_by_id(tx, run.id))
                .collect::<Result<_, _>>()?;
            Ok((lost, adopted))
        })
    }

    /// A job's ledger, newest first: at most `limit` rows with ids below `before_id`.
    pub fn job_runs(
        &self,
        job: &str,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<JobRun>, StateError> {
        const OP: &str = "reading job runs";
        self.read(|conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM job_runs WHERE job = ?1 AND id < ?2
                 ORDER BY id DESC LIMIT ?3"
            );
            let mut stmt = conn.prepare_cached(&sql).during(OP)?;
            let rows = stmt
                .query_map(
                    (
                        job,
                        before_id.unwrap_or(i64::MAX),
                        i64::try_from(limit).unwrap_or(i64::MAX),
                    ),
                    run_from_row,
                )
                .during(OP)?;
            rows.map(|r| r.during(OP)).collect()
        })
    }

    /// The run with this id.
    pub fn job_run(&self, id: i64) -> Result<Option<JobRun>, StateError> {
        self.read(|conn| match run_by_id(conn, id) {
            Ok(run) => Ok(Some(run)),
            Err(StateError::Db {
                source: rusqlite::Error::QueryReturnedNoRows,
                ..
            }) => Ok(None),
            Err(other) => Err(other),
        })
    }

    /// The newest run of `job` in one of `states` (any state if empty).
    pub fn last_job_run(
        &self,
        job: &str,
        states: &[RunState],
    ) -> Result<Option<JobRun>, StateError> {
        const OP: &str = "reading the last job run";
        self.read(|conn| {
            let filter = if states.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
                format!("AND state IN ({})", list.join(", "))
            };
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM job_runs WHERE job = ?1 {filter} ORDER BY id DESC LIMIT 1"
            );
            conn.query_row(&sql, [job], run_from_row)
                .optional()
                .during(OP)
        })
    }
}

/// Deletes a job's ended rows beyond the newest [`MAX_RUNS_PER_JOB`].
fn prune(tx: &Transaction<'_>, job: &str) -> Result<(), StateError> {
    tx.execute(
        "DELETE FROM job_runs WHERE job = ?1 AND state NOT IN ('scheduled', 'running')
           AND id <= (SELECT id FROM job_runs WHERE job = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        (job, MAX_RUNS_PER_JOB),
    )
    .during("pruning old job runs")?;
    Ok(())
}

fn job_records(conn: &rusqlite::Connection) -> Result<Vec<JobRecord>, StateError> {
    const OP: &str = "reading jobs";
    let mut stmt = conn
        .prepare_cached(
            "SELECT j.job, j.version, v.definition, j.cursor_ms, j.enabled_override, j.in_manifest
             FROM jobs j JOIN job_versions v ON v.job = j.job AND v.version = j.version
             ORDER BY j.job",
        )
        .during(OP)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(JobRecord {
                job: row.get(0)?,
                version: row.get(1)?,
                definition: row.get(2)?,
                cursor_ms: row.get(3)?,
                enabled_override: row.get(4)?,
                in_manifest: row.get(5)?,
            })
        })
        .during(OP)?;
    rows.map(|r| r.during(OP)).collect()
}

fn run_by_id(conn: &rusqlite::Connection, id: i64) -> Result<JobRun, StateError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE id = ?1");
    conn.query_row(&sql, [id], run_from_row)
        .during("reading a job run")
}

fn select_runs(
    tx: &Transaction<'_>,
    filter: &str,
    holder: &str,
) -> Result<Vec<JobRun>, StateError> {
    const OP: &str = "reading open job runs";
    let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs {filter}");
    let mut stmt = tx.prepare(&sql).during(OP)?;
    let needs_holder = filter.contains("?1");
    let rows = if needs_holder {
        stmt.query_map([holder], run_from_row).during(OP)?
    } else {
        stmt.query_map([], run_from_row).during(OP)?
    };
    rows.map(|r| r.during(OP)).collect()
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<JobRun> {
    let invalid = |index: usize, message: String| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            message.into(),
        )
    };
    let trigger: String = row.get(6)?;
    let state: String = row.get(9)?;
    let covers: i64 = row.get(4)?;
    Ok(JobRun {
        id: row.get(0)?,
        run_id: row.get(1)?,
        job: row.get(2)?,
        slot_ms: row.get(3)?,
        covers: u64::try_from(covers).unwrap_or(1),
        covers_until_ms: row.get(5)?,
        trigger: trigger.parse().map_err(|e| invalid(6, e))?,
        version: row.get(7)?,
        attempt: row.get(8)?,
        state: state.parse().map_err(|e| invalid(9, e))?,
        reason: row.get(10)?,
        claimed_by: row.get(11)?,
        created_at_ms: row.get(12)?,
        not_before_ms: row.get(13)?,
        started_at_ms: row.get(14)?,
        finished_at_ms: row.get(15)?,
        exit_code: row.get(16)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(run_id: &str, slot_ms: i64, state: RunState) -> NewSlotRun {
        NewSlotRun {
            run_id: run_id.to_string(),
            slot_ms,
            covers: 1,
            covers_until_ms: None,
            trigger: RunTrigger::Schedule,
            state,
            reason: None,
        }
    }

    #[test]
    fn a_slot_is_claimed_once_and_only_by_the_lease_holder() {
        let state = State::open_in_memory().unwrap();
        state
            .register_jobs(&[("j".to_string(), "{}".to_string())])
            .unwrap();
        state
            .take_scheduler_lease("a", 1_000, 10_000, None)
            .unwrap();
        let rows = [slot("j@1", 1, RunState::Scheduled)];
        let Claim::Written(first) = state.claim_slots("a", 1_000, "j", 1, &rows, 1).unwrap() else {
            panic!("a holds the lease");
        };
        assert!(first[0].is_some());
        let Claim::Written(again) = state.claim_slots("a", 1_001, "j", 1, &rows, 1).unwrap() else {
            panic!("a holds the lease");
        };
        assert_eq!(again, vec![None], "the unique key refuses a second claim");
        assert_eq!(
            state.claim_slots("b", 1_002, "j", 1, &rows, 1).unwrap(),
            Claim::NotLeaseHolder
        );
        // b cannot take a live lease, can take an expired one or one it proved dead.
        assert_eq!(
            state
                .take_scheduler_lease("b", 2_000, 10_000, None)
                .unwrap()
                .holder,
            "a"
        );
        assert_eq!(
            state
                .take_scheduler_lease("b", 2_000, 10_000, Some("a"))
                .unwrap()
                .holder,
            "b"
        );
        assert_eq!(
            state
                .take_scheduler_lease("a", 30_000, 10_000, None)
                .unwrap()
                .holder,
            "a",
            "expired"
        );
        let id = first[0].as_ref().unwrap().id;
        assert!(state.start_run("a", 30_001, id, 1).unwrap());
        assert!(
            !state.start_run("a", 30_002, id, 1).unwrap(),
            "started once"
        );
    }

    #[test]
    fn old_rows_are_pruned_beyond_the_limit() {
        let state = State::open_in_memory().unwrap();
        state
            .register_jobs(&[("j".to_string(), "{}".to_string())])
            .unwrap();
        state
            .take_scheduler_lease("a", 0, i64::MAX / 2, None)
            .unwrap();
        let total = MAX_RUNS_PER_JOB + 5;
        let rows: Vec<NewSlotRun> = (0..total)
            .map(|i| slot(&format!("j@{i}"), i, RunState::Missed))
            .collect();
        state.claim_slots("a", 0, "j", 1, &rows, total).unwrap();
        let extra = [slot("j@new", total, RunState::Missed)];
        state
            .claim_slots("a", 0, "j", 1, &extra, total + 1)
            .unwrap();
        let runs = state.job_runs("j", 100_000, None).unwrap();
        assert_eq!(runs.len() as i64, MAX_RUNS_PER_JOB);
        assert_eq!(runs[0].run_id, "j@new");
    }

    #[test]
    fn versions_change_only_with_the_definition() {
        let state = State::open_in_memory().unwrap();
        let def = |text: &str| vec![("j".to_string(), text.to_string())];
        assert_eq!(state.register_jobs(&def("a")).unwrap()[0].version, 1);
        assert_eq!(state.register_jobs(&def("a")).unwrap()[0].version, 1);
        assert_eq!(state.register_jobs(&def("b")).unwrap()[0].version, 2);
        let records = state.register_jobs(&[]).unwrap();
        assert!(!records[0].in_manifest);
        assert_eq!(state.job_definition("j", 1).unwrap().as_deref(), Some("a"));
    }

    #[test]
    fn a_new_daemon_marks_running_runs_lost_and_adopts_claims() {
        let state = State::open_in_memory().unwrap();
        state
            .register_jobs(&[("j".to_string(), "{}".to_string())])
            .unwrap();
        state.take_scheduler_lease("old", 0, 10_000, None).unwrap();
        let rows = [
            slot("j@1", 1, RunState::Scheduled),
            slot("j@2", 2, RunState::Scheduled),
        ];
        let Claim::Written(written) = state.claim_slots("old", 0, "j", 1, &rows, 2).unwrap() else {
            panic!("old holds the lease");
        };
        let running = written[0].as_ref().unwrap().id;
        assert!(state.start_run("old", 1, running, 1).unwrap());
        let (lost, adopted) = state.adopt_open_runs("new", 20_000, "gone").unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].state, RunState::Lost);
        assert_eq!(lost[0].reason.as_deref(), Some("gone"));
        assert_eq!(adopted.len(), 1);
        assert_eq!(adopted[0].run_id, "j@2");
        assert_eq!(adopted[0].claimed_by, "new");
        // The old daemon lived to see its run end: its real outcome wins over `lost`.
        state
            .finish_run(running, RunState::Succeeded, None, Some(0), 20_001)
            .unwrap();
        assert_eq!(
            state.job_run(running).unwrap().unwrap().state,
            RunState::Succeeded
        );
    }
}
