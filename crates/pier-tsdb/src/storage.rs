//! The read side that PromQL sees: the [`Storage`] trait and [`SeriesCursor`], a lazy cursor
//! over one series' samples in a time window. A cursor owns [`ChunkSource`]s: shared
//! immutable head chunks (and a copy of the open chunk), or references to chunks in blocks
//! on disk (with an `Arc` of the open block), so it holds no lock while iterating, and it
//! decodes one chunk at a time — never the whole series. A block chunk is read from disk only
//! when the cursor reaches it.

use crate::block::{Block, ChunkMeta};
use crate::chunk::{SealedChunk, XorChunk, decode_into};
use crate::error::TsdbError;
use crate::index::{Labels, Matcher};
use std::sync::Arc;

/// What PromQL reads. Implemented by [`Tsdb`](crate::Tsdb), over its blocks and head.
pub trait Storage: Send + Sync {
    /// Series matching all matchers that have at least one sample in `[mint, maxt]` (ms,
    /// inclusive), sorted by labels, each with a lazy cursor over its samples in that window.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesCursor>, TsdbError>;

    /// Label names of the series matching `matchers` (all series if empty), sorted.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError>;

    /// Values of label `name` over the series matching `matchers` (all if empty), sorted.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError>;
}

/// One chunk of a series: in memory, or in a block on disk (read when needed).
#[derive(Debug, Clone)]
pub enum ChunkSource {
    /// A head chunk.
    Mem(SealedChunk),
    /// A chunk in a block.
    Block {
        /// The block (kept open while the cursor lives).
        block: Arc<Block>,
        /// Where the chunk is.
        meta: ChunkMeta,
    },
}

impl ChunkSource {
    /// First and last sample timestamps (`None` for an empty chunk).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        match self {
            Self::Mem(c) => Some((c.first_timestamp(), c.last_timestamp())),
            Self::Block { meta, .. } => Some((meta.mint, meta.maxt)),
        }
    }
}

/// A cursor over the samples of one series within `[mint, maxt]`.
///
/// If reading a block chunk fails (I/O error, corruption), iteration ends early and
/// [`SeriesCursor::error`] says why.
///
/// `next` and `seek` follow Prometheus's iterator rules: `seek(t)` moves to the first sample
/// with timestamp `>= t` and never backwards (if the current sample is already at or after
/// `t` it is returned again); `next` yields the sample after the current one.
#[derive(Debug, Clone)]
pub struct SeriesCursor {
    /// The series' labels.
    pub labels: Labels,
    /// Chunks overlapping the window, oldest first; `chunks[next_chunk..]` are not decoded yet.
    chunks: Vec<ChunkSource>,
    next_chunk: usize,
    /// The decoded samples of the current chunk that are `>= mint`; `buf[pos..]` are unread.
    buf: Vec<(i64, f64)>,
    pos: usize,
    mint: i64,
    maxt: i64,
    at: Option<(i64, f64)>,
    done: bool,
    error: Option<String>,
}

impl SeriesCursor {
    /// A cursor over `chunks` (oldest first, non-overlapping) restricted to `[mint, maxt]`;
    /// empty chunks are left out.
    pub fn new(labels: Labels, chunks: Vec<Arc<XorChunk>>, mint: i64, maxt: i64) -> Self {
        Self::from_sources(
            labels,
            chunks
                .iter()
                .filter_map(|c| SealedChunk::copy_xor(c))
                .map(ChunkSource::Mem)
                .collect(),
            mint,
            maxt,
        )
    }

    /// A cursor over chunk sources (oldest first, non-overlapping) restricted to
    /// `[mint, maxt]`.
    pub fn from_sources(labels: Labels, chunks: Vec<ChunkSource>, mint: i64, maxt: i64) -> Self {
        Self {
            labels,
            chunks,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            mint,
            maxt,
            at: None,
            done: false,
            error: None,
        }
    }

    /// Why iteration stopped early, if reading a block chunk failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether the series has a sample in the window, deciding from chunk time ranges where
    /// they settle it (a chunk's first or last sample inside the window) and reading the
    /// first chunk reaching the window only when one spans it.
    pub(crate) fn has_sample(&mut self) -> bool {
        let (mint, maxt) = (self.mint, self.maxt);
        let mut spanning = false;
        for c in &self.chunks {
            if let Some((a, b)) = c.time_range() {
                if (mint..=maxt).contains(&a) || (mint..=maxt).contains(&b) {
                    return true;
                }
                spanning |= a < mint && b > maxt;
            }
        }
        spanning && self.peek().is_some()
    }

    /// The sample most recently returned by `next` or `seek`.
    pub fn at(&self) -> Option<(i64, f64)> {
        self.at
    }

    /// The next sample without consuming it.
    pub fn peek(&mut self) -> Option<(i64, f64)> {
        let from = self.after_at()?;
        self.fill(from)
    }

    /// The smallest timestamp the next sample may have (`None` if nothing can follow).
    fn after_at(&mut self) -> Option<i64> {
        match self.at {
            None => Some(self.mint),
            Some((t, _)) => t.checked_add(1),
        }
    }

    /// Advances to the first sample with timestamp `>= t`; see the type docs.
    pub fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        if let Some(at) = self.at
            && at.0 >= t
        {
            return Some(at);
        }
        let s = self.fill(t)?;
        self.pos += 1;
        self.at = Some(s);
        Some(s)
    }

    /// Ensures `buf[pos]` is the first unread sample with timestamp `>= t` and returns it, or
    /// `None` when the window is exhausted.
    fn fill(&mut self, t: i64) -> Option<(i64, f64)> {
        if self.done {
            return None;
        }
        let t = t.max(self.mint);
        // The common case, reading on: the next decoded sample is the one.
        if let Some(&s) = self.buf.get(self.pos)
            && s.0 >= t
            && s.0 <= self.maxt
        {
            return Some(s);
        }
        loop {
            let skip = self.buf[self.pos..].partition_point(|s| s.0 < t);
            self.pos += skip;
            if let Some(&s) = self.buf.get(self.pos) {
                if s.0 > self.maxt {
                    self.finish();
                    return None;
                }
                return Some(s);
            }
            // Nothing left at or after t in this chunk: find the next chunk reaching t,
            // skipping the others without decoding them.
            self.buf.clear();
            self.pos = 0;
            let rest = &self.chunks[self.next_chunk..];
            let skip = rest.partition_point(|c| c.time_range().is_none_or(|r| r.1 < t));
            self.next_chunk += skip;
            let Some(c) = self.chunks.get(self.next_chunk) else {
                self.finish();
                return None;
            };
            self.next_chunk += 1;
            let mint = self.mint;
            let failed = match c {
                ChunkSource::Mem(c) => c.decode_into(mint, &mut self.buf).err().map(|e| {
                    format!(
                        "head chunk {}..{}: {e}",
                        c.first_timestamp(),
                        c.last_timestamp()
                    )
                }),
                ChunkSource::Block { block, meta } => match block.read_chunk(meta) {
                    Ok((encoding, data)) => decode_into(encoding, &data, mint, &mut self.buf)
                        .err()
                        .map(|e| {
                            format!(
                                "block {} chunk at {}:{}: {e}",
                                block.id(),
                                meta.file,
                                meta.offset
                            )
                        }),
                    Err(e) => Some(e.to_string()),
                },
            };
            if let Some(e) = failed {
                self.error = Some(e);
                // Samples decoded before the damage are still returned.
                self.chunks.truncate(self.next_chunk);
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.buf = Vec::new();
        self.chunks = Vec::new();
    }
}

impl Iterator for SeriesCursor {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        // Timestamps strictly increase, so "first >= at + 1" is "the one after at".
        let from = self.after_at()?;
        let s = self.fill(from)?;
        self.pos += 1;
        self.at = Some(s);
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(ranges: &[std::ops::Range<i64>]) -> Vec<Arc<XorChunk>> {
        ranges
            .iter()
            .map(|r| {
                let mut c = XorChunk::new();
                for t in r.clone() {
                    c.append(t * 10, t as f64).unwrap();
                }
                Arc::new(c)
            })
            .collect()
    }

    fn cur(mint: i64, maxt: i64) -> SeriesCursor {
        let labels = Labels::series([("__name__", "x")]).unwrap();
        SeriesCursor::new(labels, chunks(&[0..5, 5..10, 10..15]), mint, maxt)
    }

    #[test]
    fn next_within_window() {
        let ts: Vec<i64> = cur(i64::MIN, i64::MAX).map(|s| s.0).collect();
        assert_eq!(ts, (0..15).map(|t| t * 10).collect::<Vec<_>>());
        let ts: Vec<i64> = cur(35, 101).map(|s| s.0).collect();
        assert_eq!(ts, vec![40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(cur(41, 49).next(), None);
        assert_eq!(cur(200, 300).next(), None);
    }

    #[test]
    fn seek_semantics() {
        let mut c = cur(0, 120);
        assert_eq!(c.seek(55), Some((60, 6.0)));
        assert_eq!(c.seek(10), Some((60, 6.0)), "never backwards");
        assert_eq!(c.next(), Some((70, 7.0)));
        assert_eq!(c.seek(101), Some((110, 11.0)));
        assert_eq!(c.at(), Some((110, 11.0)));
        assert_eq!(c.next(), Some((120, 12.0)));
        assert_eq!(c.next(), None);
        assert_eq!(c.seek(0), Some((120, 12.0)));
        let mut c = cur(0, 120);
        assert_eq!(c.seek(125), None);
        assert_eq!(c.next(), None);
        let mut c = cur(25, 200);
        assert_eq!(c.peek(), Some((30, 3.0)));
        assert_eq!(c.seek(40), Some((40, 4.0)));
        assert_eq!(c.peek(), Some((50, 5.0)), "peek at a chunk boundary");
        assert_eq!(c.next(), Some((50, 5.0)));
        assert_eq!(c.seek(i64::MIN), Some((50, 5.0)));
    }
}
