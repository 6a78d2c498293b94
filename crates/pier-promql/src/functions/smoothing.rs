//! `double_exponential_smoothing(v range-vector, sf, tf)` (Holt's linear method; named
//! `holt_winters` before Prometheus 3): smooths each series with smoothing factor `sf` and
//! trend factor `tf`, both strictly between 0 and 1.

use super::args::per_series;
use super::gofmt::format_f;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// The last smoothed value of each series with at least two samples.
pub(super) fn double_exponential(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let sf = call.scalar(1)?;
    let tf = call.scalar(2)?;
    // Prometheus checks the factors only when some series has samples.
    if call.matrix(0)?.is_empty() {
        return Ok(Vec::new());
    }
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            format_f(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            format_f(tf)
        )));
    }
    per_series(&call, 0, false, |points| smooth(points, sf, tf))
}

fn smooth(points: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    // s1: the current smoothed value, s0: the previous one, b: the trend.
    let mut s0 = 0.0;
    let mut s1 = points[0].1;
    let mut b = points[1].1 - points[0].1;
    for (i, &(_, v)) in points.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::{Annotations, QueryError};
    use crate::value::Series;

    fn run(values: Vec<f64>, sf: f64, tf: f64) -> Result<Vec<f64>, QueryError> {
        let m = [Series {
            labels: Labels::from_pairs([("__name__", "x")]).unwrap(),
            points: values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i as i64 * 10_000, v))
                .collect(),
            drop_name: false,
        }];
        let views = super::super::views(&m);
        let args = [Arg::Matrix(&views), Arg::Scalar(sf), Arg::Scalar(tf)];
        let mut ann = Annotations::default();
        call(FnCall {
            name: "double_exponential_smoothing",
            args: &args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .map(|out| out.iter().map(|s| s.v).collect())
    }

    #[test]
    fn follows_a_linear_trend() {
        // functions.test: 0+10x1000 over [1m] at 8000s gives 8000.
        let values: Vec<f64> = (795..=800).map(|i| i as f64 * 10.0).collect();
        let got = run(values, 0.01, 0.1).unwrap();
        assert!((got[0] - 8000.0).abs() < 1e-6, "{got:?}");
        assert!(run(vec![1.0], 0.5, 0.5).unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_factors() {
        let err = run(vec![1.0, 2.0], 1.0, 0.5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        assert!(run(vec![1.0, 2.0], 0.5, 0.0).is_err());
    }
}
