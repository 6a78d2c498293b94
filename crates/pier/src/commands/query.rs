//! `pier query`: PromQL against the daemon's Prometheus HTTP API (`/api/v1/query` and
//! `/api/v1/query_range`, so `--api` may also point at a real Prometheus). An instant query
//! prints an aligned table (one column per label, then the value); a range query, or an
//! instant query of a range vector, prints one row per series with its minimum, maximum,
//! last value and a sparkline; `--json` prints Prometheus's `data` exactly as the API sent it.
//! A parse error prints the query with a caret under the position and exits with 2.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use pier_api::prometheus::params::{parse_duration_ns, parse_time};
use serde_json::Value;

use crate::client::Client;
use crate::exit::Exit;
use crate::table::Table;

/// What `pier query` was asked.
pub struct QueryArgs {
    pub expr: String,
    pub at: Option<String>,
    pub range: Option<String>,
    pub step: Option<String>,
    pub end: Option<String>,
    pub json: bool,
}

/// Widest sparkline, in characters.
const CHART_WIDTH: i64 = 60;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub async fn run(client: &Client, args: QueryArgs) -> anyhow::Result<()> {
    let now = now_ms();
    match &args.range {
        None => {
            let mut form = vec![("query", args.expr.clone())];
            if let Some(at) = &args.at {
                form.push(("time", seconds(when("--at", at, now)?)));
            }
            let (body, data) = call(client, "/api/v1/query", &form, &args.expr).await?;
            if args.json {
                println!("{}", raw_field(&body, "data").unwrap_or("null"));
                return Ok(());
            }
            print_instant(&data);
        }
        Some(range) => {
            let range_ms = duration_ms("--range", range)?;
            if range_ms <= 0 {
                return Err(Exit::invalid(
                    "--range must be longer than 0s (e.g. --range 1h)",
                ));
            }
            let end = match &args.end {
                Some(end) => when("--end", end, now)?,
                None => now,
            };
            let start = end - range_ms;
            let step_ms = match &args.step {
                Some(step) => duration_ms("--step", step)?,
                // About CHART_WIDTH points, in whole seconds.
                None => ((range_ms + CHART_WIDTH * 1000 - 1) / (CHART_WIDTH * 1000)).max(1) * 1000,
            };
            if step_ms <= 0 {
                return Err(Exit::invalid(
                    "--step must be longer than 0s (e.g. --step 15s)",
                ));
            }
            let form = vec![
                ("query", args.expr.clone()),
                ("start", seconds(start)),
                ("end", seconds(end)),
                ("step", seconds(step_ms)),
            ];
            let (body, data) = call(client, "/api/v1/query_range", &form, &args.expr).await?;
            if args.json {
                println!("{}", raw_field(&body, "data").unwrap_or("null"));
                return Ok(());
            }
            println!(
                "from {} to {}, every {}",
                rfc3339(start),
                rfc3339(end),
                seconds_text(step_ms)
            );
            print_matrix(&data["result"], Some((start, end, step_ms)));
        }
    }
    Ok(())
}

/// Sends the query; returns the body and the parsed `data`, or the API's error as an exit.
async fn call(
    client: &Client,
    path: &str,
    form: &[(&str, String)],
    expr: &str,
) -> anyhow::Result<(String, Value)> {
    let (status, body) = client.post_form(path, form).await?;
    let envelope: Value = serde_json::from_str(&body).map_err(|_| not_prometheus(status, &body))?;
    match envelope["status"].as_str() {
        Some("success") => {}
        Some("error") => {
            let kind = envelope["errorType"].as_str().unwrap_or("unknown");
            let message = envelope["error"].as_str().unwrap_or_default();
            let text = format!("{message}{}", caret(expr, message));
            return Err(if kind == "bad_data" {
                Exit::invalid(text)
            } else {
                Exit::failed(format!("{kind}: {text}"))
            });
        }
        _ => return Err(not_prometheus(status, &body)),
    }
    for (key, prefix) in [("warnings", "warning"), ("infos", "info")] {
        for note in envelope[key].as_array().into_iter().flatten() {
            eprintln!("{prefix}: {}", note.as_str().unwrap_or_default());
        }
    }
    let data = envelope["data"].clone();
    Ok((body, data))
}

fn not_prometheus(status: u16, body: &str) -> anyhow::Error {
    Exit::failed(format!(
        "the daemon does not answer like the Prometheus API (HTTP {status}): {}; is it a pier \
         older than `pier query`?",
        body.trim()
    ))
}

/// The query's line with a caret under the column of `L:C: parse error` in `message`.
fn caret(expr: &str, message: &str) -> String {
    let Some(at) = message.find(": parse error") else {
        return String::new();
    };
    let position = message[..at].rsplit(' ').next().unwrap_or_default();
    let Some((line, col)) = position.split_once(':') else {
        return String::new();
    };
    let (Ok(line), Ok(col)) = (line.parse::<usize>(), col.parse::<usize>()) else {
        return String::new();
    };
    let Some(text) = expr.split('\n').nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let before = text
        .get(..col.saturating_sub(1).min(text.len()))
        .unwrap_or(text);
    format!("\n  {text}\n  {}^", " ".repeat(before.chars().count()))
}

fn print_instant(data: &Value) {
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            println!("{}", result[1].as_str().unwrap_or_default());
        }
        Some("matrix") => print_matrix(result, None),
        _ => {
            let samples = result.as_array().cloned().unwrap_or_default();
            if samples.is_empty() {
                eprintln!("no series");
                return;
            }
            let mut names = BTreeSet::new();
            for s in &samples {
                names.extend(
                    s["metric"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone()),
                );
            }
            // The metric name first, then the labels in order.
            let mut columns: Vec<String> =
                names.iter().filter(|n| *n == "__name__").cloned().collect();
            columns.extend(names.iter().filter(|n| *n != "__name__").cloned());
            let mut header: Vec<String> = columns
                .iter()
                .map(|n| {
                    if n == "__name__" {
                        "METRIC".into()
                    } else {
                        n.to_uppercase()
                    }
                })
                .collect();
            header.push("VALUE".into());
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut table = Table::new(&header);
            for s in &samples {
                let mut row: Vec<String> = columns
                    .iter()
                    .map(|c| s["metric"][c].as_str().unwrap_or("-").to_string())
                    .collect();
                row.push(s["value"][1].as_str().unwrap_or_default().to_string());
                table.row(row);
            }
            print!("{}", table.render());
        }
    }
}

/// One row per series: `name{labels}`, min, max, last, and a sparkline over `grid`
/// (start, end, step) or over the series' own time span.
fn print_matrix(result: &Value, grid: Option<(i64, i64, i64)>) {
    let series = result.as_array().cloned().unwrap_or_default();
    if series.is_empty() {
        eprintln!("no series");
        return;
    }
    let mut table = Table::new(&["SERIES", "MIN", "MAX", "LAST", "CHART"]);
    for s in &series {
        let points: Vec<(i64, f64, String)> = s["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let t = (p[0].as_f64()? * 1000.0).round() as i64;
                let text = p[1].as_str()?.to_string();
                let v = parse_value(&text)?;
                Some((t, v, text))
            })
            .collect();
        let finite = || points.iter().filter(|p| p.1.is_finite());
        let min = finite().min_by(|a, b| a.1.total_cmp(&b.1));
        let max = finite().max_by(|a, b| a.1.total_cmp(&b.1));
        let text = |p: Option<&(i64, f64, String)>| p.map_or("-".to_string(), |p| p.2.clone());
        table.row(vec![
            series_name(&s["metric"]),
            text(min),
            text(max),
            text(points.last()),
            sparkline(&points, grid),
        ]);
    }
    print!("{}", table.render());
}

fn sparkline(points: &[(i64, f64, String)], grid: Option<(i64, i64, i64)>) -> String {
    let (start, end, width) = match grid {
        Some((start, end, step)) => (start, end, ((end - start) / step + 1).clamp(1, CHART_WIDTH)),
        None => {
            let (Some(first), Some(last)) = (points.first(), points.last()) else {
                return String::new();
            };
            (first.0, last.0, (points.len() as i64).clamp(1, CHART_WIDTH))
        }
    };
    let mut columns: Vec<Option<f64>> = vec![None; width as usize];
    for (t, v, _) in points.iter().filter(|p| p.1.is_finite()) {
        let col = if end > start {
            (i128::from(t - start) * i128::from(width - 1) / i128::from(end - start)) as i64
        } else {
            0
        };
        let slot = &mut columns[col.clamp(0, width - 1) as usize];
        *slot = Some(slot.map_or(*v, |old: f64| old.max(*v)));
    }
    let values = columns.iter().flatten();
    let lo = values.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = values.copied().fold(f64::NEG_INFINITY, f64::max);
    columns
        .iter()
        .map(|c| match c {
            None => ' ',
            Some(_) if hi <= lo => BARS[3],
            Some(v) => BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize],
        })
        .collect()
}

/// `name{a="b", c="d"}`, as PromQL writes a series.
fn series_name(metric: &Value) -> String {
    let Some(labels) = metric.as_object() else {
        return "{}".into();
    };
    let name = labels
        .get("__name__")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        return name.to_string();
    }
    format!("{name}{{{}}}", rest.join(", "))
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// A time argument: `now`, `-1h` (before now), RFC 3339, or Unix seconds.
fn when(flag: &str, text: &str, now: i64) -> anyhow::Result<i64> {
    if text == "now" {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix('-')
        && ago.ends_with(|c: char| c.is_ascii_alphabetic())
    {
        return Ok(now - duration_ms(flag, ago)?);
    }
    parse_time(text).map_err(|_| {
        Exit::invalid(format!(
            "{flag} {text:?}: use `now`, a time before now such as `-1h`, RFC 3339 \
             (2026-11-23T08:00:00Z) or Unix seconds"
        ))
    })
}

fn duration_ms(flag: &str, text: &str) -> anyhow::Result<i64> {
    parse_duration_ns(text)
        .map(|ns| ns / 1_000_000)
        .map_err(|_| {
            Exit::invalid(format!(
                "{flag} {text:?}: use a duration such as 15s, 5m, 1h30m or 7d, or seconds"
            ))
        })
}

/// Milliseconds as the seconds the API takes (`1700000000.5`).
fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    match abs % 1000 {
        0 => format!("{sign}{}", abs / 1000),
        frac => format!("{sign}{}.{frac:03}", abs / 1000),
    }
}

fn seconds_text(ms: i64) -> String {
    format!("{}s", seconds(ms))
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The raw text of a top-level field of a JSON object, so `--json` prints `data` exactly as
/// the API wrote it (numbers untouched).
fn raw_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let b = json.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        let key_end = skip_value(b, i)?;
        let name: String = serde_json::from_str(json.get(i..key_end)?).ok()?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let end = skip_value(b, i)?;
        if name == key {
            return json.get(i..end);
        }
        i = skip_ws(b, end);
        if b.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    let mut in_string = false;
    while j < b.len() {
        let c = b[j];
        if in_string {
            match c {
                b'\\' => j += 1,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                _ => {}
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => return Some(j),
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                b',' if depth == 0 => return Some(j),
                _ => {}
            }
        }
        j += 1;
    }
    (depth == 0 && !in_string && j > i).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_keep_the_api_text() {
        let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1.500,"2"]},"warnings":["a,}"]}"#;
        assert_eq!(
            raw_field(body, "data"),
            Some(r#"{"resultType":"scalar","result":[1.500,"2"]}"#)
        );
        assert_eq!(raw_field(body, "warnings"), Some(r#"["a,}"]"#));
        assert_eq!(raw_field(body, "status"), Some(r#""success""#));
        assert_eq!(raw_field(r#"{"data":2}"#, "data"), Some("2"));
        assert_eq!(raw_field(body, "nope"), None);
    }

    #[test]
    fn carets_point_at_the_column() {
        assert_eq!(
            caret(
                "foo bar",
                r#"invalid parameter "query": 1:5: parse error: unexpected "bar""#
            ),
            "\n  foo bar\n      ^"
        );
        assert_eq!(caret("x", "no position"), "");
    }

    #[test]
    fn sparklines_scale_between_min_and_max() {
        let p = |t: i64, v: f64| (t, v, v.to_string());
        let points = vec![p(0, 0.0), p(1000, 7.0), p(3000, 3.5)];
        assert_eq!(sparkline(&points, Some((0, 3000, 1000))), "▁█ ▅");
        assert_eq!(sparkline(&[p(0, 1.0)], None), "▄");
    }

    #[test]
    fn times_and_series_names() {
        assert_eq!(seconds(1_700_000_000_500), "1700000000.500");
        assert_eq!(seconds(15_000), "15");
        assert_eq!(when("--at", "-1h", 7_200_000).unwrap(), 3_600_000);
        assert_eq!(when("--at", "now", 5).unwrap(), 5);
        assert_eq!(when("--at", "1.5", 0).unwrap(), 1500);
        assert!(when("--at", "yesterday", 0).is_err());
        let metric: Value = serde_json::json!({"__name__": "up", "job": "web"});
        assert_eq!(series_name(&metric), r#"up{job="web"}"#);
        assert_eq!(series_name(&serde_json::json!({})), "{}");
    }
}
