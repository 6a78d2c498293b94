//! The `*_over_time` family: one value per series from the samples in its window.
//! `last_over_time` and `first_over_time` keep the metric name; every other function here
//! marks it for removal.

use super::args::per_series;
use super::gofmt::format_g;
use super::{FnCall, Sample};
use crate::error::QueryError;
use crate::kahan;

/// The mean, summed directly with Kahan compensation while the sum stays finite, then
/// incrementally (so that huge values do not overflow), as Prometheus does.
pub(super) fn avg(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| Some(mean(points)))
}

fn mean(points: &[(i64, f64)]) -> f64 {
    let mut sum = points[0].1;
    let mut count = 1.0;
    let mut c = 0.0;
    let mut avg = 0.0;
    let mut incremental = false;
    for &(_, v) in &points[1..] {
        count += 1.0;
        if !incremental {
            let (new_sum, new_c) = kahan::inc(v, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            // The sum overflows: continue with the running mean.
            incremental = true;
            avg = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (avg, c) = kahan::inc(v / count, q * avg, q * c);
    }
    if incremental {
        avg + c
    } else {
        sum / count + c / count
    }
}

/// The Kahan-compensated sum.
pub(super) fn sum(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        let (mut sum, mut c) = (0.0, 0.0);
        for &(_, v) in points {
            (sum, c) = kahan::inc(v, sum, c);
        }
        Some(if sum.is_infinite() { sum } else { sum + c })
    })
}

/// The number of samples.
pub(super) fn count(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| Some(points.len() as f64))
}

/// 1 for every series with a sample in the window.
pub(super) fn present(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |_| Some(1.0))
}

/// The smallest value; NaN only if all values are NaN.
pub(super) fn min(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        Some(pick(points, |cur, best| cur < best || best.is_nan()).1)
    })
}

/// The largest value; NaN only if all values are NaN.
pub(super) fn max(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        Some(pick(points, |cur, best| cur > best || best.is_nan()).1)
    })
}

/// The timestamp (seconds) of the last occurrence of the smallest value.
pub(super) fn ts_of_min(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        Some(pick(points, |cur, best| cur <= best || best.is_nan()).0 as f64 / 1000.0)
    })
}

/// The timestamp (seconds) of the last occurrence of the largest value.
pub(super) fn ts_of_max(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        Some(pick(points, |cur, best| cur >= best || best.is_nan()).0 as f64 / 1000.0)
    })
}

/// The point a scan keeps when `better(current, best)` says to replace the best so far.
fn pick(points: &[(i64, f64)], better: impl Fn(f64, f64) -> bool) -> (i64, f64) {
    let mut best = points[0];
    for &p in points {
        if better(p.1, best.1) {
            best = p;
        }
    }
    best
}

/// The newest value, keeping the metric name.
pub(super) fn last(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, true, |points| points.last().map(|p| p.1))
}

/// The oldest value, keeping the metric name.
pub(super) fn first(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, true, |points| points.first().map(|p| p.1))
}

/// The timestamp (seconds) of the newest sample.
pub(super) fn ts_of_last(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        points.last().map(|p| p.0 as f64 / 1000.0)
    })
}

/// The timestamp (seconds) of the oldest sample.
pub(super) fn ts_of_first(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        points.first().map(|p| p.0 as f64 / 1000.0)
    })
}

/// The population standard deviation.
pub(super) fn stddev(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| Some(variance(points).sqrt()))
}

/// The population variance.
pub(super) fn stdvar(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| Some(variance(points)))
}

/// Welford's online variance with Kahan-compensated mean and sum of squares.
fn variance(points: &[(i64, f64)]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan::inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan::inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `quantile_over_time(φ, v)`: the φ-quantile of each series' values, interpolating
/// between neighbours; NaN counts as the smallest value. φ outside [0, 1] (or NaN) gives
/// ∓Inf (or NaN) and a warning.
pub(super) fn quantile(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let q = call.scalar(0)?;
    let out = per_series(&call, 1, false, |points| {
        let mut values: Vec<f64> = points.iter().map(|p| p.1).collect();
        Some(quantile_of(q, &mut values))
    })?;
    if !out.is_empty() && (q.is_nan() || !(0.0..=1.0).contains(&q)) {
        call.annotations.warn(format!(
            "quantile value should be between 0 and 1, got {}",
            format_g(q)
        ));
    }
    Ok(out)
}

/// `mad_over_time`: the median absolute deviation from the median. A NaN sample makes
/// the result NaN.
pub(super) fn mad(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        if points.iter().any(|p| p.1.is_nan()) {
            return Some(f64::NAN);
        }
        let mut values: Vec<f64> = points.iter().map(|p| p.1).collect();
        let median = quantile_of(0.5, &mut values);
        let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        Some(quantile_of(0.5, &mut deviations))
    })
}

/// The q-quantile of `values` (sorted in place, NaN first), as Prometheus's `quantile`
/// aggregation and `quantile_over_time` compute it.
pub(crate) fn quantile_of(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::{Sample, Series};

    fn series(values: &[f64]) -> Series {
        Series {
            labels: Labels::from_pairs([("__name__", "m"), ("t", "x")]).unwrap(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as i64 * 10_053, *v))
                .collect(),
            drop_name: false,
        }
    }

    fn run_args(name: &str, args: &[Arg<'_>]) -> (Vec<Sample>, Annotations) {
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name,
            args,
            arg_exprs: &[],
            ts: 90_000,
            window: Some((0, 90_000)),
            annotations: &mut ann,
        })
        .unwrap();
        (out, ann)
    }

    fn run(name: &str, values: &[f64]) -> f64 {
        let m = [series(values)];
        let (out, _) = run_args(name, &[Arg::Matrix(&super::super::views(&m))]);
        assert_eq!(out.len(), 1);
        out[0].v
    }

    fn close(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() / (a.abs() + b.abs()) < 1e-12
    }

    #[test]
    fn avg_is_precise_and_survives_overflow() {
        assert_eq!(run("avg_over_time", &[1.0, 2.0, 3.0, 4.0, 5.0]), 3.0);
        assert_eq!(run("avg_over_time", &[52.0; 13]), 52.0);
        assert_eq!(run("avg_over_time", &[1.0, 1e100, 1.0, -1e100]), 0.5);
        // The value from functions.test, written as there (more digits than an f64 holds).
        let big: f64 = "9.988465674311579e+307".parse().unwrap();
        assert_eq!(run("avg_over_time", &[big, big]), big);
        assert_eq!(run("avg_over_time", &[-big, big]), 0.0);
        assert!(close(
            run("avg_over_time", &[1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6]),
            1.6666666666666675e9
        ));
        let m5 = [
            1.78264e50, 0.76342771, 1.9592258, 2.258e220, 7.69805412, 458.90154,
        ];
        assert!(close(run("avg_over_time", &m5), 3.76333333333333e219));
        assert!(
            run(
                "avg_over_time",
                &[1.0, 2.0, 3.0, f64::INFINITY, f64::NEG_INFINITY]
            )
            .is_nan()
        );
        assert_eq!(
            run("avg_over_time", &[f64::INFINITY, 0.0, f64::INFINITY]),
            f64::INFINITY
        );
    }

    #[test]
    fn sums_counts_extremes() {
        assert_eq!(run("sum_over_time", &[1.0, 1e100, 1.0, -1e100]), 2.0);
        assert_eq!(run("count_over_time", &[1.0, f64::NAN]), 2.0);
        assert_eq!(run("min_over_time", &[2.0, 0.0, f64::NAN]), 0.0);
        assert_eq!(run("min_over_time", &[f64::NAN, 0.0, 1.0]), 0.0);
        assert!(run("max_over_time", &[f64::NAN, f64::NAN]).is_nan());
        assert_eq!(run("max_over_time", &[2.0, f64::NAN, 1.0]), 2.0);
        let vals = [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0];
        assert_eq!(run("ts_of_min_over_time", &vals), 30.159);
        assert_eq!(run("ts_of_max_over_time", &vals), 50.265);
        assert_eq!(run("ts_of_last_over_time", &[1.0, 2.0, 3.0]), 20.106);
        assert_eq!(run("ts_of_first_over_time", &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn variance_and_mad() {
        assert!(close(
            run("stdvar_over_time", &[0.0, 8.0, 8.0, 2.0, 3.0]),
            10.56
        ));
        assert!((run("stddev_over_time", &[0.0, 8.0, 8.0, 2.0, 3.0]) - 3.249615).abs() < 1e-6);
        assert_eq!(run("stdvar_over_time", &[1.5990505637277868; 3]), 0.0);
        assert_eq!(
            run("mad_over_time", &[4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0]),
            1.0
        );
        assert_eq!(run("mad_over_time", &[1.0, 2.0, 3.0, 4.0, 5.0]), 1.0);
        assert_eq!(run("mad_over_time", &[5.0]), 0.0);
        assert!(run("mad_over_time", &[1.0, 2.0, f64::NAN, 4.0]).is_nan());
    }

    #[test]
    fn names_are_kept_only_by_last_and_first() {
        let m = [series(&[1.0, 2.0])];
        for (name, keep) in [
            ("last_over_time", true),
            ("first_over_time", true),
            ("max_over_time", false),
            ("present_over_time", false),
        ] {
            let (out, _) = run_args(name, &[Arg::Matrix(&super::super::views(&m))]);
            assert_eq!(out[0].drop_name, !keep, "{name}");
        }
        assert_eq!(run("last_over_time", &[1.0, 2.0]), 2.0);
        assert_eq!(run("first_over_time", &[1.0, 2.0]), 1.0);
    }

    #[test]
    fn quantile_over_time_interpolates_and_warns() {
        let m = [series(&[0.0, 1.0, 4.0])];
        for (q, want) in [(0.0, 0.0), (0.5, 1.0), (0.75, 2.5), (0.8, 2.8), (1.0, 4.0)] {
            let (out, ann) = run_args(
                "quantile_over_time",
                &[Arg::Scalar(q), Arg::Matrix(&super::super::views(&m))],
            );
            assert!(close(out[0].v, want), "{q}: {}", out[0].v);
            assert!(ann.warnings.is_empty());
        }
        let (out, ann) = run_args(
            "quantile_over_time",
            &[Arg::Scalar(2.0), Arg::Matrix(&super::super::views(&m))],
        );
        assert_eq!(out[0].v, f64::INFINITY);
        assert_eq!(
            ann.warnings,
            vec!["PromQL warning: quantile value should be between 0 and 1, got 2"]
        );
        let (out, ann) = run_args("quantile_over_time", &[Arg::Scalar(2.0), Arg::Matrix(&[])]);
        assert!(out.is_empty() && ann.warnings.is_empty());
    }
}
