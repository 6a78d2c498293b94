//! WAL checkpoints: `wal/checkpoint.NNNNNNNN`, the head's series and chunks standing in for
//! segments `<= N` (format and replay order in the [module docs](super)). Written
//! crash-safely: `checkpoint.N.tmp`, fsync, rename, fsync `wal/`; then the segments and
//! checkpoints it replaces are deleted. The head streams its series into a
//! [`CheckpointWriter`] (through a small buffer) rather than handing over a copy of itself.

use super::reader::{all_segments, read_records};
use super::writer::sync_dir;
use super::{
    REC_CHUNK, REC_CHUNK_ENCODED, REC_SERIES, decode_chunk, decode_series, encode_chunk,
    encode_series,
};
use crate::error::TsdbError;
use crate::index::Labels;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// Buffer between the records and the file.
const BUFFER: usize = 64 << 10;

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

/// `checkpoint.N` being written (as `checkpoint.N.tmp` until [`CheckpointWriter::finish`]).
#[derive(Debug)]
pub struct CheckpointWriter {
    wal_dir: PathBuf,
    n: u32,
    tmp: PathBuf,
    w: BufWriter<File>,
    /// One series' records.
    buf: Vec<u8>,
    size: u64,
}

impl CheckpointWriter {
    /// Starts `checkpoint.N`.
    pub fn create(wal_dir: &Path, n: u32) -> Result<Self, TsdbError> {
        let tmp = wal_dir.join(format!("{PREFIX}{n:08}{TMP_SUFFIX}"));
        let f = File::create(&tmp).map_err(|e| TsdbError::io("create", &tmp, e))?;
        Ok(Self {
            wal_dir: wal_dir.to_path_buf(),
            n,
            tmp,
            w: BufWriter::with_capacity(BUFFER, f),
            buf: Vec::new(),
            size: 0,
        })
    }

    /// Writes one series: its record, then a record per non-empty chunk ((encoding, bytes),
    /// oldest first).
    pub fn series<'a>(
        &mut self,
        wal_ref: u64,
        labels: &Labels,
        chunks: impl IntoIterator<Item = (u8, &'a [u8])>,
    ) -> Result<(), TsdbError> {
        self.buf.clear();
        encode_series(&mut self.buf, wal_ref, labels);
        for (encoding, c) in chunks {
            encode_chunk(&mut self.buf, wal_ref, encoding, c);
        }
        self.w
            .write_all(&self.buf)
            .map_err(|e| TsdbError::io("write", &self.tmp, e))?;
        self.size += self.buf.len() as u64;
        Ok(())
    }

    /// Flushes, fsyncs and renames the checkpoint into place (and fsyncs `wal/`); returns its
    /// size.
    pub fn finish(self) -> Result<u64, TsdbError> {
        let tmp = self.tmp;
        let f = self
            .w
            .into_inner()
            .map_err(|e| TsdbError::io("write", &tmp, e.into_error()))?;
        f.sync_all().map_err(|e| TsdbError::io("fsync", &tmp, e))?;
        drop(f);
        let path = checkpoint_path(&self.wal_dir, self.n);
        fs::rename(&tmp, &path).map_err(|e| TsdbError::io("rename", &tmp, e))?;
        sync_dir(&self.wal_dir)?;
        Ok(self.size)
    }
}

/// A record of a checkpoint.
#[derive(Debug)]
pub enum Record<'a> {
    /// A series: WAL ref and labels.
    Series(u64, Labels),
    /// A chunk of the series with this WAL ref: its encoding and bytes.
    Chunk(u64, u8, &'a [u8]),
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
        REC_CHUNK | REC_CHUNK_ENCODED => {
            let (r, encoding, c) = decode_chunk(typ, payload)?;
            f(Record::Chunk(r, encoding, c))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ENCODING_COMPACT, ENCODING_XOR, SealedChunk};

    #[test]
    fn chunks_keep_their_encoding_through_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::series([("__name__", "node_cpu_seconds_total")]).unwrap();
        let compact =
            SealedChunk::from_samples((0..60).map(|i| (i * 1000, 17.25 + i as f64))).unwrap();
        assert!(compact.is_compact());
        let xor = SealedChunk::from_samples([(60_000, 0.1f64.sqrt())]).unwrap();
        assert_eq!(xor.encoding(), ENCODING_XOR);
        let mut w = CheckpointWriter::create(dir.path(), 3).unwrap();
        w.series(
            9,
            &labels,
            [
                (compact.encoding(), compact.data()),
                (xor.encoding(), xor.data()),
            ],
        )
        .unwrap();
        w.finish().unwrap();
        let mut got = Vec::new();
        read(dir.path(), 3, |r| {
            got.push(match r {
                Record::Series(r, l) => format!("series {r} {l}"),
                Record::Chunk(r, encoding, data) => format!("chunk {r} {encoding} {data:?}"),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                r#"series 9 {__name__="node_cpu_seconds_total"}"#.to_string(),
                format!("chunk 9 {ENCODING_COMPACT} {:?}", compact.data()),
                format!("chunk 9 {ENCODING_XOR} {:?}", xor.data()),
            ]
        );
    }
}
