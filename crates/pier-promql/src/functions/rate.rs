//! `rate`, `increase`, `delta` (extrapolated over the window) and `irate`, `idelta` (the
//! last two samples), as Prometheus's `extrapolatedRate` and `instantValue`.

use pier_tsdb::Labels;

use super::args::sample;
use super::gofmt::quote;
use super::{FnCall, Sample};
use crate::error::{Annotations, QueryError};

/// `rate` (counter, per second), `increase` (counter) and `delta` (gauge).
///
/// Per series with at least two samples in `(start, end]`: the difference between the last
/// and first sample (counters add the value before each drop back in), extrapolated to the
/// window's edges when the first/last sample lies within 1.1 average spacings of them, else
/// by half a spacing; a counter is never extrapolated below zero. `rate` divides by the
/// window length in seconds.
pub(super) fn extrapolated(
    call: FnCall<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Result<Vec<Sample>, QueryError> {
    let matrix = call.matrix(0)?;
    let (range_start, range_end) = call.range_window()?;
    let range_seconds = (range_end - range_start) as f64 / 1000.0;
    let mut out = Vec::with_capacity(matrix.len());
    for series in matrix {
        let Some(v) = extrapolate(
            series.points,
            series.resets,
            range_start,
            range_end,
            is_counter,
        ) else {
            continue;
        };
        let v = if is_rate { v / range_seconds } else { v };
        if is_counter {
            maybe_not_a_counter(call.annotations, metric_name(series.labels));
        }
        out.push(sample(series.labels.clone(), call.ts, v, true));
    }
    Ok(out)
}

/// `increase`/`delta` of one series over `(range_start, range_end]`, or `None` with fewer
/// than two samples. `resets`, when known, is how many adjacent pairs of `points` go down:
/// with none, a counter's reset scan would add nothing and is skipped.
fn extrapolate(
    points: &[(i64, f64)],
    resets: Option<usize>,
    range_start: i64,
    range_end: i64,
    is_counter: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter && resets != Some(0) {
        for w in points.windows(2) {
            if w[1].1 < w[0].1 {
                result += w[0].1;
            }
        }
    }

    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_spacing = sampled_interval / (points.len() - 1) as f64;
    let threshold = average_spacing * 1.1;

    if duration_to_start >= threshold {
        duration_to_start = average_spacing / 2.0;
    }
    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero: stop extrapolating where it would reach zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_spacing / 2.0;
    }

    let factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    Some(result * factor)
}

/// The metric name; `__name__` sorts first in nearly every label set, so look there before
/// searching (this runs for every series at every step).
fn metric_name(labels: &Labels) -> Option<&str> {
    match labels.iter().next() {
        Some(first) if first.name == "__name__" => Some(first.value),
        _ => labels.metric_name(),
    }
}

/// Prometheus's info for `rate`/`increase` over a metric whose name does not look like a
/// counter's.
fn maybe_not_a_counter(annotations: &mut Annotations, name: Option<&str>) {
    let Some(name) = name else { return };
    if ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
    {
        return;
    }
    annotations.info(format!(
        "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
        quote(name)
    ));
}

/// `irate` (per second, counter resets give the last value) and `idelta` from the last two
/// samples of each series. A series with fewer than two samples, or whose last two samples
/// share a timestamp, gives nothing.
pub(super) fn instant(call: FnCall<'_>, is_rate: bool) -> Result<Vec<Sample>, QueryError> {
    let matrix = call.matrix(0)?;
    let mut out = Vec::with_capacity(matrix.len());
    for series in matrix {
        let n = series.points.len();
        if n < 2 {
            continue;
        }
        let (prev_t, prev_v) = series.points[n - 2];
        let (last_t, last_v) = series.points[n - 1];
        let interval = last_t - prev_t;
        if interval == 0 {
            continue;
        }
        // A counter reset leaves the last value as the increase; NaN compares false, so a
        // NaN on either side gives NaN.
        let mut v = if is_rate && last_v < prev_v {
            last_v
        } else {
            last_v - prev_v
        };
        if is_rate {
            v /= interval as f64 / 1000.0;
        }
        out.push(sample(series.labels.clone(), call.ts, v, true));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::Series;

    const M: i64 = 60_000;

    fn series(name: &str, extra: &[(&str, &str)], points: Vec<(i64, f64)>) -> Series {
        let mut pairs = vec![("__name__", name)];
        pairs.extend_from_slice(extra);
        Series {
            labels: Labels::from_pairs(pairs).unwrap(),
            points,
            drop_name: false,
        }
    }

    /// Points `start, start+step, …` of a load line `a+bxn` at `interval`.
    fn line(interval: i64, values: &[f64]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * interval, *v))
            .collect()
    }

    fn window(points: &[(i64, f64)], start: i64, end: i64) -> Vec<(i64, f64)> {
        points
            .iter()
            .copied()
            .filter(|(t, _)| *t > start && *t <= end)
            .collect()
    }

    fn run(name: &str, matrix: &[Series], ts: i64, range: i64) -> (Vec<f64>, Annotations) {
        let mut ann = Annotations::default();
        let views = super::super::views(matrix);
        let args = [Arg::Matrix(&views)];
        let out = call(FnCall {
            name,
            args: &args,
            arg_exprs: &[],
            ts,
            window: Some((ts - range, ts)),
            annotations: &mut ann,
        })
        .unwrap();
        assert!(out.iter().all(|s| s.drop_name));
        (out.iter().map(|s| s.v).collect(), ann)
    }

    fn seq(start: f64, step: f64, n: usize) -> Vec<f64> {
        (0..=n).map(|i| start + step * i as f64).collect()
    }

    #[test]
    fn increase_extrapolates_and_stops_at_zero() {
        // functions.test: increase(http_requests_total[100m]) at 50m.
        let cases = [(0.0, 100.0), (10.0, 105.0), (1.0, 101.0)];
        for (start, want) in cases {
            let pts = line(5 * M, &seq(start, 10.0, 10));
            let m = [series(
                "http_requests_total",
                &[],
                window(&pts, -50 * M, 50 * M),
            )];
            let (got, ann) = run("increase", &m, 50 * M, 100 * M);
            assert!((got[0] - want).abs() < 1e-9, "{start}: {got:?}");
            assert!(ann.infos.is_empty());
        }
        // "/bar": 0+18x5 0+18x5 has a reset.
        let mut v = seq(0.0, 18.0, 5);
        v.extend(seq(0.0, 18.0, 5));
        let pts = line(5 * M, &v);
        let m = [series("x_total", &[], window(&pts, -50 * M, 50 * M))];
        assert!((run("increase", &m, 50 * M, 100 * M).0[0] - 162.0).abs() < 1e-9);
    }

    #[test]
    fn rate_zero_cutoff() {
        // testcounter_zero_cutoff_total at 10m over [20m], load 4m.
        let wants = [0.5, 0.55, 0.6, 0.6, 0.6, 0.6];
        for (i, want) in wants.iter().enumerate() {
            let pts = line(4 * M, &seq(60.0 * i as f64, 240.0, 10));
            let m = [series("c_total", &[], window(&pts, -10 * M, 10 * M))];
            let got = run("rate", &m, 10 * M, 20 * M).0[0];
            assert!((got - want).abs() < 1e-9, "start {i}m: {got}");
        }
    }

    #[test]
    fn rate_needs_two_samples_and_annotates_non_counters() {
        let m = [series("gauge", &[], vec![(0, 1.0)])];
        assert!(run("rate", &m, 60_000, 60_000).0.is_empty());
        let m = [series("gauge", &[], vec![(0, 1.0), (30_000, 2.0)])];
        let (got, ann) = run("rate", &m, 60_000, 60_000);
        assert_eq!(got.len(), 1);
        assert_eq!(
            ann.infos,
            vec![
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"gauge\""
            ]
        );
        assert!(run("delta", &m, 60_000, 60_000).1.infos.is_empty());
    }

    #[test]
    fn delta_of_a_gauge() {
        let pts = line(5 * M, &[0.0, 50.0, 100.0, 150.0, 200.0]);
        let m = [series("g", &[], window(&pts, 0, 20 * M))];
        // (0,20m] holds 50..200 at 5m..20m: 150 over 15m, extrapolated to 20m.
        assert!((run("delta", &m, 20 * M, 20 * M).0[0] - 200.0).abs() < 1e-9);
    }

    #[test]
    fn irate_and_idelta() {
        let m = [series("x_total", &[], vec![(0, 10.0), (5 * M, 20.0)])];
        assert!((run("irate", &m, 5 * M, 10 * M).0[0] - 10.0 / 300.0).abs() < 1e-12);
        // Counter reset: the last value is the increase.
        let m = [series("x_total", &[], vec![(0, 10.0), (5 * M, 4.0)])];
        assert!((run("irate", &m, 5 * M, 10 * M).0[0] - 4.0 / 300.0).abs() < 1e-12);
        assert_eq!(run("idelta", &m, 5 * M, 10 * M).0, vec![-6.0]);
        let m = [series("x_total", &[], vec![(0, f64::NAN), (5 * M, 4.0)])];
        assert!(run("irate", &m, 5 * M, 10 * M).0[0].is_nan());
    }
}
