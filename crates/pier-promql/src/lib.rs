//! pier-promql owns PromQL evaluation: it parses queries with the `promql-parser` crate and
//! evaluates them, instant or over a range, against anything that implements
//! [`pier_tsdb::Storage`], with Prometheus 3's semantics (left-open windows, 5-minute
//! lookback and staleness, rate extrapolation, classic `histogram_quantile`, delayed removal
//! of `__name__`). It also owns the runner for Prometheus's own conformance files (the
//! promqltest format) and an in-memory store to run them on. It does no I/O of its own and
//! knows nothing of HTTP: the Prometheus HTTP API lives in pier-api.
//!
//! Modules:
//! - [`value`]: the values a query produces (scalar, string, instant vector, matrix) and
//!   label-set helpers.
//! - [`error`]: [`QueryError`] (with Prometheus's `errorType` and HTTP status) and
//!   [`Annotations`] (warnings and infos).
//! - [`engine`]: [`Engine`] and its limits; the entry points `instant` and `range`.
//! - `eval`: the evaluator (selectors, offsets, `@`, subqueries, operators, aggregations).
//! - `functions`: every float function of Prometheus 3, called once per step.
//! - `kahan`: the compensated summation both aggregations and functions use.
//! - [`mem`]: [`MemStorage`], an in-memory store for tests and the conformance runner.
//! - [`promqltest`]: the promqltest parser and runner.

pub mod engine;
pub mod error;
mod eval;
mod functions;
mod kahan;
pub mod mem;
pub mod promqltest;
pub mod value;

pub use engine::{Engine, EngineOptions, QueryOutput};
pub use error::{Annotations, QueryError};
pub use mem::MemStorage;
pub use value::{Sample, Series, Value};
