//! Owns the Prometheus text format 0.0.4: blank lines and free comments, `# HELP`/`# TYPE`,
//! blanks and tabs between tokens, integer-millisecond timestamps, Go float spellings. It checks
//! syntax and metadata uniqueness only; histogram and summary semantics are left to the reader,
//! as Prometheus leaves them.

use std::collections::HashMap;

use super::line::{Cursor, Spacing, lines, unescape_help, utf8_line};
use super::{Limits, Metadata, MetricType, ParseError, Parsed, ParsedLine, Sample, Types, number};

/// Parses a whole text-format body.
pub(crate) fn parse(body: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    let mut samples = Vec::new();
    let metadata = parse_each(body, limits, |line| {
        samples.push(line.sample.clone());
        Ok(())
    })?;
    Ok(Parsed { samples, metadata })
}

/// Parses a whole text-format body, handing each sample to `on_sample` as soon as its line is
/// checked (the same [`Sample`] buffer reused from line to line), and returns the metadata.
pub(crate) fn parse_each(
    body: &[u8],
    limits: &Limits,
    mut on_sample: impl FnMut(&ParsedLine<'_>) -> Result<(), ParseError>,
) -> Result<Vec<Metadata>, ParseError> {
    let mut parsed = Parsed::default();
    let mut metadata = MetadataIndex::default();
    let mut types = Types::default();
    let mut sample = Sample::default();
    let mut count = 0usize;
    for (number, bytes) in lines(body) {
        let Some(line) = significant(number, bytes)? else {
            continue;
        };
        let mut cursor = Cursor::new(number, line);
        cursor.skip_blanks();
        if cursor.peek() == Some(b'#') {
            if let Some((family, kind)) = metadata_line(&mut cursor, &mut parsed, &mut metadata)? {
                types.set(&family, kind);
            }
        } else {
            let start = cursor.pos();
            let end = sample_line(&mut cursor, limits, &mut sample)?;
            count += 1;
            limits.check_sample_count(count, number)?;
            on_sample(&ParsedLine {
                sample: &sample,
                series_text: &line[start..end],
                types: &types,
            })?;
        }
    }
    Ok(parsed.metadata)
}

/// The line as UTF-8 with trailing blanks removed, or `None` for lines to skip: blank lines and
/// comments that are not `# HELP` or `# TYPE` (which may hold any bytes at all).
fn significant(number: usize, bytes: &[u8]) -> Result<Option<&str>, ParseError> {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let content = &bytes[start..];
    if content.is_empty() || (content[0] == b'#' && metadata_keyword(&content[1..]).is_none()) {
        return Ok(None);
    }
    let line = utf8_line(number, bytes)?;
    Ok(Some(line.trim_end_matches([' ', '\t'])))
}

/// `HELP` or `TYPE` when the comment text after `#` starts with one of them as a word.
fn metadata_keyword(after_hash: &[u8]) -> Option<&'static str> {
    let start = after_hash
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(after_hash.len());
    let rest = &after_hash[start..];
    ["HELP", "TYPE"].into_iter().find(|kw| {
        rest.starts_with(kw.as_bytes()) && matches!(rest.get(kw.len()), None | Some(b' ' | b'\t'))
    })
}

/// Where each named family's metadata sits in `Parsed::metadata`, and which lines it had.
#[derive(Default)]
struct MetadataIndex {
    by_name: HashMap<String, (usize, bool, bool)>,
}

/// Reads a `# HELP` or `# TYPE` line into `parsed`; returns the family and type a `# TYPE`
/// line declares.
fn metadata_line(
    cursor: &mut Cursor<'_>,
    parsed: &mut Parsed,
    index: &mut MetadataIndex,
) -> Result<Option<(String, MetricType)>, ParseError> {
    cursor.expect(b'#', "'#'")?;
    cursor.skip_blanks();
    let is_help = cursor.eat_str("HELP");
    if !is_help {
        cursor.expect(b'T', "HELP or TYPE")?;
        cursor.eat_str("YPE");
    }
    let keyword = if is_help { "HELP" } else { "TYPE" };
    if cursor.skip_blanks() == 0 {
        return Err(cursor.error(format!("expected a metric name after {keyword}")));
    }
    let name = cursor.metric_name()?.to_string();
    let entry = index.by_name.entry(name.clone()).or_insert_with(|| {
        parsed.metadata.push(Metadata {
            family: name.clone(),
            kind: MetricType::Unknown,
            help: None,
            unit: None,
        });
        (parsed.metadata.len() - 1, false, false)
    });
    let meta = &mut parsed.metadata[entry.0];
    if is_help {
        if entry.1 {
            return Err(cursor.error_at(0, format!("second HELP line for metric {name}")));
        }
        entry.1 = true;
        let separated = cursor.skip_blanks() > 0;
        if !separated && !cursor.at_end() {
            return Err(cursor.error(format!("expected a blank after {name}")));
        }
        meta.help = Some(unescape_help(cursor.rest(), false));
        Ok(None)
    } else {
        if entry.2 {
            return Err(cursor.error_at(0, format!("second TYPE line for metric {name}")));
        }
        entry.2 = true;
        meta.kind = metric_type(cursor)?;
        Ok(Some((name, meta.kind)))
    }
}

/// The type word of a `# TYPE` line, which must end the line.
fn metric_type(cursor: &mut Cursor<'_>) -> Result<MetricType, ParseError> {
    if cursor.skip_blanks() == 0 {
        return Err(cursor.error("expected a blank and a metric type after the metric name"));
    }
    let start = cursor.pos();
    let word = cursor.take_until(b" \t");
    let kind = match word {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Unknown,
        _ => {
            return Err(cursor.error_at(
                start,
                format!(
                    "unknown metric type {word:?}: expected counter, gauge, histogram, summary or untyped"
                ),
            ));
        }
    };
    cursor.skip_blanks();
    if !cursor.at_end() {
        return Err(cursor.error("unexpected text after the metric type"));
    }
    Ok(kind)
}

/// `name[{labels}] value [timestamp]`, blanks and tabs allowed between tokens, read into
/// `out` (reusing its buffers). Returns where the series (name and label set) ends.
fn sample_line(
    cursor: &mut Cursor<'_>,
    limits: &Limits,
    out: &mut Sample,
) -> Result<usize, ParseError> {
    let name = cursor.metric_name()?;
    out.name.clear();
    out.name.push_str(name);
    let mut series_end = cursor.pos();
    cursor.skip_blanks();
    if cursor.peek() == Some(b'{') {
        cursor.label_set_into(Spacing::Lenient, limits, &mut out.labels)?;
        series_end = cursor.pos();
        cursor.skip_blanks();
    } else {
        out.labels.clear();
    }
    let value_at = cursor.pos();
    let token = cursor.take_until(b" \t");
    if token.is_empty() {
        return Err(cursor.error(format!("expected a value, found {}", cursor.found())));
    }
    let value = number::text_value(token).ok_or_else(|| {
        cursor.error_at(
            value_at,
            format!("invalid value {token:?}: expected a float such as 1.5, +Inf or NaN"),
        )
    })?;
    cursor.skip_blanks();
    let timestamp_ms = if cursor.at_end() {
        None
    } else {
        Some(timestamp(cursor)?)
    };
    out.value = value;
    out.timestamp_ms = timestamp_ms;
    Ok(series_end)
}

fn timestamp(cursor: &mut Cursor<'_>) -> Result<i64, ParseError> {
    let at = cursor.pos();
    let token = cursor.take_until(b" \t");
    let ms = number::text_timestamp(token).ok_or_else(|| {
        cursor.error_at(
            at,
            format!("invalid timestamp {token:?}: expected integer milliseconds"),
        )
    })?;
    cursor.skip_blanks();
    if !cursor.at_end() {
        return Err(cursor.error("unexpected text after the timestamp"));
    }
    Ok(ms)
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

    fn labels(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_documentation_example_parses() {
        let body = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045
"#;
        let parsed = ok(body);
        assert_eq!(parsed.samples.len(), 5);
        let first = &parsed.samples[0];
        assert_eq!(first.name, "http_requests_total");
        assert_eq!(first.labels, labels(&[("code", "200"), ("method", "post")]));
        assert_eq!(first.value, 1027.0);
        assert_eq!(first.timestamp_ms, Some(1_395_066_363_000));
        let msdos = &parsed.samples[2];
        assert_eq!(
            msdos.labels,
            labels(&[
                ("error", "Cannot find file:\n\"FILE.TXT\""),
                ("path", r"C:\DIR\FILE.TXT"),
            ])
        );
        assert_eq!(parsed.samples[3].labels, vec![]);
        assert_eq!(parsed.samples[4].value, f64::INFINITY);
        assert_eq!(parsed.samples[4].timestamp_ms, Some(-3_982_045));
        assert_eq!(
            parsed.metadata,
            vec![Metadata {
                family: "http_requests_total".into(),
                kind: MetricType::Counter,
                help: Some("The total number of HTTP requests.".into()),
                unit: None,
            }]
        );
    }

    #[test]
    fn help_unescapes_backslash_and_newline_only() {
        let parsed = ok("# HELP a x\\\\y\\nz\\\"q\n");
        assert_eq!(parsed.metadata[0].help.as_deref(), Some("x\\y\nz\\\"q"));
        let parsed = ok("# HELP b\n");
        assert_eq!(parsed.metadata[0].help.as_deref(), Some(""));
    }

    #[test]
    fn nan_and_infinities_in_every_go_spelling() {
        let parsed = ok("a NaN\nb +Inf\nc -Inf\nd Inf\ne nan\nf inf\n");
        let values: Vec<f64> = parsed.samples.iter().map(|s| s.value).collect();
        assert!(values[0].is_nan() && values[4].is_nan());
        assert_eq!(values[1], f64::INFINITY);
        assert_eq!(values[2], f64::NEG_INFINITY);
        assert_eq!(values[3], f64::INFINITY);
        assert_eq!(values[5], f64::INFINITY);
    }

    #[test]
    fn comments_blank_lines_and_whitespace_are_ignored() {
        let body = "\n  # just a comment\n#\n# UNIT a seconds\n#HELPER not metadata\n\t a \t{x=\"1\"}\t 2 \t\n";
        let parsed = ok(body);
        assert_eq!(parsed.samples.len(), 1);
        assert_eq!(parsed.samples[0].name, "a");
        assert_eq!(parsed.samples[0].labels, labels(&[("x", "1")]));
        assert_eq!(parsed.samples[0].timestamp_ms, None);
        assert!(parsed.metadata.is_empty());
    }

    #[test]
    fn comments_may_hold_any_bytes() {
        let parsed = parse(b"# \xff\xfe bytes\na 1\n", &Limits::default()).unwrap();
        assert_eq!(parsed.samples.len(), 1);
    }

    #[test]
    fn histograms_and_summaries_are_flat_samples_with_metadata() {
        let body = r#"# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
"#;
        let parsed = ok(body);
        assert_eq!(parsed.samples.len(), 8);
        assert_eq!(parsed.samples[2].value, 1.7560473e7);
        assert_eq!(parsed.samples[5].labels, labels(&[("le", "+Inf")]));
        let kinds: Vec<_> = parsed.metadata.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MetricType::Summary, MetricType::Histogram]);
    }

    #[test]
    fn untyped_is_unknown() {
        let parsed = ok("# TYPE a untyped\na 1\n");
        assert_eq!(parsed.metadata[0].kind, MetricType::Unknown);
    }

    #[test]
    fn malformed_lines_give_line_and_column() {
        let cases: &[(&[u8], usize, usize, &str)] = &[
            (b"a 1\nb{x=\"1\" 2\n", 2, 9, "expected ',' or '}'"),
            (b"a{x=1} 2\n", 1, 5, "'\"'"),
            (b"a\n", 1, 2, "expected a value"),
            (b"a 1x\n", 1, 3, "invalid value \"1x\""),
            (b"a 1 1.5\n", 1, 5, "integer milliseconds"),
            (b"a 1 2 3\n", 1, 7, "after the timestamp"),
            (b"9a 1\n", 1, 1, "expected a metric name"),
            (b"a{x=\"1\",x=\"2\"} 1\n", 1, 2, "twice"),
            (b"# TYPE a countr\n", 1, 10, "unknown metric type"),
            (b"# TYPE a counter x\n", 1, 18, "after the metric type"),
            (b"# TYPE a\n", 1, 9, "metric type"),
            (b"# HELP\n", 1, 7, "metric name after HELP"),
            (b"# TYPE a gauge\n# TYPE a gauge\n", 2, 1, "second TYPE"),
            (b"# HELP a x\n# HELP a y\n", 2, 1, "second HELP"),
            (b"a{x=\"\\\"} 1\n", 1, 5, "closing"),
            (b"a{x=\"\xff\"} 1\n", 1, 6, "UTF-8"),
        ];
        for (body, line, column, needle) in cases {
            let e = parse(body, &Limits::default()).unwrap_err();
            let shown = String::from_utf8_lossy(body);
            assert_eq!((e.line, e.column), (*line, *column), "{shown:?}: {e}");
            assert!(e.message.contains(needle), "{shown:?}: {e}");
        }
    }

    #[test]
    fn every_label_limit_is_enforced() {
        let strict = Limits {
            max_samples: 2,
            max_labels: 2,
            max_label_name_bytes: 3,
            max_label_value_bytes: 4,
            ..Limits::default()
        };
        let run = |body: &str| parse(body.as_bytes(), &strict);
        assert!(run("a{abc=\"1234\",b=\"\"} 1\nb 2\n").is_ok());
        let e = run("a 1\nb 2\nc 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("max_samples"));
        let e = run("a{x=\"1\",y=\"2\",z=\"3\"} 1\n").unwrap_err();
        assert!(e.message.contains("max_labels"));
        let e = run("a{abcd=\"1\"} 1\n").unwrap_err();
        assert_eq!(e.column, 3);
        assert!(e.message.contains("max_label_name_bytes"));
        let e = run("a{x=\"12345\"} 1\n").unwrap_err();
        assert_eq!(e.column, 5);
        assert!(e.message.contains("max_label_value_bytes"));
    }

    #[test]
    fn error_display_has_the_position() {
        assert_eq!(
            err("a 1 z\n").to_string(),
            "line 1, column 5: invalid timestamp \"z\": expected integer milliseconds"
        );
    }
}
