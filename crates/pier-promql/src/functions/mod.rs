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

use pier_tsdb::Labels;
use promql_parser::parser::Expr;

use crate::error::{Annotations, QueryError};
use crate::value::{Sample, Series};

mod absent;
mod args;
mod buckets;
mod changes;
mod convert;
mod gofmt;
mod histogram;
mod labels;
mod math;
mod over_time;
mod rate;
mod regression;
mod smoothing;
mod sort;
mod time;

pub(crate) use over_time::quantile_of;

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
    Matrix(&'a [RangeSeries<'a>]),
}

/// One series of a range-vector argument at one step, borrowed from where the evaluator
/// keeps it (a range selector's sliding window, or a subquery's buffer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeSeries<'a> {
    /// The series' labels.
    pub labels: &'a Labels,
    /// The points in the window, oldest first.
    pub points: &'a [(i64, f64)],
    /// `__name__` is to be removed when evaluation ends.
    pub drop_name: bool,
    /// How many adjacent pairs of `points` go down (counter resets), when the source
    /// already counted them; `None` means count when needed.
    pub resets: Option<usize>,
}

/// Views of owned series (for tests that build a range-vector argument by hand).
#[cfg(test)]
pub(crate) fn views(series: &[Series]) -> Vec<RangeSeries<'_>> {
    series.iter().map(RangeSeries::of).collect()
}

impl<'a> RangeSeries<'a> {
    /// A view of an owned series; resets not counted.
    pub fn of(series: &'a Series) -> Self {
        Self {
            labels: &series.labels,
            points: &series.points,
            drop_name: series.drop_name,
            resets: None,
        }
    }
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
///
/// Not answered here: `start()`, `end()`, `range()`, `step()` need the query's bounds and
/// step, which the evaluator answers itself; `info()` and `start_timestamp()` need storage
/// look-ups and are not supported (an execution error naming the function).
pub(crate) fn call(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    match call.name {
        // Range vector -> instant vector, counters and gauges.
        "rate" => rate::extrapolated(call, true, true),
        "increase" => rate::extrapolated(call, true, false),
        "delta" => rate::extrapolated(call, false, false),
        "irate" => rate::instant(call, true),
        "idelta" => rate::instant(call, false),
        "deriv" => regression::deriv(call),
        "predict_linear" => regression::predict_linear(call),
        "resets" => changes::resets(call),
        "changes" => changes::changes(call),
        "double_exponential_smoothing" => smoothing::double_exponential(call),

        // Aggregations over time.
        "avg_over_time" => over_time::avg(call),
        "sum_over_time" => over_time::sum(call),
        "count_over_time" => over_time::count(call),
        "min_over_time" => over_time::min(call),
        "max_over_time" => over_time::max(call),
        "last_over_time" => over_time::last(call),
        "first_over_time" => over_time::first(call),
        "present_over_time" => over_time::present(call),
        "stddev_over_time" => over_time::stddev(call),
        "stdvar_over_time" => over_time::stdvar(call),
        "quantile_over_time" => over_time::quantile(call),
        "mad_over_time" => over_time::mad(call),
        "ts_of_first_over_time" => over_time::ts_of_first(call),
        "ts_of_last_over_time" => over_time::ts_of_last(call),
        "ts_of_min_over_time" => over_time::ts_of_min(call),
        "ts_of_max_over_time" => over_time::ts_of_max(call),

        // Absence.
        "absent" => absent::absent(call),
        "absent_over_time" => absent::absent_over_time(call),

        // Math and trigonometry.
        "abs" | "ceil" | "floor" | "sqrt" | "exp" | "ln" | "log2" | "log10" | "sgn" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
        | "acosh" | "atanh" | "deg" | "rad" => math::simple(call),
        "round" => math::round(call),
        "clamp" => math::clamp(call),
        "clamp_min" => math::clamp_min(call),
        "clamp_max" => math::clamp_max(call),
        "pi" => Ok(convert::scalar_output(call.ts, std::f64::consts::PI)),
        "min_of" => math::min_of(call),
        "max_of" => math::max_of(call),

        // Time.
        "time" => Ok(convert::scalar_output(call.ts, call.ts as f64 / 1000.0)),
        "timestamp" => time::timestamp(call),
        "year" | "month" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "hour" | "minute" => time::date(call),

        // Labels.
        "label_replace" => labels::label_replace(call),
        "label_join" => labels::label_join(call),

        // Type conversion.
        "vector" => convert::vector(call),
        "scalar" => convert::scalar(call),

        // Sorting.
        "sort" => sort::sort(call, false),
        "sort_desc" => sort::sort(call, true),
        "sort_by_label" => sort::sort_by_label(call, false),
        "sort_by_label_desc" => sort::sort_by_label(call, true),

        // Classic histograms (native histograms are not stored, so the native-only
        // functions see float samples only, which they ignore, as Prometheus does).
        "histogram_quantile" => histogram::quantile(call),
        "histogram_quantiles" => histogram::quantiles(call),
        "histogram_fraction" => histogram::fraction(call),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => histogram::native_only(call),

        name => Err(QueryError::Execution(format!(
            "function {name}() is not supported by pier's function library"
        ))),
    }
}
