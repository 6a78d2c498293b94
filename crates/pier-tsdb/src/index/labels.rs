//! Label sets: [`Labels`] is an immutable, sorted, duplicate-free list of `name="value"`
//! pairs identifying a series (the metric name is the `__name__` label). It owns label-name
//! validation, the rule that an empty value means "label absent", and the in-memory layout.
//!
//! Layout: one reference-counted string holding every pair in name order, each name and value
//! preceded by its length written as one `char` (two for lengths of 32 KiB and more), so a
//! typical series costs one allocation of about its text's size instead of two `String`s per
//! label (Prometheus's `stringlabels` does the same). Cloning is a pointer copy, equality and
//! hashing work on the bytes (the layout is canonical), equality short-circuits on pointer
//! identity, and ordering follows the pairs (the same order as Prometheus's `labels.Compare`:
//! name, then value, pair by pair, shorter set first on a tie).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use thiserror::Error;

/// Name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One owned `name="value"` pair, to build label lists with (see [`LabelRef`] for the pairs a
/// [`Labels`] hands out).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name, matching `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub name: String,
    /// Label value, never empty inside a [`Labels`].
    pub value: String,
}

/// One pair of a [`Labels`], borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelRef<'a> {
    /// Label name.
    pub name: &'a str,
    /// Label value (never empty).
    pub value: &'a str,
}

impl LabelRef<'_> {
    /// An owned copy.
    pub fn to_label(self) -> Label {
        Label {
            name: self.name.to_string(),
            value: self.value.to_string(),
        }
    }
}

impl From<LabelRef<'_>> for Label {
    fn from(l: LabelRef<'_>) -> Label {
        l.to_label()
    }
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
#[derive(Clone)]
pub struct Labels(Arc<str>);

impl Default for Labels {
    fn default() -> Self {
        Labels(Arc::from(""))
    }
}

// Equality short-circuits on a shared allocation; hash uses the bytes, which is consistent
// with it (the layout is canonical, so equal sets have equal bytes).
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
        if self.same_allocation(other) {
            return Ordering::Equal;
        }
        let (mut a, mut b) = (self.iter(), other.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => match x.name.cmp(y.name).then(x.value.cmp(y.value)) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                },
            }
        }
    }
}

/// Lengths below this take one `char`; longer ones a high `char` (from U+10000) and a low one.
const SHORT_LEN: usize = 1 << 15;

/// Appends `s` preceded by its length.
fn put_str(out: &mut String, s: &str) {
    let n = s.len();
    if n < SHORT_LEN {
        out.push(char::from_u32(n as u32).unwrap_or('\0'));
    } else {
        // `n >> 15` stays below 2^20 for any length an address space holds (2^35).
        out.push(char::from_u32(0x1_0000 + (n >> 15) as u32).unwrap_or('\0'));
        out.push(char::from_u32((n % SHORT_LEN) as u32).unwrap_or('\0'));
    }
    out.push_str(s);
}

/// Bytes [`put_str`] writes for `s`.
fn encoded_len(s: &str) -> usize {
    let n = s.len();
    let char_len = |c: u32| char::from_u32(c).map_or(1, char::len_utf8);
    let prefix = if n < SHORT_LEN {
        char_len(n as u32)
    } else {
        char_len(0x1_0000 + (n >> 15) as u32) + char_len((n % SHORT_LEN) as u32)
    };
    prefix + n
}

/// Takes one length-prefixed string off the front of `rest`.
fn take_str<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let mut chars = rest.chars();
    let first = chars.next()? as usize;
    let len = if first < 0x1_0000 {
        first
    } else {
        ((first - 0x1_0000) << 15) | chars.next()? as usize
    };
    let body = chars.as_str();
    let s = body.get(..len)?;
    *rest = &body[len..];
    Some(s)
}

/// The pairs of a [`Labels`], in name order.
#[derive(Clone)]
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Iter<'a> {
    type Item = LabelRef<'a>;

    fn next(&mut self) -> Option<LabelRef<'a>> {
        let name = take_str(&mut self.rest)?;
        let value = take_str(&mut self.rest)?;
        Some(LabelRef { name, value })
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
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs: Vec<(N, V)> = pairs.into_iter().collect();
        let mut v: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
        for (n, val) in &pairs {
            let (name, value) = (n.as_ref(), val.as_ref());
            if !is_valid_label_name(name) {
                return Err(LabelsError::InvalidName(name.to_string()));
            }
            if !value.is_empty() {
                v.push((name, value));
            }
        }
        v.sort_unstable();
        v.dedup();
        if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(LabelsError::DuplicateName {
                name: w[0].0.to_string(),
                first: w[0].1.to_string(),
                second: w[1].1.to_string(),
            });
        }
        let size = v
            .iter()
            .map(|(n, val)| encoded_len(n) + encoded_len(val))
            .sum();
        let mut out = String::with_capacity(size);
        for (name, value) in v {
            put_str(&mut out, name);
            put_str(&mut out, value);
        }
        Ok(Self(Arc::from(out)))
    }

    /// Like [`Labels::from_pairs`], and additionally requires a `__name__` label, as every
    /// stored series must have.
    pub fn series<I, N, V>(pairs: I) -> Result<Self, LabelsError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
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

    /// The value of label `name`, if present. O(n), stopping at the first name past it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .take_while(|l| l.name <= name)
            .find(|l| l.name == name)
            .map(|l| l.value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Number of labels. O(n).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True if there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels, sorted by name.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.0 }
    }

    /// Bytes of the label text (the heap allocation holds this plus two reference counts).
    pub fn text_len(&self) -> usize {
        self.0.len()
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
    type Item = LabelRef<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Prometheus's `Labels.String()` form: `{__name__="up", job="api"}` with values quoted.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
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
        let names: Vec<&str> = l.iter().map(|l| l.name).collect();
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

    #[test]
    fn long_and_unicode_values_round_trip() {
        for n in [0usize, 1, 127, 128, 0x7fff, 0x8000, 0x8001, 70_000, 1 << 20] {
            let value = "é".repeat(n / 2) + &"v".repeat(n % 2 + 1);
            let l = Labels::from_pairs([("a", value.as_str()), ("b", "x"), ("é_not", "")]);
            assert!(l.is_err(), "invalid name must be rejected");
            let l = Labels::from_pairs([("b", "x"), ("a", value.as_str())]).unwrap();
            assert_eq!(l.get("a"), Some(value.as_str()), "length {n}");
            assert_eq!(l.get("b"), Some("x"));
            assert_eq!(l.len(), 2);
            let pairs: Vec<(&str, &str)> = l.iter().map(|p| (p.name, p.value)).collect();
            assert_eq!(pairs, vec![("a", value.as_str()), ("b", "x")]);
        }
    }

    #[test]
    fn one_allocation_about_the_size_of_the_text() {
        let l = Labels::series([("__name__", "up"), ("job", "api")]).unwrap();
        // 4 length chars + "__name__" "up" "job" "api".
        assert_eq!(l.text_len(), 4 + 8 + 2 + 3 + 3);
        assert!(Labels::empty().is_empty());
        assert_eq!(Labels::empty().iter().count(), 0);
        assert_eq!(Labels::empty(), Labels::from_pairs([("a", "")]).unwrap());
    }

    #[test]
    fn order_compares_pairs_not_bytes() {
        // Byte order of the layout would put the longer name "ab" (length 2) after "b"
        // (length 1) only by accident of the prefix; the order must be by name.
        let ab = Labels::from_pairs([("ab", "1")]).unwrap();
        let b = Labels::from_pairs([("b", "1")]).unwrap();
        assert!(ab < b);
        let long = Labels::from_pairs([("a", "zz")]).unwrap();
        let short = Labels::from_pairs([("a", "z")]).unwrap();
        assert!(short < long);
        let v2 = Labels::from_pairs([("a", "2")]).unwrap();
        let v10 = Labels::from_pairs([("a", "10")]).unwrap();
        assert!(v10 < v2);
    }
}
