//! The series index: label sets ([`labels`]), matchers ([`matcher`]), postings
//! ([`postings`]) and the in-memory [`Index`] that maps label sets to [`SeriesRef`]s and
//! resolves matcher lists to the series they select.
//!
//! It is append-only: series are never removed (the head's garbage collection rebuilds its
//! index). Memory per series: its [`Labels`] pointer, a 4-byte slot in the lookup table (a
//! hash table of refs hashed by the series' labels, not a map holding the labels a second
//! time), and 4 bytes per label in the postings. A block's index ([`Index::from_sorted`])
//! has no lookup table: its series are sorted, so a lookup is a binary search; and it builds
//! its postings from the label sets the first time a query needs them, so a block no query
//! reaches (most of a long retention, or any block while nobody looks) holds only its label
//! sets.

pub mod labels;
pub mod matcher;
pub mod postings;

use crate::paged::PagedVec;
use hashbrown::HashTable;
use std::borrow::Cow;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use thiserror::Error;

pub use labels::{
    Label, LabelPool, LabelRef, Labels, LabelsError, METRIC_NAME, is_valid_label_name,
};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use postings::{MemPostings, SeriesRef};

/// Errors from the index.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IndexError {
    /// The label set cannot be stored as a series.
    #[error(transparent)]
    Labels(#[from] LabelsError),
    /// The index holds 2^32 series already.
    #[error("the index is full (4294967296 series)")]
    Full,
}

/// How [`Index::get_ref`] finds a series.
#[derive(Debug, Clone)]
enum Lookup {
    /// Refs in a hash table, hashed by their labels.
    Hashed(HashTable<SeriesRef>),
    /// No table: the series are sorted by labels.
    Sorted,
}

/// In-memory inverted index over series label sets.
#[derive(Debug, Clone)]
pub struct Index {
    /// Labels by ref: `SeriesRef(i)` is `series[i]`.
    series: PagedVec<Labels>,
    lookup: Lookup,
    hasher: RandomState,
    /// Built at once for an index series are added to; on first use for a sorted one.
    postings: OnceLock<MemPostings>,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            series: PagedVec::new(),
            lookup: Lookup::Hashed(HashTable::new()),
            hasher: RandomState::new(),
            postings: OnceLock::from(MemPostings::new()),
        }
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index of `series`, which must be sorted by labels without repeats (a block's
    /// series); `SeriesRef(i)` is `series[i]`. It keeps no lookup table (lookups binary
    /// search) and no spare capacity. Fails on a series without `__name__`; returns the
    /// position of a series out of order as `Err(Ok(i))`.
    pub fn from_sorted(series: Vec<Labels>) -> Result<Index, Result<usize, IndexError>> {
        if let Some(i) = series.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Ok(i + 1));
        }
        for labels in &series {
            labels.require_metric_name().map_err(|e| Err(e.into()))?;
        }
        Ok(Index {
            series: series.into_iter().collect(),
            lookup: Lookup::Sorted,
            hasher: RandomState::new(),
            postings: OnceLock::new(),
        })
    }

    /// The postings, built from the label sets if they are not yet (a sorted index's).
    fn postings_built(&self) -> &MemPostings {
        self.postings.get_or_init(|| {
            let mut postings = MemPostings::new();
            for (i, labels) in self.series.iter().enumerate() {
                postings.add(SeriesRef(i as u32), labels);
            }
            postings.shrink_to_fit();
            postings
        })
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
        if let Some(r) = self.get_ref(labels) {
            return Ok(r);
        }
        labels.require_metric_name()?;
        let r = SeriesRef(u32::try_from(self.series.len()).map_err(|_| IndexError::Full)?);
        // A sorted index that never built its postings builds them now, without this series.
        self.postings_built();
        if matches!(self.lookup, Lookup::Sorted)
            && self.series.last().is_some_and(|last| last >= labels)
        {
            self.build_lookup();
        }
        self.series.push(labels.clone());
        let Index {
            series,
            lookup,
            hasher,
            ..
        } = self;
        if let Lookup::Hashed(table) = lookup {
            table.insert_unique(hasher.hash_one(labels), r, |r| {
                hasher.hash_one(&series[r.index()])
            });
        }
        if let Some(postings) = self.postings.get_mut() {
            postings.add(r, labels);
        }
        Ok(r)
    }

    /// Replaces a sorted index's binary search by a hash table (when a series is added out of
    /// order).
    fn build_lookup(&mut self) {
        let mut table = HashTable::with_capacity(self.series.len());
        for (i, labels) in self.series.iter().enumerate() {
            let hasher = &self.hasher;
            let series = &self.series;
            table.insert_unique(hasher.hash_one(labels), SeriesRef(i as u32), |r| {
                hasher.hash_one(&series[r.index()])
            });
        }
        self.lookup = Lookup::Hashed(table);
    }

    /// The ref of a series, if it is in the index.
    pub fn get_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        match &self.lookup {
            Lookup::Hashed(table) => table
                .find(self.hasher.hash_one(labels), |r| {
                    self.series[r.index()] == *labels
                })
                .copied(),
            Lookup::Sorted => {
                let i = self.series.partition_point(|l| l < labels);
                (self.series.get(i) == Some(labels)).then_some(SeriesRef(i as u32))
            }
        }
    }

    /// The labels of a series.
    pub fn labels(&self, r: SeriesRef) -> Option<&Labels> {
        self.series.get(r.index())
    }

    /// Every series' labels, by ref.
    pub fn all_labels(&self) -> impl Iterator<Item = &Labels> {
        self.series.iter()
    }

    /// All label names in use, sorted.
    pub fn label_names(&self) -> Vec<&str> {
        self.postings_built().names().collect()
    }

    /// All values of label `name`, sorted (empty if the label is unknown).
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.postings_built().values(name).map(|(v, _)| v).collect()
    }

    /// The postings, for callers that combine lists themselves.
    pub fn postings(&self) -> &MemPostings {
        self.postings_built()
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
            None => (0..self.series.len() as u32).map(SeriesRef).collect(),
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
                Cow::Borrowed(self.postings_built().get(m.name(), m.value()))
            }
            _ => {
                let lists: Vec<&[SeriesRef]> = self
                    .postings_built()
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

    fn sel(ix: &Index, ms: &[Matcher]) -> Vec<u32> {
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

    #[test]
    fn a_sorted_index_finds_series_by_binary_search() {
        let mut all: Vec<Labels> = fixture().all_labels().cloned().collect();
        all.sort();
        let ix = Index::from_sorted(all.clone()).unwrap();
        for (i, l) in all.iter().enumerate() {
            assert_eq!(ix.get_ref(l), Some(SeriesRef(i as u32)));
        }
        assert_eq!(ix.get_ref(&l(&[("__name__", "nope")])), None);
        assert_eq!(sel(&ix, &[Matcher::equal("job", "a")]).len(), 2);
        // Out of order or repeated: the position of the offending series.
        let mut bad = all.clone();
        bad.swap(1, 2);
        assert_eq!(Index::from_sorted(bad).unwrap_err(), Ok(2));
        let mut twice = all.clone();
        twice.insert(1, all[0].clone());
        assert_eq!(Index::from_sorted(twice).unwrap_err(), Ok(1));
        assert!(matches!(
            Index::from_sorted(vec![l(&[("job", "x")])]),
            Err(Err(IndexError::Labels(LabelsError::MissingMetricName)))
        ));
    }

    #[test]
    fn adding_out_of_order_to_a_sorted_index_builds_the_lookup() {
        let mut all: Vec<Labels> = fixture().all_labels().cloned().collect();
        all.sort();
        let mut ix = Index::from_sorted(all[1..].to_vec()).unwrap();
        let r = ix.add(&all[0]).unwrap();
        assert_eq!(r, SeriesRef(all.len() as u32 - 1));
        assert_eq!(ix.get_ref(&all[0]), Some(r));
        assert_eq!(ix.add(&all[0]).unwrap(), r);
        for l in &all[1..] {
            assert!(ix.get_ref(l).is_some());
        }
        // In order, the sorted index stays without a table.
        let mut ix = Index::from_sorted(all[..2].to_vec()).unwrap();
        let r = ix.add(&all[2]).unwrap();
        assert_eq!(ix.get_ref(&all[2]), Some(r));
        assert!(matches!(ix.lookup, Lookup::Sorted));
    }

    #[test]
    fn a_sorted_index_builds_its_postings_when_first_queried() {
        let head = fixture();
        let mut all: Vec<Labels> = head.all_labels().cloned().collect();
        all.sort();
        let ix = Index::from_sorted(all.clone()).unwrap();
        assert!(ix.postings.get().is_none(), "no postings before a query");
        // Lookups need none.
        assert_eq!(ix.get_ref(&all[0]), Some(SeriesRef(0)));
        assert!(ix.postings.get().is_none());
        let matchers = [Matcher::equal("job", "a")];
        let got: Vec<&Labels> = sel(&ix, &matchers)
            .into_iter()
            .map(|r| ix.labels(SeriesRef(r)).unwrap())
            .collect();
        let want: Vec<&Labels> = sel(&head, &matchers)
            .into_iter()
            .map(|r| head.labels(SeriesRef(r)).unwrap())
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got.len(), want.len());
        assert!(got.iter().all(|l| want.contains(l)));
        assert!(ix.postings.get().is_some());
        assert_eq!(ix.label_names(), head.label_names());
        // Adding to a sorted index that never built them builds them first.
        let mut ix = Index::from_sorted(all[..2].to_vec()).unwrap();
        ix.add(&all[2]).unwrap();
        let three = Index::from_sorted(all[..3].to_vec()).unwrap();
        assert_eq!(ix.label_names(), three.label_names());
        assert_eq!(sel(&ix, &matchers), sel(&three, &matchers));
    }
}
