//! The schema: an ordered list of SQL migrations, each applied once in its own transaction and
//! recorded in `schema_migrations`. Refuses to touch a database written by a newer pier.
//! Knows nothing of what the tables mean; the query modules do.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::StateError;

/// One step of the schema. Versions start at 1 and increase by one; a released migration is
/// never edited, only followed by a new one.
struct Migration {
    version: u32,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "formation, releases and events",
        sql: r#"
        CREATE TABLE formation (
            process       TEXT PRIMARY KEY NOT NULL CHECK (process <> ''),
            replicas      INTEGER NOT NULL CHECK (replicas >= 0),
            updated_at_ms INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE releases (
            version       INTEGER PRIMARY KEY CHECK (version > 0),
            created_at_ms INTEGER NOT NULL,
            description   TEXT NOT NULL,
            source_dir    TEXT NOT NULL,
            env           TEXT NOT NULL,
            manifest      TEXT NOT NULL,
            status        TEXT NOT NULL
                CHECK (status IN ('current', 'superseded', 'failed', 'rolled-back'))
        ) STRICT;
        -- At most one release is current at any time.
        CREATE UNIQUE INDEX releases_one_current ON releases (status) WHERE status = 'current';

        -- AUTOINCREMENT: ids are never reused after pruning, so `after_id` cursors stay valid.
        CREATE TABLE events (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            at_ms   INTEGER NOT NULL,
            kind    TEXT NOT NULL,
            subject TEXT NOT NULL,
            message TEXT NOT NULL
        ) STRICT;
        CREATE INDEX events_subject ON events (subject, id);
    "#,
    },
    Migration {
        version: 2,
        description: "settings (maintenance mode, internal listener ports)",
        sql: r#"
        CREATE TABLE settings (
            key           TEXT PRIMARY KEY NOT NULL CHECK (key <> ''),
            value         TEXT NOT NULL,
            updated_at_ms INTEGER NOT NULL
        ) STRICT;
    "#,
    },
    Migration {
        version: 3,
        description: "job definitions, the slot ledger and the scheduler lease",
        sql: r#"
        -- One row per job ever defined: its current definition version, the high-water mark of
        -- its slots (every slot at or before cursor_ms has a row in job_runs) and the
        -- enable/disable override set with `pier jobs enable|disable`.
        CREATE TABLE jobs (
            job              TEXT PRIMARY KEY NOT NULL CHECK (job <> ''),
            version          INTEGER NOT NULL CHECK (version > 0),
            cursor_ms        INTEGER,
            enabled_override INTEGER CHECK (enabled_override IN (0, 1)),
            in_manifest      INTEGER NOT NULL DEFAULT 1 CHECK (in_manifest IN (0, 1)),
            updated_at_ms    INTEGER NOT NULL
        ) STRICT;

        -- Every definition a job has had; runs point at the version that fired them.
        CREATE TABLE job_versions (
            job           TEXT NOT NULL,
            version       INTEGER NOT NULL CHECK (version > 0),
            definition    TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL,
            PRIMARY KEY (job, version)
        ) STRICT;

        -- The ledger: one row per (job, slot), written and committed before the process
        -- starts. Manual runs have no slot. A row may summarise a long stretch of missed slots
        -- (`covers` slots from slot_ms to covers_until_ms).
        CREATE TABLE job_runs (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id          TEXT NOT NULL UNIQUE,
            job             TEXT NOT NULL,
            slot_ms         INTEGER,
            covers          INTEGER NOT NULL DEFAULT 1 CHECK (covers >= 1),
            covers_until_ms INTEGER,
            trigger         TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual')),
            version         INTEGER NOT NULL,
            attempt         INTEGER NOT NULL DEFAULT 1,
            state           TEXT NOT NULL CHECK (state IN ('scheduled', 'running', 'succeeded',
                                'failed', 'timed_out', 'skipped', 'missed', 'suspended', 'lost')),
            reason          TEXT,
            claimed_by      TEXT NOT NULL,
            created_at_ms   INTEGER NOT NULL,
            not_before_ms   INTEGER,
            started_at_ms   INTEGER,
            finished_at_ms  INTEGER,
            exit_code       INTEGER
        ) STRICT;
        CREATE UNIQUE INDEX job_runs_one_per_slot ON job_runs (job, slot_ms)
            WHERE slot_ms IS NOT NULL;
        CREATE INDEX job_runs_by_job ON job_runs (job, id);
        CREATE INDEX job_runs_open ON job_runs (state) WHERE state IN ('scheduled', 'running');

        -- Which daemon schedules jobs for this state, until when.
        CREATE TABLE scheduler_lease (
            id             INTEGER PRIMARY KEY CHECK (id = 1),
            holder         TEXT NOT NULL,
            acquired_at_ms INTEGER NOT NULL,
            expires_at_ms  INTEGER NOT NULL
        ) STRICT;
    "#,
    },
    Migration {
        version: 4,
        description: "deployed releases (source, artifact, config, failure) and the release-phase ledger",
        sql: r#"
        -- Rebuilt to allow the `pending` status (a release being built and rolled out).
        CREATE TABLE releases_v4 (
            version       INTEGER PRIMARY KEY CHECK (version > 0),
            created_at_ms INTEGER NOT NULL,
            description   TEXT NOT NULL,
            source_dir    TEXT NOT NULL,
            env           TEXT NOT NULL,
            manifest      TEXT NOT NULL,
            status        TEXT NOT NULL CHECK (status IN
                              ('pending', 'current', 'superseded', 'failed', 'rolled-back')),
            -- `folder` (runs the app folder in place), `git` or `working-tree` (a snapshot).
            source        TEXT NOT NULL DEFAULT 'folder'
                              CHECK (source IN ('folder', 'git', 'working-tree')),
            commit_sha    TEXT,
            -- The release whose snapshot (.pier/releases/vN/src) this one runs; NULL: none.
            artifact      INTEGER,
            -- Config vars (`pier config set`), a JSON object of strings.
            config        TEXT NOT NULL DEFAULT '{}',
            failure       TEXT,
            finished_at_ms INTEGER
        ) STRICT;
        INSERT INTO releases_v4 (version, created_at_ms, description, source_dir, env, manifest,
                                 status)
            SELECT version, created_at_ms, description, source_dir, env, manifest, status
            FROM releases;
        DROP TABLE releases;
        ALTER TABLE releases_v4 RENAME TO releases;
        CREATE UNIQUE INDEX releases_one_current ON releases (status) WHERE status = 'current';
        -- At most one release is being deployed at any time.
        CREATE UNIQUE INDEX releases_one_pending ON releases (status) WHERE status = 'pending';

        -- The release phase: one row per release, written before its command starts, so that
        -- a crash can never make it run twice.
        CREATE TABLE release_phase (
            version        INTEGER PRIMARY KEY,
            state          TEXT NOT NULL
                               CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
            started_at_ms  INTEGER NOT NULL,
            finished_at_ms INTEGER,
            detail         TEXT
        ) STRICT;
    "#,
    },
    Migration {
        version: 5,
        description: "canary releases",
        sql: r#"
        -- Rebuilt to allow `canary` (running beside the current release with a share of the
        -- traffic) and `aborted` (a canary that was removed).
        CREATE TABLE releases_v5 (
            version       INTEGER PRIMARY KEY CHECK (version > 0),
            created_at_ms INTEGER NOT NULL,
            description   TEXT NOT NULL,
            source_dir    TEXT NOT NULL,
            env           TEXT NOT NULL,
            manifest      TEXT NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ('pending', 'current', 'superseded',
                              'failed', 'rolled-back', 'canary', 'aborted')),
            source        TEXT NOT NULL DEFAULT 'folder'
                              CHECK (source IN ('folder', 'git', 'working-tree')),
            commit_sha    TEXT,
            artifact      INTEGER,
            config        TEXT NOT NULL DEFAULT '{}',
            failure       TEXT,
            finished_at_ms INTEGER
        ) STRICT;
        INSERT INTO releases_v5 SELECT version, created_at_ms, description, source_dir, env,
            manifest, status, source, commit_sha, artifact, config, failure, finished_at_ms
            FROM releases;
        DROP TABLE releases;
        ALTER TABLE releases_v5 RENAME TO releases;
        CREATE UNIQUE INDEX releases_one_current ON releases (status) WHERE status = 'current';
        CREATE UNIQUE INDEX releases_one_pending ON releases (status) WHERE status = 'pending';
        CREATE UNIQUE INDEX releases_one_canary ON releases (status) WHERE status = 'canary';

        -- The active canary: at most one row. `percent` of the clients (by the sticky split
        -- key, hashed with `salt`) go to release `version`.
        CREATE TABLE canary (
            id            INTEGER PRIMARY KEY CHECK (id = 1),
            version       INTEGER NOT NULL,
            percent       REAL NOT NULL CHECK (percent > 0 AND percent < 100),
            salt          TEXT NOT NULL,
            started_at_ms INTEGER NOT NULL
        ) STRICT;
    "#,
    },
];

/// The newest schema version this build of pier knows.
pub const LATEST_SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version       INTEGER PRIMARY KEY,
    applied_at_ms INTEGER NOT NULL
)";

/// Brings the database up to [`LATEST_SCHEMA_VERSION`], or refuses if it is newer.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, now_ms: i64) -> Result<(), StateError> {
    let open_error = |source| StateError::Open {
        path: path.to_path_buf(),
        source,
    };
    conn.execute(CREATE_SCHEMA_MIGRATIONS, [])
        .map_err(open_error)?;
    check_not_newer(schema_version(conn).map_err(open_error)?, path)?;
    for migration in MIGRATIONS {
        apply(conn, migration, path, now_ms)?;
    }
    Ok(())
}

/// Applies one migration in its own transaction unless it is already applied.
fn apply(
    conn: &mut Connection,
    migration: &Migration,
    path: &Path,
    now_ms: i64,
) -> Result<(), StateError> {
    let failed = |source| StateError::Migration {
        path: path.to_path_buf(),
        version: migration.version,
        description: migration.description,
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    // Read the version under the write lock: another process may have migrated meanwhile.
    let current = schema_version(&tx).map_err(failed)?;
    check_not_newer(current, path)?;
    if current >= i64::from(migration.version) {
        return Ok(());
    }
    tx.execute_batch(migration.sql).map_err(failed)?;
    tx.execute(
        "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)",
        (migration.version, now_ms),
    )
    .map_err(failed)?;
    tx.commit().map_err(failed)
}

fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
        row.get::<_, Option<i64>>(0)
    })
    .optional()
    .map(|version| version.flatten().unwrap_or(0))
}

fn check_not_newer(found: i64, path: &Path) -> Result<(), StateError> {
    if found > i64::from(LATEST_SCHEMA_VERSION) {
        return Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known: LATEST_SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_by_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.version as usize,
                index + 1,
                "{}",
                migration.description
            );
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        migrate(&mut conn, path, 1).unwrap();
        migrate(&mut conn, path, 2).unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, i64::from(LATEST_SCHEMA_VERSION));
    }
}
