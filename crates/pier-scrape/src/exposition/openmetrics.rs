//! Owns the line syntax of OpenMetrics 1.0 text: exactly one space between tokens, only
//! `# HELP`/`# TYPE`/`# UNIT`/`# EOF` comments, no blank lines, float-second timestamps,
//! exemplars (checked, then dropped) and the final `# EOF` with nothing after it. What the lines
//! mean together — families, types, ordering — is checked by `families`.

use super::families::{Families, MetaLine, SampleLine};
use super::line::{Cursor, Spacing, lines, unescape_help, utf8_line};
use super::{Limits, MetricType, ParseError, Parsed, ParsedLine, Types, number};

/// Exemplar label sets may hold at most this many code points (names plus values).
const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// Parses a whole OpenMetrics body.
pub(crate) fn parse(body: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    let mut samples = Vec::new();
    let metadata = parse_each(body, limits, |line, _| {
        samples.push(line.sample.clone());
        Ok(())
    })?;
    Ok(Parsed { samples, metadata })
}

/// [`parse_each`] without the line numbers.
pub(crate) fn parse_each_line(
    body: &[u8],
    limits: &Limits,
    mut on_sample: impl FnMut(&ParsedLine<'_>) -> Result<(), ParseError>,
) -> Result<Vec<super::Metadata>, ParseError> {
    parse_each(body, limits, |line, _| on_sample(line))
}

/// Parses a whole OpenMetrics body, handing each sample to `on_sample` (with its 1-based line
/// number) as soon as its line is checked, and returns the metadata. The same `Sample` buffer
/// is reused from line to line, so reading a body allocates nothing per sample once the
/// buffer has grown. The whole body is still checked: an error after some samples were handed
/// out means the caller must discard them.
pub(crate) fn parse_each(
    body: &[u8],
    limits: &Limits,
    mut on_sample: impl FnMut(&ParsedLine<'_>, usize) -> Result<(), ParseError>,
) -> Result<Vec<super::Metadata>, ParseError> {
    let mut families = Families::default();
    let mut types = Types::default();
    let mut count = 0usize;
    let mut last_line = 0;
    let ends_with_newline = body.ends_with(b"\n");
    let mut all = lines(body).peekable();
    let mut sample = SampleLine::default();
    while let Some((number, bytes)) = all.next() {
        last_line = number;
        let line = utf8_line(number, bytes)?;
        let mut cursor = Cursor::new(number, line);
        if line == "# EOF" {
            if let Some((next, _)) = all.peek() {
                return Err(ParseError::new(*next, 1, "unexpected text after # EOF"));
            }
            return families.finish(number);
        }
        if line.is_empty() {
            return Err(cursor.error("blank lines are not allowed in OpenMetrics"));
        }
        if line.starts_with('#') {
            let meta = metadata_line(&mut cursor)?;
            if let MetaLine::Type { name, kind } = &meta {
                types.set(name, *kind);
            }
            families.metadata(number, meta)?;
            continue;
        }
        sample_line(&mut cursor, limits, &mut sample)?;
        families.sample(number, &sample)?;
        let parsed = ParsedLine {
            sample: &sample.sample,
            // The series ends at the space before the value.
            series_text: &line[..sample.value_at.saturating_sub(1)],
            types: &types,
        };
        on_sample(&parsed, number)?;
        count += 1;
        limits.check_sample_count(count, number)?;
    }
    let line = if ends_with_newline || last_line == 0 {
        last_line + 1
    } else {
        last_line
    };
    Err(ParseError::new(
        line,
        1,
        "expected \"# EOF\" as the last line of an OpenMetrics payload",
    ))
}

/// `# HELP name text`, `# TYPE name type` or `# UNIT name unit`.
fn metadata_line(cursor: &mut Cursor<'_>) -> Result<MetaLine, ParseError> {
    let keyword = ["# HELP", "# TYPE", "# UNIT"]
        .into_iter()
        .find(|kw| cursor.eat_str(kw))
        .ok_or_else(|| {
            cursor.error("expected \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"; other comments and blank lines are not allowed")
        })?;
    cursor.expect(b' ', "a space after the keyword")?;
    let name_at = cursor.pos();
    let name = cursor.metric_name()?.to_string();
    if !cursor.eat(b' ') {
        return Err(cursor.error(format!(
            "expected a space after the metric name, found {}",
            cursor.found()
        )));
    }
    let rest_at = cursor.pos();
    let rest = cursor.rest();
    match keyword {
        "# HELP" => Ok(MetaLine::Help {
            name,
            help: unescape_help(rest, true),
        }),
        "# TYPE" => {
            let kind = metric_type(rest).ok_or_else(|| {
                cursor.error_at(rest_at, format!("unknown metric type {rest:?}: expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"))
            })?;
            Ok(MetaLine::Type { name, kind })
        }
        _ => {
            if let Some(bad) =
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            {
                return Err(cursor.error_at(rest_at + bad, "unexpected character in unit"));
            }
            Ok(MetaLine::Unit {
                name,
                name_at,
                unit: rest.to_string(),
            })
        }
    }
}

fn metric_type(word: &str) -> Option<MetricType> {
    Some(match word {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        "unknown" => MetricType::Unknown,
        _ => return None,
    })
}

/// `name[{labels}] value[ timestamp][ # {labels} value[ timestamp]]`, single spaces only.
/// Reads the line into `out`, reusing its buffers.
fn sample_line(
    cursor: &mut Cursor<'_>,
    limits: &Limits,
    out: &mut SampleLine,
) -> Result<(), ParseError> {
    let name = cursor.metric_name()?;
    out.sample.name.clear();
    out.sample.name.push_str(name);
    if cursor.peek() == Some(b'{') {
        cursor.label_set_into(Spacing::Strict, limits, &mut out.sample.labels)?;
    } else {
        out.sample.labels.clear();
    }
    cursor.expect(b' ', "a space before the value")?;
    let value_at = cursor.pos();
    let value = value(cursor, "value")?;
    let mut timestamp = None;
    let mut exemplar_at = None;
    if cursor.eat(b' ') {
        if cursor.peek() != Some(b'#') {
            timestamp = Some(timestamp_token(cursor)?);
        }
        if cursor.peek() == Some(b'#') || (timestamp.is_some() && cursor.eat(b' ')) {
            exemplar_at = Some(cursor.pos());
            exemplar(cursor, limits)?;
        }
    }
    if !cursor.at_end() {
        return Err(cursor.error(format!(
            "expected a space or the end of the line, found {}",
            cursor.found()
        )));
    }
    let (timestamp_ms, timestamp_secs) = match timestamp {
        Some((ms, secs)) => (Some(ms), Some(secs)),
        None => (None, None),
    };
    out.sample.value = value;
    out.sample.timestamp_ms = timestamp_ms;
    out.timestamp_secs = timestamp_secs;
    out.value_at = value_at;
    out.exemplar_at = exemplar_at;
    Ok(())
}

/// A number token ending at a space or the end of the line.
fn value(cursor: &mut Cursor<'_>, what: &str) -> Result<f64, ParseError> {
    let at = cursor.pos();
    let token = cursor.take_until(b" ");
    if token.is_empty() {
        let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let message = format!("expected {article} {what}, found {}", cursor.found());
        return Err(cursor.error(message));
    }
    number::openmetrics_value(token).ok_or_else(|| {
        cursor.error_at(
            at,
            format!("invalid {what} {token:?}: expected a number such as 1, 1.5e3, +Inf or NaN"),
        )
    })
}

/// A timestamp token in float seconds: milliseconds and the seconds as read.
fn timestamp_token(cursor: &mut Cursor<'_>) -> Result<(i64, f64), ParseError> {
    let at = cursor.pos();
    let token = cursor.take_until(b" ");
    let secs = number::real_number(token).ok_or_else(|| {
        cursor.error_at(
            at,
            format!("invalid timestamp {token:?}: expected seconds as a real number such as 1.5"),
        )
    })?;
    Ok((number::seconds_to_ms(token), secs))
}

/// ` # {labels} value[ timestamp]`, starting at the `#`; checked and discarded.
fn exemplar(cursor: &mut Cursor<'_>, limits: &Limits) -> Result<(), ParseError> {
    if !cursor.eat_str("# ") {
        return Err(cursor.error("expected \"# \" and an exemplar label set"));
    }
    let labels_at = cursor.pos();
    if cursor.peek() != Some(b'{') {
        return Err(cursor.error(format!(
            "expected '{{' to open the exemplar label set, found {}",
            cursor.found()
        )));
    }
    let labels = cursor.label_set(Spacing::Strict, limits)?;
    let chars: usize = labels
        .iter()
        .map(|(n, v)| n.chars().count() + v.chars().count())
        .sum();
    if chars > MAX_EXEMPLAR_LABEL_CHARS {
        return Err(cursor.error_at(
            labels_at,
            format!(
                "exemplar labels have {chars} characters, more than {MAX_EXEMPLAR_LABEL_CHARS}"
            ),
        ));
    }
    cursor.expect(b' ', "a space before the exemplar value")?;
    value(cursor, "exemplar value")?;
    if cursor.eat(b' ') {
        timestamp_token(cursor)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Parsed {
        parse(body.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(body: &str) -> ParseError {
        parse(body.as_bytes(), &Limits::default()).unwrap_err()
    }

    #[test]
    fn timestamps_are_seconds_converted_to_milliseconds() {
        let parsed = ok("a 1 1.5\nb 2 -0.001\nc 3 1395066363\n# EOF\n");
        let ts: Vec<_> = parsed.samples.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(ts, vec![Some(1500), Some(-1), Some(1_395_066_363_000)]);
    }

    #[test]
    fn exemplars_are_accepted_and_dropped() {
        let body = "# TYPE a counter\na_total{x=\"1\"} 3 1 # {trace_id=\"abc\"} 0.5 1.2\n# EOF";
        let parsed = ok(body);
        assert_eq!(parsed.samples.len(), 1);
        assert_eq!(parsed.samples[0].value, 3.0);
        assert_eq!(parsed.samples[0].timestamp_ms, Some(1000));
    }

    #[test]
    fn help_unescapes_quotes_too() {
        let parsed = ok("# HELP a x\\\"y\\\\z\\n\n# EOF\n");
        assert_eq!(parsed.metadata[0].help.as_deref(), Some("x\"y\\z\n"));
    }

    #[test]
    fn unit_and_type_are_metadata() {
        let parsed = ok("# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1\n# EOF\n");
        assert_eq!(parsed.metadata[0].unit.as_deref(), Some("seconds"));
        assert_eq!(parsed.metadata[0].kind, MetricType::Gauge);
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("a 1\n\n# EOF\n", 2, 1, "blank line"),
            ("a  1\n# EOF\n", 1, 3, "expected a value"),
            ("a 1 \n# EOF\n", 1, 5, "invalid timestamp"),
            ("a 1\n# EOF\nb 1\n", 3, 1, "after # EOF"),
            ("a 1\n", 2, 1, "# EOF"),
            ("a 1", 1, 1, "# EOF"),
            ("", 1, 1, "# EOF"),
            ("# FOO a x\n# EOF\n", 1, 1, "\"# HELP\""),
            ("# TYPE a gauge \n# EOF\n", 1, 10, "unknown metric type"),
            ("# HELP a\n# EOF\n", 1, 9, "space after the metric name"),
            ("a 1 # {} 1 \n# EOF\n", 1, 12, "invalid timestamp"),
            ("a_total 1 #{} 1\n# EOF\n", 1, 11, "\"# \""),
            ("a 0x1p-3\n# EOF\n", 1, 3, "invalid value"),
            ("a{a=\"1\",} 1\n# EOF\n", 1, 9, "label name"),
            ("a 1 Inf\n# EOF\n", 1, 5, "invalid timestamp"),
            ("# UNIT a_s s \n# EOF\n", 1, 13, "unit"),
        ];
        for (body, line, column, needle) in cases {
            let e = err(body);
            assert_eq!((e.line, e.column), (*line, *column), "{body:?}: {e}");
            assert!(e.message.contains(needle), "{body:?}: {e}");
        }
    }

    #[test]
    fn exemplar_label_sets_hold_at_most_128_characters() {
        let fits = format!(
            "# TYPE a counter\na_total 1 # {{a=\"{}\"}} 1\n# EOF\n",
            "x".repeat(127)
        );
        assert!(parse(fits.as_bytes(), &Limits::default()).is_ok());
        let over = fits.replace(&"x".repeat(127), &"x".repeat(128));
        let e = err(&over);
        assert!(e.message.contains("more than 128"), "{e}");
    }

    #[test]
    fn sample_limit_applies() {
        let limits = Limits {
            max_samples: 1,
            ..Limits::default()
        };
        let e = parse(b"a 1\nb 1\n# EOF\n", &limits).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("max_samples"));
    }
}
