//! The head: the in-memory part of the store — the series [`Index`] plus one [`MemSeries`]
//! per series ref, each with its WAL ref. It is plain data without locks or I/O; `Tsdb`
//! wraps it in a `RwLock` and makes sure every change has reached the WAL first.
//!
//! When the head is cut into a block, [`Head::truncate`] drops the samples before the cut
//! and garbage-collects series left without samples (the index is rebuilt, so head refs
//! change; WAL refs do not, and are never reused).

pub mod series;

use crate::chunk::SealedChunk;
use crate::error::TsdbError;
use crate::index::{Index, IndexError, Labels, Matcher, SeriesRef};
use crate::paged::PagedVec;
use crate::wal::checkpoint::CheckpointWriter;
pub use series::{ChunkLimits, MemSeries, SampleCheck, check_sample};

/// Per-label overhead in memory (a 4-byte postings entry, with some room), for
/// [`Head::approx_bytes`].
const LABEL_OVERHEAD: usize = 6;
/// Per-series overhead besides the `MemSeries` and the WAL ref: the labels' reference counts,
/// the index's pointer to them and its lookup slot.
const SERIES_OVERHEAD: usize = 40;

/// Index plus samples.
#[derive(Debug)]
pub struct Head {
    index: Index,
    series: PagedVec<MemSeries>,
    /// WAL ref of each series, by head ref.
    wal_refs: PagedVec<u64>,
    /// The WAL ref the next new series gets; only grows.
    next_wal_ref: u64,
    samples: u64,
    limits: ChunkLimits,
}

impl Head {
    /// An empty head cutting chunks every `samples_per_chunk` samples (clamped to
    /// `1..=u16::MAX`) and at every multiple of `block_range_ms` (at least 1).
    pub fn new(samples_per_chunk: usize, block_range_ms: i64) -> Self {
        Self {
            index: Index::new(),
            series: PagedVec::new(),
            wal_refs: PagedVec::new(),
            next_wal_ref: 0,
            samples: 0,
            limits: ChunkLimits {
                samples: samples_per_chunk.clamp(1, usize::from(u16::MAX)),
                range_ms: block_range_ms.max(1),
            },
        }
    }

    /// The series index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of samples held.
    pub fn num_samples(&self) -> u64 {
        self.samples
    }

    /// The ref of an existing series.
    pub fn get_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        self.index.get_ref(labels)
    }

    /// The last sample of a series (timestamp, value bits).
    pub fn last_sample(&self, r: SeriesRef) -> Option<(i64, u64)> {
        self.get(r).and_then(MemSeries::last)
    }

    /// Gets or creates a series; a new one gets the next WAL ref.
    pub fn get_or_create(&mut self, labels: &Labels) -> Result<SeriesRef, IndexError> {
        let w = self.next_wal_ref;
        self.get_or_create_with_wal_ref(labels, w)
    }

    /// Gets or creates a series; a new one gets WAL ref `wal_ref`, an existing one takes it
    /// as its WAL ref (replay: the newest series record wins). Later new series get refs
    /// above it.
    pub fn get_or_create_with_wal_ref(
        &mut self,
        labels: &Labels,
        wal_ref: u64,
    ) -> Result<SeriesRef, IndexError> {
        let r = self.index.add(labels)?;
        while self.series.len() <= r.0 as usize {
            self.series.push(MemSeries::default());
            self.wal_refs.push(wal_ref);
        }
        self.wal_refs[r.0 as usize] = wal_ref;
        self.next_wal_ref = self.next_wal_ref.max(wal_ref.saturating_add(1));
        Ok(r)
    }

    /// The WAL ref of a series.
    pub fn wal_ref(&self, r: SeriesRef) -> Option<u64> {
        usize::try_from(r.0)
            .ok()
            .and_then(|i| self.wal_refs.get(i))
            .copied()
    }

    /// The WAL ref the next new series will get.
    pub fn next_wal_ref(&self) -> u64 {
        self.next_wal_ref
    }

    /// Drops every sample older than `mint` (splitting chunks that straddle it) and removes
    /// series left without samples, rebuilding the index (head refs change). Returns the
    /// number of samples dropped.
    pub fn truncate(&mut self, mint: i64) -> u64 {
        let mut dropped = 0u64;
        for s in self.series.iter_mut() {
            dropped += s.truncate(mint);
        }
        self.samples -= dropped.min(self.samples);
        if self.series.iter().all(|s| s.num_chunks() > 0) {
            return dropped;
        }
        let old_series = std::mem::take(&mut self.series);
        let old_wal = std::mem::take(&mut self.wal_refs);
        let old_index = std::mem::take(&mut self.index);
        for (i, (s, w)) in old_series.into_iter().zip(old_wal).enumerate() {
            if s.num_chunks() == 0 {
                continue;
            }
            let Some(labels) = old_index.labels(SeriesRef(i as u32)) else {
                continue;
            };
            // The labels were valid before, so this cannot fail.
            if self.index.add(labels).is_ok() {
                self.series.push(s);
                self.wal_refs.push(w);
            }
        }
        dropped
    }

    /// Writes every series with its samples into a checkpoint (non-empty chunks only, each in
    /// its encoding, the open one's bytes as they are: nothing is copied or re-encoded).
    pub fn write_checkpoint(&self, w: &mut CheckpointWriter) -> Result<(), TsdbError> {
        for (i, (s, &wal_ref)) in self.series.iter().zip(self.wal_refs.iter()).enumerate() {
            if let Some(labels) = self.index.labels(SeriesRef(i as u32)) {
                w.series(wal_ref, labels, s.encoded_chunks())?;
            }
        }
        Ok(())
    }

    /// Appends a sample to an existing series; false if the series is unknown or the sample
    /// is not newer than its last one.
    pub fn append(&mut self, r: SeriesRef, t: i64, v: f64) -> bool {
        let limits = self.limits;
        let ok = usize::try_from(r.0)
            .ok()
            .and_then(|i| self.series.get_mut(i))
            .is_some_and(|s| s.append(t, v, limits));
        if ok {
            self.samples += 1;
        }
        ok
    }

    fn get(&self, r: SeriesRef) -> Option<&MemSeries> {
        usize::try_from(r.0).ok().and_then(|i| self.series.get(i))
    }

    /// Series matching `matchers` with chunks overlapping `[mint, maxt]`, with those chunks.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<SealedChunk>)> {
        self.index
            .select(matchers)
            .into_iter()
            .filter_map(|r| {
                let chunks = self.get(r)?.chunks_in(mint, maxt);
                if chunks.is_empty() {
                    return None;
                }
                Some((self.index.labels(r)?.clone(), chunks))
            })
            .collect()
    }

    /// Number of chunks over all series.
    pub fn num_chunks(&self) -> usize {
        self.series.iter().map(MemSeries::num_chunks).sum()
    }

    /// Smallest and largest sample timestamps.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.series.iter().filter_map(MemSeries::min_time).min()?;
        let max = self
            .series
            .iter()
            .filter_map(|s| s.last().map(|l| l.0))
            .max()?;
        Some((min, max))
    }

    /// Approximate memory: chunk buffers, label text, the per-series vectors, and estimated
    /// index overheads.
    pub fn approx_bytes(&self) -> usize {
        let chunks: usize = self.series.iter().map(MemSeries::chunk_bytes).sum();
        let labels: usize = self
            .index
            .all_labels()
            .map(|l| l.text_len() + l.len() * LABEL_OVERHEAD + SERIES_OVERHEAD)
            .sum();
        chunks + labels + self.series.allocated_bytes() + self.wal_refs.allocated_bytes()
    }
}
