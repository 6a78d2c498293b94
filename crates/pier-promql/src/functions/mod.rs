//! Every float function of Prometheus 3, called by the evaluator once per evaluation step.
//!
//! The contract with the evaluator:
//! - The evaluator checks arity and argument types (the parser already did), evaluates every
//!   argument at the step, and calls [`call`] with them. A range-vector argument (`x[5m]`
//!   or a subquery) arrives as [`Arg::Matrix`]: for each series, the points of the window at
//!   this step, `(start, end]` with offset and `@` already applied, stale markers removed.
//!   Series with no point in the window are left out.
//! - Functions return an instant vector. For functions whose return type is scalar
//!   (`time`, `scalar`, `pi`, …) it holds one sample with empty labels, which the evaluator
//!   turns into a scalar. A function that drops the metric name sets `drop_name` on its
//!   output samples rather than removing `__name__` (Prometheus 3's delayed name removal);
//!   the evaluator strips it at the end and reports duplicate label sets.
//! - `absent` and `absent_over_time` read the argument expression (`arg_exprs`) to build
//!   their output labels from the selector's equality matchers.
//! - `timestamp(v)`: when `v` is a plain vector selector the evaluator passes each sample
//!   with its own timestamp in `Sample::t`; otherwise `t` is the step time.
//! - Output order is kept by the evaluator, which is what makes `sort`/`sort_desc` work.

use promql_parser::parser::Expr;

use crate::error::{Annotations, QueryError};
use crate::value::{Sample, Series};

/// One evaluated argument.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// A number (a literal, or a scalar expression at this step).
    Scalar(f64),
    /// A string literal.
    String(&'a str),
    /// An instant vector at this step.
    Vector(&'a [Sample]),
    /// A range vector: each series' points in the window at this step.
    Matrix(&'a [Series]),
}

/// One call of a function at one step.
pub(crate) struct FnCall<'a> {
    /// The function's name as written (`rate`, `label_replace`, …).
    pub name: &'a str,
    /// The evaluated arguments, in order.
    pub args: &'a [Arg<'a>],
    /// The argument expressions (for `absent`, `absent_over_time` and annotations).
    pub arg_exprs: &'a [Box<Expr>],
    /// The evaluation time of this step (ms): the time samples of the output carry.
    pub ts: i64,
    /// For a range-vector argument: the window at this step, `(start, end]` in ms, after
    /// offset and `@` (what rate extrapolation measures against).
    pub window: Option<(i64, i64)>,
    /// Where the function adds warnings and infos.
    pub annotations: &'a mut Annotations,
}

/// Calls the function `call.name` at one step. An unknown name is an execution error (the
/// parser rejects them first, so this only guards against a function the parser knows and
/// pier does not implement).
pub(crate) fn call(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    Err(QueryError::Execution(format!(
        "function {}() is not implemented yet",
        call.name
    )))
}
