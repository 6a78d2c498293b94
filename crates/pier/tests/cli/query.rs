//! PromQL end to end: history imported with `pier metrics import`, then the Prometheus HTTP
//! API (`/api/v1/query` with Grafana's `1+1` health check, vectors, `query_range`, `series`,
//! `labels`, label values, metadata, targets, buildinfo, `format_query`, errors with
//! Prometheus's statuses, form POSTs) and `pier query` (table, chart, `--json`, parse errors).
//! Times are fixed (the data lies around 1700000000), so every answer is exact.

use serde_json::Value;

use crate::harness::{App, Daemon, http_get};

const T0: i64 = 1_700_000_000;

/// 41 samples 15 s apart from T0 for each series.
fn history() -> String {
    let mut out = String::from("# TYPE http_requests counter\n");
    for (job, code, per_step) in [("api", "200", 5), ("web", "200", 10), ("web", "500", 1)] {
        for i in 0..=40 {
            out.push_str(&format!(
                "http_requests_total{{job=\"{job}\",code=\"{code}\"}} {} {}\n",
                i * per_step,
                T0 + i * 15
            ));
        }
    }
    out.push_str("# TYPE temp gauge\n");
    for (room, value) in [("a", "20.5"), ("b", "1e-7")] {
        for i in 0..=40 {
            out.push_str(&format!(
                "temp{{room=\"{room}\"}} {value} {}\n",
                T0 + i * 15
            ));
        }
    }
    out.push_str("# EOF\n");
    out
}

fn api_port(daemon: &Daemon) -> u16 {
    daemon.api.rsplit(':').next().unwrap().parse().unwrap()
}

/// GET; returns the status and the body parsed as JSON (and the raw body).
fn get(daemon: &Daemon, path: &str) -> (u16, Value, String) {
    let (status, body) = http_get(api_port(daemon), path).expect("the API answers");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, json, body)
}

/// A form-encoded POST over a fresh connection; returns the status and raw body.
fn post_form(daemon: &Daemon, path: &str, form: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", api_port(daemon))).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Small bodies may come chunked: keep the JSON object only.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => body[a..=b].to_string(),
        _ => body.to_string(),
    };
    (status, body)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_prometheus_api_and_pier_query_answer_as_prometheus() {
    let app = App::with_manifest(
        r#"
app = "promql"

[services.worker]
command = "sleep 100000"
"#,
    );
    app.write("history.om", &history());
    let daemon = app.up();
    let out = daemon.ok(&["metrics", "import", "history.om"]);
    assert!(out.starts_with("imported 205 samples of 5 series"), "{out}");
    let at = T0 + 600;

    // Grafana's health check: a scalar, formatted byte for byte as Prometheus.
    let (status, _, body) = get(&daemon, &format!("/api/v1/query?query=1%2B1&time={at}"));
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(r#"{{"status":"success","data":{{"resultType":"scalar","result":[{at},"2"]}}}}"#)
    );
    let (_, _, body) = get(&daemon, &format!("/api/v1/query?query=1%2B1&time={at}.5"));
    assert!(
        body.contains(&format!(r#""result":[{at}.500,"2"]"#)),
        "{body}"
    );
    // The same as a form POST.
    let (status, body) = post_form(&daemon, "/api/v1/query", &format!("query=1%2B1&time={at}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!(r#""result":[{at},"2"]"#)), "{body}");

    // A vector, with Go's float formatting (1e-07) and label sets.
    let (status, json, _) = get(&daemon, &format!("/api/v1/query?query=temp&time={at}"));
    assert_eq!(status, 200);
    assert_eq!(json["data"]["resultType"], "vector");
    let mut result: Vec<(String, String)> = json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["metric"]["__name__"], "temp");
            assert_eq!(s["value"][0], serde_json::json!(at));
            (
                s["metric"]["room"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    result.sort();
    assert_eq!(
        result,
        [("a".into(), "20.5".into()), ("b".into(), "1e-07".into())]
    );
    let (_, json, _) = get(
        &daemon,
        &format!("/api/v1/query?query=sum%20by%20(job)%20(http_requests_total)&time={at}"),
    );
    let mut sums: Vec<(String, String)> = json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["job"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sums.sort();
    assert_eq!(
        sums,
        [("api".into(), "200".into()), ("web".into(), "440".into())]
    );

    // A range query: one point per step, timestamps as Prometheus writes them.
    let (status, json, _) = get(
        &daemon,
        &format!(
            "/api/v1/query_range?query=temp%7Broom%3D%22a%22%7D&start={T0}&end={}&step=15",
            T0 + 60
        ),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["resultType"], "matrix");
    let series = json["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{json}");
    let values: Vec<String> = series[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}={}", p[0], p[1].as_str().unwrap()))
        .collect();
    let want: Vec<String> = (0..5).map(|i| format!("{}=20.5", T0 + i * 15)).collect();
    assert_eq!(values, want);

    // Metadata: series, label names, label values, metadata.
    let (status, json, _) = get(&daemon, "/api/v1/series?match[]=temp");
    assert_eq!(status, 200);
    assert_eq!(json["data"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(
        json["data"][0],
        serde_json::json!({"__name__": "temp", "room": "a"})
    );
    let (_, json, _) = get(&daemon, "/api/v1/series?match[]=temp&start=1&end=2");
    assert_eq!(json["data"], serde_json::json!([]));
    let (status, body) = post_form(
        &daemon,
        "/api/v1/series",
        "match%5B%5D=temp%7Broom%3D%22b%22%7D",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"temp","room":"b"}]}"#
    );
    let (status, json, _) = get(&daemon, "/api/v1/series");
    assert_eq!(status, 400);
    assert_eq!(json["errorType"], "bad_data");
    assert_eq!(json["error"], "no match[] parameter provided");

    let (_, json, _) = get(&daemon, "/api/v1/labels");
    let names = strings(&json["data"]);
    for name in ["__name__", "code", "job", "room"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    let (_, json, _) = get(&daemon, "/api/v1/labels?match[]=temp");
    assert_eq!(strings(&json["data"]), ["__name__", "room"]);
    let (_, json, _) = get(&daemon, "/api/v1/label/room/values");
    assert_eq!(strings(&json["data"]), ["a", "b"]);
    let (_, json, _) = get(
        &daemon,
        &format!("/api/v1/label/job/values?start={T0}&end={at}"),
    );
    assert_eq!(strings(&json["data"]), ["api", "web"]);
    let (_, json, _) = get(&daemon, "/api/v1/label/__name__/values?limit=1");
    assert_eq!(json["data"].as_array().unwrap().len(), 1);
    assert_eq!(json["warnings"][0], "results truncated due to limit");
    let (_, json, _) = get(&daemon, "/api/v1/metadata?metric=temp");
    assert_eq!(
        json["data"],
        serde_json::json!({"temp": [{"type": "unknown", "help": "", "unit": ""}]})
    );

    // Targets, build info (without `features`), format_query.
    let (_, json, _) = get(&daemon, "/api/v1/targets?state=active");
    let targets = json["data"]["activeTargets"].as_array().unwrap();
    assert!(targets.iter().any(|t| t["scrapePool"] == "pier"), "{json}");
    assert_eq!(json["data"]["droppedTargets"], serde_json::json!([]));
    let (status, json, _) = get(&daemon, "/api/v1/status/buildinfo");
    assert_eq!(status, 200);
    assert!(json["data"]["version"].is_string());
    assert!(json["data"].get("features").is_none(), "{json}");
    let (_, json, _) = get(
        &daemon,
        "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)",
    );
    assert_eq!(json["data"], "sum by (job) (rate(x[5m]))");

    // Errors: the envelope, Prometheus's statuses and messages.
    let (status, json, _) = get(&daemon, "/api/v1/query?query=foo%20bar");
    assert_eq!(status, 400);
    assert_eq!(json["status"], "error");
    assert_eq!(json["errorType"], "bad_data");
    assert_eq!(
        json["error"],
        r#"invalid parameter "query": 1:5: parse error: unexpected "bar""#
    );
    let (status, json, _) = get(&daemon, "/api/v1/query");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        r#"invalid parameter "query": 1:1: parse error: no expression found in input"#
    );
    let range = |params: &str| get(&daemon, &format!("/api/v1/query_range?query=temp&{params}"));
    let (status, json, _) = range("start=0&end=100&step=0");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        "zero or negative query resolution step widths are not accepted. Try a positive integer"
    );
    let (status, json, _) = range("start=0&end=100&step=fast");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        r#"invalid parameter "step": cannot parse "fast" to a valid duration"#
    );
    let (status, json, _) = range("start=0&end=100000&step=1");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    let (status, json, _) = range("start=100&end=0&step=1");
    assert_eq!(status, 400);
    assert_eq!(json["error"], "end timestamp must not be before start time");
    let (status, json, _) = range("end=100&step=1");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        r#"invalid parameter "start": cannot parse "" to a valid timestamp"#
    );
    let (status, json, _) = get(
        &daemon,
        &format!("/api/v1/query?query=temp%20%2B%20on()%20http_requests_total&time={at}"),
    );
    assert_eq!(status, 422, "{json}");
    assert_eq!(json["errorType"], "execution");
    let (status, json, _) = get(&daemon, "/api/v1/no_such_thing");
    assert_eq!(status, 404);
    assert_eq!(json["status"], "error");
    assert_eq!(json["errorType"], "not_found");

    // `pier query`: a table, JSON for scripts, a chart over a range, parse errors.
    let table = daemon.ok(&[
        "query",
        "sum by (job) (http_requests_total)",
        "--at",
        &at.to_string(),
    ]);
    let mut lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.remove(0), "JOB  VALUE", "{table}");
    lines.sort();
    assert_eq!(lines, ["api  200", "web  440"], "{table}");
    let table = daemon.ok(&["query", r#"temp{room="b"}"#, "--at", &at.to_string()]);
    assert_eq!(table, "METRIC  ROOM  VALUE\ntemp    b     1e-07\n");
    assert_eq!(daemon.ok(&["query", "1+1"]), "2\n");
    let json = daemon.ok(&["query", "1+1", "--at", &format!("{at}.25"), "--json"]);
    assert_eq!(
        json,
        format!("{{\"resultType\":\"scalar\",\"result\":[{at}.250,\"2\"]}}\n")
    );
    let chart = daemon.ok(&[
        "query",
        r#"temp{room="a"}"#,
        "--range",
        "1m",
        "--step",
        "15s",
        "--end",
        &(T0 + 60).to_string(),
    ]);
    assert!(
        chart.starts_with("from 2023-11-14T22:13:20Z to 2023-11-14T22:14:20Z, every 15s\n"),
        "{chart}"
    );
    assert!(
        chart.contains("SERIES          MIN   MAX   LAST  CHART"),
        "{chart}"
    );
    assert!(
        chart.contains("temp{room=\"a\"}  20.5  20.5  20.5  ▄▄▄▄▄"),
        "{chart}"
    );

    let bad = daemon.cli(&["query", "sum(rate(x[5m])) by foo"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("1:21: parse error: unexpected \"foo\"\n  sum(rate(x[5m])) by foo\n                      ^"),
        "{stderr}"
    );
    let bad = daemon.cli(&["query", "up", "--range", "1h", "--step", "often"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--step \"often\""));
}
