//! Request parameters of the Prometheus HTTP API, read and checked as Prometheus's
//! `web/api/v1/api.go` does: from the URL query and, for a form-encoded POST, from the body
//! (body values first, as Go's `Request.Form`); times as Unix seconds with a fraction
//! (rounded to milliseconds) or RFC 3339, plus Prometheus's literal minimum and maximum
//! times; durations as float seconds or a Prometheus duration (`1h30m`); `limit` as a
//! non-negative integer; `match[]` as series selectors. Error messages are Prometheus's.
//!
//! Knows nothing of queries or the store beyond building matchers.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use pier_tsdb::Matcher;
use promql_parser::parser::Expr;

use super::PromError;
use crate::selector::to_matcher;

/// Prometheus's `MinTime` (`-292273086-05-16T16:47:06Z`) in milliseconds: what `start`
/// means when it is absent.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Prometheus's `MaxTime` (`292277025-08-17T07:12:55.999999999Z`) in milliseconds.
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-17T07:12:55.999999999Z";

/// The parameters of one request, in Go's `Request.Form` order.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from a form body (if any) and a URL query string.
    pub fn from_parts(body: Option<&[u8]>, query: Option<&str>) -> Params {
        let mut pairs = Vec::new();
        if let Some(body) = body {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        if let Some(query) = query {
            pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        Params { pairs }
    }

    /// The first value of `name`, or `""` (Go's `FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter, `default` when absent or empty.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, PromError> {
        match self.value(name) {
            "" => Ok(default),
            text => parse_time(text).map_err(|e| PromError::invalid_param(name, e)),
        }
    }

    /// A time parameter that must be given.
    pub fn time(&self, name: &str) -> Result<i64, PromError> {
        parse_time(self.value(name)).map_err(|e| PromError::invalid_param(name, e))
    }

    /// `limit`: 0 (no limit) when absent.
    pub fn limit(&self) -> Result<usize, PromError> {
        parse_limit(self.value("limit")).map_err(|e| PromError::invalid_param("limit", e))
    }

    /// An optional duration parameter in milliseconds (`timeout`, `lookback_delta`).
    pub fn duration_ms(&self, name: &str) -> Result<Option<i64>, String> {
        match self.value(name) {
            "" => Ok(None),
            text => parse_duration_ns(text).map(|ns| Some(ns / 1_000_000)),
        }
    }

    /// Every `match[]` as matcher sets (a selector with `or` gives one set per branch).
    pub fn matcher_sets(&self) -> Result<Vec<Vec<Matcher>>, PromError> {
        parse_matcher_sets(&self.values("match[]"))
            .map_err(|e| PromError::invalid_param("match[]", e))
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = PromError;

    async fn from_request(request: Request, state: &S) -> Result<Params, PromError> {
        let query = request.uri().query().map(str::to_owned);
        let form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        let body = if form {
            Some(Bytes::from_request(request, state).await.map_err(|e| {
                PromError::bad_data(format!("error parsing form values: {}", e.body_text()))
            })?)
        } else {
            None
        };
        Ok(Params::from_parts(body.as_deref(), query.as_deref()))
    }
}

/// A time as Prometheus's `parseTime`: float Unix seconds (the fraction rounded to
/// milliseconds), RFC 3339, or the literal minimum/maximum time; milliseconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {text:?} to a valid timestamp");
    if let Some(seconds) = parse_go_float(text) {
        // Beyond ±2^63 ms the time cannot be represented (Prometheus wraps; refuse instead).
        if !seconds.is_finite() || seconds.abs() >= 9.2e15 {
            return Err(invalid());
        }
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        return Ok(whole as i64 * 1000 + millis as i64);
    }
    match text {
        MIN_TIME_TEXT => return Ok(MIN_TIME_MS),
        MAX_TIME_TEXT => return Ok(MAX_TIME_MS),
        _ => {}
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| invalid())
}

/// A duration as Prometheus's API `parseDuration`: float seconds or a Prometheus duration
/// (`5m`, `1h30m`, `10s53ms`); nanoseconds, as Go's `time.Duration`.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    if let Some(seconds) = parse_go_float(text) {
        let ns = seconds * 1e9;
        if ns.is_nan() || ns >= i64::MAX as f64 || ns <= i64::MIN as f64 {
            return Err(format!(
                "cannot parse {text:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    parse_prometheus_duration_ns(text)
        .ok_or_else(|| format!("cannot parse {text:?} to a valid duration"))
}

/// `model.ParseDuration`: units `y w d h m s ms`, each at most once, largest first; a bare
/// `0` is allowed.
fn parse_prometheus_duration_ns(text: &str) -> Option<i64> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let position = UNITS.iter().position(|(u, _)| *u == unit)?;
        if position < next_unit {
            return None;
        }
        next_unit = position + 1;
        let mult = UNITS[position].1;
        if value > (1u64 << 63) / mult {
            return None;
        }
        total = total.checked_add(value * mult)?;
        if total > i64::MAX as u64 {
            return None;
        }
    }
    Some(total as i64)
}

/// Go's `strconv.ParseFloat` for what people send: decimals with an optional exponent, and
/// `Inf`/`Infinity`/`NaN` in any case, signed.
fn parse_go_float(text: &str) -> Option<f64> {
    let t = text.strip_prefix(['+', '-']).unwrap_or(text);
    let ok = !t.is_empty()
        && (t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            || ["inf", "infinity", "nan"].contains(&t.to_ascii_lowercase().as_str()));
    if !ok {
        return None;
    }
    text.parse().ok()
}

/// `limit` as Prometheus's `parseLimitParam`.
pub fn parse_limit(text: &str) -> Result<usize, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {text:?}: invalid syntax"));
    }
    let limit: i64 = text
        .parse()
        .map_err(|_| format!("strconv.Atoi: parsing {text:?}: value out of range"))?;
    if limit < 0 {
        return Err("limit must be non-negative".into());
    }
    Ok(limit as usize)
}

/// `match[]` values as matcher sets; each set must have a matcher that does not match the
/// empty string, as Prometheus's `parseMatchersParam` requires.
pub fn parse_matcher_sets(selectors: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::new();
    for text in selectors {
        let expr = promql_parser::parser::parse(text)
            .map_err(|e| super::position::parse_error_text(text, &e))?;
        let Expr::VectorSelector(selector) = expr else {
            return Err(format!(
                "{text:?} is not a series selector; use one such as up{{job=\"web\"}}"
            ));
        };
        if selector.offset.is_some() || selector.at.is_some() {
            return Err(format!(
                "{text:?} is not a series selector: it has an offset or @ modifier"
            ));
        }
        let branches = if selector.matchers.or_matchers.is_empty() {
            vec![selector.matchers.matchers.clone()]
        } else {
            selector.matchers.or_matchers.clone()
        };
        for branch in branches {
            let mut set = Vec::new();
            if let Some(name) = &selector.name
                && !branch.iter().any(|m| m.name == "__name__")
            {
                set.push(Matcher::equal("__name__", name.clone()));
            }
            for m in &branch {
                set.push(to_matcher(m)?);
            }
            if set.iter().all(Matcher::matches_empty) {
                return Err("match[] must contain at least one non-empty matcher".into());
            }
            sets.push(set);
        }
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_seconds_rfc3339_or_the_limits() {
        assert_eq!(parse_time("1.5").unwrap(), 1500);
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("1435781451.7815").unwrap(), 1_435_781_451_782);
        assert_eq!(parse_time("-1.5").unwrap(), -1500);
        assert_eq!(parse_time("1e3").unwrap(), 1_000_000);
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51+02:00").unwrap(),
            1_435_781_451_000
        );
        assert_eq!(parse_time(MIN_TIME_TEXT).unwrap(), MIN_TIME_MS);
        assert_eq!(parse_time(MAX_TIME_TEXT).unwrap(), MAX_TIME_MS);
        assert_eq!(
            parse_time("soon").unwrap_err(),
            r#"cannot parse "soon" to a valid timestamp"#
        );
        assert_eq!(
            parse_time("").unwrap_err(),
            r#"cannot parse "" to a valid timestamp"#
        );
        assert!(parse_time("NaN").is_err());
        assert!(parse_time("Inf").is_err());
        assert!(parse_time("1e300").is_err());
    }

    #[test]
    fn durations_are_float_seconds_or_prometheus_durations() {
        let ms = |t: &str| parse_duration_ns(t).map(|ns| ns / 1_000_000);
        assert_eq!(ms("15"), Ok(15_000));
        assert_eq!(ms("0.5"), Ok(500));
        assert_eq!(ms("15s"), Ok(15_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("10s53ms"), Ok(10_053));
        assert_eq!(ms("1w"), Ok(7 * 86_400_000));
        assert_eq!(ms("1y"), Ok(365 * 86_400_000));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("-15"), Ok(-15_000));
        for bad in ["", "1x", "30s1m", "1m1m", "m", "1.5m", "fast", "5 m"] {
            assert_eq!(
                parse_duration_ns(bad).unwrap_err(),
                format!("cannot parse {bad:?} to a valid duration"),
                "{bad}"
            );
        }
        assert!(
            parse_duration_ns("1e300")
                .unwrap_err()
                .contains("overflows")
        );
    }

    #[test]
    fn limits_are_non_negative_integers() {
        assert_eq!(parse_limit(""), Ok(0));
        assert_eq!(parse_limit("10"), Ok(10));
        assert_eq!(parse_limit("-1").unwrap_err(), "limit must be non-negative");
        assert_eq!(
            parse_limit("ten").unwrap_err(),
            r#"strconv.Atoi: parsing "ten": invalid syntax"#
        );
        assert!(
            parse_limit("99999999999999999999")
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn form_body_values_come_before_query_values() {
        let p = Params::from_parts(
            Some(b"query=up&match%5B%5D=a"),
            Some("query=down&match[]=b&step=15s"),
        );
        assert_eq!(p.value("query"), "up");
        assert_eq!(p.values("match[]"), ["a", "b"]);
        assert_eq!(p.value("step"), "15s");
        assert_eq!(p.value("missing"), "");
    }

    #[test]
    fn match_parameters_become_matcher_sets() {
        let sets = parse_matcher_sets(&[r#"up{job="web"}"#, r#"{__name__=~"x.*"}"#]).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].len(), 2);
        assert_eq!(sets[0][0].name(), "__name__");
        let or = parse_matcher_sets(&[r#"up{job="a" or job="b"}"#]).unwrap();
        assert_eq!(or.len(), 2);
        assert!(
            parse_matcher_sets(&[r#"{job=~".*"}"#])
                .unwrap_err()
                .contains("at least one non-empty matcher")
        );
        assert!(
            parse_matcher_sets(&["rate(x[5m])"])
                .unwrap_err()
                .contains("not a series selector")
        );
        assert!(
            parse_matcher_sets(&["up{"])
                .unwrap_err()
                .contains("parse error")
        );
    }
}
