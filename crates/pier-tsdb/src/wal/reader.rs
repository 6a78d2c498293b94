//! WAL replay: lists the segments, reads their records in order, hands each complete commit
//! (its new series and its samples) to the caller, and repairs a torn tail of the last
//! segment by truncating it at the start of the incomplete commit. See the format and the
//! torn-write rules in the [module docs](super).

use super::{
    HEADER_LEN, REC_SAMPLES, REC_SAMPLES_DELTA, REC_SERIES, decode_samples, decode_series,
    parse_segment_name,
};
use crate::error::TsdbError;
use crate::index::Labels;
use std::fs;
use std::path::{Path, PathBuf};

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Segment sequence numbers, in order.
    pub segments: Vec<u32>,
    /// Size of the last segment after any truncation.
    pub last_size: u64,
    /// Total size of all segments after any truncation.
    pub total_bytes: u64,
    /// Bytes cut from the end of the last segment (0 if it ended cleanly).
    pub truncated_bytes: u64,
    /// Number of commits replayed.
    pub commits: u64,
}

/// The sorted sequence numbers of the segments in `wal_dir` after `after` (all if 0); an
/// error if they have a gap or, when `after > 0`, do not start at `after + 1`. Files whose
/// names are not 8 digits are ignored.
pub fn list_segments(wal_dir: &Path, after: u32) -> Result<Vec<u32>, TsdbError> {
    let mut seqs: Vec<u32> = all_segments(wal_dir)?
        .into_iter()
        .filter(|&s| s > after)
        .collect();
    seqs.sort_unstable();
    let mut prev = (after > 0).then_some(after);
    for &s in &seqs {
        if let Some(p) = prev
            && s != p + 1
        {
            return Err(TsdbError::WalCorrupt {
                segment: wal_dir.join(super::segment_name(p + 1)),
                offset: 0,
                reason: format!(
                    "segment missing: the log jumps from {} to {}",
                    super::segment_name(p),
                    super::segment_name(s)
                ),
            });
        }
        prev = Some(s);
    }
    Ok(seqs)
}

/// Every segment sequence number in `wal_dir`, unsorted.
pub fn all_segments(wal_dir: &Path) -> Result<Vec<u32>, TsdbError> {
    let rd = fs::read_dir(wal_dir).map_err(|e| TsdbError::io("read directory", wal_dir, e))?;
    let mut seqs = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io("read directory", wal_dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_segment_name) {
            seqs.push(seq);
        }
    }
    Ok(seqs)
}

/// Replays every segment after `after` (the checkpoint's last segment; 0 for all) in order.
/// `on_commit(series, samples)` is called once per complete commit with the series
/// records that preceded its samples record (an error from it is reported as corruption at
/// that record). A torn tail of the last segment is dropped and the file truncated; other
/// damage is an error.
pub fn replay(
    wal_dir: &Path,
    after: u32,
    mut on_commit: impl FnMut(&[(u64, Labels)], &[(u64, i64, f64)]) -> Result<(), String>,
) -> Result<ReplayOutcome, TsdbError> {
    let segments = list_segments(wal_dir, after)?;
    let mut out = ReplayOutcome {
        segments: segments.clone(),
        ..ReplayOutcome::default()
    };
    for (i, &seq) in segments.iter().enumerate() {
        let path = wal_dir.join(super::segment_name(seq));
        let is_last = i + 1 == segments.len();
        let data = fs::read(&path).map_err(|e| TsdbError::io("read", &path, e))?;
        let seg = Segment {
            path: &path,
            data: &data,
            is_last,
        };
        let end = seg.replay(&mut on_commit, &mut out.commits)?;
        let mut size = data.len() as u64;
        if end < size {
            truncate(&path, end)?;
            out.truncated_bytes = size - end;
            size = end;
        }
        out.total_bytes += size;
        if is_last {
            out.last_size = size;
        }
    }
    Ok(out)
}

/// Reads every record of a file that must be intact (a checkpoint): `f(type, payload)`.
/// Any damage is [`TsdbError::WalCorrupt`]. Returns the file's size.
pub fn read_records(
    path: &Path,
    mut f: impl FnMut(u8, &[u8]) -> Result<(), String>,
) -> Result<u64, TsdbError> {
    let data = fs::read(path).map_err(|e| TsdbError::io("read", path, e))?;
    let path = path.to_path_buf();
    let seg = Segment {
        path: &path,
        data: &data,
        is_last: false,
    };
    let mut o = 0usize;
    while o < data.len() {
        match seg.record(o) {
            Ok((typ, payload, end)) => {
                f(typ, payload).map_err(|r| seg.corrupt(o, r))?;
                o = end;
            }
            Err(Stop::Torn) => return Err(seg.corrupt(o, "record cut short".to_string())),
            Err(Stop::Corrupt(off, reason)) => return Err(seg.corrupt(off as usize, reason)),
        }
    }
    Ok(data.len() as u64)
}

fn truncate(path: &Path, len: u64) -> Result<(), TsdbError> {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| TsdbError::io("open", path, e))?;
    f.set_len(len)
        .map_err(|e| TsdbError::io("truncate", path, e))?;
    f.sync_all().map_err(|e| TsdbError::io("fsync", path, e))
}

struct Segment<'a> {
    path: &'a PathBuf,
    data: &'a [u8],
    is_last: bool,
}

/// Why reading stopped at a record.
enum Stop {
    Torn,
    Corrupt(u64, String),
}

impl Segment<'_> {
    /// Replays the segment; returns the length it should have (shorter than the data if the
    /// tail is torn or holds an incomplete commit).
    fn replay(
        &self,
        on_commit: &mut impl FnMut(&[(u64, Labels)], &[(u64, i64, f64)]) -> Result<(), String>,
        commits: &mut u64,
    ) -> Result<u64, TsdbError> {
        let mut pending: Vec<(u64, Labels)> = Vec::new();
        let mut commit_start = 0usize;
        let mut o = 0usize;
        while o < self.data.len() {
            match self.record(o) {
                Ok((typ, payload, end)) => {
                    match typ {
                        REC_SERIES => {
                            let s = decode_series(payload).map_err(|r| self.corrupt(o, r))?;
                            pending.push(s);
                        }
                        REC_SAMPLES | REC_SAMPLES_DELTA => {
                            let samples =
                                decode_samples(typ, payload).map_err(|r| self.corrupt(o, r))?;
                            on_commit(&pending, &samples).map_err(|r| self.corrupt(o, r))?;
                            *commits += 1;
                            pending.clear();
                            commit_start = end;
                        }
                        other => {
                            return Err(self.corrupt(o, format!("unknown record type {other}")));
                        }
                    }
                    o = end;
                }
                Err(Stop::Torn) => return Ok(commit_start as u64),
                Err(Stop::Corrupt(off, reason)) => return Err(self.corrupt(off as usize, reason)),
            }
        }
        if pending.is_empty() {
            Ok(o as u64)
        } else if self.is_last {
            // The commit's samples record never arrived: drop its series too.
            Ok(commit_start as u64)
        } else {
            // Cannot happen with our writer (commits do not span segments); keep the series,
            // they are harmless.
            on_commit(&pending, &[]).map_err(|r| self.corrupt(o, r))?;
            Ok(o as u64)
        }
    }

    /// Reads the record at `o`: (type, payload, end offset).
    fn record(&self, o: usize) -> Result<(u8, &[u8], usize), Stop> {
        let d = self.data;
        let torn = |reason: String| {
            if self.is_last {
                Stop::Torn
            } else {
                Stop::Corrupt(o as u64, reason)
            }
        };
        if d.len() - o < HEADER_LEN {
            return Err(torn(format!(
                "{} bytes left, too few for a record header",
                d.len() - o
            )));
        }
        let word = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        let len = word(o) as usize;
        let crc = word(o + 4);
        let end = o + HEADER_LEN + len;
        if end > d.len() {
            return Err(torn(format!(
                "record length {len} runs past the end of the segment"
            )));
        }
        if crc32fast::hash(&d[o + 8..end]) != crc {
            let at_tail = end == d.len() || d[o..].iter().all(|&b| b == 0);
            if self.is_last && at_tail {
                return Err(Stop::Torn);
            }
            return Err(Stop::Corrupt(o as u64, "CRC mismatch".to_string()));
        }
        Ok((d[o + 8], &d[o + HEADER_LEN..end], end))
    }

    fn corrupt(&self, offset: usize, reason: String) -> TsdbError {
        TsdbError::WalCorrupt {
            segment: self.path.clone(),
            offset: offset as u64,
            reason,
        }
    }
}
