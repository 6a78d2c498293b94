//! Query parameters shared by the metrics routes: series selectors (`match[]`, PromQL vector
//! selectors such as `up{job="web"}`, parsed with the `promql-parser` crate) and times (RFC 3339
//! or Unix seconds with a fraction, as Prometheus's HTTP API accepts).

use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

use pier_tsdb::Matcher;

/// Parses one series selector into the store's matchers; an error names the selector and
/// what is wrong with it.
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, String> {
    let expr = promql_parser::parser::parse(text)
        .map_err(|error| format!("invalid series selector `{text}`: {error}"))?;
    let Expr::VectorSelector(selector) = expr else {
        return Err(format!(
            "invalid series selector `{text}`: expected a selector such as `up{{job=\"web\"}}`"
        ));
    };
    if !selector.matchers.or_matchers.is_empty() {
        return Err(format!(
            "series selector `{text}`: `or` inside a selector is not supported; pass several match[] instead"
        ));
    }
    let mut matchers = Vec::new();
    if let Some(name) = &selector.name
        && !selector
            .matchers
            .matchers
            .iter()
            .any(|m| m.name == "__name__")
    {
        matchers.push(Matcher::equal("__name__", name.clone()));
    }
    for m in &selector.matchers.matchers {
        matchers.push(to_matcher(m).map_err(|e| format!("series selector `{text}`: {e}"))?);
    }
    if matchers.iter().all(|m| m.matches_empty()) {
        return Err(format!(
            "series selector `{text}` must contain at least one matcher that does not match the empty string"
        ));
    }
    Ok(matchers)
}

/// The store's matcher for one of the parser's; fails only on a bad regular expression.
pub fn to_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher, String> {
    Ok(match &m.op {
        MatchOp::Equal => Matcher::equal(m.name.clone(), m.value.clone()),
        MatchOp::NotEqual => Matcher::not_equal(m.name.clone(), m.value.clone()),
        MatchOp::Re(_) => {
            Matcher::regex(m.name.clone(), m.value.clone()).map_err(|e| e.to_string())?
        }
        MatchOp::NotRe(_) => {
            Matcher::not_regex(m.name.clone(), m.value.clone()).map_err(|e| e.to_string())?
        }
    })
}

/// A time parameter in milliseconds: RFC 3339 (`2026-11-23T06:00:00Z`) or Unix seconds
/// (`1795000000.5`).
pub fn parse_time(name: &str, text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            format!("invalid parameter `{name}`: `{text}` is neither RFC 3339 nor Unix seconds")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_matchers() {
        let m = parse_selector(r#"up{job="web",instance=~"127.*"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name(), "__name__");
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
        assert!(parse_selector("rate(x[5m])").is_err());
        assert!(
            parse_selector("up{")
                .unwrap_err()
                .starts_with("invalid series selector")
        );
    }

    #[test]
    fn times_are_rfc3339_or_seconds() {
        assert_eq!(parse_time("start", "1.5").unwrap(), 1500);
        assert_eq!(parse_time("start", "1970-01-01T00:00:02Z").unwrap(), 2000);
        assert!(parse_time("start", "soon").is_err());
    }
}
