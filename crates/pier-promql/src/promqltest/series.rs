//! The promqltest value notation: series descriptions (`name{l="v"} 1 2+3x4 _ stale`),
//! their expansion into one value per step, Prometheus durations (`1m`, `10s53ms`, `0`) and
//! bare numbers (a scalar expectation).
//!
//! Expansion follows Prometheus's series grammar (`promql/parser/generated_parser.y`):
//! - `a+bxn` / `a-bxn` give n+1 values, each the previous plus the signed increment (added
//!   step by step, so rounding matches Prometheus's);
//! - `axn` gives n+1 copies of `a`;
//! - `_` is one missing step, `_xn` n missing steps;
//! - `stale` is the staleness marker, `NaN`/`Inf` (any case, with an optional sign) their
//!   floats. Hexadecimal is not allowed in series values, as upstream.
//! - `{{…}}` is a native histogram (with optional `+`/`-`/`x` expansion); pier does not load
//!   them, so the item becomes [`SeqValue::Histogram`] placeholders.

use pier_tsdb::{Labels, STALE_NAN};

/// One expanded value of a series description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this step.
    Omitted,
    /// A float (the stale marker is [`STALE_NAN`]).
    Float(f64),
    /// A native histogram (not supported by pier; the runner skips what uses it).
    Histogram,
}

/// A parsed `<series> <values>` line.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    /// The label set (`__name__` included when a metric name was given).
    pub labels: Labels,
    /// One entry per step.
    pub values: Vec<SeqValue>,
}

impl SeriesDesc {
    /// True when any value is a native histogram.
    pub fn has_histogram(&self) -> bool {
        self.values.contains(&SeqValue::Histogram)
    }
}

/// Parses a Prometheus duration (`1h30m`, `10s53ms`, `0`) into milliseconds. A leading `-`
/// makes it negative (upstream's times never need it, the `@`/offset tests do not use it here
/// either, but it costs nothing).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return parse_duration(rest).map(|d| -d);
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    // Units in the order Prometheus requires them.
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: i64 = s[start..i]
            .parse()
            .map_err(|_| format!("duration out of range: {s:?}"))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let Some(pos) = UNITS[next_unit..].iter().position(|(u, _)| *u == unit) else {
            return Err(format!("not a valid duration string: {s:?}"));
        };
        next_unit += pos + 1;
        total = n
            .checked_mul(UNITS[next_unit - 1].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(total)
}

/// Parses a bare number as upstream's `parseNumber` does: an integer in Go's base-prefix
/// syntax (`0x1f`, `0o17`, `017`, `0b1`), else a float (`1.5`, `1e3`, `Inf`, `-Inf`, `NaN`).
pub fn parse_number(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Some(v) = parse_go_int(s) {
        return Ok(v as f64);
    }
    parse_float(s).ok_or_else(|| format!("not a number: {s:?}"))
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// A float as Go's `strconv.ParseFloat` reads the forms the tests use: decimal with optional
/// exponent, and `Inf`/`+Inf`/`-Inf`/`Infinity`/`NaN` in any case.
fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if lower.is_empty()
                || !lower
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
            {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Parses `<series> <values>`: a label set in PromQL syntax followed by value items.
pub fn parse_series_line(line: &str) -> Result<SeriesDesc, String> {
    let (labels, rest) = parse_label_set(line)?;
    let values = expand_values(rest)?;
    Ok(SeriesDesc { labels, values })
}

/// Parses the label-set prefix of a line (`name`, `name{…}` or `{…}`) and returns the rest.
pub fn parse_label_set(line: &str) -> Result<(Labels, &str), String> {
    let line = line.trim_start();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':')) {
        i += 1;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if i > 0 {
        let name = &line[..i];
        if name.as_bytes()[0].is_ascii_digit() {
            return Err(format!("invalid metric name {name:?}"));
        }
        pairs.push(("__name__".into(), name.into()));
    }
    let mut rest = &line[i..];
    if rest.starts_with('{') && !rest.starts_with("{{") {
        rest = &rest[1..];
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            // A label name, or a quoted name (UTF-8 names; a lone quoted string is the
            // metric name).
            let (name, r) = if rest.starts_with(['"', '\'', '`']) {
                let (s, r) = take_quoted(rest)?;
                (s, r)
            } else {
                let n = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if n == 0 {
                    return Err(format!("unexpected {:?} in label set", first_char(rest)));
                }
                (rest[..n].to_string(), &rest[n..])
            };
            let r = r.trim_start();
            if let Some(r) = r.strip_prefix('=') {
                let r = r.trim_start();
                if !r.starts_with(['"', '\'', '`']) {
                    return Err(format!("label {name:?}: expected a quoted value"));
                }
                let (value, r) = take_quoted(r)?;
                pairs.push((name, value));
                rest = r;
            } else {
                // `{"metric.name"}`: a quoted metric name.
                pairs.push(("__name__".into(), name));
                rest = r;
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!(
                    "expected ',' or '}}' in label set, got {:?}",
                    first_char(rest)
                ));
            }
        }
    } else if i == 0 {
        return Err(format!("expected a series description, got {line:?}"));
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "expected whitespace after the series, got {:?}",
            first_char(rest)
        ));
    }
    let labels = Labels::from_pairs(pairs).map_err(|e| e.to_string())?;
    Ok((labels, rest))
}

fn first_char(s: &str) -> String {
    s.chars().next().map(String::from).unwrap_or_default()
}

/// Takes a Go-quoted string (`"…"`, `'…'` or `` `…` ``) from the start of `s`.
fn take_quoted(s: &str) -> Result<(String, &str), String> {
    let q = s.as_bytes()[0];
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && q != b'`' {
            i += 2;
            continue;
        }
        if bytes[i] == q {
            let raw = &s[..=i];
            let v = promql_parser::util::unquote_string(raw)
                .map_err(|e| format!("bad string {raw}: {e}"))?;
            return Ok((v, &s[i + 1..]));
        }
        i += 1;
    }
    Err(format!("unterminated string {s:?}"))
}

/// Expands the space-separated value items of a series line.
pub fn expand_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let item;
        if rest.starts_with("{{") {
            // A histogram item runs to the matching `}}`, then maybe `+{{…}}x3`.
            let end = histogram_item_end(rest)?;
            item = &rest[..end];
            rest = rest[end..].trim_start();
            let times = item
                .rfind("}}")
                .map(|p| &item[p + 2..])
                .and_then(|tail| tail.split('x').nth(1))
                .and_then(|n| n.parse::<usize>().ok());
            let n = times.map_or(1, |n| n + 1);
            out.extend(std::iter::repeat_n(SeqValue::Histogram, n));
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        item = &rest[..end];
        rest = rest[end..].trim_start();
        expand_item(item, &mut out)?;
    }
    Ok(out)
}

fn histogram_item_end(s: &str) -> Result<usize, String> {
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            c if c.is_ascii_whitespace() && depth == 0 => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err("unterminated native histogram {{…}}".into());
    }
    Ok(bytes.len())
}

fn expand_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    let bad = || format!("invalid series value {item:?}");
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| bad())?;
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        return Ok(());
    }
    let mut sc = Scanner { s: item, i: 0 };
    let first = sc.value().ok_or_else(bad)?;
    if sc.done() {
        out.push(SeqValue::Float(first));
        return Ok(());
    }
    let increment = if sc.peek() == Some(b'+') || sc.peek() == Some(b'-') {
        let v = sc.value().ok_or_else(bad)?;
        if is_stale_value(first) {
            return Err(bad());
        }
        v
    } else {
        0.0
    };
    if !sc.eat(b'x') {
        return Err(bad());
    }
    let n: usize = sc.rest().parse().map_err(|_| bad())?;
    if is_stale_value(first) && increment != 0.0 {
        return Err(bad());
    }
    let mut v = first;
    for _ in 0..=n {
        out.push(SeqValue::Float(v));
        if increment != 0.0 {
            v += increment;
        }
    }
    Ok(())
}

fn is_stale_value(v: f64) -> bool {
    pier_tsdb::is_stale(v)
}

/// A cursor over one value item.
struct Scanner<'a> {
    s: &'a str,
    i: usize,
}

impl Scanner<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    /// An optionally signed number, `Inf`, `NaN` or `stale`.
    fn value(&mut self) -> Option<f64> {
        let neg = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let b = self.s.as_bytes();
        let start = self.i;
        let v = if self.peek()?.is_ascii_alphabetic() {
            while self.i < b.len() && b[self.i].is_ascii_alphabetic() {
                self.i += 1;
            }
            let word = &self.s[start..self.i];
            match word.to_ascii_lowercase().as_str() {
                "inf" => f64::INFINITY,
                "nan" => f64::NAN,
                "stale" if !neg => STALE_NAN,
                // `Infx3`, `NaNx2`: the word scan took the `x`.
                w if w.ends_with('x') && matches!(&w[..w.len() - 1], "inf" | "nan") => {
                    self.i -= 1;
                    if w.starts_with('i') {
                        f64::INFINITY
                    } else {
                        f64::NAN
                    }
                }
                "stalex" if !neg => {
                    self.i -= 1;
                    STALE_NAN
                }
                _ => return None,
            }
        } else {
            while self.i < b.len() && (b[self.i].is_ascii_digit() || b[self.i] == b'.') {
                self.i += 1;
            }
            if self.i < b.len() && (b[self.i] == b'e' || b[self.i] == b'E') {
                self.i += 1;
                if self.i < b.len() && (b[self.i] == b'+' || b[self.i] == b'-') {
                    self.i += 1;
                }
                while self.i < b.len() && b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
            self.s[start..self.i].parse::<f64>().ok()?
        };
        Some(if neg { -v } else { v })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(s: &str) -> Vec<Option<f64>> {
        expand_values(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(f),
                SeqValue::Omitted => None,
                SeqValue::Histogram => panic!("histogram"),
            })
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0m"), Ok(0));
        assert_eq!(parse_duration("1m"), Ok(60_000));
        assert_eq!(parse_duration("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1111111s"), Ok(1_111_111_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("1.5m").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("3"), Ok(3.0));
        assert_eq!(parse_number("-1.5"), Ok(-1.5));
        assert_eq!(parse_number("0x1f"), Ok(31.0));
        assert_eq!(parse_number("1e3"), Ok(1000.0));
        assert_eq!(parse_number("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_number("-Inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_number("NaN").unwrap().is_nan());
        assert!(parse_number("foo").is_err());
        assert!(parse_number("{} 3").is_err());
        assert!(parse_number("metric 3").is_err());
    }

    #[test]
    fn expansion() {
        assert_eq!(floats("1 2 3"), [Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(
            floats("0+10x3"),
            [Some(0.0), Some(10.0), Some(20.0), Some(30.0)]
        );
        assert_eq!(floats("10-2x2"), [Some(10.0), Some(8.0), Some(6.0)]);
        assert_eq!(floats("-1-1x2"), [Some(-1.0), Some(-2.0), Some(-3.0)]);
        assert_eq!(floats("5x2"), [Some(5.0), Some(5.0), Some(5.0)]);
        assert_eq!(
            floats("_ 1 _x3 2"),
            [None, Some(1.0), None, None, None, Some(2.0)]
        );
        assert_eq!(
            floats("1e3 +Inf -Inf"),
            [Some(1e3), Some(f64::INFINITY), Some(f64::NEG_INFINITY)]
        );
        assert_eq!(floats("1.5e-3+1e-3x1"), [Some(1.5e-3), Some(1.5e-3 + 1e-3)]);
        let v = floats("NaN stale Infx1");
        assert!(v[0].unwrap().is_nan() && !pier_tsdb::is_stale(v[0].unwrap()));
        assert!(pier_tsdb::is_stale(v[1].unwrap()));
        assert_eq!(&v[2..], [Some(f64::INFINITY), Some(f64::INFINITY)]);
        assert!(expand_values("1+x3").is_err());
        assert!(expand_values("abc").is_err());
        assert!(expand_values("1x").is_err());
    }

    #[test]
    fn increments_accumulate_like_prometheus() {
        // Prometheus adds the increment step by step; 0.1 * 3 would differ from 0.1+0.1+0.1.
        let v = floats("0+0.1x3");
        assert_eq!(v[3], Some(0.1 + 0.1 + 0.1));
    }

    #[test]
    fn histograms_become_placeholders() {
        let v = expand_values(
            "1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} _ {{count:1}}+{{count:2}}x2",
        )
        .unwrap();
        assert_eq!(
            v,
            [
                SeqValue::Float(1.0),
                SeqValue::Histogram,
                SeqValue::Omitted,
                SeqValue::Histogram,
                SeqValue::Histogram,
                SeqValue::Histogram
            ]
        );
    }

    #[test]
    fn series_lines() {
        let d = parse_series_line(r#"my_metric{env="prod", a='x\ny',} 5 2+3x2 _ stale"#).unwrap();
        assert_eq!(
            d.labels.to_string(),
            r#"{__name__="my_metric", a="x\ny", env="prod"}"#
        );
        assert_eq!(d.values.len(), 6);
        let d = parse_series_line("{} 0 11 1100").unwrap();
        assert!(d.labels.is_empty());
        let d = parse_series_line(r#"{__name__="x", job="a"} 1"#).unwrap();
        assert_eq!(d.labels.metric_name(), Some("x"));
        let d = parse_series_line("up 1").unwrap();
        assert_eq!(d.labels.metric_name(), Some("up"));
        let d = parse_series_line(r#"{job="{count:20, sum:10}"} 2"#).unwrap();
        assert_eq!(d.labels.get("job"), Some("{count:20, sum:10}"));
        assert!(parse_series_line(r#"x{a="b" 1"#).is_err());
        assert!(parse_series_line("1 2").is_err());
    }
}
