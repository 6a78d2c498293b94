//! Typed access to a call's arguments, and the shared shapes of function output.
//!
//! The evaluator has already checked argument types against the parser's signatures, so a
//! mismatch here is an internal error, reported as an execution error rather than a panic.

use pier_tsdb::Labels;

use super::{Arg, FnCall, RangeSeries};
use crate::error::QueryError;
use crate::value::Sample;

impl<'a> FnCall<'a> {
    /// Argument `i`, if given (optional arguments may be absent).
    pub(super) fn arg(&self, i: usize) -> Option<Arg<'a>> {
        self.args.get(i).copied()
    }

    /// Argument `i` as an instant vector.
    pub(super) fn vector(&self, i: usize) -> Result<&'a [Sample], QueryError> {
        match self.arg(i) {
            Some(Arg::Vector(v)) => Ok(v),
            other => Err(self.bad_arg(i, "an instant vector", other)),
        }
    }

    /// Argument `i` as a range vector.
    pub(super) fn matrix(&self, i: usize) -> Result<&'a [RangeSeries<'a>], QueryError> {
        match self.arg(i) {
            Some(Arg::Matrix(m)) => Ok(m),
            other => Err(self.bad_arg(i, "a range vector", other)),
        }
    }

    /// Argument `i` as a number.
    pub(super) fn scalar(&self, i: usize) -> Result<f64, QueryError> {
        match self.arg(i) {
            Some(Arg::Scalar(v)) => Ok(v),
            other => Err(self.bad_arg(i, "a scalar", other)),
        }
    }

    /// Argument `i` as a string.
    pub(super) fn string(&self, i: usize) -> Result<&'a str, QueryError> {
        match self.arg(i) {
            Some(Arg::String(s)) => Ok(s),
            other => Err(self.bad_arg(i, "a string", other)),
        }
    }

    /// The range-vector window at this step, `(start, end]` in ms.
    pub(super) fn range_window(&self) -> Result<(i64, i64), QueryError> {
        self.window.ok_or_else(|| {
            QueryError::Execution(format!(
                "internal error: {}() called without a range window",
                self.name
            ))
        })
    }

    fn bad_arg(&self, i: usize, want: &str, got: Option<Arg<'_>>) -> QueryError {
        let got = match got {
            None => "nothing",
            Some(Arg::Scalar(_)) => "a scalar",
            Some(Arg::String(_)) => "a string",
            Some(Arg::Vector(_)) => "an instant vector",
            Some(Arg::Matrix(_)) => "a range vector",
        };
        QueryError::Execution(format!(
            "internal error: argument {} of {}() should be {want}, got {got}",
            i + 1,
            self.name
        ))
    }
}

/// One output sample at the step time.
pub(super) fn sample(labels: Labels, t: i64, v: f64, drop_name: bool) -> Sample {
    Sample {
        labels,
        t,
        v,
        drop_name,
    }
}

/// Applies `f` to every series of a range-vector argument, keeping the series whose
/// result is `Some`. The output keeps each series' labels; `__name__` is marked for removal
/// unless `keep_name` (only `last_over_time` and `first_over_time` keep it, and then only
/// if the series did not already carry the mark, e.g. from a subquery over `abs(…)`).
pub(super) fn per_series(
    call: &FnCall<'_>,
    matrix_arg: usize,
    keep_name: bool,
    mut f: impl FnMut(&[(i64, f64)]) -> Option<f64>,
) -> Result<Vec<Sample>, QueryError> {
    let matrix = call.matrix(matrix_arg)?;
    let mut out = Vec::with_capacity(matrix.len());
    for series in matrix {
        if series.points.is_empty() {
            continue;
        }
        if let Some(v) = f(series.points) {
            let drop_name = !keep_name || series.drop_name;
            out.push(sample(series.labels.clone(), call.ts, v, drop_name));
        }
    }
    Ok(out)
}

/// Fails with Prometheus's error if two output samples have the same label set.
pub(super) fn ensure_unique_labels(samples: &[Sample]) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    for s in samples {
        if !seen.insert(&s.labels) {
            return Err(QueryError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}
