//! [`Tsdb::commit_batch`]: a whole batch (one scrape) checked, written to the WAL and
//! applied in one go, without copying it. It stores exactly what appending every sample to a
//! fresh [`Appender`](crate::Appender) and committing would, with the same rules and counters,
//! but where the appender keeps a copy of each sample and of each series' labels and state
//! (about 180 bytes a sample for a scrape), this keeps 4 bytes a sample (the series it goes
//! to), 4 bytes per head series (which of them the batch touched) and 24 bytes per series
//! touched (its last sample and WAL ref), plus the WAL record itself. It holds the WAL lock
//! from start to end, so nothing changes the head meanwhile and each sample is checked once.
//!
//! Those vectors ([`CommitScratch`]) are kept in the store from one commit to the next, as
//! scrapes of the same targets need the same sizes every interval: allocating and freeing
//! them per commit left the allocator holding their freed pages resident (jemalloc returns
//! dirty pages over ten seconds). They are cleared after each commit and shrunk when much
//! larger than the commit that used them.

use crate::appender::CommitStats;
use crate::db::{Counters, Tsdb};
use crate::error::TsdbError;
use crate::head::{SampleCheck, check_sample};
use crate::index::{Labels, SeriesRef};
use crate::wal;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// `ids` value of a sample that is not stored.
const REJECTED: u32 = u32::MAX;

/// [`Tsdb::commit_batch`]'s working vectors, reused from one commit to the next (emptied
/// between commits). See the module docs.
#[derive(Debug, Default)]
pub(crate) struct CommitScratch {
    ids: Vec<u32>,
    slot: Vec<u32>,
    touched: Vec<Touched>,
    buf: Vec<u8>,
}

impl CommitScratch {
    /// Empties every vector, giving back capacity beyond twice what this commit used.
    fn reset(&mut self) {
        fn fit<T>(v: &mut Vec<T>) {
            let used = v.len();
            v.clear();
            if v.capacity() > 2 * used + 1024 {
                v.shrink_to(used);
            }
        }
        fit(&mut self.ids);
        fit(&mut self.slot);
        fit(&mut self.touched);
        fit(&mut self.buf);
    }
}

/// A series the batch touched.
#[derive(Debug, Clone, Copy)]
struct Touched {
    /// Its last sample so far (from the head, then from the batch).
    last: Option<(i64, u64)>,
    /// Its WAL ref (`u64::MAX` for a new series until it gets one).
    wal_ref: u64,
}

impl Tsdb {
    /// Commits `batch` — each item a series' labels, a timestamp (ms) and a value — as one
    /// transaction, like appending every sample to an [`Appender`](crate::Appender) and
    /// committing: the same checks (a series needs `__name__`; a sample older than the head's
    /// start, older than its series' last sample, or at its last timestamp with another value
    /// is refused and counted; an exact repeat is ignored), the same WAL records, written and
    /// fsynced before the head changes, and `Ok` only once the batch is durable. Nothing is
    /// copied: the batch is read twice, so its iterator must be cloneable.
    pub fn commit_batch<'a, I>(&self, batch: I) -> Result<CommitStats, TsdbError>
    where
        I: IntoIterator<Item = (&'a Labels, i64, f64)>,
        I::IntoIter: Clone,
    {
        let batch = batch.into_iter();
        let mut stats = CommitStats::default();
        let mut wal = self.lock_wal();
        let mut scratch = self
            .commit_scratch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let CommitScratch {
            ids,
            slot,
            touched,
            buf,
        } = &mut *scratch;
        // A panic in an earlier commit may have left them filled.
        ids.clear();
        slot.clear();
        touched.clear();
        buf.clear();
        let min_valid = self.min_valid_time();
        let (hint, _) = batch.size_hint();
        // Per sample: the id of its series (a head ref, or `head_len + i` for the batch's
        // i-th new series), or REJECTED.
        ids.reserve(hint);
        // Per id: 1 + the series' index in `touched`, or 0.
        touched.reserve(hint);
        // The batch's new series, found by labels.
        let mut new_series: Vec<&'a Labels> = Vec::new();
        let mut new_index: HashTable<u32> = HashTable::new();
        let hasher = RandomState::new();
        let (mut ooo, mut oob, mut dup, mut ignored) = (0u64, 0u64, 0u64, 0u64);
        let head_len;
        {
            let head = self.read_head();
            head_len = head.num_series() as u32;
            slot.resize(head_len as usize, 0);
            for (labels, t, v) in batch.clone() {
                let id = match head.get_ref(labels) {
                    Some(r) => r.0,
                    None => {
                        if labels.require_metric_name().is_err() {
                            stats.invalid_labels += 1;
                            ids.push(REJECTED);
                            continue;
                        }
                        let h = hasher.hash_one(labels);
                        let found = new_index.find(h, |&i| new_series[i as usize] == labels);
                        match found {
                            Some(&i) => head_len + i,
                            None => {
                                let i = new_series.len() as u32;
                                new_series.push(labels);
                                new_index.insert_unique(h, i, |&j| {
                                    hasher.hash_one(new_series[j as usize])
                                });
                                slot.push(0);
                                head_len + i
                            }
                        }
                    }
                };
                if t < min_valid {
                    oob += 1;
                    ids.push(REJECTED);
                    continue;
                }
                let s = &mut slot[id as usize];
                if *s == 0 {
                    let (last, wal_ref) = if id < head_len {
                        let r = SeriesRef(id);
                        (head.last_sample(r), head.wal_ref(r).unwrap_or(u64::MAX))
                    } else {
                        (None, u64::MAX)
                    };
                    touched.push(Touched { last, wal_ref });
                    *s = touched.len() as u32;
                }
                let series = &mut touched[*s as usize - 1];
                match check_sample(series.last, t, v) {
                    SampleCheck::Accept => {
                        series.last = Some((t, v.to_bits()));
                        ids.push(id);
                    }
                    SampleCheck::IgnoreDuplicate => {
                        ignored += 1;
                        ids.push(REJECTED);
                    }
                    SampleCheck::Duplicate => {
                        dup += 1;
                        ids.push(REJECTED);
                    }
                    SampleCheck::OutOfOrder(_) => {
                        ooo += 1;
                        ids.push(REJECTED);
                    }
                }
            }
            drop(new_index);
            // New series get WAL refs in order of their first accepted sample, as the
            // appender gives them.
            let accepted = ids.iter().filter(|&&id| id != REJECTED).count();
            buf.reserve(wal::HEADER_LEN + 16 + accepted * 12);
            let mut next_ref = head.next_wal_ref();
            for &id in ids.iter().filter(|&&id| id >= head_len && id != REJECTED) {
                let series = &mut touched[slot[id as usize] as usize - 1];
                if series.wal_ref == u64::MAX {
                    series.wal_ref = next_ref;
                    wal::encode_series(buf, next_ref, new_series[(id - head_len) as usize]);
                    next_ref += 1;
                    stats.series_created += 1;
                }
            }
            if accepted > 0 {
                wal::encode_samples(
                    buf,
                    ids.iter()
                        .zip(batch.clone())
                        .filter(|(id, _)| **id != REJECTED)
                        .map(|(&id, (_, t, v))| {
                            (touched[slot[id as usize] as usize - 1].wal_ref, t, v)
                        }),
                );
            }
            stats.samples_accepted = accepted as u64;
        }
        if stats.samples_accepted > 0 {
            if let Err(e) = wal.write(buf) {
                scratch.reset();
                return Err(e);
            }
            let mut head = self.write_head();
            // The new series' head refs, by their index in `new_series`.
            let mut new_refs: Vec<Option<SeriesRef>> = vec![None; new_series.len()];
            for (i, labels) in new_series.iter().enumerate() {
                let Some(series) =
                    touched.get((slot[head_len as usize + i] as usize).wrapping_sub(1))
                else {
                    continue;
                };
                if series.wal_ref != u64::MAX {
                    // Validated above, so this cannot fail.
                    new_refs[i] = head.get_or_create_with_wal_ref(labels, series.wal_ref).ok();
                }
            }
            for (&id, (_, t, v)) in ids.iter().zip(batch) {
                let r = match id {
                    REJECTED => continue,
                    id if id < head_len => Some(SeriesRef(id)),
                    id => new_refs[(id - head_len) as usize],
                };
                if let Some(r) = r {
                    head.append(r, t, v);
                }
            }
        }
        stats.wal_bytes = buf.len() as u64;
        scratch.reset();
        drop(scratch);
        drop(wal);
        let c = &self.counters;
        Counters::add(&c.appended, stats.samples_accepted);
        Counters::add(&c.out_of_order, ooo);
        Counters::add(&c.out_of_bounds, oob);
        Counters::add(&c.duplicate, dup);
        Counters::add(&c.ignored, ignored);
        stats.out_of_order = ooo;
        stats.out_of_bounds = oob;
        stats.duplicate = dup;
        stats.duplicates_ignored = ignored;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{all, open};
    use crate::{HeadStats, Labels, Tsdb, TsdbOptions};

    fn l(name: &str, job: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", job)]).unwrap()
    }

    fn counters(s: &HeadStats) -> [u64; 6] {
        [
            s.series,
            s.samples_appended_total,
            s.out_of_order_total,
            s.out_of_bounds_total,
            s.duplicate_total,
            s.duplicates_ignored_total,
        ]
    }

    /// Batches with new and known series, repeats in one batch, out-of-order, duplicate and
    /// ignored samples, a series without a name and one whose only sample is refused.
    fn batches() -> Vec<Vec<(Labels, i64, f64)>> {
        let nameless = Labels::from_pairs([("job", "x")]).unwrap();
        vec![
            vec![
                (l("up", "a"), 10, 1.0),
                (l("up", "b"), 10, 1.0),
                (l("up", "a"), 20, 2.0),
                (l("up", "a"), 15, 9.0),
                (nameless.clone(), 10, 1.0),
                (l("up", "b"), 10, 1.0),
                (l("up", "b"), 10, 3.0),
            ],
            vec![
                (l("up", "c"), 5, 1.0),
                (l("up", "a"), 20, 2.0),
                (l("up", "a"), 19, 2.0),
                (l("up", "b"), 30, f64::from_bits(crate::STALE_NAN.to_bits())),
                (l("rps", "a"), 30, 0.5),
                (l("up", "c"), 30, 1.5),
                (l("up", "c"), 40, 2.5),
            ],
            vec![(l("up", "d"), 10, 1.0), (l("up", "d"), 5, 1.0)],
        ]
    }

    #[test]
    fn a_batch_stores_what_an_appender_stores() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (by_appender, by_batch) = (open(d1.path()), open(d2.path()));
        for batch in batches() {
            let mut app = by_appender.appender();
            for (labels, t, v) in &batch {
                let _ = app.append(labels, *t, *v);
            }
            let want = app.commit().unwrap();
            let got = by_batch
                .commit_batch(batch.iter().map(|(l, t, v)| (l, *t, *v)))
                .unwrap();
            assert_eq!(got, want);
        }
        assert_eq!(all(&by_batch), all(&by_appender));
        assert_eq!(counters(&by_batch.stats()), counters(&by_appender.stats()));
        // The WAL holds the same: a reopened store reads it back.
        let before = all(&by_batch);
        drop(by_batch);
        let reopened = open(d2.path());
        assert_eq!(all(&reopened), before);
        // New series after a reopen get WAL refs above the replayed ones.
        reopened.commit_batch([(&l("new", "z"), 100, 1.0)]).unwrap();
        drop(reopened);
        let again = open(d2.path());
        assert_eq!(all(&again).len(), before.len() + 1);
    }

    #[test]
    fn samples_older_than_the_head_start_are_out_of_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let options = TsdbOptions {
            sync: false,
            block_range_ms: 1000,
            ..TsdbOptions::default()
        };
        let db = Tsdb::open(dir.path(), options).unwrap();
        let series = l("up", "a");
        let samples: Vec<(Labels, i64, f64)> =
            (0..40).map(|i| (series.clone(), i * 100, 1.0)).collect();
        db.commit_batch(samples.iter().map(|(l, t, v)| (l, *t, *v)))
            .unwrap();
        assert!(db.compact_head().unwrap() > 0);
        let min_valid = db.min_valid_time();
        let s = db
            .commit_batch([(&l("late", "a"), min_valid - 1, 1.0), (&series, 5000, 2.0)])
            .unwrap();
        assert_eq!(
            (s.out_of_bounds, s.samples_accepted, s.series_created),
            (1, 1, 0)
        );
        assert!(db.commit_batch(std::iter::empty()).unwrap().wal_bytes == 0);
    }

    #[test]
    fn the_working_vectors_are_reused_emptied_and_shrunk() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let big: Vec<Labels> = (0..5000).map(|i| l("m", &i.to_string())).collect();
        db.commit_batch(big.iter().map(|l| (l, 10, 1.0))).unwrap();
        let cap = |db: &Tsdb| {
            let s = db.commit_scratch.lock().unwrap();
            assert!(s.ids.is_empty() && s.slot.is_empty() && s.touched.is_empty());
            assert!(s.buf.is_empty());
            (s.ids.capacity(), s.touched.capacity(), s.buf.capacity())
        };
        let (ids, touched, _) = cap(&db);
        assert!(ids >= 5000 && touched >= 5000);
        // The same size again: the buffers are kept.
        db.commit_batch(big.iter().map(|l| (l, 20, 2.0))).unwrap();
        assert_eq!(cap(&db).0, ids);
        // A much smaller commit gives the spare room back, and stores exactly its samples.
        db.commit_batch([(&big[7], 30, 3.0)]).unwrap();
        let (ids, touched, buf) = cap(&db);
        assert!(
            ids < 1100 && touched < 1100 && buf < 2000,
            "{ids} {touched} {buf}"
        );
        let got = all(&db);
        assert_eq!(got.len(), 5000);
        let samples = |labels: &Labels| {
            let name = labels.to_string();
            let (_, s) = got.iter().find(|(n, _)| *n == name).unwrap();
            s.iter()
                .map(|&(t, v)| (t, f64::from_bits(v)))
                .collect::<Vec<_>>()
        };
        assert_eq!(samples(&big[7]), vec![(10, 1.0), (20, 2.0), (30, 3.0)]);
        assert_eq!(samples(&big[8]), vec![(10, 1.0), (20, 2.0)]);
    }
}
