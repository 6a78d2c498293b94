//! Making blocks: writing one from head chunks ([`write_head_block`]), choosing which blocks
//! to merge ([`ranges`], [`plan`], Prometheus's leveled planner) and merging them
//! ([`merge`]). Pure file work: the caller (`Tsdb`) swaps blocks in and out of its list and
//! deletes the sources.

use super::writer::{BlockWriter, frame_chunk, frame_record};
use super::{Block, BlockCompaction, ENCODING_XOR, new_id};
use crate::chunk::{SealedChunk, XorChunk};
use crate::error::TsdbError;
use crate::index::{Labels, SeriesRef};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// 31 days in ms: the largest block compaction makes (as Prometheus).
pub const MAX_BLOCK_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;

/// Block ranges compaction produces: `block_range × 3^k` up to `min(retention / 10, 31 d)`
/// (never below `block_range`). `ranges[0]` is the head's cut size.
pub fn ranges(block_range: i64, retention_ms: i64) -> Vec<i64> {
    let block_range = block_range.max(1);
    let max = (retention_ms / 10).min(MAX_BLOCK_RANGE_MS).max(block_range);
    let mut out = vec![block_range];
    let mut r = block_range;
    while let Some(n) = r.checked_mul(3) {
        if n > max {
            break;
        }
        out.push(n);
        r = n;
    }
    out
}

/// Which blocks to merge next: indices into `spans` (the blocks' `[mint, maxt)`, sorted by
/// mint, non-overlapping), or `None`. Prometheus's `LeveledCompactor.plan`/`selectDirs`:
/// the newest block is left alone; for each range above the smallest, blocks are grouped by
/// aligned windows of that range (blocks not fitting in one window are skipped), and the first
/// group of two or more blocks is chosen if it spans the whole window or ends before the
/// newest remaining block starts.
pub fn plan(spans: &[(i64, i64)], ranges: &[i64]) -> Option<Vec<usize>> {
    if spans.len() < 2 || ranges.len() < 2 {
        return None;
    }
    let ds = &spans[..spans.len() - 1];
    let high = ds.last()?.0;
    for &r in &ranges[1..] {
        for part in split_by_range(ds, r) {
            let mint = ds[part[0]].0;
            let maxt = ds[part[part.len() - 1]].1;
            if part.len() > 1
                && (i128::from(maxt) - i128::from(mint) == i128::from(r) || maxt <= high)
            {
                return Some(part);
            }
        }
    }
    None
}

/// Groups consecutive spans into aligned windows `[k·r, (k+1)·r)`.
fn split_by_range(ds: &[(i64, i64)], r: i64) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ds.len() {
        let t0 = ds[i].0.div_euclid(r).saturating_mul(r);
        let end = t0.saturating_add(r);
        if ds[i].1 > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < ds.len() && ds[i].1 <= end {
            group.push(i);
            i += 1;
        }
        out.push(group);
    }
    out
}

/// Writes a level-1 block for `[mint, maxt)` from head chunks (each series' chunks oldest
/// first; chunks may reach outside the range: their samples outside are left out, which
/// splits a chunk straddling a boundary), each stored compact when that is smaller
/// ([`frame_chunk`]). Returns `None` if there is no sample in the range.
pub fn write_head_block(
    blocks_dir: &Path,
    mint: i64,
    maxt: i64,
    mut series: Vec<(Labels, Vec<SealedChunk>)>,
) -> Result<Option<PathBuf>, TsdbError> {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let id = new_id();
    let mut w = BlockWriter::new(blocks_dir, id.clone(), mint, maxt)?;
    let mut rec = Vec::new();
    for (labels, chunks) in series {
        let mut records: Vec<(i64, i64, std::ops::Range<usize>)> = Vec::new();
        rec.clear();
        for c in &chunks {
            let (first, last) = (c.first_timestamp(), c.last_timestamp());
            if last < mint || first >= maxt {
                continue;
            }
            let start = rec.len();
            if first >= mint && last < maxt {
                if c.is_block_encoded() {
                    // Sealed in the block's encoding already (compact, or XOR because
                    // compact was not smaller).
                    frame_record(&mut rec, c.encoding(), c.data());
                } else {
                    frame_chunk(&mut rec, c.data());
                }
                records.push((first, last, start..rec.len()));
            } else {
                // Straddles a boundary: keep the samples inside the range.
                let mut part = XorChunk::new();
                for (t, v) in c.iter().filter(|s| s.0 >= mint && s.0 < maxt) {
                    // Timestamps strictly increase within a chunk.
                    let _ = part.append(t, v);
                }
                if let (Some(a), Some(b)) = (part.first_timestamp(), part.last_timestamp()) {
                    frame_chunk(&mut rec, part.bytes());
                    records.push((a, b, start..rec.len()));
                }
            }
        }
        let rec_ref = &rec;
        let res = w.add_series(
            labels,
            records
                .iter()
                .map(|(a, b, r)| (*a, *b, &rec_ref[r.clone()])),
        );
        if let Err(e) = res {
            w.abort();
            return Err(e);
        }
    }
    if w.num_series() == 0 {
        w.abort();
        return Ok(None);
    }
    let compaction = BlockCompaction {
        level: 1,
        sources: vec![id],
        parents: Vec::new(),
    };
    w.finish(compaction).map(Some)
}

/// Merges `sources` (sorted by mint, non-overlapping) into one new block covering
/// `[first mint, last maxt)`. Chunks are checked (CRC) on the way; compact chunks are copied
/// as they are, XOR chunks (from blocks written before the compact encoding, or whose values
/// it cannot represent) are re-encoded compactly when that is smaller. The sources are left
/// in place.
pub fn merge(blocks_dir: &Path, sources: &[Arc<Block>]) -> Result<PathBuf, TsdbError> {
    let (Some(first), Some(last)) = (sources.first(), sources.last()) else {
        return Err(TsdbError::io(
            "merge",
            blocks_dir,
            std::io::Error::other("no blocks to merge"),
        ));
    };
    let mut all: BTreeMap<Labels, Vec<(usize, SeriesRef)>> = BTreeMap::new();
    for (i, b) in sources.iter().enumerate() {
        let ix = b.index();
        for r in 0..ix.len() as u32 {
            if let Some(l) = ix.labels(SeriesRef(r)) {
                all.entry(l.clone()).or_default().push((i, SeriesRef(r)));
            }
        }
    }
    let mut w = BlockWriter::new(blocks_dir, new_id(), first.meta().mint, last.meta().maxt)?;
    let result = (|| {
        for (labels, refs) in all {
            let mut records: Vec<(i64, i64, Vec<u8>)> = Vec::new();
            for (i, r) in refs {
                for c in sources[i].chunks_of(r) {
                    let (encoding, data) = sources[i].read_chunk(&c)?;
                    let mut rec = Vec::with_capacity(data.len() + 8);
                    if encoding == ENCODING_XOR {
                        frame_chunk(&mut rec, &data);
                    } else {
                        frame_record(&mut rec, encoding, &data);
                    }
                    records.push((c.mint, c.maxt, rec));
                }
            }
            w.add_series(
                labels,
                records.iter().map(|(a, b, r)| (*a, *b, r.as_slice())),
            )?;
        }
        Ok::<(), TsdbError>(())
    })();
    if let Err(e) = result {
        w.abort();
        return Err(e);
    }
    let mut src: Vec<String> = sources
        .iter()
        .flat_map(|b| b.meta().compaction.sources.iter().cloned())
        .collect();
    src.sort();
    src.dedup();
    let compaction = BlockCompaction {
        level: sources
            .iter()
            .map(|b| b.meta().compaction.level)
            .max()
            .unwrap_or(0)
            + 1,
        sources: src,
        parents: sources.iter().map(|b| b.id().to_string()).collect(),
    };
    w.finish(compaction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_grow_by_three_up_to_a_tenth_of_retention() {
        let h = 3_600_000;
        // 15 d retention: blocks up to 36 h.
        assert_eq!(ranges(2 * h, 15 * 24 * h), vec![2 * h, 6 * h, 18 * h]);
        assert_eq!(
            ranges(2 * h, 30 * 24 * h),
            vec![2 * h, 6 * h, 18 * h, 54 * h]
        );
        assert_eq!(ranges(2 * h, h), vec![2 * h]);
        assert_eq!(ranges(1000, i64::MAX).last(), Some(&(1000 * 3i64.pow(13))));
    }

    #[test]
    fn planner_as_prometheus() {
        let r = [10, 30, 90];
        // Newest block excluded; three full 10-blocks fill the 30-window.
        assert_eq!(
            plan(&[(0, 10), (10, 20), (20, 30), (30, 40)], &r),
            Some(vec![0, 1, 2])
        );
        // Only two blocks in the first window, and it is not before the newest remaining.
        assert_eq!(plan(&[(0, 10), (10, 20), (20, 30)], &r), None);
        // Window ended (a later block starts after it): merge even if incomplete.
        assert_eq!(
            plan(&[(0, 10), (10, 20), (30, 40), (40, 50)], &r),
            Some(vec![0, 1])
        );
        // Level two: three 30-blocks into a 90-block.
        assert_eq!(
            plan(&[(0, 30), (30, 60), (60, 90), (90, 100)], &r),
            Some(vec![0, 1, 2])
        );
        assert_eq!(plan(&[(0, 30)], &r), None);
        // Negative times align downwards.
        assert_eq!(
            plan(&[(-30, -20), (-20, -10), (-10, 0), (0, 10)], &r),
            Some(vec![0, 1, 2])
        );
    }
}
