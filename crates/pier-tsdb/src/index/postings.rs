//! Postings: for every label `(name, value)` the sorted list of series holding it
//! ([`MemPostings`]), and the sorted-list set operations the index combines them with
//! ([`intersect`], [`union`], [`subtract`]).
//!
//! Lists are `Vec<SeriesRef>` sorted ascending without duplicates. The index hands out refs
//! in increasing order, so adding a series appends to the end of each of its lists and the
//! lists stay sorted without any re-sorting.

use super::labels::Labels;
use std::collections::BTreeMap;

/// Identifier of a series in the index. Dense and increasing in insertion order; 32 bits, so
/// that postings take 4 bytes per series and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesRef(pub u32);

impl SeriesRef {
    /// The ref as an index into per-series vectors.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Label name → label value → sorted series refs. Both maps are ordered, so label names and
/// values come out sorted for free.
#[derive(Debug, Default, Clone)]
pub struct MemPostings {
    m: BTreeMap<String, BTreeMap<String, Vec<SeriesRef>>>,
}

impl MemPostings {
    /// Empty postings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `r` under each of its labels. `r` must be greater than every ref added before
    /// (the index guarantees it), which keeps every list sorted. O(labels × log).
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        for l in labels {
            // Look up before inserting: keys are allocated only for new names and values.
            if !self.m.contains_key(l.name) {
                self.m.insert(l.name.to_string(), BTreeMap::new());
            }
            let Some(values) = self.m.get_mut(l.name) else {
                continue;
            };
            if !values.contains_key(l.value) {
                values.insert(l.value.to_string(), Vec::new());
            }
            let Some(list) = values.get_mut(l.value) else {
                continue;
            };
            debug_assert!(list.last().is_none_or(|&last| last < r));
            list.push(r);
        }
    }

    /// Gives every list's spare capacity back (for an index that no longer grows).
    pub fn shrink_to_fit(&mut self) {
        for list in self.m.values_mut().flat_map(BTreeMap::values_mut) {
            list.shrink_to_fit();
        }
    }

    /// Series with label `name="value"` (empty if none).
    pub fn get(&self, name: &str, value: &str) -> &[SeriesRef] {
        self.m
            .get(name)
            .and_then(|vals| vals.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// All values of label `name` with their postings, sorted by value.
    pub fn values(&self, name: &str) -> impl Iterator<Item = (&str, &[SeriesRef])> {
        self.m
            .get(name)
            .into_iter()
            .flat_map(|vals| vals.iter().map(|(v, p)| (v.as_str(), p.as_slice())))
    }

    /// All label names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.m.keys().map(String::as_str)
    }
}

/// Refs present in both sorted lists. Linear merge, O(|a| + |b|).
pub fn intersect(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Refs present in any of the sorted lists, sorted and deduplicated. Concatenates and sorts:
/// O(N log N) for N refs in total — simple, and fine while lists are in memory. A k-way heap
/// merge would make it O(N log k).
pub fn union<'a>(lists: impl IntoIterator<Item = &'a [SeriesRef]>) -> Vec<SeriesRef> {
    let mut out: Vec<SeriesRef> = lists.into_iter().flatten().copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Refs of sorted `a` that are not in sorted `b`. Linear merge, O(|a| + |b|).
pub fn subtract(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &r in a {
        while j < b.len() && b[j] < r {
            j += 1;
        }
        if j >= b.len() || b[j] != r {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &[u32]) -> Vec<SeriesRef> {
        v.iter().copied().map(SeriesRef).collect()
    }

    #[test]
    fn set_operations() {
        let a = refs(&[1, 3, 5, 7, 9]);
        let b = refs(&[2, 3, 4, 9, 10]);
        assert_eq!(intersect(&a, &b), refs(&[3, 9]));
        assert_eq!(intersect(&a, &[]), refs(&[]));
        assert_eq!(subtract(&a, &b), refs(&[1, 5, 7]));
        assert_eq!(subtract(&a, &[]), a);
        assert_eq!(subtract(&[], &b), refs(&[]));
        assert_eq!(
            union([a.as_slice(), b.as_slice()]),
            refs(&[1, 2, 3, 4, 5, 7, 9, 10])
        );
        assert_eq!(union(std::iter::empty()), refs(&[]));
    }

    #[test]
    fn mem_postings_are_sorted_by_name_and_value() {
        let mut p = MemPostings::new();
        p.add(
            SeriesRef(0),
            &Labels::from_pairs([("b", "2"), ("a", "1")]).unwrap(),
        );
        p.add(
            SeriesRef(1),
            &Labels::from_pairs([("a", "0"), ("c", "1")]).unwrap(),
        );
        p.add(SeriesRef(2), &Labels::from_pairs([("a", "1")]).unwrap());
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(
            p.values("a").map(|(v, _)| v).collect::<Vec<_>>(),
            vec!["0", "1"]
        );
        assert_eq!(p.get("a", "1"), refs(&[0, 2]).as_slice());
        assert!(p.get("a", "9").is_empty());
        assert!(p.get("z", "1").is_empty());
        assert_eq!(p.values("z").count(), 0);
    }
}
