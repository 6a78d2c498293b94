//! Owns the spelling of numbers: sample values and timestamps in each format, and the exact
//! conversion of OpenMetrics float seconds to integer milliseconds. Knows nothing of lines.

/// A text-format value, as Go's `strconv.ParseFloat` reads decimal input: an optional sign,
/// decimal digits with an optional fraction and exponent, or `Inf`/`Infinity`/`NaN` in any
/// case. (Go's hexadecimal floats are not accepted.)
pub(crate) fn text_value(token: &str) -> Option<f64> {
    token.parse::<f64>().ok()
}

/// A text-format timestamp: a base-10 `i64` of milliseconds with an optional sign.
pub(crate) fn text_timestamp(token: &str) -> Option<i64> {
    token.parse::<i64>().ok()
}

/// An OpenMetrics value: a real number, `[+-]Inf`/`[+-]Infinity` or `NaN` (words in any case).
pub(crate) fn openmetrics_value(token: &str) -> Option<f64> {
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if token.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if token.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    real_number(token)
}

/// An OpenMetrics real number (`[sign] digits [. digits] [e [sign] digits]`, at least one
/// digit before the exponent): no words, no hexadecimal, no underscores.
pub(crate) fn real_number(token: &str) -> Option<f64> {
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    let first = unsigned.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'.') {
        return None;
    }
    // Past the first byte Rust's grammar is exactly the decimal ABNF of OpenMetrics.
    token.parse::<f64>().ok()
}

/// Converts a real number of seconds (already validated by [`real_number`]) to milliseconds
/// exactly, truncating toward zero and saturating at the `i64` range.
pub(crate) fn seconds_to_ms(token: &str) -> i64 {
    let negative = token.starts_with('-');
    let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => {
            let exponent = &unsigned[i + 1..];
            let overflow = if exponent.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            };
            (&unsigned[..i], exponent.parse::<i64>().unwrap_or(overflow))
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The value is digits × 10^shift milliseconds.
    let shift = exponent
        .clamp(-100_000, 100_000)
        .saturating_add(3)
        .saturating_sub(frac_part.len() as i64);
    let digits = int_part
        .bytes()
        .chain(frac_part.bytes())
        .filter(u8::is_ascii_digit);
    let total = int_part.len() + frac_part.len();
    let keep = if shift >= 0 {
        total
    } else {
        total.saturating_sub(shift.unsigned_abs() as usize)
    };
    let mut magnitude: i128 = 0;
    for d in digits.take(keep) {
        magnitude = (magnitude * 10 + i128::from(d - b'0')).min(i128::from(u64::MAX));
    }
    for _ in 0..shift.max(0) {
        if magnitude == 0 || magnitude >= i128::from(u64::MAX) {
            break;
        }
        magnitude = (magnitude * 10).min(i128::from(u64::MAX));
    }
    let signed = if negative { -magnitude } else { magnitude };
    signed.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_accept_go_spellings() {
        assert_eq!(text_value("1.5e3"), Some(1500.0));
        assert_eq!(text_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(text_value("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(text_value("Infinity"), Some(f64::INFINITY));
        assert!(text_value("NaN").unwrap().is_nan());
        assert!(text_value("nan").unwrap().is_nan());
        assert_eq!(text_value(".5"), Some(0.5));
        for bad in ["", "1_000", "0x10", "1.2.3", "abc", "1e"] {
            assert_eq!(text_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_timestamps_are_integer_milliseconds() {
        assert_eq!(text_timestamp("1395066363000"), Some(1_395_066_363_000));
        assert_eq!(text_timestamp("-5"), Some(-5));
        assert_eq!(text_timestamp("1.5"), None);
        assert_eq!(text_timestamp("99999999999999999999"), None);
    }

    #[test]
    fn openmetrics_values_follow_the_abnf() {
        assert_eq!(openmetrics_value("0001.2e-1"), Some(0.12));
        assert_eq!(openmetrics_value("+INF"), Some(f64::INFINITY));
        assert_eq!(openmetrics_value("-infinity"), Some(f64::NEG_INFINITY));
        assert!(openmetrics_value("NaN").unwrap().is_nan());
        for bad in [
            "-NaN", "0x1p-3", "0b1", "0o1", "1_2", "1 ", "", "+", "e5", ".",
        ] {
            assert_eq!(openmetrics_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_real_numbers_only() {
        assert_eq!(real_number("1.5e3"), Some(1500.0));
        for bad in ["NaN", "Inf", "-Inf", "z", "1z", "1.1.1", "0x1p-3"] {
            assert_eq!(real_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn seconds_convert_to_milliseconds_exactly() {
        assert_eq!(seconds_to_ms("1"), 1000);
        assert_eq!(seconds_to_ms("1.1"), 1100);
        assert_eq!(seconds_to_ms("1395066363.123"), 1_395_066_363_123);
        assert_eq!(seconds_to_ms("-1.0015"), -1001);
        assert_eq!(seconds_to_ms("1.5e3"), 1_500_000);
        assert_eq!(seconds_to_ms("15e-4"), 1);
        assert_eq!(seconds_to_ms("0.0000000001"), 0);
        assert_eq!(seconds_to_ms("000"), 0);
        assert_eq!(seconds_to_ms(".5"), 500);
        assert_eq!(seconds_to_ms("12345678901234567890.1234567890"), i64::MAX);
        assert_eq!(seconds_to_ms("-1e300"), i64::MIN);
        assert_eq!(seconds_to_ms("1e-300"), 0);
        assert_eq!(seconds_to_ms("1e99999999999999999999"), i64::MAX);
        assert_eq!(seconds_to_ms("1e-99999999999999999999"), 0);
    }
}
