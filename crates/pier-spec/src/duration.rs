//! Durations as written in the manifest (`250ms`, `30s`, `1h30m`, `1d`): parsing with helpful
//! errors, and the canonical formatting used by `pier init` and the docs. Pure functions.

use std::time::Duration;

use crate::diagnostics::Problem;

/// Units from largest to smallest, with their length in milliseconds.
const UNITS: [(&str, u128); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const UNIT_HINT: &str = "use `ms`, `s`, `m`, `h` or `d`, such as `30s` or `1h30m`";

/// Parses `30s`, `5m`, `1h30m`, `250ms`, `2h`, `1d` (units from largest to smallest, each at
/// most once; a lone `0` is zero).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse(s).map_err(|p| match p.hint {
        Some(hint) => format!("{} ({hint})", p.message),
        None => p.message,
    })
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `250ms`, `0s`); anything
/// below a millisecond is dropped.
pub fn format_duration(d: Duration) -> String {
    let mut rest = d.as_millis();
    if rest == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, millis) in UNITS {
        let count = rest / millis;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            rest %= millis;
        }
    }
    out
}

/// [`parse_duration`] with the message and the hint kept apart, for diagnostics.
pub(crate) fn parse(s: &str) -> Result<Duration, Problem> {
    if s.trim().is_empty() {
        return Err(Problem::new("empty duration").hint(UNIT_HINT));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(Problem::new(format!("duration `{s}` is negative")));
    }
    if s.contains(char::is_whitespace) {
        return Err(spaces(s));
    }
    let terms = terms(s)?;
    let total = sum(s, &terms)?;
    check_order(s, &terms, total)?;
    let millis = u64::try_from(total).map_err(|_| too_large(s))?;
    Ok(Duration::from_millis(millis))
}

/// One `<number><unit>` term; `fraction` holds the digits after a decimal point.
struct Term<'a> {
    whole: &'a str,
    fraction: &'a str,
    unit: &'a str,
}

fn terms(s: &str) -> Result<Vec<Term<'_>>, Problem> {
    let mut terms = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
            None => ("", after),
        };
        let unit_len = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if whole.is_empty() && fraction.is_empty() {
            if !s.chars().any(|c| c.is_ascii_digit()) {
                return Err(Problem::new(format!("`{s}` is not a duration")).hint(UNIT_HINT));
            }
            return Err(unexpected(s, rest));
        }
        if unit.is_empty() {
            return Err(missing_unit(s, next));
        }
        terms.push(Term {
            whole,
            fraction,
            unit,
        });
        rest = next;
    }
    Ok(terms)
}

/// The total in milliseconds; rejects unknown units and fractions that are not whole
/// milliseconds.
fn sum(s: &str, terms: &[Term<'_>]) -> Result<u128, Problem> {
    let mut total: u128 = 0;
    let mut exact = true;
    for term in terms {
        let millis = unit_millis(s, term.unit)?;
        let (value, scale) = decimal(term.whole, term.fraction).ok_or_else(|| too_large(s))?;
        let scaled = value.checked_mul(millis).ok_or_else(|| too_large(s))?;
        exact &= scaled % scale == 0;
        total = total
            .checked_add(scaled / scale)
            .ok_or_else(|| too_large(s))?;
    }
    if terms.iter().any(|t| !t.fraction.is_empty()) {
        let mut problem = Problem::new(format!("fractions are not supported in `{s}`"));
        if exact && total > 0 {
            problem = problem.hint(format!("write `{}`", format_millis(total)));
        } else {
            problem = problem.hint("use a smaller unit, such as `1500ms`");
        }
        return Err(problem);
    }
    Ok(total)
}

fn check_order(s: &str, terms: &[Term<'_>], total: u128) -> Result<(), Problem> {
    let rank = |unit: &str| UNITS.iter().position(|(u, _)| *u == unit);
    let ranks: Vec<Option<usize>> = terms.iter().map(|t| rank(t.unit)).collect();
    if ranks.windows(2).all(|w| w[0] < w[1]) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "units must go from largest to smallest, each at most once, in `{s}`"
    ))
    .hint(format!("write `{}`", format_millis(total))))
}

fn unit_millis(s: &str, unit: &str) -> Result<u128, Problem> {
    if let Some((_, millis)) = UNITS.iter().find(|(u, _)| *u == unit) {
        return Ok(*millis);
    }
    let problem = Problem::new(format!("unknown unit `{unit}` in `{s}`"));
    Err(match alias(unit) {
        Some(canonical) => problem.hint(format!(
            "write `{}`",
            s.replacen(unit, canonical, 1).replace(' ', "")
        )),
        None => problem.hint(UNIT_HINT),
    })
}

/// Spelled-out units people commonly write, mapped to the accepted ones.
fn alias(unit: &str) -> Option<&'static str> {
    match unit.to_ascii_lowercase().as_str() {
        "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => Some("ms"),
        "sec" | "secs" | "second" | "seconds" => Some("s"),
        "min" | "mins" | "minute" | "minutes" => Some("m"),
        "hr" | "hrs" | "hour" | "hours" => Some("h"),
        "day" | "days" => Some("d"),
        "ms" => Some("ms"),
        "s" => Some("s"),
        "m" => Some("m"),
        "h" => Some("h"),
        "d" => Some("d"),
        _ => None,
    }
}

/// `whole.fraction` as an integer and the power of ten it is scaled by.
fn decimal(whole: &str, fraction: &str) -> Option<(u128, u128)> {
    let digits = format!("{whole}{fraction}");
    let value: u128 = digits.parse().ok()?;
    let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    Some((value, scale))
}

fn format_millis(total: u128) -> String {
    let millis = u64::try_from(total).unwrap_or(u64::MAX);
    format_duration(Duration::from_millis(millis))
}

fn missing_unit(s: &str, next: &str) -> Problem {
    if next.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return Problem::new(format!("missing unit in `{s}`")).hint(format!("write `{s}s`"));
    }
    unexpected(s, next)
}

fn unexpected(s: &str, at: &str) -> Problem {
    let c = at.chars().next().unwrap_or(' ');
    Problem::new(format!("unexpected `{c}` in duration `{s}`")).hint(UNIT_HINT)
}

/// `30 seconds`, `1h 30m`: the hint is what the text would be without the spaces.
fn spaces(s: &str) -> Problem {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let problem = Problem::new(format!("unexpected space in duration `{s}`"));
    match parse(&compact) {
        Ok(d) => problem.hint(format!("write `{}`", format_duration(d))),
        Err(inner) => problem.maybe_hint(inner.hint),
    }
}

fn too_large(s: &str) -> Problem {
    Problem::new(format!("duration `{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("1d"), Duration::from_secs(86_400));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("1d2h3m4s5ms"), Duration::from_millis(93_784_005));
    }

    #[test]
    fn rejects_with_helpful_messages() {
        let err = |s: &str| parse(s).unwrap_err();
        assert_eq!(err("").message, "empty duration");
        assert_eq!(err("-5s").message, "duration `-5s` is negative");
        assert_eq!(err("30").hint.as_deref(), Some("write `30s`"));
        assert_eq!(err("5x").message, "unknown unit `x` in `5x`");
        assert_eq!(err("5min").hint.as_deref(), Some("write `5m`"));
        assert_eq!(err("1.5h").hint.as_deref(), Some("write `1h30m`"));
        assert_eq!(err("30m1h").hint.as_deref(), Some("write `1h30m`"));
        assert_eq!(err("1h1h").hint.as_deref(), Some("write `2h`"));
        assert_eq!(err("1h 30m").hint.as_deref(), Some("write `1h30m`"));
        assert_eq!(err("30 seconds").hint.as_deref(), Some("write `30s`"));
        assert_eq!(err("s").message, "`s` is not a duration");
        assert_eq!(err("1hx").message, "unknown unit `hx` in `1hx`");
        assert!(
            err("99999999999999999999999999999999999999999d")
                .message
                .contains("too large")
        );
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
    }
}
