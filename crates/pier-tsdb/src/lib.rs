//! pier-tsdb owns time-series storage: the series index with label postings and matchers,
//! samples in Gorilla-compressed chunks, the in-memory head, the write-ahead log, and — as it
//! grows — blocks on disk and retention. It knows nothing of scraping or PromQL; PromQL reads
//! it through the [`Storage`] trait.
//!
//! Modules:
//! - [`chunk`]: Prometheus-compatible XOR chunks (delta-of-delta timestamps, XOR values),
//!   pier's compact chunks for decimal values in blocks, and the staleness marker.
//! - [`index`]: label sets, label matchers with Prometheus semantics, and the in-memory
//!   inverted index (postings) that resolves matchers to series.
//! - [`head`]: the in-memory series and their chunks (plain data, no locks or I/O).
//! - `paged`: a vector in fixed-size pages for per-series data (no doubling slack).
//! - [`wal`]: the write-ahead log format, writer and replay (format in its docs).
//! - [`block`]: immutable blocks on disk (format in its docs), the block writer, the
//!   compaction planner and merge.
//! - [`storage`]: the read trait and the lazy per-series cursor over head and block chunks.
//! - `db`, `appender`, `batch`, `error`: [`Tsdb`] (open, replay, cutting the head into
//!   blocks, WAL checkpoints, compaction, retention, stats, locking), [`Appender`] (buffer,
//!   validate, commit), [`Tsdb::commit_batch`] (a scrape's batch committed without a copy)
//!   and the error types.
//!
//! ```
//! use pier_tsdb::{Labels, Matcher, Storage, Tsdb, TsdbOptions};
//! let dir = std::env::temp_dir().join(format!("pier-tsdb-doc-{}", std::process::id()));
//! let db = Tsdb::open(&dir, TsdbOptions::default()).unwrap();
//! let up = Labels::series([("__name__", "up"), ("job", "api")]).unwrap();
//! let mut app = db.appender();
//! app.append(&up, 1_000, 1.0).unwrap();
//! app.commit().unwrap();
//! let got: Vec<_> = db.select(&[Matcher::equal("job", "api")], 0, 2_000).unwrap()
//!     .into_iter().flat_map(|c| c.collect::<Vec<_>>()).collect();
//! assert_eq!(got, vec![(1_000, 1.0)]);
//! # drop(db); std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod appender;
mod batch;
pub mod block;
pub mod chunk;
mod db;
mod error;
pub mod head;
pub mod index;
mod paged;
pub mod storage;
pub mod wal;

#[cfg(test)]
mod tests;

pub use appender::{Appender, CommitStats};
pub use chunk::{ChunkError, STALE_NAN, SealedChunk, XorChunk, XorIter, is_stale};
pub use db::{HeadStats, MaintenanceHold, MaintenanceReport, Tsdb, TsdbOptions};
pub use error::{AppendError, TsdbError};
pub use index::{
    Index, IndexError, Label, Labels, LabelsError, MatchOp, Matcher, MatcherError, SeriesRef,
};
pub use storage::{ChunkSource, SeriesCursor, Storage};
