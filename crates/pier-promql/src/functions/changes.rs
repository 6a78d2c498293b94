//! `resets` (how often a value drops) and `changes` (how often it differs from the
//! previous one; NaN followed by NaN is no change).

use super::args::per_series;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// The number of counter resets (a sample lower than its predecessor) per series.
pub(super) fn resets(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        Some(points.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64)
    })
}

/// The number of value changes per series.
pub(super) fn changes(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    per_series(&call, 0, false, |points| {
        Some(
            points
                .windows(2)
                .filter(|w| {
                    let (prev, cur) = (w[0].1, w[1].1);
                    cur != prev && !(cur.is_nan() && prev.is_nan())
                })
                .count() as f64,
        )
    })
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::Series;

    fn run(name: &str, values: &[f64]) -> f64 {
        let m = [Series {
            labels: Labels::from_pairs([("__name__", "x"), ("a", "b")]).unwrap(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as i64, *v))
                .collect(),
            drop_name: false,
        }];
        let views = super::super::views(&m);
        let args = [Arg::Matrix(&views)];
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name,
            args: &args,
            arg_exprs: &[],
            ts: 100,
            window: Some((-1, 100)),
            annotations: &mut ann,
        })
        .unwrap();
        assert!(out[0].drop_name);
        out[0].v
    }

    #[test]
    fn counts_resets_and_changes() {
        let foo = [2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0];
        assert_eq!(run("resets", &foo), 3.0);
        assert_eq!(run("changes", &foo), 7.0);
        assert_eq!(run("changes", &[f64::NAN, f64::NAN, f64::NAN]), 0.0);
        assert_eq!(run("changes", &[0.0, f64::NAN, 0.0]), 2.0);
        assert_eq!(run("resets", &[5.0]), 0.0);
    }
}
