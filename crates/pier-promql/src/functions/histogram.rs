//! Classic-histogram functions over `le`-labelled bucket series: `histogram_quantile(φ,
//! v)`, `histogram_quantiles(v, "label", φ...)` and `histogram_fraction(lo, hi, v)`.
//!
//! Samples are grouped by their labels without `le` (the metric name stays in the key, so
//! two histograms that differ only by name give two outputs, which collide when the name
//! is removed, as in Prometheus). A sample whose `le` is missing or not a number is skipped
//! with a warning. Outputs carry the group's labels and mark the name for removal.

use pier_tsdb::Labels;

use super::args::{ensure_unique_labels, sample};
use super::buckets::{self, Bucket};
use super::gofmt::{format_g, format_openmetrics, quote};
use super::{FnCall, Sample};
use crate::error::{Annotations, QueryError};
use crate::value::{drop_labels, with_label};

/// `histogram_quantile(φ, v)`.
pub(super) fn quantile(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let q = call.scalar(0)?;
    let input = call.vector(1)?;
    warn_invalid_quantile(call.annotations, q);
    let groups = group_buckets(input, call.annotations);
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        let r = buckets::quantile(q, group.buckets);
        if r.forced_monotonic {
            info_forced_monotonic(call.annotations, &group.labels);
        }
        out.push(sample(group.labels, call.ts, r.value, true));
    }
    Ok(out)
}

/// `histogram_quantiles(v, "label", φ...)`: one output per group and φ, labelled
/// `label="φ"` (φ as OpenMetrics formats floats: `0.0`, `0.25`, `1.0`).
pub(super) fn quantiles(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let input = call.vector(0)?;
    let label = call.string(1)?;
    let mut qs = Vec::with_capacity(call.args.len().saturating_sub(2));
    for i in 2..call.args.len() {
        let q = call.scalar(i)?;
        warn_invalid_quantile(call.annotations, q);
        qs.push(q);
    }
    if !pier_tsdb::index::is_valid_label_name(label) {
        return Err(QueryError::Execution(format!(
            "invalid quantile label name in histogram_quantiles(): {label}"
        )));
    }
    let groups = group_buckets(input, call.annotations);
    let mut out = Vec::with_capacity(groups.len() * qs.len());
    for &q in &qs {
        let q_label = format_openmetrics(q);
        for group in &groups {
            let r = buckets::quantile(q, group.buckets.clone());
            if r.forced_monotonic {
                info_forced_monotonic(call.annotations, &group.labels);
            }
            let labels = with_label(&group.labels, label, &q_label);
            out.push(sample(labels, call.ts, r.value, true));
        }
    }
    ensure_unique_labels(&out)?;
    Ok(out)
}

/// `histogram_fraction(lo, hi, v)`.
pub(super) fn fraction(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    let lower = call.scalar(0)?;
    let upper = call.scalar(1)?;
    let input = call.vector(2)?;
    let groups = group_buckets(input, call.annotations);
    Ok(groups
        .into_iter()
        .map(|g| {
            let v = buckets::fraction(lower, upper, g.buckets);
            sample(g.labels, call.ts, v, true)
        })
        .collect())
}

/// `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
/// `histogram_stdvar` read native histograms only and ignore float samples; pier stores
/// floats only, so their result is always empty.
pub(super) fn native_only(call: FnCall<'_>) -> Result<Vec<Sample>, QueryError> {
    call.vector(0)?;
    Ok(Vec::new())
}

struct Group {
    labels: Labels,
    buckets: Vec<Bucket>,
}

/// Groups bucket samples by their labels without `le`, in order of first appearance.
fn group_buckets(input: &[Sample], annotations: &mut Annotations) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    let le = ["le".to_string()];
    for s in input {
        let raw = s.labels.get("le").unwrap_or("");
        let Some(upper) = parse_le(raw) else {
            let mut text = format!(
                "bucket label \"le\" is missing or has a malformed value of {}",
                quote(raw)
            );
            if let Some(name) = s.labels.metric_name() {
                text.push_str(&format!(" for metric name {}", quote(name)));
            }
            annotations.warn(text);
            continue;
        };
        let key = drop_labels(&s.labels, &le);
        let bucket = Bucket { upper, count: s.v };
        match index.get(&key) {
            Some(&i) => groups[i].buckets.push(bucket),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    labels: key,
                    buckets: vec![bucket],
                });
            }
        }
    }
    groups
}

/// An `le` value as Go's `strconv.ParseFloat` reads it (decimal, exponent, `Inf`, `NaN`).
fn parse_le(raw: &str) -> Option<f64> {
    if raw.is_empty() {
        return None;
    }
    raw.parse::<f64>().ok()
}

fn warn_invalid_quantile(annotations: &mut Annotations, q: f64) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        annotations.warn(format!(
            "quantile value should be between 0 and 1, got {}",
            format_g(q)
        ));
    }
}

fn info_forced_monotonic(annotations: &mut Annotations, labels: &Labels) {
    let mut text = "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string();
    if let Some(name) = labels.metric_name() {
        text.push_str(&format!(" for metric name {}", quote(name)));
    }
    annotations.info(text);
}

#[cfg(test)]
mod tests {
    use pier_tsdb::Labels;

    use super::super::{Arg, FnCall, call};
    use crate::error::{Annotations, QueryError};
    use crate::value::Sample;

    fn bucket(name: &str, extra: &[(&str, &str)], le: &str, v: f64) -> Sample {
        let mut pairs = vec![("__name__", name), ("le", le)];
        pairs.extend_from_slice(extra);
        Sample {
            labels: Labels::from_pairs(pairs).unwrap(),
            t: 0,
            v,
            drop_name: false,
        }
    }

    fn testhistogram() -> Vec<Sample> {
        let p = [("start", "positive")];
        let n = [("start", "negative")];
        vec![
            bucket("testhistogram_bucket", &p, "0.1", 50.0),
            bucket("testhistogram_bucket", &p, ".2", 70.0),
            bucket("testhistogram_bucket", &p, "1e0", 110.0),
            bucket("testhistogram_bucket", &p, "+Inf", 120.0),
            bucket("testhistogram_bucket", &n, "-.2", 10.0),
            bucket("testhistogram_bucket", &n, "-0.1", 20.0),
            bucket("testhistogram_bucket", &n, "0.3", 20.0),
            bucket("testhistogram_bucket", &n, "+Inf", 30.0),
        ]
    }

    fn run(name: &str, args: &[Arg<'_>]) -> (Result<Vec<(String, f64)>, QueryError>, Annotations) {
        let mut ann = Annotations::default();
        let out = call(FnCall {
            name,
            args,
            arg_exprs: &[],
            ts: 0,
            window: None,
            annotations: &mut ann,
        })
        .map(|out| {
            assert!(out.iter().all(|s| s.drop_name));
            out.iter().map(|s| (s.labels.to_string(), s.v)).collect()
        });
        (out, ann)
    }

    #[test]
    fn quantile_groups_without_le() {
        let input = testhistogram();
        let (out, ann) = run(
            "histogram_quantile",
            &[Arg::Scalar(0.5), Arg::Vector(&input)],
        );
        let out = out.unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].0,
            r#"{__name__="testhistogram_bucket", start="positive"}"#
        );
        assert!((out[0].1 - 0.15).abs() < 1e-12);
        assert!((out[1].1 + 0.15).abs() < 1e-12);
        assert!(ann.warnings.is_empty() && ann.infos.is_empty());

        let (out, ann) = run(
            "histogram_quantile",
            &[Arg::Scalar(f64::NAN), Arg::Vector(&[])],
        );
        assert!(out.unwrap().is_empty());
        assert_eq!(
            ann.warnings,
            vec!["PromQL warning: quantile value should be between 0 and 1, got NaN"]
        );
    }

    #[test]
    fn bad_le_warns_and_is_skipped() {
        let input = [bucket("series", &[], "Hello World", 2.0)];
        let (out, ann) = run(
            "histogram_quantile",
            &[Arg::Scalar(0.8), Arg::Vector(&input)],
        );
        assert!(out.unwrap().is_empty());
        assert_eq!(
            ann.warnings,
            vec![
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"Hello World\" for metric name \"series\""
            ]
        );
    }

    #[test]
    fn nonmonotonic_gives_info() {
        let input: Vec<Sample> = [
            ("0.1", 20.0),
            ("1", 10.0),
            ("10", 50.0),
            ("100", 40.0),
            ("1000", 90.0),
            ("+Inf", 80.0),
        ]
        .iter()
        .map(|(le, v)| bucket("nonmonotonic_bucket", &[], le, *v))
        .collect();
        let (out, ann) = run(
            "histogram_quantile",
            &[Arg::Scalar(0.5), Arg::Vector(&input)],
        );
        assert!((out.unwrap()[0].1 - 8.5).abs() < 1e-12);
        assert_eq!(ann.infos.len(), 1);
        assert!(ann.infos[0].starts_with(
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity"
        ));
    }

    #[test]
    fn quantiles_label_each_output() {
        let input = testhistogram();
        let (out, _) = run(
            "histogram_quantiles",
            &[
                Arg::Vector(&input),
                Arg::String("q"),
                Arg::Scalar(0.0),
                Arg::Scalar(1.0),
            ],
        );
        let labels: Vec<String> = out.unwrap().into_iter().map(|o| o.0).collect();
        assert_eq!(
            labels,
            vec![
                r#"{__name__="testhistogram_bucket", q="0.0", start="positive"}"#,
                r#"{__name__="testhistogram_bucket", q="0.0", start="negative"}"#,
                r#"{__name__="testhistogram_bucket", q="1.0", start="positive"}"#,
                r#"{__name__="testhistogram_bucket", q="1.0", start="negative"}"#,
            ]
        );
        let (out, _) = run(
            "histogram_quantiles",
            &[
                Arg::Vector(&input),
                Arg::String("start"),
                Arg::Scalar(0.0),
                Arg::Scalar(1.0),
            ],
        );
        assert!(out.is_err());
    }

    #[test]
    fn fraction_per_group() {
        let input = testhistogram();
        let (out, _) = run(
            "histogram_fraction",
            &[Arg::Scalar(0.0), Arg::Scalar(0.2), Arg::Vector(&input)],
        );
        let out = out.unwrap();
        assert!((out[0].1 - 70.0 / 120.0).abs() < 1e-12);
        let (out, _) = run("histogram_count", &[Arg::Vector(&input)]);
        assert!(out.unwrap().is_empty());
    }
}
