//! Blocks: immutable directories on disk, each holding every sample of a time range
//! `[mint, maxt)` (ms; `maxt` exclusive). The head is cut into blocks
//! ([`Tsdb::compact_head`](crate::Tsdb::compact_head)); adjacent blocks are merged into
//! bigger ones ([`compact`]); retention deletes whole blocks.
//!
//! # On-disk format
//!
//! ```text
//! blocks/
//!   <id>/                 id: 26-character ULID (Crockford base32: 48-bit ms time, 80 random bits)
//!     meta.json           written last; its presence in a directory named <id> means complete
//!     index               series, their labels and chunk references (loaded at open)
//!     chunks/000001       chunk records (read on demand with pread)
//!     chunks/000002       … a new file once one reaches 512 MiB
//!   <id>.tmp/             a block being written (deleted at open)
//!   <id>.deleted/         a block being deleted (deleted at open)
//! ```
//!
//! `meta.json` (serde):
//!
//! ```json
//! {"version":1,"id":"01J…","mint":0,"maxt":7200000,
//!  "stats":{"num_series":3,"num_samples":1440,"num_chunks":12,
//!           "min_sample_time":0,"max_sample_time":7185000},
//!  "compaction":{"level":1,"sources":["01J…"],"parents":[]}}
//! ```
//!
//! `level` is 1 for a block cut from the head and `max(parent levels) + 1` for a merged
//! block; `sources` are the level-1 blocks whose data it holds; `parents` the blocks it was
//! merged from directly (empty for level 1).
//!
//! A chunks file is an 8-byte header (`"PCHK"`, version `u8` = 1, three zero bytes)
//! followed by chunk records, framed as Prometheus's:
//!
//! ```text
//! len       uvarint   length of data
//! encoding  u8        1 = XOR, 0x81 = compact
//! data      len bytes the chunk, starting with its sample count (u16 BE) in both encodings
//! crc       u32 BE    CRC-32 (IEEE, crc32fast) of encoding + data
//! ```
//!
//! Encoding 1 is Prometheus's XOR chunk ([`crate::chunk::xor`]). Encoding `0x81` is pier's
//! compact chunk for decimal values ([`crate::chunk::compact`]): the block writer stores a
//! chunk that way when every value is an exact decimal and the result is smaller than the
//! XOR bytes ([`crate::chunk::encode_for_block`]); NaNs, ±Inf, `-0.0`, stale markers and
//! full-precision floats stay XOR. Blocks written before the compact chunk existed hold
//! only XOR records and read as before; merging blocks re-encodes their XOR records. The
//! head, the WAL and its checkpoints use XOR only.
//!
//! (Prometheus uses CRC-32C; we use the IEEE polynomial already used by the WAL. The files,
//! the index and now the compact encoding are pier's own: Prometheus's tools cannot read
//! pier's blocks.)
//!
//! `index`:
//!
//! ```text
//! magic      8 bytes  "PIERIDX1"
//! n_series   uvarint
//! n_series × series, sorted by labels (a series' ref in the block is its position):
//!   n_labels uvarint, n_labels × (name_len uvarint | name | value_len uvarint | value)
//!   n_chunks uvarint, n_chunks × chunk ref, in time order:
//!     mint varint (zigzag) | maxt − mint uvarint | file uvarint (1 = chunks/000001)
//!     | offset uvarint (of the record) | length uvarint (of the whole record)
//! crc        u32 BE   CRC-32 (IEEE) of everything before it
//! ```
//!
//! A chunk ref's `mint`/`maxt` are the chunk's first and last sample timestamps, so a
//! reader skips chunks outside a query window without reading them.
//!
//! At open the index is read whole and turned into an in-memory [`Index`] (labels and
//! postings, for matchers; no lookup table, the series being sorted) plus the chunk refs,
//! kept varint-encoded in one byte string (a series' refs are a range of it, decoded when
//! the series is read: about 12 bytes a chunk instead of a 32-byte [`ChunkMeta`]); chunk data is read only when a cursor
//! reaches it ([`Block::read_chunk`], `pread` through [`std::os::unix::fs::FileExt`]). The
//! chunk files stay open for the life of the [`Block`], so a cursor can still read a block
//! that compaction or retention deleted meanwhile.
//!
//! # Crash safety
//!
//! A block is written into `blocks/<id>.tmp/`; every file is fsynced, then the directory,
//! then it is renamed to `blocks/<id>` and `blocks/` is fsynced. Deleting renames
//! `<id>` to `<id>.deleted` (fsyncing `blocks/`) before removing the files, so a crash never
//! leaves a half-deleted block that looks complete. At open, `*.tmp` and `*.deleted` are
//! removed, and so is every block named as a `parent` of another block present: a merged
//! block is renamed into place only when complete, so its sources are redundant (rule:
//! **the merged block wins, its sources are deleted**).

pub mod compact;
pub mod writer;

use crate::error::TsdbError;
use crate::index::{Index, LabelPool, Labels, Matcher, SeriesRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Name of the meta file.
pub const META_FILE: &str = "meta.json";
/// Name of the index file.
pub const INDEX_FILE: &str = "index";
/// Name of the chunks directory.
pub const CHUNKS_DIR: &str = "chunks";
/// Magic at the start of the index.
pub const INDEX_MAGIC: &[u8; 8] = b"PIERIDX1";
/// Header of a chunks file.
pub const CHUNKS_HEADER: [u8; 8] = *b"PCHK\x01\0\0\0";
pub use crate::chunk::{ENCODING_COMPACT, ENCODING_XOR};
/// A chunks file is closed once it reaches this size.
pub const CHUNK_FILE_BYTES: u64 = 512 << 20;
/// Suffix of a block being written.
pub const TMP_SUFFIX: &str = ".tmp";
/// Suffix of a block being deleted.
pub const DELETED_SUFFIX: &str = ".deleted";

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version (1).
    pub version: u32,
    /// The block's id (its directory name).
    pub id: String,
    /// Start of the time range (inclusive, ms).
    pub mint: i64,
    /// End of the time range (exclusive, ms).
    pub maxt: i64,
    /// Counts.
    pub stats: BlockStats,
    /// Where the block came from.
    pub compaction: BlockCompaction,
}

/// Counts in `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Series.
    pub num_series: u64,
    /// Samples.
    pub num_samples: u64,
    /// Chunks.
    pub num_chunks: u64,
    /// Oldest sample timestamp.
    pub min_sample_time: Option<i64>,
    /// Newest sample timestamp.
    pub max_sample_time: Option<i64>,
}

/// Compaction history in `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCompaction {
    /// 1 when cut from the head, parents' maximum + 1 when merged.
    pub level: u32,
    /// The level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
    /// The blocks this one was merged from (empty for level 1).
    pub parents: Vec<String>,
}

/// Where a chunk is: its sample time range and its record in a chunks file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample timestamp.
    pub mint: i64,
    /// Last sample timestamp.
    pub maxt: i64,
    /// Chunks file number (1 = `chunks/000001`).
    pub file: u32,
    /// Offset of the record in the file.
    pub offset: u64,
    /// Length of the whole record (len, encoding, data, crc).
    pub len: u32,
}

/// A block's chunk refs in memory: per series, its refs as varints — mint − the block's mint
/// (zigzag), maxt − mint, file, offset, length — in one byte string. See the module docs.
#[derive(Debug)]
struct ChunkRefs {
    bytes: Box<[u8]>,
    /// Where each series' refs start in `bytes` (one more entry than series: the end).
    starts: Vec<u32>,
    /// The block's mint, which the encoded mints are relative to.
    base: i64,
}

impl ChunkRefs {
    /// Encodes `chunks`, series `i` holding `chunks[starts[i]..starts[i + 1]]`.
    fn new(chunks: &[ChunkMeta], starts: &[u32], base: i64) -> Result<ChunkRefs, String> {
        let mut bytes = Vec::with_capacity(chunks.len() * 12);
        let mut out = Vec::with_capacity(starts.len());
        let mut at = 0usize;
        for &end in starts.iter().skip(1) {
            out.push(u32::try_from(bytes.len()).map_err(|_| "too many chunk refs")?);
            for c in chunks.get(at..end as usize).unwrap_or(&[]) {
                put_varint(&mut bytes, c.mint.wrapping_sub(base));
                put_uvarint(&mut bytes, c.maxt.wrapping_sub(c.mint) as u64);
                put_uvarint(&mut bytes, u64::from(c.file));
                put_uvarint(&mut bytes, c.offset);
                put_uvarint(&mut bytes, u64::from(c.len));
            }
            at = end as usize;
        }
        out.push(u32::try_from(bytes.len()).map_err(|_| "too many chunk refs")?);
        Ok(ChunkRefs {
            bytes: bytes.into_boxed_slice(),
            starts: out,
            base,
        })
    }

    /// The refs of series `i` (none for an unknown series).
    fn of(&self, i: usize) -> Vec<ChunkMeta> {
        let (Some(&a), Some(&b)) = (self.starts.get(i), self.starts.get(i + 1)) else {
            return Vec::new();
        };
        let mut cur = self.bytes.get(a as usize..b as usize).unwrap_or(&[]);
        let mut out = Vec::new();
        // Written by `new` from checked refs, so decoding cannot fail; stop if it did.
        while !cur.is_empty() {
            let decoded = (|| -> Result<ChunkMeta, String> {
                let mint = self.base.wrapping_add(read_varint(&mut cur)?);
                let maxt = mint.wrapping_add(read_uvarint(&mut cur)? as i64);
                let file = read_uvarint(&mut cur)? as u32;
                let offset = read_uvarint(&mut cur)?;
                let len = read_uvarint(&mut cur)? as u32;
                Ok(ChunkMeta {
                    mint,
                    maxt,
                    file,
                    offset,
                    len,
                })
            })();
            match decoded {
                Ok(c) => out.push(c),
                Err(_) => break,
            }
        }
        out
    }
}

/// An open block: meta, the index in memory, and the chunk files (read on demand).
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: Index,
    /// Every chunk ref, by series then time.
    chunks: ChunkRefs,
    files: Vec<File>,
    size: u64,
}

impl Block {
    /// Opens the block in `dir`: reads `meta.json`, reads and checks the index, opens the
    /// chunk files. Chunk data is not read.
    pub fn open(dir: &Path) -> Result<Block, TsdbError> {
        Self::open_pooled(dir, &mut LabelPool::new())
    }

    /// Like [`Block::open`], taking each series' labels from `pool` when an equal set is
    /// there (and adding the others), so blocks and the head share them in memory.
    pub fn open_pooled(dir: &Path, pool: &mut LabelPool) -> Result<Block, TsdbError> {
        let meta_path = dir.join(META_FILE);
        let meta_bytes = fs::read(&meta_path).map_err(|e| TsdbError::io("read", &meta_path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes)
            .map_err(|e| corrupt(&meta_path, format!("bad meta.json: {e}")))?;
        if meta.version != 1 {
            return Err(corrupt(
                &meta_path,
                format!("unknown version {}", meta.version),
            ));
        }
        let index_path = dir.join(INDEX_FILE);
        let data = fs::read(&index_path).map_err(|e| TsdbError::io("read", &index_path, e))?;
        let decoded = decode_index(&data).map_err(|reason| corrupt(&index_path, reason))?;
        let mut size = (meta_bytes.len() + data.len()) as u64;
        drop(data);
        let DecodedIndex {
            series,
            chunks,
            chunk_starts,
        } = decoded;
        let series: Vec<Labels> = series.into_iter().map(|l| pool.intern(l)).collect();
        let index = Index::from_sorted(series).map_err(|e| {
            corrupt(
                &index_path,
                match e {
                    Ok(i) => format!("series {i} out of order"),
                    Err(e) => e.to_string(),
                },
            )
        })?;
        let nfiles = chunks.iter().map(|c| c.file).max().unwrap_or(0);
        let mut files = Vec::with_capacity(nfiles as usize);
        for n in 1..=nfiles {
            let p = chunk_file_path(dir, n);
            let f = File::open(&p).map_err(|e| TsdbError::io("open", &p, e))?;
            let mut header = [0u8; CHUNKS_HEADER.len()];
            f.read_exact_at(&mut header, 0)
                .map_err(|e| TsdbError::io("read", &p, e))?;
            if header != CHUNKS_HEADER {
                return Err(corrupt(&p, "not a chunks file (bad header)".to_string()));
            }
            let len = f
                .metadata()
                .map_err(|e| TsdbError::io("stat", &p, e))?
                .len();
            size += len;
            files.push(f);
        }
        for c in &chunks {
            let flen = files[c.file as usize - 1].metadata().map(|m| m.len()).ok();
            if flen.is_some_and(|l| c.offset + u64::from(c.len) > l) {
                return Err(corrupt(
                    &index_path,
                    format!(
                        "chunk ref past the end of chunks file {} (offset {}, len {})",
                        c.file, c.offset, c.len
                    ),
                ));
            }
        }
        let chunks = ChunkRefs::new(&chunks, &chunk_starts, meta.mint)
            .map_err(|reason| corrupt(&index_path, reason))?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            files,
            size,
        })
    }

    /// Every series' labels.
    pub fn all_labels(&self) -> impl Iterator<Item = &Labels> {
        self.index.all_labels()
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Bytes on disk (meta, index, chunk files).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The series index (labels and postings).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The chunk refs of a series, in time order.
    pub fn chunks_of(&self, r: SeriesRef) -> Vec<ChunkMeta> {
        self.chunks.of(r.index())
    }

    /// True if the block's range `[mint, maxt)` meets the closed window `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.mint <= maxt && self.meta.maxt > mint
    }

    /// Series matching `matchers` with their chunk refs that meet `[mint, maxt]`.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<ChunkMeta>)> {
        if !self.overlaps(mint, maxt) {
            return Vec::new();
        }
        self.index
            .select(matchers)
            .into_iter()
            .filter_map(|r| {
                let mut metas = self.chunks_of(r);
                metas.retain(|c| c.maxt >= mint && c.mint <= maxt);
                if metas.is_empty() {
                    return None;
                }
                Some((self.index.labels(r)?.clone(), metas))
            })
            .collect()
    }

    /// Reads a whole chunk record and checks its framing and CRC; returns the record and
    /// the range of its data.
    fn read_checked(&self, c: &ChunkMeta) -> Result<(Vec<u8>, usize, usize), TsdbError> {
        let path = || chunk_file_path(&self.dir, c.file);
        let f = c
            .file
            .checked_sub(1)
            .and_then(|i| self.files.get(i as usize))
            .ok_or_else(|| corrupt(&path(), "no such chunks file".to_string()))?;
        let mut buf = vec![0u8; c.len as usize];
        f.read_exact_at(&mut buf, c.offset)
            .map_err(|e| TsdbError::io("read", path(), e))?;
        let (start, end) = record_data(&buf).map_err(|reason| {
            corrupt(&path(), format!("chunk at offset {}: {reason}", c.offset))
        })?;
        Ok((buf, start, end))
    }

    /// Reads a whole chunk record (`len | encoding | data | crc`), checked.
    pub fn read_record(&self, c: &ChunkMeta) -> Result<Vec<u8>, TsdbError> {
        Ok(self.read_checked(c)?.0)
    }

    /// Reads a chunk, checked: its encoding byte and data (what
    /// [`crate::chunk::ChunkIter`] or [`crate::chunk::decode_into`] decode).
    pub fn read_chunk(&self, c: &ChunkMeta) -> Result<(u8, Vec<u8>), TsdbError> {
        let (mut rec, start, end) = self.read_checked(c)?;
        let encoding = rec[start - 1];
        rec.truncate(end);
        rec.drain(..start);
        Ok((encoding, rec))
    }

    /// Label names of the series matching `matchers` (all if empty).
    pub fn label_names(&self, matchers: &[Matcher], out: &mut BTreeSet<String>) {
        label_names_of(&self.index, matchers, out);
    }

    /// Values of label `name` over the series matching `matchers` (all if empty).
    pub fn label_values(&self, name: &str, matchers: &[Matcher], out: &mut BTreeSet<String>) {
        label_values_of(&self.index, name, matchers, out);
    }
}

/// Label names of the series of `ix` matching `matchers` (all if empty), added to `out`.
pub(crate) fn label_names_of(ix: &Index, matchers: &[Matcher], out: &mut BTreeSet<String>) {
    if matchers.is_empty() {
        for n in ix.label_names() {
            if !out.contains(n) {
                out.insert(n.to_string());
            }
        }
        return;
    }
    for r in ix.select(matchers) {
        for l in ix.labels(r).into_iter().flatten() {
            if !out.contains(l.name) {
                out.insert(l.name.to_string());
            }
        }
    }
}

/// Values of `name` over the series of `ix` matching `matchers`, added to `out`.
pub(crate) fn label_values_of(
    ix: &Index,
    name: &str,
    matchers: &[Matcher],
    out: &mut BTreeSet<String>,
) {
    if matchers.is_empty() {
        for v in ix.label_values(name) {
            if !out.contains(v) {
                out.insert(v.to_string());
            }
        }
        return;
    }
    for r in ix.select(matchers) {
        if let Some(v) = ix.labels(r).and_then(|l| l.get(name))
            && !out.contains(v)
        {
            out.insert(v.to_string());
        }
    }
}

fn corrupt(path: &Path, reason: String) -> TsdbError {
    TsdbError::BlockCorrupt {
        path: path.to_path_buf(),
        reason,
    }
}

/// `dir/chunks/NNNNNN`.
pub fn chunk_file_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(CHUNKS_DIR).join(format!("{n:06}"))
}

/// Checks a chunk record (`len | encoding | data | crc`) and returns the range of `data`.
pub fn record_data(rec: &[u8]) -> Result<(usize, usize), String> {
    let mut cur = rec;
    let len = read_uvarint(&mut cur)? as usize;
    let start = rec.len() - cur.len() + 1;
    let end = start
        .checked_add(len)
        .filter(|&e| e + 4 == rec.len())
        .ok_or_else(|| {
            format!(
                "record length {} does not match its data length {len}",
                rec.len()
            )
        })?;
    let enc = rec[start - 1];
    if enc != ENCODING_XOR && enc != ENCODING_COMPACT {
        return Err(format!("unknown chunk encoding {enc}"));
    }
    let want = u32::from_be_bytes([rec[end], rec[end + 1], rec[end + 2], rec[end + 3]]);
    if crc32fast::hash(&rec[start - 1..end]) != want {
        return Err("chunk CRC mismatch".to_string());
    }
    Ok((start, end))
}

/// Appends an unsigned LEB128 varint.
pub fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

/// Appends a zigzag varint.
pub fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

/// Reads an unsigned LEB128 varint.
pub fn read_uvarint(cur: &mut &[u8]) -> Result<u64, String> {
    let mut x = 0u64;
    for shift in (0..70).step_by(7) {
        let Some((&b, rest)) = cur.split_first() else {
            return Err("data ends inside a varint".to_string());
        };
        *cur = rest;
        if shift == 63 && b > 1 {
            return Err("varint overflows 64 bits".to_string());
        }
        x |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(x);
        }
    }
    Err("varint too long".to_string())
}

/// Reads a zigzag varint.
pub fn read_varint(cur: &mut &[u8]) -> Result<i64, String> {
    let u = read_uvarint(cur)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

fn read_bytes<'a>(cur: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let n = usize::try_from(read_uvarint(cur)?).map_err(|_| "length too big".to_string())?;
    if cur.len() < n {
        return Err("index ends inside a string".to_string());
    }
    let (a, b) = cur.split_at(n);
    *cur = b;
    Ok(a)
}

fn read_str<'a>(cur: &mut &'a [u8]) -> Result<&'a str, String> {
    std::str::from_utf8(read_bytes(cur)?).map_err(|_| "label is not UTF-8".to_string())
}

/// Encodes the index of `series` (sorted by labels).
pub fn encode_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64 * series.len() + 16);
    buf.extend_from_slice(INDEX_MAGIC);
    put_uvarint(&mut buf, series.len() as u64);
    for (labels, chunks) in series {
        put_uvarint(&mut buf, labels.len() as u64);
        for l in labels {
            for s in [l.name, l.value] {
                put_uvarint(&mut buf, s.len() as u64);
                buf.extend_from_slice(s.as_bytes());
            }
        }
        put_uvarint(&mut buf, chunks.len() as u64);
        for c in chunks {
            put_varint(&mut buf, c.mint);
            put_uvarint(&mut buf, c.maxt.wrapping_sub(c.mint) as u64);
            put_uvarint(&mut buf, u64::from(c.file));
            put_uvarint(&mut buf, c.offset);
            put_uvarint(&mut buf, u64::from(c.len));
        }
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    buf
}

/// A decoded index: the series in order, and their chunk refs in one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedIndex {
    /// The series, sorted; a series' ref is its position.
    pub series: Vec<Labels>,
    /// Every chunk ref, by series then time.
    pub chunks: Vec<ChunkMeta>,
    /// Where each series' refs start in `chunks`, plus the end.
    pub chunk_starts: Vec<u32>,
}

impl DecodedIndex {
    /// The chunk refs of the series at position `i`.
    pub fn chunks_of(&self, i: usize) -> &[ChunkMeta] {
        match (self.chunk_starts.get(i), self.chunk_starts.get(i + 1)) {
            (Some(&a), Some(&b)) => self.chunks.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Decodes and checks an index.
pub fn decode_index(data: &[u8]) -> Result<DecodedIndex, String> {
    if data.len() < INDEX_MAGIC.len() + 4 || &data[..8] != INDEX_MAGIC {
        return Err("not an index (bad magic)".to_string());
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("index CRC mismatch".to_string());
    }
    let mut cur = &body[8..];
    let n = read_uvarint(&mut cur)?;
    let mut series = Vec::with_capacity(n.min(1 << 20) as usize);
    let mut chunks = Vec::with_capacity(n.min(1 << 20) as usize);
    let mut chunk_starts = Vec::with_capacity(n.min(1 << 20) as usize + 1);
    chunk_starts.push(0u32);
    let mut prev: Option<Labels> = None;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for _ in 0..n {
        let nl = read_uvarint(&mut cur)?;
        pairs.clear();
        for _ in 0..nl {
            let name = read_str(&mut cur)?;
            let value = read_str(&mut cur)?;
            pairs.push((name, value));
        }
        let labels =
            Labels::series(pairs.iter().copied()).map_err(|e| format!("bad labels: {e}"))?;
        if prev.as_ref().is_some_and(|p| p >= &labels) {
            return Err(format!("series {labels} out of order"));
        }
        let nc = read_uvarint(&mut cur)?;
        let mut last_maxt: Option<i64> = None;
        for _ in 0..nc {
            let mint = read_varint(&mut cur)?;
            let maxt = mint.wrapping_add(read_uvarint(&mut cur)? as i64);
            let file = u32::try_from(read_uvarint(&mut cur)?).map_err(|_| "bad file")?;
            let offset = read_uvarint(&mut cur)?;
            let len = u32::try_from(read_uvarint(&mut cur)?).map_err(|_| "bad length")?;
            if maxt < mint || last_maxt.is_some_and(|l| l >= mint) || file == 0 {
                return Err(format!("series {labels}: bad chunk ref"));
            }
            last_maxt = Some(maxt);
            chunks.push(ChunkMeta {
                mint,
                maxt,
                file,
                offset,
                len,
            });
        }
        prev = Some(labels.clone());
        series.push(labels);
        chunk_starts.push(u32::try_from(chunks.len()).map_err(|_| "too many chunks")?);
    }
    if !cur.is_empty() {
        return Err(format!("{} stray bytes at the end of the index", cur.len()));
    }
    chunks.shrink_to_fit();
    Ok(DecodedIndex {
        series,
        chunks,
        chunk_starts,
    })
}

/// A new block id: a ULID (48-bit ms timestamp, 80 pseudo-random bits, Crockford base32),
/// so ids sort by creation time.
pub fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ms = (now.as_millis() as u64) & ((1 << 48) - 1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish() & 0xffff;
    let v: u128 = (u128::from(ms) << 80) | (u128::from(a) << 16) | u128::from(b);
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    (0..26)
        .rev()
        .map(|i| ALPHABET[((v >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// Whether `name` is a block id (26 Crockford base32 characters).
pub fn is_block_id(name: &str) -> bool {
    name.len() == 26
        && name
            .bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_refs_round_trip_in_their_compact_form() {
        let c = |mint: i64, maxt: i64, file: u32, offset: u64, len: u32| ChunkMeta {
            mint,
            maxt,
            file,
            offset,
            len,
        };
        let base = 1_700_000_000_000;
        let chunks = vec![
            c(base, base + 59_000, 1, 8, 230),
            c(base + 60_000, base + 119_000, 1, 238, 17),
            // Before the block's mint, in a later file, far into it.
            c(base - 5, base + 3, 7, (1 << 32) + 3, u32::MAX),
            c(i64::MIN, i64::MAX, u32::MAX, u64::MAX, 0),
        ];
        // Series 0: two chunks, series 1: none, series 2: one, series 3: one.
        let starts = [0, 2, 2, 3, 4];
        let refs = ChunkRefs::new(&chunks, &starts, base).unwrap();
        assert_eq!(refs.of(0), chunks[0..2]);
        assert!(refs.of(1).is_empty());
        assert_eq!(refs.of(2), chunks[2..3]);
        assert_eq!(refs.of(3), chunks[3..4]);
        assert!(refs.of(4).is_empty());
        assert!(refs.bytes.len() < 40 + 30, "{} bytes", refs.bytes.len());
    }

    #[test]
    fn varints_round_trip() {
        for x in [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, x);
            assert_eq!(read_varint(&mut b.as_slice()), Ok(x));
        }
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(read_uvarint(&mut b.as_slice()), Ok(u64::MAX));
        assert!(read_uvarint(&mut [0x80u8].as_slice()).is_err());
    }

    #[test]
    fn index_round_trip_and_crc() {
        let l = |n: &str| Labels::series([("__name__", n)]).unwrap();
        let c = ChunkMeta {
            mint: -5,
            maxt: 10,
            file: 1,
            offset: 8,
            len: 30,
        };
        let series = vec![(l("a"), vec![c]), (l("b"), vec![])];
        let data = encode_index(&series);
        let d = decode_index(&data).unwrap();
        assert_eq!(d.series, vec![l("a"), l("b")]);
        assert_eq!(d.chunks_of(0), &[c]);
        assert!(d.chunks_of(1).is_empty());
        assert!(d.chunks_of(2).is_empty());
        let mut bad = data.clone();
        bad[10] ^= 1;
        assert!(decode_index(&bad).unwrap_err().contains("CRC"));
    }

    #[test]
    fn ids_are_ulids_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert!(is_block_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_block_id("x.tmp"));
    }
}
