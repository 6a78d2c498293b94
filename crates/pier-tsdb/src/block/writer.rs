//! Writing a block: [`BlockWriter`] takes series in label order with their chunk records
//! (framed by [`frame_chunk`] in the encoding [`crate::chunk::encode_for_block`] picks), writes `chunks/NNNNNN` and
//! `index` into `blocks/<id>.tmp/`, then `meta.json`, fsyncs everything and renames the
//! directory into place (format and crash rules in [`crate::block`]).

use super::{
    BlockCompaction, BlockMeta, BlockStats, CHUNK_FILE_BYTES, CHUNKS_DIR, CHUNKS_HEADER, ChunkMeta,
    DELETED_SUFFIX, INDEX_FILE, META_FILE, TMP_SUFFIX, chunk_file_path, encode_index, put_uvarint,
};
use crate::chunk::encode_for_block;
use crate::error::TsdbError;
use crate::index::Labels;
use crate::wal::writer::sync_dir;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes one block. Series must be added in increasing label order.
#[derive(Debug)]
pub struct BlockWriter {
    blocks_dir: PathBuf,
    id: String,
    tmp: PathBuf,
    mint: i64,
    maxt: i64,
    file_no: u32,
    file: Option<BufWriter<File>>,
    file_size: u64,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    stats: BlockStats,
}

impl BlockWriter {
    /// Starts block `id` for `[mint, maxt)` in `blocks_dir/<id>.tmp/`.
    pub fn new(blocks_dir: &Path, id: String, mint: i64, maxt: i64) -> Result<Self, TsdbError> {
        let tmp = blocks_dir.join(format!("{id}{TMP_SUFFIX}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| TsdbError::io("remove", &tmp, e))?;
        }
        let chunks = tmp.join(CHUNKS_DIR);
        fs::create_dir_all(&chunks).map_err(|e| TsdbError::io("create directory", &chunks, e))?;
        Ok(Self {
            blocks_dir: blocks_dir.to_path_buf(),
            id,
            tmp,
            mint,
            maxt,
            file_no: 0,
            file: None,
            file_size: 0,
            series: Vec::new(),
            stats: BlockStats::default(),
        })
    }

    /// Adds a series. `chunks` are `(first t, last t, record)` in time order, where `record`
    /// is a complete chunk record (see [`frame_chunk`]). Series without chunks are skipped.
    pub fn add_series<'a>(
        &mut self,
        labels: Labels,
        chunks: impl IntoIterator<Item = (i64, i64, &'a [u8])>,
    ) -> Result<(), TsdbError> {
        let mut metas = Vec::new();
        for (mint, maxt, rec) in chunks {
            let m = self.write_record(mint, maxt, rec)?;
            metas.push(m);
        }
        if metas.is_empty() {
            return Ok(());
        }
        debug_assert!(self.series.last().is_none_or(|(l, _)| l < &labels));
        self.stats.num_series += 1;
        self.stats.num_chunks += metas.len() as u64;
        let (first, last) = (metas[0].mint, metas[metas.len() - 1].maxt);
        self.stats.min_sample_time =
            Some(self.stats.min_sample_time.map_or(first, |m| m.min(first)));
        self.stats.max_sample_time = Some(self.stats.max_sample_time.map_or(last, |m| m.max(last)));
        self.series.push((labels, metas));
        Ok(())
    }

    fn write_record(&mut self, mint: i64, maxt: i64, rec: &[u8]) -> Result<ChunkMeta, TsdbError> {
        if self.file.is_none() || self.file_size + rec.len() as u64 > CHUNK_FILE_BYTES {
            self.next_file()?;
        }
        let path = chunk_file_path(&self.tmp, self.file_no);
        let f = self.file.as_mut().ok_or_else(|| {
            TsdbError::io("write", &path, std::io::Error::other("no chunks file"))
        })?;
        f.write_all(rec)
            .map_err(|e| TsdbError::io("write", &path, e))?;
        let m = ChunkMeta {
            mint,
            maxt,
            file: self.file_no,
            offset: self.file_size,
            len: rec.len() as u32,
        };
        self.file_size += rec.len() as u64;
        self.stats.num_samples += u64::from(samples_in_record(rec));
        Ok(m)
    }

    fn next_file(&mut self) -> Result<(), TsdbError> {
        self.close_file()?;
        self.file_no += 1;
        let path = chunk_file_path(&self.tmp, self.file_no);
        let f = File::create(&path).map_err(|e| TsdbError::io("create", &path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&CHUNKS_HEADER)
            .map_err(|e| TsdbError::io("write", &path, e))?;
        self.file = Some(w);
        self.file_size = CHUNKS_HEADER.len() as u64;
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), TsdbError> {
        if let Some(w) = self.file.take() {
            let path = chunk_file_path(&self.tmp, self.file_no);
            let f = w
                .into_inner()
                .map_err(|e| TsdbError::io("write", &path, e.into_error()))?;
            f.sync_all().map_err(|e| TsdbError::io("fsync", &path, e))?;
        }
        Ok(())
    }

    /// Number of series added so far.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Writes the index and `meta.json`, fsyncs, renames `<id>.tmp` to `<id>` and fsyncs
    /// `blocks/`. Returns the block's directory.
    pub fn finish(mut self, compaction: BlockCompaction) -> Result<PathBuf, TsdbError> {
        self.close_file()?;
        let index_path = self.tmp.join(INDEX_FILE);
        write_synced(&index_path, &encode_index(&self.series))?;
        let meta = BlockMeta {
            version: 1,
            id: self.id.clone(),
            mint: self.mint,
            maxt: self.maxt,
            stats: self.stats.clone(),
            compaction,
        };
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| TsdbError::io("encode", &self.tmp, std::io::Error::other(e)))?;
        write_synced(&self.tmp.join(META_FILE), &json)?;
        sync_dir(&self.tmp.join(CHUNKS_DIR))?;
        sync_dir(&self.tmp)?;
        let dest = self.blocks_dir.join(&self.id);
        fs::rename(&self.tmp, &dest).map_err(|e| TsdbError::io("rename", &self.tmp, e))?;
        sync_dir(&self.blocks_dir)?;
        Ok(dest)
    }

    /// Abandons the block, removing its temporary directory.
    pub fn abort(mut self) {
        self.file = None;
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// Appends the record `len uvarint | encoding | data | crc32 BE` for an XOR chunk's data to
/// `buf`, in the encoding [`encode_for_block`] picks (compact when smaller).
pub fn frame_chunk(buf: &mut Vec<u8>, xor_data: &[u8]) {
    let (encoding, data) = encode_for_block(xor_data);
    frame_record(buf, encoding, &data);
}

/// Appends the record `len uvarint | encoding | data | crc32 BE` to `buf`.
pub fn frame_record(buf: &mut Vec<u8>, encoding: u8, data: &[u8]) {
    put_uvarint(buf, data.len() as u64);
    let start = buf.len();
    buf.push(encoding);
    buf.extend_from_slice(data);
    let crc = crc32fast::hash(&buf[start..]);
    buf.extend_from_slice(&crc.to_be_bytes());
}

/// The sample count in a (checked) record's chunk header (the first two bytes of the data
/// in both encodings).
fn samples_in_record(rec: &[u8]) -> u16 {
    match super::record_data(rec) {
        Ok((s, e)) if e >= s + 2 => u16::from_be_bytes([rec[s], rec[s + 1]]),
        _ => 0,
    }
}

/// Writes `data` to a new file at `path` and fsyncs it.
pub(crate) fn write_synced(path: &Path, data: &[u8]) -> Result<(), TsdbError> {
    let mut f = File::create(path).map_err(|e| TsdbError::io("create", path, e))?;
    f.write_all(data)
        .map_err(|e| TsdbError::io("write", path, e))?;
    f.sync_all().map_err(|e| TsdbError::io("fsync", path, e))
}

/// Deletes a block directory crash-safely: rename to `<id>.deleted`, fsync `blocks/`, then
/// remove the files.
pub fn delete_block(dir: &Path) -> Result<(), TsdbError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(DELETED_SUFFIX);
    let gone = parent.join(name);
    fs::rename(dir, &gone).map_err(|e| TsdbError::io("rename", dir, e))?;
    sync_dir(parent)?;
    fs::remove_dir_all(&gone).map_err(|e| TsdbError::io("remove", &gone, e))
}
