//! Comparing a query's result with an eval's expectations, as upstream's `compareResult`
//! (`promql/promqltest/test.go`) does, and matching annotation and error messages.
//!
//! - Floats compare with `almost.Equal(a, b, 1e-6)`: the stale marker equals only itself,
//!   NaN equals NaN, otherwise equal or relative difference below 1e-6 (absolute below
//!   `1e-6 × MinNormal` when either side is 0 or tiny).
//! - Vector: every result sample must match an expected line by its whole label set
//!   (`__name__` included) and every expected line must be in the result; order matters only
//!   with `expect ordered`. Timestamps are not checked.
//! - Matrix: series must be sorted by labels; expected value k belongs at `start + k·step`
//!   (`_` = no point there); point counts, timestamps and values must match.
//! - Scalar: the bare number; string: the `expect string` text.
//!
//! Annotations: upstream's texts end with the position of the expression, ` (line:col)`;
//! pier's annotations carry none. So positions are ignored: a trailing ` (l:c)` is removed
//! from the actual text and from `msg:` texts, and a trailing position pattern (`\(1:21\)`,
//! `\([0-9]+:[0-9]+\)`) is removed from `regex:` patterns before matching. A regex is tried on
//! the text as it is first, so a pattern that does not end in a position works unchanged.

use std::collections::HashMap;
use std::sync::LazyLock;

use pier_tsdb::{Labels, is_stale};
use regex::Regex;

use super::script::{Eval, MsgMatch};
use super::series::SeqValue;
use crate::value::Value;

/// `math.Float64frombits(0x0010000000000000)`, Go's smallest normal float.
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
/// Upstream's `defaultEpsilon`.
const EPSILON: f64 = 1e-6;

/// `almost.Equal(a, b, 1e-6)` as Prometheus's tests use it.
pub fn almost_equal(a: f64, b: f64) -> bool {
    if is_stale(a) || is_stale(b) {
        return is_stale(a) && is_stale(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

/// Formats a float as Go's `%v` would for the usual values (for failure messages).
pub fn fmt_float(v: f64) -> String {
    if is_stale(v) {
        "stale".into()
    } else if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// The expected time range of a matrix: `(start, end, step)`.
pub type Range = (i64, i64, i64);

/// Compares `value` with the expectations of `eval`. `range` gives where expected matrix
/// values belong (the range query's, or the `expect range vector` line's).
pub fn compare(eval: &Eval, value: &Value, range: Option<Range>) -> Result<(), String> {
    match value {
        Value::String { s, .. } => match &eval.expect_string {
            Some(exp) if exp == s => Ok(()),
            Some(exp) => Err(format!("expected string {exp:?} but got {s:?}")),
            None => Err(format!("unexpected string result {s:?}")),
        },
        _ if eval.expect_string.is_some() => Err(format!(
            "expected string {:?} but got a {} result",
            eval.expect_string.as_deref().unwrap_or_default(),
            value.type_name()
        )),
        Value::Scalar { v, .. } => match eval.expect_scalar {
            Some(exp) if almost_equal(exp, *v) => Ok(()),
            Some(exp) => Err(format!(
                "expected scalar {} but got {}",
                fmt_float(exp),
                fmt_float(*v)
            )),
            None => Err(format!(
                "expected vector or matrix result, but got scalar {}",
                fmt_float(*v)
            )),
        },
        Value::Vector(samples) => {
            if let Some(exp) = eval.expect_scalar {
                return Err(format!(
                    "expected scalar {} but got vector {}",
                    fmt_float(exp),
                    show_vector(samples.iter().map(|s| (&s.labels, s.v)))
                ));
            }
            compare_vector(eval, samples.iter().map(|s| (&s.labels, s.v)))
        }
        Value::Matrix(series) => {
            if eval.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if let Some(exp) = eval.expect_scalar {
                return Err(format!(
                    "expected scalar {} but got a matrix of {} series",
                    fmt_float(exp),
                    series.len()
                ));
            }
            let Some((start, end, step)) = range else {
                return Err(format!(
                    "got a range vector ({} series) but the eval has no `expect range vector` line",
                    series.len()
                ));
            };
            compare_matrix(
                eval,
                series.iter().map(|s| (&s.labels, s.points.as_slice())),
                (start, end, step),
            )
        }
    }
}

fn show_vector<'a>(it: impl Iterator<Item = (&'a Labels, f64)>) -> String {
    let parts: Vec<String> = it
        .map(|(l, v)| format!("{l} => {}", fmt_float(v)))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn show_points(points: &[(i64, f64)]) -> String {
    let parts: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{} @{}", fmt_float(*v), fmt_time(*t)))
        .collect();
    format!("[{}]", parts.join(" "))
}

/// Milliseconds as seconds, for messages.
pub fn fmt_time(t: i64) -> String {
    if t % 1000 == 0 {
        format!("{}s", t / 1000)
    } else {
        format!("{}ms", t)
    }
}

/// Compares an instant vector (label set, value) with the expected lines.
pub fn compare_vector<'a>(
    eval: &Eval,
    samples: impl Iterator<Item = (&'a Labels, f64)>,
) -> Result<(), String> {
    // Later lines with the same labels win, as upstream's map.
    let expected: HashMap<&Labels, (usize, f64)> = eval
        .expected
        .iter()
        .map(|e| {
            let v = match e.desc.values.first() {
                Some(SeqValue::Float(f)) => *f,
                _ => f64::NAN,
            };
            (&e.desc.labels, (e.pos, v))
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (pos, (labels, v)) in samples.enumerate() {
        let Some(&(exp_pos, exp_v)) = expected.get(labels) else {
            return Err(format!(
                "unexpected metric {labels} in result, has value {}",
                fmt_float(v)
            ));
        };
        if eval.ordered && exp_pos != pos + 1 {
            return Err(format!(
                "expected metric {labels} with {} at position {exp_pos} but was at {}",
                fmt_float(exp_v),
                pos + 1
            ));
        }
        if !almost_equal(exp_v, v) {
            return Err(format!(
                "expected {} for {labels} but got {}",
                fmt_float(exp_v),
                fmt_float(v)
            ));
        }
        seen.insert(labels.clone());
    }
    for e in &eval.expected {
        if !seen.contains(&e.desc.labels) {
            return Err(format!(
                "expected metric {} (line {}) not found",
                e.desc.labels, e.line
            ));
        }
    }
    Ok(())
}

/// Compares a matrix (label set, points) with the expected lines.
pub fn compare_matrix<'a>(
    eval: &Eval,
    series: impl Iterator<Item = (&'a Labels, &'a [(i64, f64)])>,
    (start, end, step): Range,
) -> Result<(), String> {
    let expected: HashMap<&Labels, &[SeqValue]> = eval
        .expected
        .iter()
        .map(|e| (&e.desc.labels, e.desc.values.as_slice()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut prev: Option<&Labels> = None;
    for (labels, points) in series {
        if let Some(p) = prev
            && p > labels
        {
            return Err(format!(
                "matrix results should always be sorted by labels, but matrix is not sorted: series at index with labels {labels} sorts before {p}"
            ));
        }
        prev = Some(labels);
        let Some(vals) = expected.get(labels) else {
            return Err(format!(
                "unexpected metric {labels} in result, has {}",
                show_points(points)
            ));
        };
        seen.insert(labels.clone());
        let mut exp_points = Vec::new();
        for (k, v) in vals.iter().enumerate() {
            let t = start + k as i64 * step;
            if t > end || (step == 0 && k > 0) {
                return Err(format!(
                    "expected {} points for {labels}, but query time range cannot return this many points",
                    vals.len()
                ));
            }
            match v {
                SeqValue::Float(f) => exp_points.push((t, *f)),
                SeqValue::Omitted => {}
                SeqValue::Histogram => {
                    return Err("expected a native histogram, which pier does not support".into());
                }
            }
        }
        if exp_points.len() != points.len() {
            return Err(format!(
                "expected {} float points for {labels}, but got {} {}",
                exp_points.len(),
                points.len(),
                show_points(points)
            ));
        }
        for (i, ((et, ev), (t, v))) in exp_points.iter().zip(points.iter()).enumerate() {
            if et != t {
                return Err(format!(
                    "expected float value at index {i} for {labels} to have timestamp {}, but it had timestamp {} (result has {})",
                    fmt_time(*et),
                    fmt_time(*t),
                    show_points(points)
                ));
            }
            if !almost_equal(*ev, *v) {
                return Err(format!(
                    "expected float value at index {i} (t={}) for {labels} to be {}, but got {} (result has {})",
                    fmt_time(*t),
                    fmt_float(*ev),
                    fmt_float(*v),
                    show_points(points)
                ));
            }
        }
    }
    for e in &eval.expected {
        if !seen.contains(&e.desc.labels) {
            return Err(format!(
                "expected metric {} (line {}) not found",
                e.desc.labels, e.line
            ));
        }
    }
    Ok(())
}

static POSITION_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\(\d+:\d+\)$").expect("valid regex"));
static REGEX_POSITION_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\s*\\\((?:\d+|\[0-9\][+*])(?::|\\:)(?:\d+|\[0-9\][+*])\\\)\$?$")
        .expect("valid regex")
});

/// `text` without a trailing ` (line:col)`.
pub fn strip_position(text: &str) -> &str {
    match POSITION_SUFFIX.find(text) {
        Some(m) => &text[..m.start()],
        None => text,
    }
}

/// True if `actual` (an annotation or error text) satisfies `m`, positions ignored (see the
/// module docs).
pub fn message_matches(m: &MsgMatch, actual: &str) -> bool {
    let bare = strip_position(actual);
    match m {
        MsgMatch::Exact(exp) => exp == actual || strip_position(exp) == bare,
        MsgMatch::Regex(re) => {
            if re.is_match(actual) || re.is_match(bare) {
                return true;
            }
            let stripped = REGEX_POSITION_SUFFIX.replace(re.as_str(), "");
            if stripped.len() == re.as_str().len() {
                return false;
            }
            // Anchor the end where the position used to be.
            Regex::new(&format!("(?:{stripped})$"))
                .map(|r| r.is_match(bare))
                .unwrap_or(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::script::{Command, parse_script};
    use super::*;
    use crate::value::{Sample, Series};

    fn eval(text: &str) -> Eval {
        match parse_script(text).remove(0) {
            Command::Eval(e) => *e,
            other => panic!("{other:?}"),
        }
    }

    fn sample(labels: &[(&str, &str)], v: f64) -> Sample {
        Sample {
            labels: Labels::from_pairs(labels.iter().copied()).unwrap(),
            t: 0,
            v,
            drop_name: false,
        }
    }

    #[test]
    fn almost_equal_rules() {
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.0 + 1e-5));
        assert!(almost_equal(f64::NAN, f64::NAN));
        assert!(!almost_equal(f64::NAN, pier_tsdb::STALE_NAN));
        assert!(almost_equal(pier_tsdb::STALE_NAN, pier_tsdb::STALE_NAN));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(0.0, -0.0));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!almost_equal(1.0, f64::NAN));
    }

    #[test]
    fn vectors() {
        let e = eval("eval instant at 0 x\n  x{a=\"1\"} 1\n  {a=\"2\"} 2\n");
        let ok = Value::Vector(vec![
            sample(&[("a", "2")], 2.0),
            sample(&[("__name__", "x"), ("a", "1")], 1.0),
        ]);
        assert_eq!(compare(&e, &ok, None), Ok(()));
        let missing = Value::Vector(vec![sample(&[("a", "2")], 2.0)]);
        assert!(
            compare(&e, &missing, None)
                .unwrap_err()
                .contains("not found")
        );
        let wrong = Value::Vector(vec![
            sample(&[("a", "2")], 2.1),
            sample(&[("__name__", "x"), ("a", "1")], 1.0),
        ]);
        assert!(
            compare(&e, &wrong, None)
                .unwrap_err()
                .contains("expected 2")
        );
        let extra = Value::Vector(vec![sample(&[("a", "3")], 2.0)]);
        assert!(
            compare(&e, &extra, None)
                .unwrap_err()
                .contains("unexpected metric")
        );
        // Ordered.
        let e = eval("eval instant at 0 x\n  expect ordered\n  {a=\"1\"} 1\n  {a=\"2\"} 2\n");
        let ok = Value::Vector(vec![sample(&[("a", "1")], 1.0), sample(&[("a", "2")], 2.0)]);
        assert_eq!(compare(&e, &ok, None), Ok(()));
        let swapped = Value::Vector(vec![sample(&[("a", "2")], 2.0), sample(&[("a", "1")], 1.0)]);
        assert!(
            compare(&e, &swapped, None)
                .unwrap_err()
                .contains("position")
        );
        // No lines: empty result.
        let e = eval("eval instant at 0 x\n");
        assert_eq!(compare(&e, &Value::Vector(vec![]), None), Ok(()));
        assert!(compare(&e, &ok, None).is_err());
    }

    #[test]
    fn scalars_and_strings() {
        let e = eval("eval instant at 0 1\n  1.0000000001\n");
        assert_eq!(compare(&e, &Value::Scalar { t: 0, v: 1.0 }, None), Ok(()));
        assert!(compare(&e, &Value::Scalar { t: 0, v: 2.0 }, None).is_err());
        assert!(compare(&e, &Value::Vector(vec![]), None).is_err());
        let e = eval("eval instant at 0 \"a\"\n  expect string \"a\"\n");
        let s = Value::String {
            t: 0,
            s: "a".into(),
        };
        assert_eq!(compare(&e, &s, None), Ok(()));
        assert!(
            compare(
                &e,
                &Value::String {
                    t: 0,
                    s: "b".into()
                },
                None
            )
            .is_err()
        );
        assert!(compare(&e, &Value::Scalar { t: 0, v: 1.0 }, None).is_err());
    }

    #[test]
    fn matrices() {
        let e = eval("eval range from 0 to 2m step 1m x\n  {a=\"1\"} 1 _ 3\n  {a=\"2\"} 1 2 3\n");
        let s = |a: &str, points: Vec<(i64, f64)>| Series {
            labels: Labels::from_pairs([("a", a)]).unwrap(),
            points,
            drop_name: false,
        };
        let range = Some((0, 120_000, 60_000));
        let ok = Value::Matrix(vec![
            s("1", vec![(0, 1.0), (120_000, 3.0)]),
            s("2", vec![(0, 1.0), (60_000, 2.0), (120_000, 3.0)]),
        ]);
        assert_eq!(compare(&e, &ok, range), Ok(()));
        let unsorted = Value::Matrix(vec![
            s("2", vec![(0, 1.0), (60_000, 2.0), (120_000, 3.0)]),
            s("1", vec![(0, 1.0), (120_000, 3.0)]),
        ]);
        assert!(
            compare(&e, &unsorted, range)
                .unwrap_err()
                .contains("sorted")
        );
        let shifted = Value::Matrix(vec![
            s("1", vec![(0, 1.0), (60_000, 3.0)]),
            s("2", vec![(0, 1.0), (60_000, 2.0), (120_000, 3.0)]),
        ]);
        assert!(
            compare(&e, &shifted, range)
                .unwrap_err()
                .contains("timestamp")
        );
        let short = Value::Matrix(vec![s("1", vec![(0, 1.0), (120_000, 3.0)])]);
        assert!(
            compare(&e, &short, range)
                .unwrap_err()
                .contains("not found")
        );
    }

    #[test]
    fn messages_ignore_positions() {
        let exact = MsgMatch::Exact("PromQL warning: x y (1:15)".into());
        assert!(message_matches(&exact, "PromQL warning: x y"));
        assert!(message_matches(&exact, "PromQL warning: x y (1:3)"));
        assert!(!message_matches(&exact, "PromQL warning: x"));
        let re = MsgMatch::Regex(Regex::new(r"PromQL info: fixed .* \(1:21\)").unwrap());
        assert!(message_matches(&re, "PromQL info: fixed for metric \"a\""));
        let re = MsgMatch::Regex(Regex::new(r"got NaN \([0-9]+:[0-9]+\)").unwrap());
        assert!(message_matches(
            &re,
            "PromQL warning: quantile value should be between 0 and 1, got NaN"
        ));
        assert!(!message_matches(&re, "PromQL warning: got NaNx"));
        let re = MsgMatch::Regex(Regex::new("conflicting label").unwrap());
        assert!(message_matches(&re, "duplicate: conflicting label x"));
    }
}
