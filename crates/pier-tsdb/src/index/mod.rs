//! The series index: label sets ([`labels`]), matchers ([`matcher`]), postings
//! ([`postings`]) and the in-memory [`Index`] that maps label sets to [`SeriesRef`]s and
//! resolves matcher lists to the series they select.
//!
//! It is append-only for now: series are never removed (head garbage collection will need
//! deletion, and with it postings that can shrink).

pub mod labels;
pub mod matcher;
pub mod postings;

use std::borrow::Cow;
use std::collections::HashMap;
use thiserror::Error;

pub use labels::{Label, LabelPool, Labels, LabelsError, METRIC_NAME, is_valid_label_name};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use postings::{MemPostings, SeriesRef};

/// Errors from the index.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IndexError {
    /// The label set cannot be stored as a series.
    #[error(transparent)]
    Labels(#[from] LabelsError),
}

/// In-memory inverted index over series label sets.
#[derive(Debug, Default, Clone)]
pub struct Index {
    /// Labels by ref: `SeriesRef(i)` is `series[i]`.
    series: Vec<Labels>,
    by_labels: HashMap<Labels, SeriesRef>,
    postings: MemPostings,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True if no series have been added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Registers a series, returning its ref; the same labels always give the same ref.
    /// The labels must include `__name__`. O(labels × log) plus one hash of the labels.
    pub fn add(&mut self, labels: &Labels) -> Result<SeriesRef, IndexError> {
        if let Some(&r) = self.by_labels.get(labels) {
            return Ok(r);
        }
        labels.require_metric_name()?;
        let r = SeriesRef(self.series.len() as u64);
        self.series.push(labels.clone());
        self.by_labels.insert(labels.clone(), r);
        self.postings.add(r, labels);
        Ok(r)
    }

    /// The ref of a series, if it is in the index.
    pub fn get_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        self.by_labels.get(labels).copied()
    }

    /// The labels of a series.
    pub fn labels(&self, r: SeriesRef) -> Option<&Labels> {
        usize::try_from(r.0).ok().and_then(|i| self.series.get(i))
    }

    /// Every series' labels, by ref.
    pub fn all_labels(&self) -> impl Iterator<Item = &Labels> {
        self.series.iter()
    }

    /// All label names in use, sorted.
    pub fn label_names(&self) -> Vec<&str> {
        self.postings.names().collect()
    }

    /// All values of label `name`, sorted (empty if the label is unknown).
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.postings.values(name).map(|(v, _)| v).collect()
    }

    /// The postings, for callers that combine lists themselves.
    pub fn postings(&self) -> &MemPostings {
        &self.postings
    }

    /// Series satisfying all matchers (an empty list selects every series), sorted by ref.
    ///
    /// Like Prometheus's `PostingsForMatchers`, each matcher is classified by whether it
    /// matches the empty string:
    /// - If it does not (`a="x"`, `a!=""`, `a=~"x.+"`, `a!~".*"`...), a series must carry
    ///   the label with an accepted value: the matcher contributes the union of postings of
    ///   the accepted values, and these lists are intersected (smallest first).
    /// - If it does (`a=""`, `a!="x"`, `a=~"x|"`, `a!~"x"`...), series lacking the label
    ///   also match: the matcher removes the union of postings of the *rejected* values.
    ///
    /// With no matcher of the first kind, the start set is every series.
    ///
    /// Cost: `=`/`!=` look up one list, O(log V); regex matchers run the regex over all V
    /// values of their label, O(V × regex), then union the hits; intersections and
    /// subtractions are linear merges in the list sizes. The all-series start set makes a
    /// selector of only empty-matching matchers O(series).
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut include: Vec<Cow<'_, [SeriesRef]>> = Vec::new();
        let mut exclude: Vec<Cow<'_, [SeriesRef]>> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                let rejected = self.postings_where(m, false);
                if !rejected.is_empty() {
                    exclude.push(rejected);
                }
            } else {
                let accepted = self.postings_where(m, true);
                if accepted.is_empty() {
                    return Vec::new();
                }
                include.push(accepted);
            }
        }
        include.sort_by_key(|l| l.len());
        let mut result: Vec<SeriesRef> = match include.split_first() {
            None => (0..self.series.len() as u64).map(SeriesRef).collect(),
            Some((first, rest)) => {
                let mut acc = first.to_vec();
                for l in rest {
                    if acc.is_empty() {
                        break;
                    }
                    acc = postings::intersect(&acc, l);
                }
                acc
            }
        };
        for l in &exclude {
            if result.is_empty() {
                break;
            }
            result = postings::subtract(&result, l);
        }
        result
    }

    /// Union of the postings of label `m.name()` whose value satisfies the matcher
    /// (`accepted == true`) or fails it (`accepted == false`). Equality operators look up a
    /// single list; regexes are evaluated against every value of the label.
    fn postings_where(&self, m: &Matcher, accepted: bool) -> Cow<'_, [SeriesRef]> {
        match (m.op(), accepted) {
            (MatchOp::Equal, true) | (MatchOp::NotEqual, false) if !m.value().is_empty() => {
                Cow::Borrowed(self.postings.get(m.name(), m.value()))
            }
            _ => {
                let lists: Vec<&[SeriesRef]> = self
                    .postings
                    .values(m.name())
                    .filter(|(v, _)| m.matches(v) == accepted)
                    .map(|(_, p)| p)
                    .collect();
                match lists.as_slice() {
                    [] => Cow::Borrowed(&[]),
                    [one] => Cow::Borrowed(one),
                    _ => Cow::Owned(postings::union(lists)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    /// Series 0..=4.
    fn fixture() -> Index {
        let mut ix = Index::new();
        for s in [
            l(&[("__name__", "up"), ("job", "a"), ("env", "prod")]),
            l(&[("__name__", "up"), ("job", "ab")]),
            l(&[("__name__", "up"), ("job", "b"), ("env", "dev")]),
            l(&[("__name__", "http_requests_total"), ("job", "a")]),
            l(&[("__name__", "http_requests_total"), ("env", "prod")]),
        ] {
            ix.add(&s).unwrap();
        }
        ix
    }

    fn sel(ix: &Index, ms: &[Matcher]) -> Vec<u64> {
        ix.select(ms).into_iter().map(|r| r.0).collect()
    }

    fn re(n: &str, p: &str) -> Matcher {
        Matcher::regex(n, p).unwrap()
    }

    fn nre(n: &str, p: &str) -> Matcher {
        Matcher::not_regex(n, p).unwrap()
    }

    #[test]
    fn add_is_idempotent_and_requires_name() {
        let mut ix = fixture();
        let r = ix.add(&l(&[("job", "b"), ("__name__", "up"), ("env", "dev")]));
        assert_eq!(r, Ok(SeriesRef(2)));
        assert_eq!(ix.len(), 5);
        assert_eq!(
            ix.add(&l(&[("job", "x")])),
            Err(IndexError::Labels(LabelsError::MissingMetricName))
        );
        assert_eq!(ix.len(), 5);
        assert_eq!(ix.labels(SeriesRef(3)).unwrap().get("job"), Some("a"));
        assert_eq!(ix.labels(SeriesRef(99)), None);
        assert_eq!(
            ix.get_ref(&l(&[("__name__", "up"), ("job", "ab")])),
            Some(SeriesRef(1))
        );
    }

    #[test]
    fn label_names_and_values_sorted() {
        let ix = fixture();
        assert_eq!(ix.label_names(), vec!["__name__", "env", "job"]);
        assert_eq!(ix.label_values("job"), vec!["a", "ab", "b"]);
        assert_eq!(
            ix.label_values("__name__"),
            vec!["http_requests_total", "up"]
        );
        assert!(ix.label_values("nope").is_empty());
    }

    #[test]
    fn equal() {
        let ix = fixture();
        assert_eq!(sel(&ix, &[Matcher::equal("job", "a")]), vec![0, 3]);
        assert_eq!(
            sel(
                &ix,
                &[Matcher::equal("__name__", "up"), Matcher::equal("job", "a")]
            ),
            vec![0]
        );
        assert!(sel(&ix, &[Matcher::equal("job", "zzz")]).is_empty());
        assert!(sel(&ix, &[Matcher::equal("nolabel", "x")]).is_empty());
    }

    #[test]
    fn equal_empty_selects_series_without_label() {
        let ix = fixture();
        assert_eq!(sel(&ix, &[Matcher::equal("env", "")]), vec![1, 3]);
        assert_eq!(
            sel(&ix, &[Matcher::equal("nolabel", "")]),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            sel(
                &ix,
                &[Matcher::equal("__name__", "up"), Matcher::equal("env", "")]
            ),
            vec![1]
        );
    }

    #[test]
    fn not_equal() {
        let ix = fixture();
        // Series without job (4) have job="" != "a", so they match.
        assert_eq!(sel(&ix, &[Matcher::not_equal("job", "a")]), vec![1, 2, 4]);
        assert_eq!(sel(&ix, &[Matcher::not_equal("job", "")]), vec![0, 1, 2, 3]);
        assert!(sel(&ix, &[Matcher::not_equal("nolabel", "")]).is_empty());
        assert_eq!(
            sel(&ix, &[Matcher::not_equal("nolabel", "x")]),
            vec![0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn regex_match_is_anchored() {
        let ix = fixture();
        assert_eq!(
            sel(&ix, &[re("job", "a")]),
            vec![0, 3],
            "must not match \"ab\""
        );
        assert_eq!(sel(&ix, &[re("job", "a.*")]), vec![0, 1, 3]);
        assert_eq!(sel(&ix, &[re("job", "b")]), vec![2]);
        assert_eq!(sel(&ix, &[re("job", "a|b")]), vec![0, 2, 3]);
    }

    #[test]
    fn regex_match_empty_semantics() {
        let ix = fixture();
        assert_eq!(sel(&ix, &[re("job", ".*")]), vec![0, 1, 2, 3, 4]);
        assert_eq!(sel(&ix, &[re("job", ".+")]), vec![0, 1, 2, 3]);
        assert_eq!(sel(&ix, &[re("job", "b|")]), vec![2, 4]);
        assert_eq!(sel(&ix, &[re("job", "")]), vec![4]);
    }

    #[test]
    fn regex_no_match() {
        let ix = fixture();
        assert_eq!(sel(&ix, &[nre("job", "a")]), vec![1, 2, 4]);
        assert_eq!(sel(&ix, &[nre("job", "a.*")]), vec![2, 4]);
        assert_eq!(sel(&ix, &[nre("job", ".+")]), vec![4]);
        assert!(sel(&ix, &[nre("job", ".*")]).is_empty());
        assert_eq!(sel(&ix, &[nre("job", "")]), vec![0, 1, 2, 3]);
    }

    #[test]
    fn only_empty_matching_matchers_still_evaluate() {
        let ix = fixture();
        assert_eq!(
            sel(
                &ix,
                &[Matcher::not_equal("job", "a"), Matcher::equal("env", "")]
            ),
            vec![1]
        );
        assert_eq!(sel(&ix, &[]), vec![0, 1, 2, 3, 4]);
        assert!(Index::new().select(&[]).is_empty());
        assert!(Index::new().select(&[Matcher::equal("a", "")]).is_empty());
    }

    #[test]
    fn mixed_positive_and_negative() {
        let ix = fixture();
        assert_eq!(
            sel(
                &ix,
                &[
                    Matcher::equal("__name__", "up"),
                    nre("job", "b"),
                    Matcher::not_equal("env", "prod"),
                ]
            ),
            vec![1]
        );
    }
}
