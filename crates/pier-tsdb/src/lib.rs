//! pier-tsdb owns time-series storage: the series index with label postings and matchers,
//! samples in Gorilla-compressed chunks, and — as it grows — the head, the write-ahead log,
//! blocks on disk and retention. It knows nothing of scraping or PromQL; PromQL reads it
//! through a `Storage` trait.
//!
//! Modules so far:
//! - [`chunk`]: Prometheus-compatible XOR chunks (delta-of-delta timestamps, XOR values) and
//!   the staleness marker.
//! - [`index`]: label sets, label matchers with Prometheus semantics, and the in-memory
//!   inverted index (postings) that resolves matchers to series.

pub mod chunk;
pub mod index;

pub use chunk::{ChunkError, STALE_NAN, XorChunk, XorIter, is_stale};
pub use index::{
    Index, IndexError, Label, Labels, LabelsError, MatchOp, Matcher, MatcherError, SeriesRef,
};
