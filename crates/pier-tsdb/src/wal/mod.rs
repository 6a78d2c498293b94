//! The write-ahead log: every commit reaches it (and, with `sync`, the disk) before it is
//! applied to the head or acknowledged; on open it is replayed to rebuild the head.
//!
//! # Format
//!
//! The log is a directory `wal/` of segment files named by an 8-digit decimal sequence
//! number, `00000001`, `00000002`, … (contiguous; a gap is an error), plus at most one
//! checkpoint (see [Checkpoints](#checkpoints)). A segment is a plain concatenation of
//! records, with no header:
//!
//! ```text
//! len   u32 LE   length of payload (the bytes after the type byte)
//! crc   u32 LE   CRC-32 (IEEE, crc32fast) of type + payload
//! type  u8       1 = series, 2 = samples, 3 = chunk, 5 = encoded chunk (3 and 5 in
//!                checkpoints only)
//! payload
//! ```
//!
//! Payloads (all integers little endian):
//!
//! ```text
//! series:  ref u64 | n u32 | n × (name_len u32 | name utf-8 | value_len u32 | value utf-8)
//! samples: base_ref uvarint | base_t varint (ms, zigzag) |
//!          n × (ref − base_ref varint (zigzag) | t − base_t varint (zigzag) | v u64 LE (f64 bits,
//!          so NaN payloads such as the staleness marker survive))
//!          — about 10 bytes a sample, since a commit's samples share a timestamp and have
//!          nearby refs (record type 4; type 2, fixed 24-byte samples, is still read)
//! chunk:   ref u64 | XOR chunk bytes (crate::chunk::xor format, header included)
//! encoded chunk: ref u64 | encoding u8 | chunk bytes in that encoding (a block record's
//!          encodings, crate::chunk::encoding: a head chunk closed in the compact encoding)
//! ```
//!
//! `ref` is the WAL's name for a series: the series record that introduces it comes before
//! any samples that use it. Replay maps WAL refs to the refs of the rebuilt index. A WAL ref
//! is never reused for another series, not even after the head dropped the series (refs keep
//! growing across head truncations, and after a replay they continue above every ref seen),
//! so segments written before and after a truncation can be replayed together.
//!
//! One commit is written with a single buffered write: the series records of the series it
//! creates, then one samples record (only samples that passed validation are logged), then
//! an fsync when `sync` is on. A commit never spans segments: a new segment is started before
//! a commit once the current one has reached `wal_segment_bytes`.
//!
//! # Checkpoints
//!
//! When the head is cut into a block, the log is truncated (see [`checkpoint`]): the writer
//! moves on to a fresh segment `N+1`, and `wal/checkpoint.N` (`N` 8 digits) is written with
//! the same record framing: one series record per series still in the head, then one chunk
//! record per head chunk (the head's samples, XOR-compressed). It is written as
//! `checkpoint.N.tmp`, fsynced, renamed and the directory fsynced; then segments `<= N` and
//! older checkpoints are deleted. Replay reads the newest checkpoint, then the segments
//! `> N` (which must start at `N+1` and be contiguous); leftovers `<= N`, older checkpoints
//! and `*.tmp` are deleted at open. A checkpoint is never torn: any damage in it is
//! corruption.
//!
//! # Recovery
//!
//! A kill can cut the last write short. When the last segment ends in a record that cannot
//! be read — fewer than 9 header bytes left, a length running past the end of the file, a
//! CRC mismatch on the final record, or only zero bytes from the record on — that tail is a
//! torn write: the incomplete commit it belongs to (including series records of that commit
//! that did arrive) is dropped and the segment is truncated at the commit's start. Any other
//! damage — in an older segment, or followed by more data — is reported as
//! [`TsdbError::WalCorrupt`](crate::TsdbError::WalCorrupt) naming the segment and offset.

pub mod checkpoint;
pub mod reader;
pub mod writer;

use crate::index::Labels;

/// Bytes before the payload: len, crc, type.
pub const HEADER_LEN: usize = 9;
/// Record type of a series record.
pub const REC_SERIES: u8 = 1;
/// Record type of a samples record.
pub const REC_SAMPLES: u8 = 2;
/// Record type of a chunk record (checkpoints).
pub const REC_CHUNK: u8 = 3;
/// Record type of a delta-encoded samples record (what is written).
pub const REC_SAMPLES_DELTA: u8 = 4;
/// Record type of a chunk record with its encoding (checkpoints; for chunks not in XOR).
pub const REC_CHUNK_ENCODED: u8 = 5;
/// Bytes per sample in a samples record.
pub const SAMPLE_LEN: usize = 24;

/// Formats a segment file name.
pub fn segment_name(seq: u32) -> String {
    format!("{seq:08}")
}

/// Parses a segment file name (exactly 8 decimal digits).
pub fn parse_segment_name(name: &str) -> Option<u32> {
    if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// Appends one framed record to `buf`.
fn push_record(buf: &mut Vec<u8>, typ: u8, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER_LEN]);
    buf[start + 8] = typ;
    payload(buf);
    let len = (buf.len() - start - HEADER_LEN) as u32;
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a series record.
pub fn encode_series(buf: &mut Vec<u8>, wal_ref: u64, labels: &Labels) {
    push_record(buf, REC_SERIES, |b| {
        b.extend_from_slice(&wal_ref.to_le_bytes());
        b.extend_from_slice(&(labels.len() as u32).to_le_bytes());
        for l in labels {
            for s in [&l.name, &l.value] {
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
            }
        }
    });
}

/// Appends a samples record (delta-encoded, [`REC_SAMPLES_DELTA`]).
pub fn encode_samples(buf: &mut Vec<u8>, samples: impl IntoIterator<Item = (u64, i64, f64)>) {
    let mut samples = samples.into_iter().peekable();
    let (base_ref, base_t) = samples.peek().map_or((0, 0), |(r, t, _)| (*r, *t));
    push_record(buf, REC_SAMPLES_DELTA, |b| {
        put_uvarint(b, base_ref);
        put_varint(b, base_t);
        for (r, t, v) in samples {
            put_varint(b, r.wrapping_sub(base_ref) as i64);
            put_varint(b, t.wrapping_sub(base_t));
            b.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    });
}

fn put_uvarint(b: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        b.push((x as u8) | 0x80);
        x >>= 7;
    }
    b.push(x as u8);
}

fn put_varint(b: &mut Vec<u8>, x: i64) {
    put_uvarint(b, ((x << 1) ^ (x >> 63)) as u64);
}

fn take_uvarint(cur: &mut &[u8]) -> Result<u64, String> {
    let mut x: u64 = 0;
    for (i, byte) in cur.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        if i == 9 && *byte > 1 {
            return Err("varint overflows 64 bits".to_string());
        }
        x |= low << (7 * i);
        if byte & 0x80 == 0 {
            *cur = &cur[i + 1..];
            return Ok(x);
        }
    }
    Err("samples record ends inside a varint".to_string())
}

fn take_varint(cur: &mut &[u8]) -> Result<i64, String> {
    let u = take_uvarint(cur)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// Appends a chunk record: a plain chunk record ([`REC_CHUNK`]) for an XOR chunk, an
/// encoded one ([`REC_CHUNK_ENCODED`]) for any other encoding.
pub fn encode_chunk(buf: &mut Vec<u8>, wal_ref: u64, encoding: u8, chunk: &[u8]) {
    if encoding == crate::chunk::ENCODING_XOR {
        push_record(buf, REC_CHUNK, |b| {
            b.extend_from_slice(&wal_ref.to_le_bytes());
            b.extend_from_slice(chunk);
        });
    } else {
        push_record(buf, REC_CHUNK_ENCODED, |b| {
            b.extend_from_slice(&wal_ref.to_le_bytes());
            b.push(encoding);
            b.extend_from_slice(chunk);
        });
    }
}

/// Decodes a chunk record's payload (type [`REC_CHUNK`] or [`REC_CHUNK_ENCODED`]) into
/// (ref, encoding, chunk bytes).
pub fn decode_chunk(typ: u8, p: &[u8]) -> Result<(u64, u8, &[u8]), String> {
    let mut cur = p;
    let r = take_u64(&mut cur)?;
    if typ != REC_CHUNK_ENCODED {
        return Ok((r, crate::chunk::ENCODING_XOR, cur));
    }
    match cur {
        [encoding, data @ ..] => Ok((r, *encoding, data)),
        [] => Err("chunk record ends before its encoding".to_string()),
    }
}

/// Decodes a series record's payload.
pub fn decode_series(p: &[u8]) -> Result<(u64, Labels), String> {
    let mut cur = p;
    let wal_ref = take_u64(&mut cur)?;
    let n = take_u32(&mut cur)?;
    let mut pairs = Vec::with_capacity((n as usize).min(64));
    for _ in 0..n {
        let name = take_str(&mut cur)?;
        let value = take_str(&mut cur)?;
        pairs.push((name, value));
    }
    if !cur.is_empty() {
        return Err(format!("{} stray bytes after the labels", cur.len()));
    }
    let labels = Labels::series(pairs).map_err(|e| format!("bad labels: {e}"))?;
    Ok((wal_ref, labels))
}

/// Decodes a samples record's payload (type [`REC_SAMPLES`] or [`REC_SAMPLES_DELTA`]) into
/// `(ref, t, v)` triples; the whole payload is checked before any triple is returned.
pub fn decode_samples(typ: u8, p: &[u8]) -> Result<Vec<(u64, i64, f64)>, String> {
    if typ == REC_SAMPLES {
        if !p.len().is_multiple_of(SAMPLE_LEN) {
            return Err(format!(
                "samples payload of {} bytes is not a multiple of {SAMPLE_LEN}",
                p.len()
            ));
        }
        return Ok(p
            .chunks_exact(SAMPLE_LEN)
            .map(|s| {
                let word = |i: usize| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&s[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(a)
                };
                (word(0), word(1) as i64, f64::from_bits(word(2)))
            })
            .collect());
    }
    let mut cur = p;
    if cur.is_empty() {
        return Ok(Vec::new());
    }
    let base_ref = take_uvarint(&mut cur)?;
    let base_t = take_varint(&mut cur)?;
    let mut out = Vec::with_capacity(cur.len() / 10);
    while !cur.is_empty() {
        let r = base_ref.wrapping_add(take_varint(&mut cur)? as u64);
        let t = base_t.wrapping_add(take_varint(&mut cur)?);
        if cur.len() < 8 {
            return Err("samples record ends inside a value".to_string());
        }
        let (v, rest) = cur.split_at(8);
        cur = rest;
        let mut a = [0u8; 8];
        a.copy_from_slice(v);
        out.push((r, t, f64::from_bits(u64::from_le_bytes(a))));
    }
    Ok(out)
}

fn take<'a>(cur: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if cur.len() < n {
        return Err("series record ends early".to_string());
    }
    let (a, b) = cur.split_at(n);
    *cur = b;
    Ok(a)
}

fn take_u64(cur: &mut &[u8]) -> Result<u64, String> {
    let mut a = [0u8; 8];
    a.copy_from_slice(take(cur, 8)?);
    Ok(u64::from_le_bytes(a))
}

fn take_u32(cur: &mut &[u8]) -> Result<u32, String> {
    let mut a = [0u8; 4];
    a.copy_from_slice(take(cur, 4)?);
    Ok(u32::from_le_bytes(a))
}

fn take_str(cur: &mut &[u8]) -> Result<String, String> {
    let n = take_u32(cur)? as usize;
    let b = take(cur, n)?;
    String::from_utf8(b.to_vec()).map_err(|_| "label is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let l = Labels::series([("__name__", "up"), ("job", "a")]).unwrap();
        let mut buf = Vec::new();
        encode_series(&mut buf, 7, &l);
        let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
        assert_eq!(buf.len(), HEADER_LEN + len);
        assert_eq!(buf[8], REC_SERIES);
        assert_eq!(
            crc32fast::hash(&buf[8..]),
            u32::from_le_bytes(buf[4..8].try_into().unwrap())
        );
        assert_eq!(decode_series(&buf[HEADER_LEN..]).unwrap(), (7, l));

        let mut buf = Vec::new();
        encode_samples(&mut buf, [(1, -5, crate::STALE_NAN), (2, 6, 1.5)]);
        assert_eq!(buf[8], REC_SAMPLES_DELTA);
        let got = decode_samples(buf[8], &buf[HEADER_LEN..]).unwrap();
        assert_eq!(got.len(), 2);
        assert!(crate::is_stale(got[0].2));
        assert_eq!((got[1].0, got[1].1, got[1].2), (2, 6, 1.5));
        assert_eq!(got[0].1, -5);
        // Cut short anywhere: never a panic; cut inside a value: an error.
        for cut in 1..buf.len() - HEADER_LEN {
            let _ = decode_samples(REC_SAMPLES_DELTA, &buf[HEADER_LEN..buf.len() - cut]);
        }
        assert!(decode_samples(REC_SAMPLES_DELTA, &buf[HEADER_LEN..buf.len() - 1]).is_err());
        // The fixed-size encoding of earlier logs is still read.
        let mut old = Vec::new();
        old.extend_from_slice(&9u64.to_le_bytes());
        old.extend_from_slice(&100i64.to_le_bytes());
        old.extend_from_slice(&2.5f64.to_bits().to_le_bytes());
        assert_eq!(
            decode_samples(REC_SAMPLES, &old).unwrap(),
            vec![(9, 100, 2.5)]
        );
        assert!(decode_samples(REC_SAMPLES, &old[1..]).is_err());
        assert!(decode_series(&[1, 2, 3]).is_err());
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(1), "00000001");
        assert_eq!(parse_segment_name("00000012"), Some(12));
        assert_eq!(parse_segment_name("0000012"), None);
        assert_eq!(parse_segment_name("0000001x"), None);
    }
}
