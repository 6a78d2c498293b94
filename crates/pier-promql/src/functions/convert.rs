//! Type conversion: `vector(s)` (a scalar as a one-sample vector with no labels) and
//! `scalar(v)` (the value of a one-sample vector, else NaN), and the shape of every
//! scalar-returning function's output.

use pier_tsdb::Labels;

use super::args::sample;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// A scalar result: one sample with no labels, which the evaluator turns into a scalar.
pub(super) fn scalar_output(ts: i64, v: f64) -> Vec<Sample> {
    vec![sample(Labels::empty(), ts, v, false)]
}

/// `vector(s)`: `{} s`.
pub(super) fn vector(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    Ok(vec![sample(
        Labels::empty(),
        call.ts,
        call.scalar(0)?,
        false,
    )])
}

/// `scalar(v)`: the single sample's value, or NaN for zero or several samples.
pub(super) fn scalar(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let v = match call.vector(0)? {
        [only] => only.v,
        _ => f64::NAN,
    };
    Ok(scalar_output(call.ts, v))
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::Sample;

    fn run(name: &str, args: &[Arg<'_>]) -> Vec<Sample> {
        let mut ann = Annotations::default();
        call(FnCall {
            name,
            args,
            arg_exprs: &[],
            ts: 5_000,
            window: None,
            annotations: &mut ann,
        })
        .unwrap()
    }

    #[test]
    fn vector_scalar_time_pi() {
        let out = run("vector", &[Arg::Scalar(1.5)]);
        assert_eq!((out[0].labels.len(), out[0].v), (0, 1.5));
        let s = |v: f64| Sample {
            labels: Labels::from_pairs([("a", v.to_string())]).unwrap(),
            t: 0,
            v,
            drop_name: false,
        };
        assert_eq!(run("scalar", &[Arg::Vector(&[s(2.0)])])[0].v, 2.0);
        assert!(
            run("scalar", &[Arg::Vector(&[s(1.0), s(2.0)])])[0]
                .v
                .is_nan()
        );
        assert!(run("scalar", &[Arg::Vector(&[])])[0].v.is_nan());
        assert_eq!(run("time", &[])[0].v, 5.0);
        assert_eq!(run("pi", &[])[0].v, std::f64::consts::PI);
    }
}
