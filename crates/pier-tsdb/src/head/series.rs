//! One series in the head: its closed, immutable chunks ([`SealedChunk`]s, shared with
//! readers) and the open chunk being appended to. Owns the per-series ordering rules (strictly
//! increasing timestamps; same timestamp with identical value bits is a no-op) and chunk
//! cutting: a chunk is closed when full, and — as Prometheus does — when a sample falls in
//! the next block range, so no chunk straddles a block boundary. Cutting the head into a
//! block then shares its closed chunks instead of copying and re-encoding them, and dropping
//! them afterwards frees whole chunks. A closed chunk is sealed in the encoding its block
//! record will have (pier's compact encoding when that is smaller than XOR: typically less
//! than half the size for the decimal values of exporters), in one allocation of exactly its
//! size. The next chunk starts in a fresh two-byte buffer that grows in small steps (see
//! [`crate::chunk::bitstream`]), as Prometheus's does: on average it holds half a chunk's
//! bytes. (Reusing the closed chunk's buffer at that chunk's size, as before, kept a whole
//! chunk's size reserved for every series all the time: with the daemon's allocator settings,
//! `crates/pier-scrape/examples/scrape_memory.rs` (10,000 series scraped every second, 1-minute
//! blocks) measured 1,229 B of resident memory per series with it and 1,061–1,107 B without.)

use crate::chunk::{SealedChunk, XorChunk};

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
    /// Full chunks, oldest first; never modified again. Grown one slot at a time (its
    /// capacity is the most closed chunks the series has held at once).
    closed: Vec<SealedChunk>,
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
            if let Some(sealed) = SealedChunk::seal(&self.open) {
                // One slot at a time: a series holds a few closed chunks, and a vector's
                // first allocation would otherwise be four slots.
                if self.closed.len() == self.closed.capacity() {
                    self.closed.reserve_exact(1);
                }
                self.closed.push(sealed);
            }
            self.open = XorChunk::new();
        }
        self.open.append(t, v).is_ok()
    }

    /// Number of chunks, the open one included if it has samples.
    pub fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(!self.open.is_empty())
    }

    /// Approximate bytes held by the chunks (their allocations).
    pub fn chunk_bytes(&self) -> usize {
        self.closed
            .iter()
            .map(SealedChunk::heap_bytes)
            .sum::<usize>()
            + self.open.capacity()
    }

    /// First sample timestamp.
    pub fn min_time(&self) -> Option<i64> {
        match self.closed.first() {
            Some(c) => Some(c.first_timestamp()),
            None => self.open.first_timestamp(),
        }
    }

    /// Drops the samples older than `mint`: whole chunks ending before it, and the older part
    /// of a chunk straddling it (re-encoded). Returns the number of samples dropped. A series
    /// left without samples has no last sample either (the head drops it).
    pub fn truncate(&mut self, mint: i64) -> u64 {
        let mut dropped = 0u64;
        let keep_from = self.closed.partition_point(|c| c.last_timestamp() < mint);
        for c in self.closed.drain(..keep_from) {
            dropped += c.num_samples() as u64;
        }
        if let Some(first) = self.closed.first()
            && first.first_timestamp() < mint
        {
            let (part, n) = suffix(first.iter(), mint);
            dropped += n;
            // The chunk's last sample is at or after mint, so the part is not empty.
            if let Some(part) = SealedChunk::seal(&part) {
                self.closed[0] = part;
            }
        }
        if self.closed.is_empty() && self.open.first_timestamp().is_some_and(|f| f < mint) {
            let (part, n) = suffix(self.open.iter(), mint);
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

    /// Every non-empty chunk as (encoding, bytes), oldest first (the open one's included, in
    /// XOR).
    pub fn encoded_chunks(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.closed.iter().map(|c| (c.encoding(), c.data())).chain(
            std::iter::once(&self.open)
                .filter(|c| !c.is_empty())
                .map(|c| (crate::chunk::ENCODING_XOR, c.bytes())),
        )
    }

    /// Every chunk, oldest first (the open one copied if it has samples).
    pub fn all_chunks(&self) -> Vec<SealedChunk> {
        let mut out = self.closed.clone();
        out.extend(SealedChunk::copy_xor(&self.open));
        out
    }

    /// The chunks that may hold samples in `[mint, maxt]`, oldest first: the closed ones
    /// shared, the open one copied (so the caller holds no lock while reading them).
    pub fn chunks_in(&self, mint: i64, maxt: i64) -> Vec<SealedChunk> {
        // Closed chunks are in time order: skip those ending before mint by binary search.
        let start = self.closed.partition_point(|c| c.last_timestamp() < mint);
        let mut out: Vec<SealedChunk> = self.closed[start..]
            .iter()
            .take_while(|c| c.first_timestamp() <= maxt)
            .cloned()
            .collect();
        if let (Some(a), Some(b)) = (self.open.first_timestamp(), self.open.last_timestamp())
            && a <= maxt
            && b >= mint
        {
            out.extend(SealedChunk::copy_xor(&self.open));
        }
        out
    }
}

/// The samples at or after `mint` as a new chunk, and how many were left out.
fn suffix(samples: impl Iterator<Item = (i64, f64)>, mint: i64) -> (XorChunk, u64) {
    let mut part = XorChunk::new();
    let mut dropped = 0u64;
    for (t, v) in samples {
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
    fn closed_chunks_are_sized_exactly_and_each_open_one_grows_from_nothing() {
        let mut s = MemSeries::default();
        let grown_in_small_steps = |s: &MemSeries| {
            let (len, cap) = (s.open.bytes().len(), s.open.capacity());
            assert!(cap <= len + (len / 8).max(16), "{len} bytes in {cap}");
        };
        for t in 0..100 {
            // Values that need many bits, so chunks are a few hundred bytes.
            assert!(s.append(t * 1000, (t as f64).sqrt(), lim(120)));
        }
        grown_in_small_steps(&s);
        for t in 100..300 {
            assert!(s.append(t * 1000, (t as f64).sqrt(), lim(120)));
        }
        for c in &s.closed {
            // Not decimals: sealed in XOR, one allocation of its size.
            assert!(!c.is_compact());
            assert_eq!(c.heap_bytes(), c.data().len() + 17 + 16);
        }
        // The open chunk (60 samples) holds no room for the 120 samples of the closed ones.
        grown_in_small_steps(&s);
        assert!(s.open.capacity() < s.closed[1].data().len() * 3 / 4);
        // A chunk closed: the next one starts with the two header bytes.
        for t in 300..360 {
            assert!(s.append(t * 1000, (t as f64).sqrt(), lim(120)));
        }
        assert_eq!(s.open.num_samples(), 120);
        assert!(s.append(360 * 1000, 0.5, lim(120)));
        assert_eq!((s.closed.len(), s.open.num_samples()), (3, 1));
        assert!(s.open.capacity() <= 2 + 16, "{}", s.open.capacity());
        let before = s.chunk_bytes();
        s.truncate(150_000);
        assert_eq!(s.closed[0].first_timestamp(), 150_000);
        assert!(s.chunk_bytes() < before);
    }

    #[test]
    fn decimal_chunks_are_closed_compact() {
        let mut s = MemSeries::default();
        let mut xor = XorChunk::new();
        // A counter with two decimals, as exporters' CPU seconds.
        let value = |t: i64| (252_720_729 + t * 100 + t * 37 % 101) as f64 / 100.0;
        for t in 0..240 {
            let v = value(t);
            assert!(s.append(t * 1000, v, lim(120)));
            if t < 120 {
                xor.append(t * 1000, v).unwrap();
            }
        }
        assert_eq!((s.closed.len(), s.closed.capacity()), (1, 1));
        let c = &s.closed[0];
        assert!(c.is_compact());
        assert!(c.data().len() * 2 < xor.bytes().len(), "{c:?}");
        // The open chunk started afresh: its buffer holds about its 120 samples, not more.
        let len = s.open.bytes().len();
        assert!(
            s.open.capacity() <= len + (len / 8).max(16),
            "{len} in {}",
            s.open.capacity()
        );
        let got: Vec<(i64, u64)> = s
            .all_chunks()
            .iter()
            .flat_map(|c| c.iter())
            .map(|(t, v)| (t, v.to_bits()))
            .collect();
        let want: Vec<(i64, u64)> = (0..240).map(|t| (t * 1000, value(t).to_bits())).collect();
        assert_eq!(got, want);
        // Truncating inside a compact chunk keeps the rest of it.
        assert_eq!(s.truncate(100_000), 100);
        assert_eq!(s.min_time(), Some(100_000));
        assert!(s.closed[0].is_compact());
        assert_eq!(s.num_samples(), 140);
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
            .map(|c| (c.first_timestamp(), c.last_timestamp()))
            .collect();
        assert_eq!(spans, vec![(0, 90), (100, 190), (200, 240)]);
        // Cutting at a boundary drops whole chunks: nothing is re-encoded.
        let kept = s.closed[1].clone();
        assert_eq!(s.truncate(100), 10);
        assert!(SealedChunk::ptr_eq(&s.closed[0], &kept));
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
