//! The evaluator: turns the parsed expression into a tree of stateful nodes and evaluates it
//! at every step of `[start, end]`, in time order, so that every selector reads the store
//! once and walks its series forward (only lookback windows, range windows and subquery
//! buffers stay in memory, besides the result).
//!
//! Modules, one purpose each:
//! - `ctx`: per-query state (store, sample limit, deadline, annotations).
//! - `step`: the value of a node at one time.
//! - `time`: offsets, `@`, reference times, subquery step alignment.
//! - `build`: expression → node tree; `node`: the tree and its dispatch.
//! - `select`: matchers and store selection.
//! - `vector_selector`, `matrix_selector`, `subquery`: the data sources; `window`: a range
//!   selector's sliding window.
//! - `arith`, `matching`, `binary`: operators and vector matching.
//! - `heap`, `grouping`, `aggregate`: aggregations (compensated sums in `crate::kahan`).
//! - `call`: function calls.
//! - `output`: range-query assembly and delayed name removal.

mod aggregate;
mod arith;
mod binary;
mod build;
mod call;
mod ctx;
mod grouping;
mod heap;
mod matching;
mod matrix_selector;
mod node;
mod output;
mod select;
mod step;
mod subquery;
mod time;
mod vector_selector;
mod window;

use pier_tsdb::{Labels, Storage};
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use self::build::build;
use self::ctx::Ctx;
use self::output::{RangeResult, cleanup_matrix, cleanup_vector};
use self::step::StepValue;
use self::time::Times;
use crate::engine::{EngineOptions, QueryOutput};
use crate::error::QueryError;
use crate::value::{Sample, Value};

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
    let mut ctx = Ctx::new(options, storage, start, end, step);
    let value = if step <= 0 {
        instant(&mut ctx, expr, start)?
    } else {
        range(&mut ctx, expr, start, end, step)?
    };
    Ok(QueryOutput {
        value,
        annotations: ctx.annotations,
    })
}

fn instant(ctx: &mut Ctx<'_>, expr: &Expr, ts: i64) -> Result<Value, QueryError> {
    let mut root = build(ctx, expr, Times { min: ts, max: ts })?;
    ctx.check_deadline()?;
    Ok(match root.eval(ctx, ts)? {
        StepValue::Scalar(v) => Value::Scalar { t: ts, v },
        StepValue::String(s) => Value::String { t: ts, s },
        StepValue::Vector(samples) => Value::Vector(cleanup_vector(samples)?),
        StepValue::Matrix { series, .. } => Value::Matrix(cleanup_matrix(series)?),
    })
}

fn range(
    ctx: &mut Ctx<'_>,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Value, QueryError> {
    let kind = match expr.value_type() {
        ValueType::Matrix => Some("range vector"),
        ValueType::String => Some("string"),
        ValueType::Scalar | ValueType::Vector => None,
    };
    if let Some(kind) = kind {
        return Err(QueryError::BadData(format!(
            "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
        )));
    }
    let mut root = build(
        ctx,
        expr,
        Times {
            min: start,
            max: end,
        },
    )?;
    let mut result = RangeResult::default();
    let mut ts = start;
    while ts <= end {
        ctx.check_deadline()?;
        let samples = match root.eval(ctx, ts)? {
            StepValue::Scalar(v) => vec![Sample {
                labels: Labels::empty(),
                t: ts,
                v,
                drop_name: false,
            }],
            StepValue::Vector(samples) => samples,
            StepValue::String(_) | StepValue::Matrix { .. } => {
                return Err(QueryError::Execution(
                    "range query expression must be a scalar or an instant vector".into(),
                ));
            }
        };
        ctx.reset_step(0);
        let added = result.add(ts, samples)?;
        ctx.hold(added)?;
        let Some(next) = ts.checked_add(step) else {
            break;
        };
        ts = next;
    }
    Ok(Value::Matrix(cleanup_matrix(result.into_series())?))
}
