//! Label sets: [`Labels`] is an immutable, sorted, duplicate-free list of `name="value"`
//! pairs identifying a series (the metric name is the `__name__` label). It owns label-name
//! validation and the rule that an empty value means "label absent".
//!
//! `Labels` is reference-counted: cloning is a pointer copy, equality short-circuits on
//! pointer identity, and ordering/hashing follow the pairs in order (the same order as
//! Prometheus's `labels.Compare`: name, then value, pair by pair, shorter set first on a tie).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use thiserror::Error;

/// Name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name, matching `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub name: String,
    /// Label value, never empty inside a [`Labels`].
    pub value: String,
}

/// Errors from building a label set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LabelsError {
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName(String),
    /// The same name given twice with different values.
    #[error("label {name:?} given twice, with values {first:?} and {second:?}")]
    DuplicateName {
        /// The repeated name.
        name: String,
        /// One value.
        first: String,
        /// The other value.
        second: String,
    },
    /// A stored series needs a non-empty `__name__`.
    #[error("series has no metric name (label __name__)")]
    MissingMetricName,
}

/// A sorted, duplicate-free set of labels. See the module docs.
#[derive(Clone, Default)]
pub struct Labels(Arc<[Label]>);

// Equality short-circuits on a shared allocation; hash and order use the contents, which is
// consistent with it (pointer equality implies equal contents).
impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

/// Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus's legacy name rule).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Labels {
    /// True if both share one allocation (then they are equal; equal sets may not share).
    pub(crate) fn same_allocation(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The empty label set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs in any order. Names are validated; pairs with an empty
    /// value are dropped (in Prometheus an empty value is the same as no label); repeating an
    /// identical pair is harmless, repeating a name with another value is an error. Does not
    /// require `__name__` (see [`Labels::series`]).
    pub fn from_pairs<I, N, V>(pairs: I) -> Result<Self, LabelsError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut v: Vec<Label> = Vec::new();
        for (n, val) in pairs {
            let name = n.into();
            if !is_valid_label_name(&name) {
                return Err(LabelsError::InvalidName(name));
            }
            let value = val.into();
            if value.is_empty() {
                continue;
            }
            v.push(Label { name, value });
        }
        v.sort_unstable();
        v.dedup();
        if let Some(w) = v.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(LabelsError::DuplicateName {
                name: w[0].name.clone(),
                first: w[0].value.clone(),
                second: w[1].value.clone(),
            });
        }
        Ok(Self(v.into()))
    }

    /// Like [`Labels::from_pairs`], and additionally requires a `__name__` label, as every
    /// stored series must have.
    pub fn series<I, N, V>(pairs: I) -> Result<Self, LabelsError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let l = Self::from_pairs(pairs)?;
        l.require_metric_name()?;
        Ok(l)
    }

    /// Fails with [`LabelsError::MissingMetricName`] unless `__name__` is present.
    pub fn require_metric_name(&self) -> Result<(), LabelsError> {
        match self.metric_name() {
            Some(_) => Ok(()),
            None => Err(LabelsError::MissingMetricName),
        }
    }

    /// The value of label `name`, if present. O(log n).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Iterates over the labels, sorted by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }
}

/// Shares one allocation among equal label sets: [`LabelPool::intern`] returns the first
/// `Labels` seen with the same contents. Used so that the head and the block readers of a
/// store hold each series' labels once, not once per block.
#[derive(Debug, Default)]
pub struct LabelPool {
    set: std::collections::HashSet<Labels>,
}

impl LabelPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `labels` without replacing an equal set already there.
    pub fn add(&mut self, labels: &Labels) {
        if !self.set.contains(labels) {
            self.set.insert(labels.clone());
        }
    }

    /// The pooled label set equal to `labels` (added if new).
    pub fn intern(&mut self, labels: Labels) -> Labels {
        if let Some(l) = self.set.get(&labels) {
            return l.clone();
        }
        self.set.insert(labels.clone());
        labels
    }

    /// The pooled label set equal to `labels`, if any (nothing is added).
    pub fn get(&self, labels: &Labels) -> Option<&Labels> {
        self.set.get(labels)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Prometheus's `Labels.String()` form: `{__name__="up", job="api"}` with values quoted.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("job", "a"), ("b", "x")])
            .unwrap();
        let names: Vec<&str> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec!["__name__", "b", "job"]);
        assert_eq!(l.get("job"), Some("a"));
        assert_eq!(l.get("nope"), None);
        assert_eq!(l.metric_name(), Some("up"));
        assert_eq!(l.to_string(), r#"{__name__="up", b="x", job="a"}"#);
    }

    #[test]
    fn equality_and_hash_ignore_input_order() {
        use std::collections::HashSet;
        let a = Labels::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        let b = Labels::from_pairs([("b", "2"), ("a", "1")]).unwrap();
        assert_eq!(a, b);
        let set: HashSet<Labels> = [a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(a == a.clone());
    }

    #[test]
    fn empty_values_are_dropped() {
        let l = Labels::from_pairs([("a", ""), ("b", "2")]).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.get("a"), None);
    }

    #[test]
    fn invalid_names_are_rejected() {
        for bad in ["", "1a", "a-b", "a.b", "é", "a b", "__name__ "] {
            assert_eq!(
                Labels::from_pairs([(bad, "v")]),
                Err(LabelsError::InvalidName(bad.to_string())),
                "{bad:?}"
            );
        }
        for good in ["a", "_", "__name__", "A_9", "_1"] {
            assert!(Labels::from_pairs([(good, "v")]).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn conflicting_duplicate_is_rejected() {
        assert!(matches!(
            Labels::from_pairs([("a", "1"), ("a", "2")]),
            Err(LabelsError::DuplicateName { .. })
        ));
    }

    #[test]
    fn series_requires_metric_name() {
        assert_eq!(
            Labels::series([("job", "a")]),
            Err(LabelsError::MissingMetricName)
        );
        assert_eq!(
            Labels::series([("__name__", ""), ("job", "a")]),
            Err(LabelsError::MissingMetricName)
        );
        assert!(Labels::series([("__name__", "up")]).is_ok());
    }

    #[test]
    fn ordering_matches_prometheus_compare() {
        let a = Labels::from_pairs([("a", "1")]).unwrap();
        let ab = Labels::from_pairs([("a", "1"), ("b", "1")]).unwrap();
        let a2 = Labels::from_pairs([("a", "2")]).unwrap();
        let b = Labels::from_pairs([("b", "0")]).unwrap();
        assert!(a < ab && ab < a2 && a2 < b);
    }
}
