//! [`Appender`]: buffers samples, checks them per sample, and commits them as one WAL write
//! followed by one head update. Nothing reaches the head before it is in the WAL, and a
//! batch is acknowledged only when `commit` returns Ok.

use crate::db::{Counters, Tsdb};
use crate::error::{AppendError, TsdbError};
use crate::head::{SampleCheck, check_sample};
use crate::index::{Labels, SeriesRef};
use crate::wal;
use std::collections::HashMap;

/// What a commit did. Rejections found at `append` time are included (they were also
/// returned as errors there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Samples written to the WAL and the head.
    pub samples_accepted: u64,
    /// New series created.
    pub series_created: u64,
    /// Samples rejected as older than their series' last sample.
    pub out_of_order: u64,
    /// Samples rejected as older than the head's start (that range is in a block).
    pub out_of_bounds: u64,
    /// Samples rejected for repeating a timestamp with another value.
    pub duplicate: u64,
    /// Exact repeats silently ignored (not errors).
    pub duplicates_ignored: u64,
    /// Samples rejected for their labels.
    pub invalid_labels: u64,
    /// Bytes written to the WAL.
    pub wal_bytes: u64,
}

/// One series touched by the batch.
#[derive(Debug)]
struct Pending {
    labels: Labels,
    /// Last sample (timestamp, value bits) as seen by this batch.
    last: Option<(i64, u64)>,
}

/// Buffers appends until [`Appender::commit`]; dropping it is a rollback.
#[derive(Debug)]
pub struct Appender<'a> {
    db: &'a Tsdb,
    series: Vec<Pending>,
    by_labels: HashMap<Labels, usize>,
    /// The series of the previous `append` (index into `series`): appending a run of samples
    /// of one series skips the hash lookup.
    last: Option<usize>,
    samples: Vec<(usize, i64, f64)>,
    stats: CommitStats,
}

impl<'a> Appender<'a> {
    pub(crate) fn new(db: &'a Tsdb) -> Self {
        Self {
            db,
            series: Vec::new(),
            by_labels: HashMap::new(),
            last: None,
            samples: Vec::new(),
            stats: CommitStats::default(),
        }
    }

    /// Number of samples buffered.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Buffers one sample. Errors are per sample (the caller can count and skip): labels
    /// without `__name__`, a timestamp older than the head's start (already cut into a
    /// block), older than the series' last one (in the head or earlier in this batch), or the
    /// last timestamp again with a different value. The last timestamp again with the same
    /// value bits is ignored and returns Ok, as in Prometheus.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, value: f64) -> Result<(), AppendError> {
        let last = self
            .last
            .filter(|&i| self.series[i].labels.same_allocation(labels));
        let idx = match last.or_else(|| self.by_labels.get(labels).copied()) {
            Some(i) => i,
            None => {
                if let Err(source) = labels.require_metric_name() {
                    self.stats.invalid_labels += 1;
                    return Err(AppendError::Labels {
                        series: labels.clone(),
                        source,
                    });
                }
                let last = {
                    let head = self.db.read_head();
                    head.get_ref(labels).and_then(|r| head.last_sample(r))
                };
                self.series.push(Pending {
                    labels: labels.clone(),
                    last,
                });
                self.by_labels.insert(labels.clone(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.last = Some(idx);
        let p = &mut self.series[idx];
        let c = &self.db.counters;
        let min_valid = self.db.min_valid_time();
        if t_ms < min_valid {
            self.stats.out_of_bounds += 1;
            Counters::add(&c.out_of_bounds, 1);
            return Err(AppendError::OutOfBounds {
                series: p.labels.clone(),
                t: t_ms,
                min_valid,
            });
        }
        match check_sample(p.last, t_ms, value) {
            SampleCheck::Accept => {
                p.last = Some((t_ms, value.to_bits()));
                self.samples.push((idx, t_ms, value));
                Ok(())
            }
            SampleCheck::IgnoreDuplicate => {
                self.stats.duplicates_ignored += 1;
                Counters::add(&c.ignored, 1);
                Ok(())
            }
            SampleCheck::Duplicate => {
                self.stats.duplicate += 1;
                Counters::add(&c.duplicate, 1);
                Err(AppendError::Duplicate {
                    series: p.labels.clone(),
                    t: t_ms,
                })
            }
            SampleCheck::OutOfOrder(last) => {
                self.stats.out_of_order += 1;
                Counters::add(&c.out_of_order, 1);
                Err(AppendError::OutOfOrder {
                    series: p.labels.clone(),
                    t: t_ms,
                    last,
                })
            }
        }
    }

    /// Writes the new series and the samples to the WAL (fsyncing if `sync`), then applies
    /// them to the head. Samples are checked again against the head as it is now (another
    /// appender may have committed meanwhile); those that fail are counted and left out of
    /// the WAL. On error nothing was applied and nothing is acknowledged.
    pub fn commit(mut self) -> Result<CommitStats, TsdbError> {
        if self.samples.is_empty() {
            return Ok(self.stats);
        }
        let db = self.db;
        // The WAL lock serializes commits; only commits and head cuts (which also hold it)
        // change the head, so what we read below (refs included) stays true until we apply.
        let mut wal = db.lock_wal();
        // Stable while we hold the WAL lock: a cut raises it only under this lock.
        let min_valid = db.min_valid_time();
        let (head_refs, wal_refs, next_ref) = {
            let head = db.read_head();
            let refs: Vec<Option<SeriesRef>> = self
                .series
                .iter_mut()
                .map(|p| {
                    let r = head.get_ref(&p.labels);
                    p.last = r.and_then(|r| head.last_sample(r));
                    r
                })
                .collect();
            let wal_refs: Vec<Option<u64>> = refs
                .iter()
                .map(|r| r.and_then(|r| head.wal_ref(r)))
                .collect();
            (refs, wal_refs, head.next_wal_ref())
        };

        let mut accepted: Vec<(usize, i64, f64)> = Vec::with_capacity(self.samples.len());
        let (mut ooo, mut oob, mut dup, mut ignored) = (0u64, 0u64, 0u64, 0u64);
        for &(i, t, v) in &self.samples {
            if t < min_valid {
                oob += 1;
                continue;
            }
            let p = &mut self.series[i];
            match check_sample(p.last, t, v) {
                SampleCheck::Accept => {
                    p.last = Some((t, v.to_bits()));
                    accepted.push((i, t, v));
                }
                SampleCheck::IgnoreDuplicate => ignored += 1,
                SampleCheck::Duplicate => dup += 1,
                SampleCheck::OutOfOrder(_) => ooo += 1,
            }
        }

        // WAL refs: existing series keep theirs, new ones get the next unused ones.
        let mut wal_refs = wal_refs;
        let mut new_series: Vec<usize> = Vec::new();
        let mut buf = Vec::with_capacity(wal::HEADER_LEN + accepted.len() * wal::SAMPLE_LEN);
        for &(i, _, _) in &accepted {
            if wal_refs[i].is_none() {
                let r = next_ref + new_series.len() as u64;
                wal_refs[i] = Some(r);
                new_series.push(i);
                wal::encode_series(&mut buf, r, &self.series[i].labels);
            }
        }
        if !accepted.is_empty() {
            wal::encode_samples(
                &mut buf,
                accepted
                    .iter()
                    .map(|&(i, t, v)| (wal_refs[i].unwrap_or(u64::MAX), t, v)),
            );
            wal.write(&buf)?;
        }

        {
            let mut head = db.write_head();
            let mut refs: Vec<Option<SeriesRef>> = head_refs;
            for &i in &new_series {
                // The labels were validated in `append`, so this cannot fail.
                let w = wal_refs[i].unwrap_or(u64::MAX);
                refs[i] = head
                    .get_or_create_with_wal_ref(&self.series[i].labels, w)
                    .ok();
            }
            for &(i, t, v) in &accepted {
                if let Some(r) = refs[i] {
                    head.append(r, t, v);
                }
            }
        }
        drop(wal);

        let c = &db.counters;
        Counters::add(&c.appended, accepted.len() as u64);
        Counters::add(&c.out_of_order, ooo);
        Counters::add(&c.out_of_bounds, oob);
        Counters::add(&c.duplicate, dup);
        Counters::add(&c.ignored, ignored);
        let s = &mut self.stats;
        s.samples_accepted = accepted.len() as u64;
        s.series_created = new_series.len() as u64;
        s.out_of_order += ooo;
        s.out_of_bounds += oob;
        s.duplicate += dup;
        s.duplicates_ignored += ignored;
        s.wal_bytes = buf.len() as u64;
        Ok(self.stats)
    }

    /// Discards the buffered samples.
    pub fn rollback(self) {}
}
