//! Go's number and string formatting, for messages and labels that must read exactly as
//! Prometheus writes them: `%g` / `strconv.FormatFloat(f, 'g', -1, 64)`, `%f`, `%q`, and
//! `labels.FormatOpenMetricsFloat`.

/// Go's `%g` (shortest representation; exponent form when the decimal exponent is < -4 or
/// >= 6), e.g. `0.5`, `1e+06`, `NaN`, `+Inf`.
pub(super) fn format_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let (negative, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        // %e form: d[.ddd]e±XX
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return out;
    }
    // %f form with exactly the shortest digits.
    let dp = exp + 1; // digits before the decimal point
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let dp = dp as usize;
        if digits.len() <= dp {
            out.push_str(&digits);
            for _ in digits.len()..dp {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..dp]);
            out.push('.');
            out.push_str(&digits[dp..]);
        }
    }
    out
}

/// Prometheus's `labels.FormatOpenMetricsFloat`: `%g`, with `.0` appended to integers
/// (`1.0`, `0.0`, `0.25`, `1e+06`, `NaN`, `+Inf`).
pub(super) fn format_openmetrics(f: f64) -> String {
    let s = format_g(f);
    if f.is_finite() && !s.contains(['.', 'e']) {
        return s + ".0";
    }
    s
}

/// Go's `%f` (six decimals; `NaN`, `+Inf`, `-Inf`).
pub(super) fn format_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    format!("{f:.6}")
}

/// Go's `%q` for a string: double-quoted, with `"`, `\` and control characters escaped.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The shortest round-tripping decimal digits of a finite `f`, and its decimal exponent
/// (the power of ten of the first digit).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    // Rust's `{:e}` prints the shortest round-tripping digits: "-1.2345e-7", "0e0".
    let s = format!("{f:e}");
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (negative, digits, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_matches_go() {
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(-0.0), "-0");
        assert_eq!(format_g(0.25), "0.25");
        assert_eq!(format_g(-0.1), "-0.1");
        assert_eq!(format_g(1.01), "1.01");
        assert_eq!(format_g(2.0), "2");
        assert_eq!(format_g(123456.0), "123456");
        assert_eq!(format_g(1e6), "1e+06");
        assert_eq!(format_g(1234567.0), "1.234567e+06");
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(0.00001), "1e-05");
        assert_eq!(format_g(1e100), "1e+100");
        assert_eq!(format_g(f64::NAN), "NaN");
        assert_eq!(format_g(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn openmetrics_floats() {
        assert_eq!(format_openmetrics(0.0), "0.0");
        assert_eq!(format_openmetrics(1.0), "1.0");
        assert_eq!(format_openmetrics(0.25), "0.25");
        assert_eq!(format_openmetrics(-0.1), "-0.1");
        assert_eq!(format_openmetrics(f64::NAN), "NaN");
        assert_eq!(format_openmetrics(f64::INFINITY), "+Inf");
        assert_eq!(format_openmetrics(1e6), "1e+06");
    }

    #[test]
    fn f_and_quote() {
        assert_eq!(format_f(0.5), "0.500000");
        assert_eq!(format_f(f64::INFINITY), "+Inf");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
