//! The head: the in-memory part of the store — the series [`Index`] plus one [`MemSeries`]
//! per series ref. It is plain data without locks or I/O; `Tsdb` wraps it in a `RwLock`
//! and makes sure every change has reached the WAL first.

pub mod series;

use crate::chunk::XorChunk;
use crate::index::{Index, IndexError, Labels, Matcher, SeriesRef};
pub use series::{MemSeries, SampleCheck, check_sample};
use std::sync::Arc;

/// Rough per-label overhead in memory (two `String`s plus the index entries), for
/// [`Head::approx_bytes`].
const LABEL_OVERHEAD: usize = 64;
/// Rough per-series overhead (the `MemSeries`, its hash-map entry, the `Labels` Arc).
const SERIES_OVERHEAD: usize = 160;

/// Index plus samples.
#[derive(Debug)]
pub struct Head {
    index: Index,
    series: Vec<MemSeries>,
    samples: u64,
    samples_per_chunk: usize,
}

impl Head {
    /// An empty head cutting chunks every `samples_per_chunk` samples (clamped to
    /// `1..=u16::MAX`).
    pub fn new(samples_per_chunk: usize) -> Self {
        Self {
            index: Index::new(),
            series: Vec::new(),
            samples: 0,
            samples_per_chunk: samples_per_chunk.clamp(1, usize::from(u16::MAX)),
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

    /// Gets or creates a series.
    pub fn get_or_create(&mut self, labels: &Labels) -> Result<SeriesRef, IndexError> {
        let r = self.index.add(labels)?;
        while self.series.len() <= r.0 as usize {
            self.series.push(MemSeries::default());
        }
        Ok(r)
    }

    /// Appends a sample to an existing series; false if the series is unknown or the sample
    /// is not newer than its last one.
    pub fn append(&mut self, r: SeriesRef, t: i64, v: f64) -> bool {
        let spc = self.samples_per_chunk;
        let ok = usize::try_from(r.0)
            .ok()
            .and_then(|i| self.series.get_mut(i))
            .is_some_and(|s| s.append(t, v, spc));
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
    ) -> Vec<(Labels, Vec<Arc<XorChunk>>)> {
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

    /// Approximate memory of chunk bytes plus labels plus fixed per-series overheads.
    pub fn approx_bytes(&self) -> usize {
        let chunks: usize = self.series.iter().map(MemSeries::chunk_bytes).sum();
        let labels: usize = (0..self.series.len() as u64)
            .filter_map(|r| self.index.labels(SeriesRef(r)))
            .flat_map(|l| l.iter())
            .map(|l| l.name.len() + l.value.len() + LABEL_OVERHEAD)
            .sum();
        chunks + labels + self.series.len() * SERIES_OVERHEAD
    }
}
