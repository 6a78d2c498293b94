//! Kubernetes resource quantities: CPU (`500m`, `2`, `0.5`) in millicores and memory
//! (`256Mi`, `1G`, `1e9`) in bytes. Pure functions with helpful errors.

use crate::diagnostics::Problem;

const CPU_HINT: &str = "write cores (`2`, `0.5`) or millicores (`500m`)";
const MEMORY_HINT: &str = "write bytes with a suffix: `Ki`, `Mi`, `Gi`, `Ti` (powers of 1024) or `k`, `M`, `G`, `T` (powers of 1000), such as `256Mi`";

/// Parses a CPU quantity into millicores: `500m` → 500, `2` → 2000, `0.5` → 500.
pub fn parse_cpu_millis(s: &str) -> Result<u32, String> {
    cpu(s).map_err(flatten)
}

/// Parses a memory quantity into bytes: `256Mi`, `1Gi`, `512M`, `1G`, `1000`, `128Ki`, `1e3`.
/// Fractions of a byte round up, as Kubernetes does.
pub fn parse_memory_bytes(s: &str) -> Result<u64, String> {
    memory(s).map_err(flatten)
}

fn flatten(p: Problem) -> String {
    match p.hint {
        Some(hint) => format!("{} ({hint})", p.message),
        None => p.message,
    }
}

/// [`parse_cpu_millis`] with the message and hint kept apart.
pub(crate) fn cpu(s: &str) -> Result<u32, Problem> {
    let number = Number::split(s).ok_or_else(|| invalid("cpu", s, CPU_HINT))?;
    let millis = match number.suffix {
        "m" if number.fraction.is_empty() => number.scaled(1, 1),
        "m" => {
            return Err(Problem::new(format!(
                "cpu `{s}` is finer than one millicore"
            )));
        }
        "" if number.fraction.len() > 3 => {
            return Err(
                Problem::new(format!("cpu `{s}` is finer than one millicore"))
                    .hint("round to three decimals, such as `0.125`"),
            );
        }
        "" => number.scaled(1000, 1),
        other => {
            return Err(Problem::new(format!("unknown cpu unit `{other}` in `{s}`")).hint(CPU_HINT));
        }
    };
    millis
        .and_then(|m| u32::try_from(m).ok())
        .ok_or_else(|| Problem::new(format!("cpu `{s}` is too large")))
}

/// [`parse_memory_bytes`] with the message and hint kept apart.
pub(crate) fn memory(s: &str) -> Result<u64, Problem> {
    let number = Number::split(s).ok_or_else(|| invalid("memory", s, MEMORY_HINT))?;
    let (numerator, denominator) = match memory_multiplier(number.suffix) {
        Some(m) => m,
        None => return Err(unknown_memory_suffix(s, number.suffix)),
    };
    number
        .scaled(numerator, denominator)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| Problem::new(format!("memory `{s}` is too large")))
}

/// The multiplier of a memory suffix as a fraction (exponents are part of the suffix).
fn memory_multiplier(suffix: &str) -> Option<(u128, u128)> {
    let binary = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let decimal = ["", "k", "M", "G", "T", "P", "E"];
    if let Some(i) = binary.iter().position(|b| *b == suffix) {
        return Some((1024u128.pow(i as u32), 1));
    }
    if let Some(i) = decimal.iter().position(|d| *d == suffix) {
        return Some((1000u128.pow(i as u32), 1));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let value: i32 = exponent.parse().ok()?;
    let power = 10u128.checked_pow(value.unsigned_abs())?;
    Some(if value >= 0 { (power, 1) } else { (1, power) })
}

fn unknown_memory_suffix(s: &str, suffix: &str) -> Problem {
    let problem = Problem::new(format!("unknown memory unit `{suffix}` in `{s}`"));
    let fix = match suffix {
        "m" => Some("Mi"),
        "ki" | "K" | "KiB" | "kiB" | "KB" | "kb" => Some("Ki"),
        "mi" | "MiB" | "MB" | "mb" => Some("Mi"),
        "gi" | "g" | "GiB" | "GB" | "gb" => Some("Gi"),
        "ti" | "t" | "TiB" | "TB" | "tb" => Some("Ti"),
        _ => None,
    };
    match fix {
        Some(fix) => {
            let number = &s[..s.len() - suffix.len()];
            let warning = if suffix == "m" {
                " (`m` means thousandths, so this would be less than one byte)"
            } else {
                ""
            };
            problem.hint(format!("write `{number}{fix}`{warning}"))
        }
        None => problem.hint(MEMORY_HINT),
    }
}

fn invalid(what: &str, s: &str, hint: &str) -> Problem {
    if s.is_empty() {
        return Problem::new(format!("empty {what} quantity")).hint(hint);
    }
    if s.starts_with('-') {
        return Problem::new(format!("{what} `{s}` is negative"));
    }
    Problem::new(format!("`{s}` is not a {what} quantity")).hint(hint)
}

/// A decimal number with an optional fraction and the suffix that follows it.
struct Number<'a> {
    whole: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

impl<'a> Number<'a> {
    fn split(s: &'a str) -> Option<Number<'a>> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (whole, rest) = s.split_at(end);
        let (fraction, suffix) = match rest.strip_prefix('.') {
            Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
            None => ("", rest),
        };
        let valid_suffix = suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if (whole.is_empty() && fraction.is_empty()) || !valid_suffix {
            return None;
        }
        Some(Number {
            whole,
            fraction,
            suffix,
        })
    }

    /// `self × numerator / denominator`, rounded up; `None` on overflow.
    fn scaled(&self, numerator: u128, denominator: u128) -> Option<u128> {
        let digits: u128 = format!("{}{}", self.whole, self.fraction).parse().ok()?;
        let scale = 10u128.checked_pow(u32::try_from(self.fraction.len()).ok()?)?;
        let top = digits.checked_mul(numerator)?;
        let bottom = scale.checked_mul(denominator)?;
        Some(top.div_ceil(bottom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(parse_cpu_millis("500m"), Ok(500));
        assert_eq!(parse_cpu_millis("2"), Ok(2000));
        assert_eq!(parse_cpu_millis("0.5"), Ok(500));
        assert_eq!(parse_cpu_millis("1.25"), Ok(1250));
        assert_eq!(parse_cpu_millis(".5"), Ok(500));
        assert!(parse_cpu_millis("0.0001").is_err());
        assert!(
            parse_cpu_millis("2x")
                .unwrap_err()
                .contains("unknown cpu unit `x`")
        );
        assert!(parse_cpu_millis("-1").unwrap_err().contains("negative"));
        assert!(parse_cpu_millis("").unwrap_err().contains("empty"));
        assert!(
            parse_cpu_millis("99999999")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(parse_memory_bytes("256Mi"), Ok(256 << 20));
        assert_eq!(parse_memory_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_memory_bytes("512M"), Ok(512_000_000));
        assert_eq!(parse_memory_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_memory_bytes("1000"), Ok(1000));
        assert_eq!(parse_memory_bytes("128Ki"), Ok(128 * 1024));
        assert_eq!(parse_memory_bytes("1e3"), Ok(1000));
        assert_eq!(parse_memory_bytes("1E3"), Ok(1000));
        assert_eq!(parse_memory_bytes("1.5Gi"), Ok(1_610_612_736));
        assert_eq!(parse_memory_bytes("1k"), Ok(1000));
        assert_eq!(parse_memory_bytes("1e-1"), Ok(1));
        assert_eq!(parse_memory_bytes("1E"), Ok(1_000_000_000_000_000_000));
    }

    #[test]
    fn memory_mistakes_get_hints() {
        let hint = |s: &str| memory(s).unwrap_err().hint.unwrap_or_default();
        assert!(hint("256m").starts_with("write `256Mi`"));
        assert_eq!(hint("256MB"), "write `256Mi`");
        assert_eq!(hint("1gi"), "write `1Gi`");
        assert_eq!(hint("5q"), MEMORY_HINT);
        assert!(
            parse_memory_bytes("20Ei")
                .unwrap_err()
                .contains("too large")
        );
    }
}
