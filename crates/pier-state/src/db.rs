//! Opening the state database: where the file lives, the connection pragmas that make every
//! acknowledged write durable (WAL, `synchronous=FULL`), and the [`State`] handle the query
//! modules hang their methods on. Knows nothing of the tables beyond running the migrations.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{DbContext, StateError};
use crate::migrations;

/// The file name of the database inside the state directory.
pub const DB_FILE: &str = "state.db";

/// How many events the log keeps by default; older ones are pruned.
pub const DEFAULT_MAX_EVENTS: u64 = 100_000;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A cheap-to-clone handle on one app's state database. All methods block; async callers run
/// them in `spawn_blocking`.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
    options: StateOptions,
}

/// Tunables of a [`State`]; [`StateOptions::default`] is what the daemon uses.
#[derive(Clone)]
pub struct StateOptions {
    /// The event log keeps about this many newest events (at least 1).
    pub max_events: u64,
    /// Where `created_at_ms` of releases and `applied_at_ms` of migrations come from.
    pub clock: Arc<dyn Clock>,
}

/// Wall time in milliseconds since the Unix epoch, injectable for tests.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            max_events: DEFAULT_MAX_EVENTS,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for StateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateOptions")
            .field("max_events", &self.max_events)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Opens (creating if needed) `state_dir/state.db` and brings its schema up to date.
    pub fn open(state_dir: &Path) -> Result<State, StateError> {
        State::open_with(state_dir, StateOptions::default())
    }

    /// Like [`State::open`] with explicit options.
    pub fn open_with(state_dir: &Path, options: StateOptions) -> Result<State, StateError> {
        create_state_dir(state_dir).map_err(|source| StateError::CreateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(DB_FILE);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|source| StateError::Open {
                path: path.clone(),
                source,
            })?;
        State::init(conn, path, options, true)
    }

    /// A private, empty database that vanishes when the last handle is dropped.
    pub fn open_in_memory() -> Result<State, StateError> {
        State::open_in_memory_with(StateOptions::default())
    }

    /// Like [`State::open_in_memory`] with explicit options.
    pub fn open_in_memory_with(options: StateOptions) -> Result<State, StateError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StateError::Open {
            path: path.clone(),
            source,
        })?;
        State::init(conn, path, options, false)
    }

    /// The database file (`:memory:` for an in-memory state).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn init(
        mut conn: Connection,
        path: PathBuf,
        options: StateOptions,
        on_disk: bool,
    ) -> Result<State, StateError> {
        configure(&conn, &path, on_disk)?;
        migrations::migrate(&mut conn, &path, options.clock.now_ms())?;
        let inner = Inner {
            conn: Mutex::new(conn),
            path,
            options,
        };
        Ok(State {
            inner: Arc::new(inner),
        })
    }

    pub(crate) fn options(&self) -> &StateOptions {
        &self.inner.options
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.options.clock.now_ms()
    }

    /// Runs read-only queries on the connection.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        // A panic while holding the lock cannot leave a half-applied write behind: an open
        // transaction rolls back when dropped. So a poisoned lock is safe to keep using.
        let conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&conn)
    }

    /// Runs `f` in one write transaction, committed (durably) only if `f` succeeds.
    pub(crate) fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // IMMEDIATE takes the write lock up front, so a concurrent writer makes us wait
        // (busy_timeout) instead of failing when a read would be upgraded to a write.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .during(op)?;
        let value = f(&tx)?;
        tx.commit().during(op)?;
        Ok(value)
    }
}

/// Creates the state directory, private to the user when pier creates it: releases hold
/// config vars, which are often secrets. An existing directory is left as it is.
pub(crate) fn create_state_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Sets the per-connection pragmas; WAL is persistent, the others are not.
fn configure(conn: &Connection, path: &Path, on_disk: bool) -> Result<(), StateError> {
    let open_error = |source| StateError::Open {
        path: path.to_path_buf(),
        source,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(open_error)?;
    if on_disk && !mode.eq_ignore_ascii_case("wal") {
        return Err(StateError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // FULL fsyncs the WAL on every commit: what we acknowledge survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragmas_make_commits_durable() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        state
            .read(|conn| {
                let pragma = |name: &str| -> String {
                    conn.pragma_query_value(None, name, |row| {
                        row.get::<_, rusqlite::types::Value>(0)
                    })
                    .map(|v| format!("{v:?}"))
                    .unwrap()
                };
                assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
                assert_eq!(pragma("synchronous"), "Integer(2)");
                assert_eq!(pragma("foreign_keys"), "Integer(1)");
                assert_eq!(pragma("busy_timeout"), "Integer(5000)");
                Ok(())
            })
            .unwrap();
    }
}
