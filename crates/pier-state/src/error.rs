//! The crate's error type, [`StateError`]: every message says what failed and, where there is
//! one, what the operator can do about it. Knows nothing of how callers report errors.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// Everything that can go wrong reading or writing the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {}: {source}; check its permissions", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot open state database {}: {source}{}", path.display(), hint(source))]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error(
        "state database {} could not switch to WAL mode (journal mode is {mode}); \
         keep .pier on a local filesystem",
        path.display()
    )]
    NoWal { path: PathBuf, mode: String },

    #[error(
        "state database {} was written by a newer pier (schema {found} > {known}); upgrade pier",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: u32,
    },

    #[error(
        "applying schema migration {version} ({description}) to {} failed: {source}; \
         the database was left at the previous version{}",
        path.display(),
        hint(source)
    )]
    Migration {
        path: PathBuf,
        version: u32,
        description: &'static str,
        source: rusqlite::Error,
    },

    #[error("state database error while {op}: {source}{}", hint(source))]
    Db {
        op: &'static str,
        source: rusqlite::Error,
    },

    #[error(
        "release v{version} in the state database is corrupt: {detail}; fix or delete that row"
    )]
    CorruptRelease { version: i64, detail: String },

    #[error("state database holds corrupt data: {detail}; fix or delete that row")]
    Corrupt { detail: String },

    #[error("invalid input: {0}")]
    Invalid(String),

    /// The change conflicts with one in progress (a second deploy); nothing was changed.
    #[error("{0}")]
    Conflict(String),
}

/// Attaches the operation being performed to a SQLite error.
pub(crate) trait DbContext<T> {
    fn during(self, op: &'static str) -> Result<T, StateError>;
}

impl<T> DbContext<T> for Result<T, rusqlite::Error> {
    fn during(self, op: &'static str) -> Result<T, StateError> {
        self.map_err(|source| StateError::Db { op, source })
    }
}

/// A short remedy for the SQLite failures an operator can do something about.
fn hint(error: &rusqlite::Error) -> &'static str {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "; another process is holding the database, retry once it is done"
        }
        Some(ErrorCode::DiskFull) => "; the disk is full, free some space and retry",
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            "; check that pier may read and write the .pier directory"
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "; the file is not a valid pier state database, move it aside to start afresh"
        }
        _ => "",
    }
}
