//! The values a PromQL expression evaluates to, and helpers to derive label sets.
//!
//! Timestamps are Unix milliseconds, values `f64` (a stale marker is
//! [`pier_tsdb::STALE_NAN`]; the evaluator never returns one). Samples and series carry a
//! `drop_name` flag: Prometheus 3 removes `__name__` at the end of evaluation ("delayed name
//! removal"), so functions and operators that drop the name set the flag and the engine
//! strips the label from the final result.

use pier_tsdb::{Label, Labels};

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// The sample's timestamp (the evaluation time, except for what `timestamp()` reads).
    pub t: i64,
    /// The value.
    pub v: f64,
    /// `__name__` is to be removed from `labels` when evaluation ends.
    pub drop_name: bool,
}

/// One series of a matrix (a range vector, or the result of a range query).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// The points, oldest first.
    pub points: Vec<(i64, f64)>,
    /// `__name__` is to be removed from `labels` when evaluation ends.
    pub drop_name: bool,
}

/// The result of evaluating an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at a time.
    Scalar { t: i64, v: f64 },
    /// A string at a time.
    String { t: i64, s: String },
    /// An instant vector. Order matters only after `sort`/`sort_desc`/`topk`/`bottomk`.
    Vector(Vec<Sample>),
    /// A range vector or a range query's result, series sorted by labels.
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's name for the type: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Scalar { .. } => "scalar",
            Self::String { .. } => "string",
            Self::Vector(_) => "vector",
            Self::Matrix(_) => "matrix",
        }
    }
}

/// Builds a label set from labels already sorted by name, without duplicates, with valid
/// names and non-empty values (as every derivation from an existing set is).
pub fn labels_from_sorted(labels: Vec<Label>) -> Labels {
    debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
    Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value)))
        .expect("derived labels are valid")
}

/// `labels` without `__name__`.
pub fn without_metric_name(labels: &Labels) -> Labels {
    if labels.metric_name().is_none() {
        return labels.clone();
    }
    labels_from_sorted(
        labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(Label::from)
            .collect(),
    )
}

/// `labels` with `name` set to `value` (removed when `value` is empty).
pub fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut out: Vec<Label> = labels
        .iter()
        .filter(|l| l.name != name)
        .map(Label::from)
        .collect();
    if !value.is_empty() {
        let at = out.partition_point(|l| l.name.as_str() < name);
        out.insert(
            at,
            Label {
                name: name.to_string(),
                value: value.to_string(),
            },
        );
    }
    labels_from_sorted(out)
}

/// Only the labels named in `names` (`by (…)`, `on (…)`).
pub fn keep_labels(labels: &Labels, names: &[String]) -> Labels {
    labels_from_sorted(
        labels
            .iter()
            .filter(|l| names.iter().any(|n| n == l.name))
            .map(Label::from)
            .collect(),
    )
}

/// All labels except those named in `names` (`without (…)`, `ignoring (…)`).
pub fn drop_labels(labels: &Labels, names: &[String]) -> Labels {
    labels_from_sorted(
        labels
            .iter()
            .filter(|l| !names.iter().any(|n| n == l.name))
            .map(Label::from)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_helpers_keep_sets_sorted() {
        let l = Labels::series([("__name__", "up"), ("job", "a"), ("instance", "x")]).unwrap();
        assert_eq!(
            without_metric_name(&l).to_string(),
            r#"{instance="x", job="a"}"#
        );
        assert_eq!(
            with_label(&l, "env", "prod").to_string(),
            r#"{__name__="up", env="prod", instance="x", job="a"}"#
        );
        assert_eq!(with_label(&l, "job", "").len(), 2);
        assert_eq!(keep_labels(&l, &["job".into()]).to_string(), r#"{job="a"}"#);
        assert_eq!(drop_labels(&l, &["job".into()]).len(), 2);
    }
}
