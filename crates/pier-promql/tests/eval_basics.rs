//! Evaluator basics over an in-memory store: lookback and staleness, offset and `@`, range
//! queries, subqueries, vector matching (with Prometheus's error messages), aggregations and
//! delayed name removal.

use pier_promql::{Engine, MemStorage, QueryError, Value};
use pier_tsdb::{Labels, STALE_NAN};

const S: i64 = 1000;
const M: i64 = 60 * S;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// Adds `values[i]` at `i * interval` (None: no sample).
fn load(s: &mut MemStorage, l: &[(&str, &str)], interval: i64, values: &[Option<f64>]) {
    let l = labels(l);
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            s.add(&l, i as i64 * interval, *v);
        }
    }
}

fn series(start: f64, step: f64, n: usize) -> Vec<Option<f64>> {
    (0..=n).map(|i| Some(start + step * i as f64)).collect()
}

/// An instant query's vector as sorted `(labels, value)` strings.
fn vector(storage: &MemStorage, q: &str, t: i64) -> Vec<(String, f64)> {
    let out = Engine::default().instant(storage, q, t).unwrap();
    match out.value {
        Value::Vector(v) => {
            let mut v: Vec<_> = v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

fn scalar(storage: &MemStorage, q: &str, t: i64) -> f64 {
    match Engine::default().instant(storage, q, t).unwrap().value {
        Value::Scalar { v, .. } => v,
        other => panic!("{q}: expected a scalar, got {other:?}"),
    }
}

fn error(storage: &MemStorage, q: &str, t: i64) -> QueryError {
    Engine::default().instant(storage, q, t).unwrap_err()
}

fn metrics() -> MemStorage {
    let mut s = MemStorage::new();
    load(
        &mut s,
        &[
            ("__name__", "http_requests"),
            ("job", "api"),
            ("instance", "0"),
        ],
        5 * M,
        &series(0.0, 10.0, 10),
    );
    load(
        &mut s,
        &[
            ("__name__", "http_requests"),
            ("job", "api"),
            ("instance", "1"),
        ],
        5 * M,
        &series(0.0, 20.0, 10),
    );
    load(
        &mut s,
        &[
            ("__name__", "http_requests"),
            ("job", "db"),
            ("instance", "0"),
        ],
        5 * M,
        &series(0.0, 30.0, 10),
    );
    load(
        &mut s,
        &[
            ("__name__", "http_requests"),
            ("job", "db"),
            ("instance", "1"),
        ],
        5 * M,
        &series(0.0, 40.0, 10),
    );
    s
}

#[test]
fn lookback_is_left_open_and_five_minutes() {
    let mut s = MemStorage::new();
    load(&mut s, &[("__name__", "a")], M, &[Some(1.0)]);
    assert_eq!(
        vector(&s, "a", 299 * S),
        vec![(r#"{__name__="a"}"#.into(), 1.0)]
    );
    assert!(vector(&s, "a", 300 * S).is_empty());
    assert!(vector(&s, "a", -1).is_empty());
}

#[test]
fn stale_marker_hides_the_series() {
    let mut s = MemStorage::new();
    let l = labels(&[("__name__", "a")]);
    s.add(&l, 0, 1.0);
    s.add(&l, 10 * S, 2.0);
    s.add(&l, 20 * S, STALE_NAN);
    s.add(&l, 40 * S, 3.0);
    assert_eq!(vector(&s, "a", 15 * S)[0].1, 2.0);
    assert!(vector(&s, "a", 20 * S).is_empty());
    assert!(vector(&s, "a", 39 * S).is_empty());
    assert_eq!(vector(&s, "a", 40 * S)[0].1, 3.0);
    // Range windows drop stale markers.
    assert_eq!(vector(&s, "count_over_time(a[1m])", 50 * S)[0].1, 3.0);
}

#[test]
fn offset_and_at_modifiers() {
    let s = metrics();
    let q = r#"http_requests{job="api", instance="0"}"#;
    assert_eq!(vector(&s, q, 50 * M)[0].1, 100.0);
    assert_eq!(vector(&s, &format!("{q} offset 10m"), 50 * M)[0].1, 80.0);
    assert_eq!(vector(&s, &format!("{q} offset -10m"), 30 * M)[0].1, 80.0);
    assert_eq!(vector(&s, &format!("{q} @ 600"), 50 * M)[0].1, 20.0);
    assert_eq!(
        vector(&s, &format!("{q} @ 600 offset 5m"), 50 * M)[0].1,
        10.0
    );
    assert_eq!(vector(&s, &format!("{q} @ start()"), 25 * M)[0].1, 50.0);
    // The sample keeps the evaluation time; timestamp() reads the sample's own.
    assert_eq!(
        vector(&s, &format!("timestamp({q} @ 600)"), 50 * M)[0].1,
        600.0
    );
    assert_eq!(vector(&s, &format!("timestamp({q})"), 7 * M)[0].1, 300.0);
    // Range selectors with offset: the window (40m, 50m] holds 45m and 50m.
    assert_eq!(
        vector(&s, &format!("sum_over_time({q}[10m] offset 10m)"), 60 * M)[0].1,
        90.0 + 100.0
    );
}

#[test]
fn range_query_builds_sorted_matrix() {
    let s = metrics();
    let out = Engine::default()
        .range(&s, r#"http_requests{job="api"} @ end()"#, 0, 10 * M, 5 * M)
        .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].labels.get("instance"), Some("0"));
    assert_eq!(m[0].points, vec![(0, 20.0), (5 * M, 20.0), (10 * M, 20.0)]);

    let out = Engine::default().range(&s, "time()", 0, 2 * M, M).unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 1);
    assert!(m[0].labels.is_empty());
    assert_eq!(m[0].points, vec![(0, 0.0), (M, 60.0), (2 * M, 120.0)]);

    let err = Engine::default()
        .range(&s, "http_requests[5m]", 0, M, M)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid expression type "range vector" for range query, must be Scalar or instant Vector"#
    );
}

#[test]
fn range_query_over_gaps_and_staleness() {
    let mut s = MemStorage::new();
    let l = labels(&[("__name__", "a")]);
    s.add(&l, 0, 1.0);
    s.add(&l, 60 * S, STALE_NAN);
    s.add(&l, 20 * M, 5.0);
    let out = Engine::default().range(&s, "a", 0, 30 * M, 30 * S).unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("matrix expected")
    };
    let ts: Vec<i64> = m[0].points.iter().map(|p| p.0).collect();
    let mut expected = vec![0, 30 * S];
    expected.extend((40..=50).map(|i| i * 30 * S)); // 20m .. 25m, then 5m lookback ends.
    assert_eq!(ts[..2], expected[..2]);
    assert_eq!(ts.len(), 2 + 10);
    assert_eq!(*ts.last().unwrap(), 20 * M + 270 * S);
}

#[test]
fn instant_range_vector_is_a_matrix() {
    let s = metrics();
    let out = Engine::default()
        .instant(&s, r#"http_requests{job="api"}[10m]"#, 10 * M)
        .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].points, vec![(5 * M, 10.0), (10 * M, 20.0)]);
}

#[test]
fn subqueries_align_to_absolute_steps() {
    let mut s = MemStorage::new();
    load(&mut s, &[("__name__", "m")], 10 * S, &series(0.0, 1.0, 200));
    assert_eq!(
        vector(&s, "sum_over_time(m[30s:10s])", 1000 * S)[0].1,
        297.0
    );
    // Offsets not on the step still land on absolute multiples of it.
    for off in ["10s", "9s", "7s", "3s"] {
        let q = format!("sum_over_time(m[30s:10s] offset {off})");
        assert_eq!(vector(&s, &q, 1010 * S)[0].1, 297.0, "{q}");
    }
    assert_eq!(vector(&s, "sum_over_time(m[30s:5s])", 1000 * S)[0].1, 591.0);
    // Nested subqueries.
    assert_eq!(
        vector(
            &s,
            "max_over_time(sum_over_time(m[30s:10s])[50s:10s])",
            1000 * S
        )[0]
        .1,
        297.0
    );
    // A subquery in a range query equals the instant answers.
    let out = Engine::default()
        .range(&s, "sum_over_time(m[30s:10s])", 900 * S, 1000 * S, 50 * S)
        .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("matrix expected")
    };
    for &(t, v) in &m[0].points {
        assert_eq!(v, vector(&s, "sum_over_time(m[30s:10s])", t)[0].1, "at {t}");
    }
    assert_eq!(m[0].points.len(), 3);
}

#[test]
fn binary_operators_and_matching() {
    let s = metrics();
    assert_eq!(scalar(&s, "1 + 2 * 3", 0), 7.0);
    assert_eq!(scalar(&s, "2 ^ 3 ^ 2", 0), 512.0);
    assert_eq!(scalar(&s, "1 < bool 2", 0), 1.0);
    assert_eq!(scalar(&s, "-(1 + 1)", 0), -2.0);
    let got = vector(&s, r#"http_requests{job="api"} * 2"#, 50 * M);
    assert_eq!(
        got,
        vec![
            (r#"{instance="0", job="api"}"#.into(), 200.0),
            (r#"{instance="1", job="api"}"#.into(), 400.0)
        ]
    );
    // Comparisons filter and keep the name; with bool they give 0/1 and drop it.
    let got = vector(&s, "http_requests > 300", 50 * M);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0,
        r#"{__name__="http_requests", instance="1", job="db"}"#
    );
    let got = vector(&s, "http_requests > bool 300", 50 * M);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|(l, _)| !l.contains("__name__")));
    // Scalar on the left of a comparison keeps the vector's value.
    assert_eq!(vector(&s, "300 < http_requests", 50 * M)[0].1, 400.0);
    // One-to-one vector matching.
    let got = vector(
        &s,
        r#"http_requests{job="api"} - ignoring(job) http_requests{job="db"}"#,
        50 * M,
    );
    assert_eq!(
        got,
        vec![
            (r#"{instance="0"}"#.into(), -200.0),
            (r#"{instance="1"}"#.into(), -200.0)
        ]
    );
    let got = vector(
        &s,
        r#"http_requests{job="db"} - on(instance) http_requests{job="api"}"#,
        50 * M,
    );
    assert_eq!(
        got,
        vec![
            (r#"{instance="0"}"#.into(), 200.0),
            (r#"{instance="1"}"#.into(), 200.0)
        ]
    );
    // Many-to-one with group_left and included labels.
    let got = vector(
        &s,
        r#"http_requests / on(instance) group_left sum by (instance) (http_requests)"#,
        50 * M,
    );
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], (r#"{instance="0", job="api"}"#.into(), 0.25));
    // Set operators.
    assert_eq!(
        vector(
            &s,
            r#"http_requests and http_requests{instance="0"}"#,
            50 * M
        )
        .len(),
        2
    );
    assert_eq!(
        vector(
            &s,
            r#"http_requests unless http_requests{instance="0"}"#,
            50 * M
        )
        .len(),
        2
    );
    assert_eq!(
        vector(
            &s,
            r#"http_requests{job="api"} or on(instance) http_requests{job="db"}"#,
            50 * M
        )
        .len(),
        2
    );
}

#[test]
fn matching_errors_match_prometheus() {
    let s = metrics();
    let err = error(
        &s,
        r#"http_requests / on(instance) sum by (instance) (http_requests)"#,
        50 * M,
    );
    assert_eq!(
        err.to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    let err = error(
        &s,
        r#"sum by (instance) (http_requests) / on(instance) http_requests"#,
        50 * M,
    );
    assert!(
        err.to_string().starts_with(
            r#"found duplicate series for the match group {instance="0"} on the right hand-side of the operation: [{__name__="http_requests", instance="0", job="api"}, {__name__="http_requests", instance="0", job="db"}];many-to-many matching not allowed"#
        ),
        "{err}"
    );
    let err = error(
        &s,
        r#"http_requests / on(instance) group_right sum by (instance, job) (http_requests)"#,
        50 * M,
    );
    assert!(err.to_string().contains("on the left hand-side"), "{err}");
}

#[test]
fn aggregations() {
    let s = metrics();
    let t = 50 * M;
    assert_eq!(
        vector(&s, "sum(http_requests)", t),
        vec![("{}".into(), 1000.0)]
    );
    assert_eq!(
        vector(&s, "sum by (job) (http_requests)", t),
        vec![
            (r#"{job="api"}"#.into(), 300.0),
            (r#"{job="db"}"#.into(), 700.0)
        ]
    );
    assert_eq!(
        vector(&s, "avg without (instance) (http_requests)", t),
        vec![
            (r#"{job="api"}"#.into(), 150.0),
            (r#"{job="db"}"#.into(), 350.0)
        ]
    );
    assert_eq!(vector(&s, "count(http_requests)", t)[0].1, 4.0);
    assert_eq!(vector(&s, "max(http_requests)", t)[0].1, 400.0);
    assert_eq!(vector(&s, "min(http_requests)", t)[0].1, 100.0);
    assert_eq!(vector(&s, "group(http_requests)", t)[0].1, 1.0);
    assert_eq!(vector(&s, "stdvar(http_requests)", t)[0].1, 12500.0);
    assert_eq!(vector(&s, "quantile(0.5, http_requests)", t)[0].1, 250.0);
    // topk keeps labels and orders best first.
    let out = Engine::default()
        .instant(&s, "topk(2, http_requests)", t)
        .unwrap();
    let Value::Vector(v) = out.value else {
        panic!("vector expected")
    };
    let values: Vec<f64> = v.iter().map(|s| s.v).collect();
    assert_eq!(values, vec![400.0, 300.0]);
    assert_eq!(v[0].labels.metric_name(), Some("http_requests"));
    let out = Engine::default()
        .instant(&s, "bottomk by (job) (1, http_requests)", t)
        .unwrap();
    let Value::Vector(v) = out.value else {
        panic!("vector expected")
    };
    assert_eq!(v.len(), 2);
    let got = vector(&s, r#"count_values("value", http_requests{job="api"})"#, t);
    assert_eq!(
        got,
        vec![
            (r#"{value="100"}"#.into(), 1.0),
            (r#"{value="200"}"#.into(), 1.0)
        ]
    );
    // Average of huge values falls back to the incremental mean instead of overflowing.
    let mut big = MemStorage::new();
    load(
        &mut big,
        &[("__name__", "b"), ("i", "1")],
        M,
        &[Some(f64::MAX)],
    );
    load(
        &mut big,
        &[("__name__", "b"), ("i", "2")],
        M,
        &[Some(f64::MAX)],
    );
    assert_eq!(vector(&big, "avg(b)", 0)[0].1, f64::MAX);
    assert_eq!(vector(&big, "sum(b)", 0)[0].1, f64::INFINITY);
}

#[test]
fn delayed_name_removal_reports_collisions() {
    let mut s = MemStorage::new();
    load(&mut s, &[("__name__", "a"), ("x", "1")], M, &[Some(1.0)]);
    load(&mut s, &[("__name__", "b"), ("x", "1")], M, &[Some(2.0)]);
    let err = error(&s, r#"{x="1"} * 2"#, 0);
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    // Without the collision the name just goes.
    assert_eq!(vector(&s, r#"a * 2"#, 0), vec![(r#"{x="1"}"#.into(), 2.0)]);
    assert_eq!(vector(&s, r#"-a"#, 0), vec![(r#"{x="1"}"#.into(), -1.0)]);
}

#[test]
fn sample_limit_and_timeout() {
    let s = metrics();
    let engine = Engine::new(pier_promql::EngineOptions {
        max_samples: 3,
        ..Default::default()
    });
    let err = engine.instant(&s, "http_requests", 50 * M).unwrap_err();
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    let engine = Engine::new(pier_promql::EngineOptions {
        timeout: std::time::Duration::ZERO,
        ..Default::default()
    });
    let err = engine.range(&s, "http_requests", 0, 50 * M, S).unwrap_err();
    assert_eq!(err.to_string(), "query timed out in query execution");
}

#[test]
fn selector_matchers() {
    let mut s = MemStorage::new();
    load(&mut s, &[("__name__", "a"), ("x", "a{b")], M, &[Some(1.0)]);
    load(&mut s, &[("__name__", "b"), ("y", "2")], M, &[Some(2.0)]);
    load(&mut s, &[("__name__", "c"), ("y", "3")], M, &[Some(3.0)]);
    // Go accepts a literal `{` in a regex.
    assert_eq!(vector(&s, r#"a{x=~"a{b"}"#, 0).len(), 1);
    assert_eq!(vector(&s, r#"{__name__=~"b|c", y!="3"}"#, 0).len(), 1);
    // `or` between matcher groups.
    assert_eq!(vector(&s, r#"{x="a{b" or y="3"}"#, 0).len(), 2);
}
