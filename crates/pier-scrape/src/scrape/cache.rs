//! Owns one target's scrape cache: every series of its latest scrapes, with the label set the
//! store holds for it, found by a hash of the series as written on the exposition line (the
//! metric name and label set, byte for byte), as Prometheus's scrape cache finds them. A line
//! seen before therefore costs no label set to build and no allocation; what a hit is worth is
//! decided by the caller, who checks that the cached labels are the ones the line means (two
//! lines may share a hash, or a family's type may have changed), so a collision costs only the
//! slow path. A second table finds entries by their labels, so that a series written another
//! way (labels reordered, spacing) keeps its one entry and its one label set.
//!
//! Each entry also carries what staleness needs: whether the series was in the previous stored
//! scrape, whether it was tracked there (no explicit timestamp), and the last scrape
//! (generation) that had it. The cache lives in the target's loop and is dropped with it.
//!
//! Memory per series: the entry (labels pointer, hash, generation, flags: 32 bytes) and a
//! 4-byte slot in each table — the raw text is not kept.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use pier_tsdb::Labels;

/// In the previous stored scrape.
const PREV: u8 = 1;
/// In the previous stored scrape without an explicit timestamp (tracked for staleness).
const PREV_TRACKED: u8 = 2;
/// Seen in the current scrape without an explicit timestamp.
const CUR_TRACKED: u8 = 4;

/// One series.
#[derive(Debug)]
struct Entry {
    labels: Labels,
    /// Hash of the series text it was last found by.
    raw_hash: u64,
    /// The last scrape (generation) that had it.
    seen: u32,
    flags: u8,
}

/// What [`SeriesCache::see`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time in this scrape; `added` when it was not in the previous stored scrape.
    First { added: bool },
    /// Already in this scrape (a repeated series: the first sample wins).
    Repeat,
}

/// A target's series. See the module docs.
#[derive(Debug)]
pub(crate) struct SeriesCache {
    entries: Vec<Entry>,
    /// Entry indices hashed by `raw_hash`.
    by_text: HashTable<u32>,
    /// Entry indices hashed by labels.
    by_labels: HashTable<u32>,
    hasher: RandomState,
    /// How series texts are hashed (replaceable in tests, to force collisions).
    text_hash: fn(&RandomState, &str) -> u64,
    /// The current scrape.
    generation: u32,
}

fn hash_text(hasher: &RandomState, text: &str) -> u64 {
    hasher.hash_one(text)
}

impl SeriesCache {
    pub fn new() -> Self {
        Self::with_text_hash(hash_text)
    }

    /// A cache hashing series texts with `text_hash`.
    pub fn with_text_hash(text_hash: fn(&RandomState, &str) -> u64) -> Self {
        SeriesCache {
            entries: Vec::new(),
            by_text: HashTable::new(),
            by_labels: HashTable::new(),
            hasher: RandomState::new(),
            text_hash,
            generation: 0,
        }
    }

    /// Number of series held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Starts a scrape; returns its generation.
    pub fn begin(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// The hash of a series text.
    pub fn hash(&self, text: &str) -> u64 {
        (self.text_hash)(&self.hasher, text)
    }

    /// The entry found by series-text hash `hash` whose labels `is_it` accepts.
    pub fn find_by_text(&self, hash: u64, mut is_it: impl FnMut(&Labels) -> bool) -> Option<u32> {
        let entries = &self.entries;
        self.by_text
            .find(hash, |&i| {
                let e = &entries[i as usize];
                e.raw_hash == hash && is_it(&e.labels)
            })
            .copied()
    }

    /// The entry of `labels`, now to be found by series-text hash `hash` (moved there unless
    /// the current scrape found it under another text already); a new entry if there is none.
    pub fn find_or_insert(&mut self, labels: Labels, hash: u64) -> u32 {
        let Self {
            entries,
            by_text,
            by_labels,
            hasher,
            generation,
            ..
        } = self;
        let labels_hash = hasher.hash_one(&labels);
        if let Some(&i) = by_labels.find(labels_hash, |&i| entries[i as usize].labels == labels) {
            let e = &entries[i as usize];
            if e.raw_hash != hash && e.seen != *generation {
                let old = e.raw_hash;
                if let Ok(slot) = by_text.find_entry(old, |&j| j == i) {
                    slot.remove();
                }
                entries[i as usize].raw_hash = hash;
                by_text.insert_unique(hash, i, |&j| entries[j as usize].raw_hash);
            }
            return i;
        }
        let i = entries.len() as u32;
        entries.push(Entry {
            labels,
            raw_hash: hash,
            // Not seen yet in this scrape: `see` decides.
            seen: generation.wrapping_sub(1),
            flags: 0,
        });
        by_text.insert_unique(hash, i, |&j| entries[j as usize].raw_hash);
        by_labels.insert_unique(labels_hash, i, |&j| {
            hasher.hash_one(&entries[j as usize].labels)
        });
        i
    }

    /// The labels of entry `i`.
    pub fn labels(&self, i: u32) -> &Labels {
        &self.entries[i as usize].labels
    }

    /// Marks entry `i` as in the current scrape, `tracked` when its sample has no explicit
    /// timestamp.
    pub fn see(&mut self, i: u32, tracked: bool) -> Seen {
        let generation = self.generation;
        let e = &mut self.entries[i as usize];
        if e.seen == generation {
            return Seen::Repeat;
        }
        e.seen = generation;
        e.flags &= !CUR_TRACKED;
        if tracked {
            e.flags |= CUR_TRACKED;
        }
        Seen::First {
            added: e.flags & PREV == 0,
        }
    }

    /// The series of the previous stored scrape, tracked for staleness, that the current
    /// scrape does not have (all of them when `all`).
    pub fn vanished(&self, all: bool) -> impl Iterator<Item = &Labels> {
        let generation = self.generation;
        self.entries
            .iter()
            .filter(move |e| {
                e.flags & (PREV | PREV_TRACKED) == PREV | PREV_TRACKED
                    && (all || e.seen != generation)
            })
            .map(|e| &e.labels)
    }

    /// The current scrape was stored: it becomes the previous one, and the series it does not
    /// have are forgotten.
    pub fn commit(&mut self) {
        let generation = self.generation;
        let before = self.entries.len();
        self.entries.retain(|e| e.seen == generation);
        for e in &mut self.entries {
            e.flags = if e.flags & CUR_TRACKED != 0 {
                PREV | PREV_TRACKED
            } else {
                PREV
            };
        }
        if self.entries.len() != before {
            self.rebuild();
        }
        let len = self.entries.len();
        if self.entries.capacity() > len + len / 4 + 16 {
            self.entries.shrink_to(len + len / 8);
        }
    }

    /// The current scrape could not be stored: its series join the previous scrape's (both
    /// may be in the store, so both are marked stale when they go).
    pub fn commit_unstored(&mut self) {
        let generation = self.generation;
        for e in self.entries.iter_mut().filter(|e| e.seen == generation) {
            e.flags |= PREV;
            if e.flags & CUR_TRACKED != 0 {
                e.flags |= PREV_TRACKED;
            }
        }
    }

    /// Forgets the previous scrape (after its series were marked stale); the label sets stay
    /// for reuse until the next stored scrape drops those it does not have.
    pub fn forget_previous(&mut self) {
        for e in &mut self.entries {
            e.flags = 0;
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries = Vec::new();
        self.by_text = HashTable::new();
        self.by_labels = HashTable::new();
    }

    /// Rebuilds both tables from the entries.
    fn rebuild(&mut self) {
        let Self {
            entries,
            by_text,
            by_labels,
            hasher,
            ..
        } = self;
        *by_text = HashTable::with_capacity(entries.len());
        *by_labels = HashTable::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            by_text.insert_unique(e.raw_hash, i as u32, |&j| entries[j as usize].raw_hash);
            by_labels.insert_unique(hasher.hash_one(&e.labels), i as u32, |&j| {
                hasher.hash_one(&entries[j as usize].labels)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str) -> Labels {
        Labels::series([("__name__", name)]).unwrap()
    }

    #[test]
    fn entries_are_found_by_text_and_by_labels() {
        let mut c = SeriesCache::new();
        c.begin();
        let h = c.hash("a");
        assert_eq!(c.find_by_text(h, |_| true), None);
        let i = c.find_or_insert(l("a"), h);
        assert_eq!(c.find_by_text(h, |x| *x == l("a")), Some(i));
        assert_eq!(c.find_by_text(h, |_| false), None);
        assert_eq!(c.see(i, true), Seen::First { added: true });
        assert_eq!(c.see(i, true), Seen::Repeat);
        c.commit();
        // Next scrape: the same labels written another way keep the entry, moved to the new
        // text.
        c.begin();
        let h2 = c.hash("a ");
        assert_eq!(c.find_or_insert(l("a"), h2), i);
        assert_eq!(c.find_by_text(h2, |_| true), Some(i));
        assert_eq!(c.find_by_text(h, |_| true), None);
        assert_eq!(c.see(i, true), Seen::First { added: false });
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn colliding_texts_keep_separate_entries() {
        let mut c = SeriesCache::with_text_hash(|_, _| 7);
        c.begin();
        let a = c.find_or_insert(l("a"), c.hash("a"));
        let b = c.find_or_insert(l("b"), c.hash("b"));
        assert_ne!(a, b);
        assert_eq!(c.find_by_text(7, |x| *x == l("a")), Some(a));
        assert_eq!(c.find_by_text(7, |x| *x == l("b")), Some(b));
        assert_eq!(c.find_by_text(7, |x| *x == l("c")), None);
    }

    #[test]
    fn staleness_follows_the_stored_scrapes() {
        let mut c = SeriesCache::new();
        c.begin();
        let a = c.find_or_insert(l("a"), c.hash("a"));
        let b = c.find_or_insert(l("b"), c.hash("b"));
        let t = c.find_or_insert(l("t"), c.hash("t"));
        c.see(a, true);
        c.see(b, true);
        c.see(t, false);
        assert_eq!(c.vanished(false).count(), 0);
        c.commit();
        // b goes; t (explicit timestamps) is not tracked.
        c.begin();
        assert_eq!(c.see(a, true), Seen::First { added: false });
        let gone: Vec<&Labels> = c.vanished(false).collect();
        assert_eq!(gone, vec![&l("b")]);
        assert_eq!(c.vanished(true).count(), 2);
        c.commit();
        assert_eq!(c.len(), 1, "b and t are forgotten");
        assert_eq!(c.find_by_text(c.hash("b"), |_| true), None);
        let a = c.find_by_text(c.hash("a"), |_| true).unwrap();
        // An unstored scrape adds its series to the previous ones.
        c.begin();
        let n = c.find_or_insert(l("n"), c.hash("n"));
        c.see(n, true);
        c.commit_unstored();
        c.begin();
        assert_eq!(c.vanished(false).count(), 2);
        assert_eq!(c.see(a, true), Seen::First { added: false });
        c.forget_previous();
        assert_eq!(c.vanished(true).count(), 0);
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
