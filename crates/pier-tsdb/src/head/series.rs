//! One series in the head: its closed, immutable chunks (shared with readers through `Arc`)
//! and the open chunk being appended to. Owns the per-series ordering rules (strictly
//! increasing timestamps; same timestamp with identical value bits is a no-op) and chunk
//! cutting: a chunk is closed when full, and — as Prometheus does — when a sample falls in
//! the next block range, so no chunk straddles a block boundary. Cutting the head into a
//! block then shares its closed chunks instead of copying and re-encoding them, and dropping
//! them afterwards frees whole chunks. A chunk's buffer is sized to its content when it is
//! closed. The next open chunk's buffer starts at the closed one's size (plus a sixteenth):
//! a series' chunks are much alike from one block range to the next, so it is allocated once
//! instead of being moved through a dozen allocator size classes as it grows in small steps
//! (see [`crate::chunk::bitstream`]) — with every series' chunk growing in step, those moves
//! left partly used pages behind and kept freed ones resident. A series' first chunk, or
//! one outgrowing its predecessor, still grows in small steps.

use crate::chunk::XorChunk;
use std::sync::Arc;

/// Outcome of checking a sample against a series' last sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleCheck {
    /// Newer than the last sample: append it.
    Accept,
    /// Same timestamp and the same value bits: silently ignore.
    IgnoreDuplicate,
    /// Same timestamp, different value.
    Duplicate,
    /// Older than the last sample (carries the last timestamp).
    OutOfOrder(i64),
}

/// Checks `(t, v)` against the previous sample `last` (timestamp, value bits).
pub fn check_sample(last: Option<(i64, u64)>, t: i64, v: f64) -> SampleCheck {
    match last {
        None => SampleCheck::Accept,
        Some((lt, _)) if t > lt => SampleCheck::Accept,
        Some((lt, lv)) if t == lt => {
            if lv == v.to_bits() {
                SampleCheck::IgnoreDuplicate
            } else {
                SampleCheck::Duplicate
            }
        }
        Some((lt, _)) => SampleCheck::OutOfOrder(lt),
    }
}

/// When the open chunk is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Once it holds this many samples.
    pub samples: usize,
    /// When a sample falls in another aligned window `[k·range_ms, (k+1)·range_ms)` than the
    /// chunk's first sample (the block range).
    pub range_ms: i64,
}

impl ChunkLimits {
    /// Whether `open` must be closed before `t` is appended to it.
    fn closes(self, open: &XorChunk, t: i64) -> bool {
        match open.first_timestamp() {
            None => false,
            Some(first) => {
                open.num_samples() >= self.samples
                    || first.div_euclid(self.range_ms) != t.div_euclid(self.range_ms)
            }
        }
    }
}

/// A series' samples in memory.
#[derive(Debug, Default)]
pub struct MemSeries {
    /// Full chunks, oldest first; never modified again.
    closed: Vec<Arc<XorChunk>>,
    /// The chunk being appended to (empty until the first sample). It holds the series' last
    /// sample whenever the series has samples: a chunk is closed only to append to the next
    /// one, and a series left without samples by [`MemSeries::truncate`] is dropped by the
    /// head.
    open: XorChunk,
}

impl MemSeries {
    /// The last sample (timestamp, value bits), if any.
    pub fn last(&self) -> Option<(i64, u64)> {
        self.open.last_sample()
    }

    /// Appends a sample that passed [`check_sample`] with `Accept`, closing the open chunk
    /// first when `limits` say so. Returns false (and changes nothing) if the sample is not
    /// newer than the last one.
    pub fn append(&mut self, t: i64, v: f64, limits: ChunkLimits) -> bool {
        if check_sample(self.last(), t, v) != SampleCheck::Accept {
            return false;
        }
        if limits.closes(&self.open, t) {
            let len = self.open.bytes().len();
            let mut full =
                std::mem::replace(&mut self.open, XorChunk::with_capacity(len + len / 16 + 8));
            full.shrink_to_fit();
            self.closed.push(Arc::new(full));
        }
        self.open.append(t, v).is_ok()
    }

    /// Number of chunks, the open one included if it has samples.
    pub fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(!self.open.is_empty())
    }

    /// Approximate bytes held by the chunks (their buffers' capacity).
    pub fn chunk_bytes(&self) -> usize {
        self.closed.iter().map(|c| c.capacity()).sum::<usize>() + self.open.capacity()
    }

    /// First sample timestamp.
    pub fn min_time(&self) -> Option<i64> {
        match self.closed.first() {
            Some(c) => c.first_timestamp(),
            None => self.open.first_timestamp(),
        }
    }

    /// Drops the samples older than `mint`: whole chunks ending before it, and the older part
    /// of a chunk straddling it (re-encoded). Returns the number of samples dropped. A series
    /// left without samples has no last sample either (the head drops it).
    pub fn truncate(&mut self, mint: i64) -> u64 {
        let mut dropped = 0u64;
        let keep_from = self
            .closed
            .partition_point(|c| c.last_timestamp().is_none_or(|l| l < mint));
        for c in self.closed.drain(..keep_from) {
            dropped += c.num_samples() as u64;
        }
        if let Some(first) = self.closed.first_mut()
            && first.first_timestamp().is_some_and(|f| f < mint)
        {
            let (mut part, n) = suffix(first, mint);
            part.shrink_to_fit();
            dropped += n;
            *first = Arc::new(part);
        }
        if self.closed.is_empty() && self.open.first_timestamp().is_some_and(|f| f < mint) {
            let (part, n) = suffix(&self.open, mint);
            dropped += n;
            self.open = part;
        }
        dropped
    }

    /// Number of samples held.
    pub fn num_samples(&self) -> u64 {
        self.closed
            .iter()
            .map(|c| c.num_samples() as u64)
            .sum::<u64>()
            + self.open.num_samples() as u64
    }

    /// The bytes of every non-empty chunk, oldest first (the open one's included).
    pub fn chunk_bytes_iter(&self) -> impl Iterator<Item = &[u8]> {
        self.closed
            .iter()
            .map(|c| c.as_ref())
            .chain(std::iter::once(&self.open))
            .filter(|c| !c.is_empty())
            .map(XorChunk::bytes)
    }

    /// Every chunk, oldest first (the open one copied if it has samples).
    pub fn all_chunks(&self) -> Vec<Arc<XorChunk>> {
        let mut out = self.closed.clone();
        if !self.open.is_empty() {
            out.push(Arc::new(self.open.clone()));
        }
        out
    }

    /// The chunks that may hold samples in `[mint, maxt]`, oldest first: the closed ones
    /// shared, the open one copied (so the caller holds no lock while reading them).
    pub fn chunks_in(&self, mint: i64, maxt: i64) -> Vec<Arc<XorChunk>> {
        let overlaps = |c: &XorChunk| match (c.first_timestamp(), c.last_timestamp()) {
            (Some(a), Some(b)) => a <= maxt && b >= mint,
            _ => false,
        };
        // Closed chunks are in time order: skip those ending before mint by binary search.
        let start = self
            .closed
            .partition_point(|c| c.last_timestamp().is_some_and(|b| b < mint));
        let mut out: Vec<Arc<XorChunk>> = self.closed[start..]
            .iter()
            .take_while(|c| c.first_timestamp().is_some_and(|a| a <= maxt))
            .filter(|c| overlaps(c))
            .cloned()
            .collect();
        if overlaps(&self.open) {
            out.push(Arc::new(self.open.clone()));
        }
        out
    }
}

/// The samples of `c` at or after `mint` as a new chunk, and how many were left out.
fn suffix(c: &XorChunk, mint: i64) -> (XorChunk, u64) {
    let mut part = XorChunk::new();
    let mut dropped = 0u64;
    for (t, v) in c.iter() {
        if t >= mint {
            // Timestamps strictly increase within a chunk, so this cannot fail.
            let _ = part.append(t, v);
        } else {
            dropped += 1;
        }
    }
    (part, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(samples: usize) -> ChunkLimits {
        ChunkLimits {
            samples,
            range_ms: i64::MAX,
        }
    }

    #[test]
    fn check_rules() {
        assert_eq!(check_sample(None, 5, 1.0), SampleCheck::Accept);
        let last = Some((10, 2.0f64.to_bits()));
        assert_eq!(check_sample(last, 11, 0.0), SampleCheck::Accept);
        assert_eq!(check_sample(last, 10, 2.0), SampleCheck::IgnoreDuplicate);
        assert_eq!(check_sample(last, 10, 3.0), SampleCheck::Duplicate);
        assert_eq!(check_sample(last, 9, 3.0), SampleCheck::OutOfOrder(10));
    }

    #[test]
    fn closed_chunks_are_sized_exactly_and_the_open_one_from_the_last_closed() {
        let mut s = MemSeries::default();
        // The first chunk grows in small steps.
        for t in 0..100 {
            // Values that need many bits, so chunks are a few hundred bytes.
            assert!(s.append(t * 1000, (t as f64).sqrt(), lim(120)));
        }
        let (len, cap) = (s.open.bytes().len(), s.open.capacity());
        assert!(cap <= len + (len / 8).max(16), "{len} bytes in {cap}");
        for t in 100..300 {
            assert!(s.append(t * 1000, (t as f64).sqrt(), lim(120)));
        }
        for c in &s.closed {
            assert_eq!(c.capacity(), c.bytes().len());
        }
        // The open chunk (60 samples) has the room of the last closed one (120 samples).
        let last = s.closed[1].bytes().len();
        assert_eq!(s.open.capacity(), last + last / 16 + 8);
        let buffer = s.open.bytes().as_ptr();
        for t in 300..359 {
            assert!(s.append(t * 1000, (t as f64).sqrt(), lim(120)));
        }
        assert!(s.open.bytes().len() <= last + last / 16 + 8);
        assert_eq!(s.open.bytes().as_ptr(), buffer, "not reallocated");
        let before = s.chunk_bytes();
        s.truncate(150_000);
        assert_eq!(s.closed[0].capacity(), s.closed[0].bytes().len());
        assert!(s.chunk_bytes() < before);
    }

    #[test]
    fn chunks_close_at_block_boundaries() {
        let mut s = MemSeries::default();
        let limits = ChunkLimits {
            samples: 120,
            range_ms: 100,
        };
        for t in (0..250).step_by(10) {
            assert!(s.append(t, t as f64, limits));
        }
        let spans: Vec<(i64, i64)> = s
            .all_chunks()
            .iter()
            .map(|c| (c.first_timestamp().unwrap(), c.last_timestamp().unwrap()))
            .collect();
        assert_eq!(spans, vec![(0, 90), (100, 190), (200, 240)]);
        // Cutting at a boundary drops whole chunks: nothing is re-encoded.
        let kept = s.closed[1].clone();
        assert_eq!(s.truncate(100), 10);
        assert!(Arc::ptr_eq(&s.closed[0], &kept));
    }

    #[test]
    fn cuts_chunks() {
        let mut s = MemSeries::default();
        for t in 0..250 {
            assert!(s.append(t, t as f64, lim(120)));
        }
        assert_eq!(s.num_chunks(), 3);
        assert_eq!(s.closed[0].num_samples(), 120);
        assert_eq!(s.closed[1].num_samples(), 120);
        assert_eq!(s.open.num_samples(), 10);
        assert!(!s.append(249, 0.0, lim(120)));
        assert_eq!(s.chunks_in(119, 120).len(), 2);
        assert_eq!(s.chunks_in(245, 1000).len(), 1);
        assert_eq!(s.chunks_in(300, 1000).len(), 0);
        assert_eq!(s.chunks_in(0, 0).len(), 1);
        assert_eq!(s.min_time(), Some(0));
    }

    #[test]
    fn truncate_splits_straddling_chunks() {
        let mut s = MemSeries::default();
        for t in 0..25 {
            assert!(s.append(t, t as f64, lim(10)));
        }
        // Chunks [0..10) [10..20) open [20..25).
        assert_eq!(s.truncate(13), 13);
        assert_eq!(s.min_time(), Some(13));
        assert_eq!(s.num_samples(), 12);
        let ts: Vec<i64> = s
            .all_chunks()
            .iter()
            .flat_map(|c| c.iter())
            .map(|x| x.0)
            .collect();
        assert_eq!(ts, (13..25).collect::<Vec<_>>());
        assert_eq!(s.truncate(22), 9);
        assert_eq!(s.num_chunks(), 1);
        assert!(s.append(25, 0.0, lim(10)));
        assert_eq!(s.last().map(|l| l.0), Some(25));
        assert_eq!(s.truncate(100), 4);
        assert_eq!(s.num_chunks(), 0);
        assert_eq!(s.last(), None);
    }
}
