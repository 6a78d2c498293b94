//! JSON writing for the Prometheus HTTP API, byte for byte as Prometheus's
//! `util/jsonutil/marshal.go` writes it: timestamps as JSON numbers in seconds with exactly
//! three millisecond digits when the millisecond part is not zero (`1435781451.781`,
//! `1.500`), values as JSON strings from Go's `strconv.AppendFloat(f, 'f'|'e', -1, 64)` —
//! exponent form when `|f| < 1e-6` or `|f| >= 1e21`, `"NaN"`, `"+Inf"`, `"-Inf"` — and the
//! result shapes of `/api/v1/query` (`scalar`, `string`, `vector`, `matrix`).
//!
//! Knows nothing of HTTP: it turns values into JSON text.

use std::fmt::Write;

use pier_promql::Value;
use pier_tsdb::Labels;

/// Appends a timestamp in milliseconds as Prometheus writes it: seconds, and a `.` with
/// exactly three digits when the milliseconds are not a whole second.
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let t = t_ms.unsigned_abs();
    let _ = write!(out, "{}", t / 1000);
    let fraction = t % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f' or 'e', -1, 64)` spells it, with the choice
/// Prometheus makes: exponent form when `|f| < 1e-6` or `|f| >= 1e21` (and not zero).
#[cfg(test)]
pub fn format_float(f: f64) -> String {
    let mut out = String::new();
    write_float(&mut out, f);
    out
}

/// Appends `f` as [`format_float`] spells it, without an intermediate string.
pub fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives the same shortest round-trip digits as Go (`1.5e21`); Go writes
        // the exponent with a sign and at least two digits (`1.5e+21`, `1e-07`).
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').expect("`{:e}` has an exponent");
        let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    } else {
        // Rust's `Display` for f64 is the shortest round-trip decimal, never an exponent,
        // and `-0` for negative zero: Go's `'f', -1`.
        let _ = write!(out, "{f}");
    }
}

/// Appends a JSON string literal (as `serde_json` writes it).
pub fn write_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        // Nothing to escape: the common case for label names and values.
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push_str(&serde_json::to_string(s).expect("a string serialises"));
}

/// Appends `[<ts>,"<value>"]`.
pub fn write_point(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t_ms);
    out.push_str(",\"");
    write_float(out, v);
    out.push_str("\"]");
}

/// Appends a label set as a JSON object, in label order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, label.name);
        out.push(':');
        write_str(out, label.value);
    }
    out.push('}');
}

/// Appends `{"resultType":…,"result":…}` for a query result.
pub fn write_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    match value {
        Value::Scalar { t, v } => write_point(out, *t, *v),
        Value::String { t, s } => {
            out.push('[');
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &sample.labels);
                out.push_str(",\"value\":");
                write_point(out, sample.t, sample.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(out, *t, *v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Appends a list of label sets (`/api/v1/series`).
pub fn write_label_sets(out: &mut String, sets: &[Labels]) {
    out.push('[');
    for (i, labels) in sets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_labels(out, labels);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_promql::{Sample, Series};

    fn ts(t_ms: i64) -> String {
        let mut out = String::new();
        write_timestamp(&mut out, t_ms);
        out
    }

    #[test]
    fn timestamps_have_three_millisecond_digits_when_fractional() {
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1500), "1.500");
        assert_eq!(ts(1050), "1.050");
        assert_eq!(ts(1005), "1.005");
        assert_eq!(ts(2000), "2");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(5), "0.005");
        assert_eq!(ts(-1500), "-1.500");
        assert_eq!(ts(-2000), "-2");
        assert_eq!(ts(i64::MIN), "-9223372036854775.808");
    }

    /// Expected strings are what Go's `strconv.FormatFloat(f, fmt, -1, 64)` prints, with
    /// Prometheus's choice of `fmt`.
    #[test]
    fn floats_are_formatted_as_go_does() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (100.0, "100"),
            (1e-7, "1e-07"),
            (1.2345e-7, "1.2345e-07"),
            (-1e-7, "-1e-07"),
            (0.000001, "0.000001"),
            (0.0000015, "0.0000015"),
            (9.5e-7, "9.5e-07"),
            (1.5e21, "1.5e+21"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1e100, "1e+100"),
            (1e-100, "1e-100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (123_456_789_012_345_680_000.0, "123456789012345680000"),
            (1e20, "100000000000000000000"),
            (999_999_999_999_999_900_000.0, "999999999999999900000"),
            (1_700_000_000.123, "1700000000.123"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::from_bits(pier_tsdb::STALE_NAN.to_bits()), "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(*f), *want, "{f:?}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        for s in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "tab\t",
            "\u{1}",
            "é <&>",
            "x\u{7f}",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn result_shapes_are_prometheus_ones() {
        let labels = Labels::series([("__name__", "up"), ("job", "a\"b")]).unwrap();
        let mut out = String::new();
        write_query_data(&mut out, &Value::Scalar { t: 1500, v: 2.0 });
        assert_eq!(out, r#"{"resultType":"scalar","result":[1.500,"2"]}"#);

        out.clear();
        write_query_data(
            &mut out,
            &Value::String {
                t: 1000,
                s: "hi".into(),
            },
        );
        assert_eq!(out, r#"{"resultType":"string","result":[1,"hi"]}"#);

        out.clear();
        write_query_data(
            &mut out,
            &Value::Vector(vec![Sample {
                labels: labels.clone(),
                t: 1000,
                v: f64::INFINITY,
                drop_name: false,
            }]),
        );
        assert_eq!(
            out,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1,"+Inf"]}]}"#
        );

        out.clear();
        write_query_data(
            &mut out,
            &Value::Matrix(vec![Series {
                labels: Labels::empty(),
                points: vec![(0, 1.0), (15_000, 0.5)],
                drop_name: false,
            }]),
        );
        assert_eq!(
            out,
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[15,"0.5"]]}]}"#
        );

        out.clear();
        write_query_data(&mut out, &Value::Vector(vec![]));
        assert_eq!(out, r#"{"resultType":"vector","result":[]}"#);
    }
}
