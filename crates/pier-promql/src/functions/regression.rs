//! `deriv` and `predict_linear`: least-squares linear regression over a window, with Kahan
//! summation and x measured in seconds from a reference time near the samples (to keep
//! the sums small), as Prometheus's `linearRegression`.

use super::args::per_series;
use super::{FnCall, Sample};
use crate::error::QueryError;
use crate::kahan;

/// The slope (per second) of each series with at least two samples.
pub(super) fn deriv(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        if points.len() < 2 {
            return None;
        }
        Some(linear_regression(points, points[0].0).0)
    })
}

/// The value each series would have `duration` seconds after the evaluation time, by the
/// regression line.
pub(super) fn predict_linear(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let duration = call.scalar(1)?;
    let ts = call.ts;
    per_series(&call, 0, false, |points| {
        if points.len() < 2 {
            return None;
        }
        let (slope, intercept) = linear_regression(points, ts);
        Some(slope * duration + intercept)
    })
}

/// Slope and intercept (the value at `intercept_time`, ms) of the least-squares line. A
/// constant series has slope 0 (NaN, NaN if the constant is infinite).
fn linear_regression(points: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let init_y = points[0].1;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, &(t, y)) in points.iter().enumerate() {
        if const_y && i > 0 && y != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan::inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan::inc(y, sum_y, c_y);
        (sum_xy, c_xy) = kahan::inc(x * y, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan::inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::Series;

    const M: i64 = 60_000;

    /// testcounter_reset_middle_total 0+10x4 0+10x5 at 5m spacing.
    fn reset_middle() -> Vec<(i64, f64)> {
        [0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 50]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 5 * M, *v as f64))
            .collect()
    }

    fn run(name: &str, points: Vec<(i64, f64)>, extra: Option<f64>, ts: i64) -> f64 {
        let m = [Series {
            labels: Labels::from_pairs([("__name__", "x")]).unwrap(),
            points,
            drop_name: false,
        }];
        let views = super::super::views(&m);
        let mut args = vec![Arg::Matrix(&views)];
        if let Some(e) = extra {
            args.push(Arg::Scalar(e));
        }
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name,
            args: &args,
            arg_exprs: &[],
            ts,
            window: None,
            annotations: &mut ann,
        })
        .unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].drop_name);
        out[0].v
    }

    #[test]
    fn deriv_matches_functions_test() {
        let got = run("deriv", reset_middle(), None, 50 * M);
        assert!((got - 0.010606060606060607).abs() < 1e-15);
    }

    #[test]
    fn predict_linear_intercepts_at_eval_time() {
        // [50m] at 50m holds 5m..50m.
        let pts: Vec<_> = reset_middle().into_iter().skip(1).collect();
        assert!((run("predict_linear", pts, Some(3600.0), 50 * M) - 70.0).abs() < 1e-9);
        // @ 3000 with [55m]: all eleven points, intercept at 600s + 3600s.
        let got = run("predict_linear", reset_middle(), Some(3600.0), 10 * M);
        assert!((got - 51.36363636363637).abs() < 1e-9);
    }

    #[test]
    fn infinite_values_give_nan() {
        let pts = vec![(0, f64::NEG_INFINITY), (M, 0.0), (2 * M, f64::INFINITY)];
        assert!(run("deriv", pts, None, 2 * M).is_nan());
        let pts = vec![(0, f64::INFINITY), (M, f64::INFINITY)];
        assert!(run("deriv", pts, None, 2 * M).is_nan());
        let pts = vec![(0, 3.0), (M, 3.0)];
        assert_eq!(run("predict_linear", pts, Some(100.0), 2 * M), 3.0);
    }
}
