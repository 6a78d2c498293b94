//! Element-wise math on an instant vector (`abs`, `ceil`, `floor`, `round`, `sqrt`, `exp`,
//! `ln`, `log2`, `log10`, `sgn`, `clamp*`, trigonometry, `deg`, `rad`), and the scalar
//! `min_of`/`max_of`. Every output marks the metric name for removal.

use super::args::sample;
use super::convert::scalar_output;
use super::{FnCall, Sample};
use crate::error::QueryError;

/// Applies `f` to every sample of argument 0.
fn map(call: &FnCall<'_>, f: impl Fn(f64) -> f64) -> Result<Vec<Sample>, QueryError> {
    Ok(call
        .vector(0)?
        .iter()
        .map(|s| sample(s.labels.clone(), call.ts, f(s.v), true))
        .collect())
}

/// The one-argument functions, by name.
pub(super) fn simple(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let f: fn(f64) -> f64 = match call.name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "sqrt" => f64::sqrt,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => sgn,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        other => {
            return Err(QueryError::Execution(format!(
                "internal error: {other}() is not a simple math function"
            )));
        }
    };
    map(&call, f)
}

/// -1, 1, or the value itself for 0, -0 and NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `round(v, to_nearest=1)`: rounds to the nearest multiple of `to_nearest`, ties up.
pub(super) fn round(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let to_nearest = if call.args.len() >= 2 {
        call.scalar(1)?
    } else {
        1.0
    };
    // Dividing by the inverse is what Prometheus does (fewer representation errors).
    let inverse = 1.0 / to_nearest;
    map(&call, |v| (v * inverse + 0.5).floor() / inverse)
}

/// `clamp(v, min, max)`: nothing when `max < min`.
pub(super) fn clamp(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let (lo, hi) = (call.scalar(1)?, call.scalar(2)?);
    clamp_between(&call, lo, hi)
}

/// `clamp_min(v, min)`.
pub(super) fn clamp_min(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let lo = call.scalar(1)?;
    clamp_between(&call, lo, f64::INFINITY)
}

/// `clamp_max(v, max)`.
pub(super) fn clamp_max(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let hi = call.scalar(1)?;
    clamp_between(&call, f64::NEG_INFINITY, hi)
}

fn clamp_between(call: &FnCall<'_>, lo: f64, hi: f64) -> Result<Vec<Sample>, QueryError> {
    if hi < lo {
        return Ok(Vec::new());
    }
    map(call, |v| go_max(lo, go_min(hi, v)))
}

/// `min_of(a, b)` on scalars.
pub(super) fn min_of(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    Ok(scalar_output(
        call.ts,
        go_min(call.scalar(0)?, call.scalar(1)?),
    ))
}

/// `max_of(a, b)` on scalars.
pub(super) fn max_of(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    Ok(scalar_output(
        call.ts,
        go_max(call.scalar(0)?, call.scalar(1)?),
    ))
}

/// Go's `math.Min`: NaN if either is NaN, and -0 is smaller than +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `math.Max`: NaN if either is NaN, and +0 is larger than -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() { a } else { b }
    } else if a > b {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::Annotations;
    use crate::value::Sample;

    fn input(values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
                    .unwrap(),
                t: 0,
                v: *v,
                drop_name: false,
            })
            .collect()
    }

    fn run(name: &str, values: &[f64], extra: &[f64]) -> Vec<f64> {
        let v = input(values);
        let mut args = vec![Arg::Vector(&v)];
        args.extend(extra.iter().map(|e| Arg::Scalar(*e)));
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name,
            args: &args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .unwrap();
        assert!(out.iter().all(|s| s.drop_name));
        out.iter().map(|s| s.v).collect()
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-12 * x.abs()
            })
    }

    const DATA: [f64; 9] = [
        2.5,
        2.0,
        -2.5,
        -2.0,
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];

    #[test]
    fn rounding_family() {
        let inf = f64::INFINITY;
        assert!(same(
            &run("round", &DATA, &[]),
            &[3.0, 2.0, -2.0, -2.0, 0.0, 0.0, inf, -inf, f64::NAN]
        ));
        assert!(same(
            &run("ceil", &DATA, &[]),
            &[3.0, 2.0, -2.0, -2.0, 0.0, 0.0, inf, -inf, f64::NAN]
        ));
        assert!(same(
            &run("floor", &DATA, &[]),
            &[2.0, 2.0, -3.0, -2.0, 0.0, 0.0, inf, -inf, f64::NAN]
        ));
        assert!(same(
            &run("abs", &DATA, &[]),
            &[2.5, 2.0, 2.5, 2.0, 0.0, 0.0, inf, inf, f64::NAN]
        ));
        assert!(same(&run("round", &[1.234, 5.5], &[0.1]), &[1.2, 5.5]));
        assert!(same(&run("round", &[7.0], &[5.0]), &[5.0]));
    }

    #[test]
    fn clamping() {
        let v = [-50.0, 0.0, 100.0];
        assert_eq!(run("clamp_max", &v, &[75.0]), vec![-50.0, 0.0, 75.0]);
        assert_eq!(run("clamp_min", &v, &[-25.0]), vec![-25.0, 0.0, 100.0]);
        assert_eq!(run("clamp", &v, &[-25.0, 75.0]), vec![-25.0, 0.0, 75.0]);
        assert!(
            run("clamp", &v, &[0.0, f64::NAN])
                .iter()
                .all(|v| v.is_nan())
        );
        assert!(
            run("clamp", &v, &[f64::NAN, 0.0])
                .iter()
                .all(|v| v.is_nan())
        );
        assert!(run("clamp", &v, &[5.0, -5.0]).is_empty());
    }

    #[test]
    fn sgn_exp_logs_trig() {
        assert!(same(
            &run(
                "sgn",
                &[f64::NEG_INFINITY, f64::NAN, -50.0, 0.0, 100.0],
                &[]
            ),
            &[-1.0, f64::NAN, -1.0, 0.0, 1.0]
        ));
        assert!(same(&run("exp", &[10.0], &[]), &[22026.465794806718]));
        assert!(same(
            &run("ln", &[-10.0, 0.0], &[]),
            &[f64::NAN, f64::NEG_INFINITY]
        ));
        assert!(same(&run("log10", &[10.0], &[]), &[1.0]));
        assert!(same(&run("sin", &[10.0], &[]), &[-0.5440211108893699]));
        assert!(same(&run("deg", &[10.0], &[]), &[572.9577951308232]));
        assert!(same(&run("rad", &[10.0], &[]), &[0.17453292519943295]));
        assert!(same(&run("acosh", &[10.0], &[]), &[2.993222846126381]));
    }

    #[test]
    fn min_of_and_max_of() {
        let go = |name: &str, a: f64, b: f64| {
            let args = [Arg::Scalar(a), Arg::Scalar(b)];
            let mut ann = Annotations::default();
            let out = call(FnCall {
                name,
                args: &args,
                arg_exprs: &[],
                ts: 0,
                window: None,
                annotations: &mut ann,
            })
            .unwrap();
            assert!(out[0].labels.is_empty());
            out[0].v
        };
        assert_eq!(go("min_of", 5.0, 3.0), 3.0);
        assert_eq!(go("max_of", -2.0, -5.0), -2.0);
        assert!(go("min_of", 3.0, f64::NAN).is_nan());
        assert!(go("max_of", f64::NAN, 3.0).is_nan());
        assert!(go("min_of", 0.0, -0.0).is_sign_negative());
    }
}
