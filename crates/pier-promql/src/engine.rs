//! The engine: limits, and the two entry points, an instant query at one time and a range
//! query over `[start, end]` at a step. Both parse with `promql-parser` and hand the AST to
//! the evaluator.

use std::time::Duration;

use pier_tsdb::Storage;
use promql_parser::parser::Expr;

use crate::error::{Annotations, QueryError};
use crate::value::Value;

/// Limits and defaults, as Prometheus's engine options.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_delta_ms: i64,
    /// Longest a query may run (Prometheus `--query.timeout`: 2m).
    pub timeout: Duration,
    /// Most samples a query may hold in memory at once (Prometheus `--query.max-samples`:
    /// 50,000,000).
    pub max_samples: usize,
    /// Step of a subquery without one (`x[1h:]`), when no query step applies (Prometheus:
    /// the global evaluation interval, 1m).
    pub default_subquery_step_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta_ms: 5 * 60 * 1000,
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            default_subquery_step_ms: 60 * 1000,
        }
    }
}

/// What a successful query returns.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    /// The result: for a range query always a matrix (series sorted by labels).
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
}

/// Evaluates PromQL against a store. Cheap to clone; holds no state between queries.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// The limits.
    pub options: EngineOptions,
}

impl Engine {
    /// An engine with these limits.
    pub fn new(options: EngineOptions) -> Self {
        Self { options }
    }

    /// Parses `query`; the error is Prometheus-style, with the position.
    pub fn parse(query: &str) -> Result<Expr, QueryError> {
        promql_parser::parser::parse(query).map_err(QueryError::Parse)
    }

    /// Evaluates `query` at `time_ms`. A range-vector expression (`x[5m]`) returns a matrix,
    /// a string literal a string, as Prometheus's `/api/v1/query` does.
    pub fn instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryOutput, QueryError> {
        let expr = Self::parse(query)?;
        self.instant_expr(storage, &expr, time_ms)
    }

    /// Evaluates a parsed expression at `time_ms` (for the rule evaluator, which parses once).
    pub fn instant_expr(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        time_ms: i64,
    ) -> Result<QueryOutput, QueryError> {
        crate::eval::evaluate(&self.options, storage, expr, time_ms, time_ms, 0)
    }

    /// Evaluates `query` at `start`, `start + step`, … ≤ `end` (ms). The expression must be
    /// a scalar or instant vector; the result is a matrix.
    pub fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryOutput, QueryError> {
        let expr = Self::parse(query)?;
        self.range_expr(storage, &expr, start_ms, end_ms, step_ms)
    }

    /// [`Engine::range`] for a parsed expression.
    pub fn range_expr(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryOutput, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        crate::eval::evaluate(&self.options, storage, expr, start_ms, end_ms, step_ms)
    }
}
