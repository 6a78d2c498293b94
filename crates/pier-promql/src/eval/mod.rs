//! The evaluator: walks the parsed expression and computes its value at every step of
//! `[start, end]`.

use pier_tsdb::Storage;
use promql_parser::parser::Expr;

use crate::engine::{EngineOptions, QueryOutput};
use crate::error::QueryError;

/// Evaluates `expr` at `start, start + step, … <= end` (ms). `step == 0` means an instant
/// query at `start` (`start == end`): the result is a scalar, string, vector, or (for a
/// range-vector expression) a matrix. Otherwise the result is a matrix sorted by labels.
pub(crate) fn evaluate(
    options: &EngineOptions,
    storage: &dyn Storage,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<QueryOutput, QueryError> {
    let _ = (
        options,
        storage,
        expr,
        start,
        end,
        step,
        crate::functions::call,
    );
    Err(QueryError::Execution(
        "the evaluator is not written yet".into(),
    ))
}
