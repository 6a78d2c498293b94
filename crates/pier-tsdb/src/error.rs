//! Errors of the store as a whole ([`TsdbError`]) and of single appended samples
//! ([`AppendError`]).

use crate::index::{Labels, LabelsError};
use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Errors from opening, committing to or reading the store.
#[derive(Debug, Error)]
pub enum TsdbError {
    /// An I/O operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync"...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A WAL record that cannot be a torn write at the end of the log is damaged.
    #[error("WAL segment {} is corrupt at offset {offset}: {reason}", segment.display())]
    WalCorrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the damaged record in the segment.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process (or another `Tsdb` in this one) has the directory open.
    #[error("{} is locked by another open store", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A block on disk is damaged (bad meta, index, chunk record or CRC), or the blocks
    /// overlap.
    #[error("block {} is corrupt: {reason}", path.display())]
    BlockCorrupt {
        /// The block's file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An earlier WAL write failed and could not be rolled back; no more commits are taken.
    #[error("the WAL is unusable after an earlier failure: {0}")]
    WalBroken(String),
}

impl TsdbError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Why one sample was not buffered. Errors are per sample: the appender stays usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// The labels cannot name a stored series (e.g. no `__name__`).
    #[error("invalid series {series}: {source}")]
    Labels {
        /// The labels given.
        series: Labels,
        /// What is wrong with them.
        source: LabelsError,
    },
    /// The sample is older than the series' last sample.
    #[error("out of order sample for {series}: timestamp {t} is before the last one, {last}")]
    OutOfOrder {
        /// The series.
        series: Labels,
        /// The rejected timestamp (ms).
        t: i64,
        /// The series' last timestamp (ms).
        last: i64,
    },
    /// Older than the start of the head: that time range is already in a block on disk.
    #[error(
        "out of bounds sample for {series}: timestamp {t} is before {min_valid}, which is already in a block"
    )]
    OutOfBounds {
        /// The series.
        series: Labels,
        /// The rejected timestamp (ms).
        t: i64,
        /// The oldest timestamp the head accepts (ms).
        min_valid: i64,
    },
    /// Same timestamp as the series' last sample, with a different value.
    #[error("duplicate sample for timestamp {t} with a different value, series {series}")]
    Duplicate {
        /// The series.
        series: Labels,
        /// The timestamp (ms).
        t: i64,
    },
}
