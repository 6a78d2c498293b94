//! WAL checkpoints: `wal/checkpoint.NNNNNNNN`, the head's series and chunks standing in for
//! segments `<= N` (format and replay order in the [module docs](super)). Written
//! crash-safely: `checkpoint.N.tmp`, fsync, rename, fsync `wal/`; then the segments and
//! checkpoints it replaces are deleted.

use super::reader::{all_segments, read_records};
use super::writer::sync_dir;
use super::{REC_CHUNK, REC_SERIES, decode_chunk, decode_series, encode_chunk, encode_series};
use crate::chunk::XorChunk;
use crate::error::TsdbError;
use crate::index::Labels;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// One series of the head as a checkpoint holds it.
#[derive(Debug, Clone)]
pub struct CheckpointSeries {
    /// The series' WAL ref.
    pub wal_ref: u64,
    /// Its labels.
    pub labels: Labels,
    /// Its chunks, oldest first.
    pub chunks: Vec<Arc<XorChunk>>,
}

/// `wal/checkpoint.N`.
pub fn checkpoint_path(wal_dir: &Path, n: u32) -> PathBuf {
    wal_dir.join(format!("{PREFIX}{n:08}"))
}

/// The checkpoints in `wal_dir` (sorted by N); leftover `checkpoint.*.tmp` are deleted.
pub fn list(wal_dir: &Path) -> Result<Vec<u32>, TsdbError> {
    let rd = fs::read_dir(wal_dir).map_err(|e| TsdbError::io("read directory", wal_dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io("read directory", wal_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if rest.ends_with(TMP_SUFFIX) {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| TsdbError::io("remove", &p, e))?;
        } else if let Some(n) = super::parse_segment_name(rest) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Writes `checkpoint.N` crash-safely; returns its size.
pub fn write(wal_dir: &Path, n: u32, series: &[CheckpointSeries]) -> Result<u64, TsdbError> {
    let path = checkpoint_path(wal_dir, n);
    let tmp = wal_dir.join(format!("{PREFIX}{n:08}{TMP_SUFFIX}"));
    let f = File::create(&tmp).map_err(|e| TsdbError::io("create", &tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut buf = Vec::new();
    let mut size = 0u64;
    for s in series {
        buf.clear();
        encode_series(&mut buf, s.wal_ref, &s.labels);
        for c in &s.chunks {
            if !c.is_empty() {
                encode_chunk(&mut buf, s.wal_ref, c.bytes());
            }
        }
        w.write_all(&buf)
            .map_err(|e| TsdbError::io("write", &tmp, e))?;
        size += buf.len() as u64;
    }
    let f = w
        .into_inner()
        .map_err(|e| TsdbError::io("write", &tmp, e.into_error()))?;
    f.sync_all().map_err(|e| TsdbError::io("fsync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| TsdbError::io("rename", &tmp, e))?;
    sync_dir(wal_dir)?;
    Ok(size)
}

/// A record of a checkpoint.
#[derive(Debug)]
pub enum Record<'a> {
    /// A series: WAL ref and labels.
    Series(u64, Labels),
    /// A chunk of the series with this WAL ref.
    Chunk(u64, &'a [u8]),
}

/// Reads `checkpoint.N`, calling `f` for each record in order. Returns the file's size.
pub fn read(
    wal_dir: &Path,
    n: u32,
    mut f: impl FnMut(Record<'_>) -> Result<(), String>,
) -> Result<u64, TsdbError> {
    read_records(&checkpoint_path(wal_dir, n), |typ, payload| match typ {
        REC_SERIES => {
            let (r, l) = decode_series(payload)?;
            f(Record::Series(r, l))
        }
        REC_CHUNK => {
            let (r, c) = decode_chunk(payload)?;
            f(Record::Chunk(r, c))
        }
        other => Err(format!("unexpected record type {other} in a checkpoint")),
    })
}

/// Deletes segments `<= n` and checkpoints older than `n`. Returns (bytes, count) of the
/// segments deleted.
pub fn delete_replaced(wal_dir: &Path, n: u32) -> Result<(u64, usize), TsdbError> {
    let mut segs: Vec<u32> = all_segments(wal_dir)?
        .into_iter()
        .filter(|&s| s <= n)
        .collect();
    segs.sort_unstable();
    let (mut bytes, mut count) = (0u64, 0usize);
    for s in segs {
        let p = wal_dir.join(super::segment_name(s));
        bytes += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        fs::remove_file(&p).map_err(|e| TsdbError::io("remove", &p, e))?;
        count += 1;
    }
    for old in list(wal_dir)?.into_iter().filter(|&c| c < n) {
        let p = checkpoint_path(wal_dir, old);
        fs::remove_file(&p).map_err(|e| TsdbError::io("remove", &p, e))?;
    }
    if count > 0 {
        sync_dir(wal_dir)?;
    }
    Ok((bytes, count))
}
