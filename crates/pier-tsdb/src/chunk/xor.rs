//! The XOR chunk: Gorilla-style compression of float samples, bit-compatible with
//! Prometheus's `XORChunk` (tsdb/chunkenc/xor.go, format in tsdb/docs/format/chunks.md).
//!
//! Layout:
//!
//! ```text
//! num_samples u16 (big endian)
//! t0  varint (zigzag)            v0  64 raw bits
//! t1-t0 uvarint                  v1  xor
//! dod varbit                     vN  xor          (for every further sample)
//! zero padding
//! ```
//!
//! Delta-of-delta (`dod`) buckets, exactly as Prometheus writes them:
//! `0` → dod 0; `10` + 14 bits; `110` + 17 bits; `1110` + 20 bits; `1111` + 64 bits.
//! An n-bit bucket holds `-(2^(n-1) - 1) ..= 2^(n-1)` (Prometheus's `bitRange`: the range
//! is asymmetric because the reader maps raw values `> 2^(n-1)` to negatives).
//!
//! Values: `0` → same bits as before; `10` + bits in the previous leading/trailing-zero
//! window; `11` + 5 bits leading zeros (clamped to 31) + 6 bits significant-bit count
//! (0 meaning 64) + the significant bits.
//!
//! Timestamp arithmetic is modular (wrapping), as in Go, so every strictly increasing
//! sequence of `i64` timestamps round-trips, including `i64::MIN` followed by `i64::MAX`.
//! Values are stored by their bit pattern, so NaN payloads (e.g. the staleness marker)
//! survive exactly.
//!
//! This module owns encoding, decoding and validation of single chunks. It does not cut
//! chunks (the head decides when a chunk is full, conventionally at 120 samples), nor does it
//! frame them on disk (`len uvarint | encoding u8 | data | CRC32C` belongs to the block
//! writer).

use super::bitstream::{BitReader, BitWriter, EndOfStream};
use thiserror::Error;

/// Size of the chunk header (the sample count).
const HEADER_LEN: usize = 2;

/// Errors from appending to or decoding a chunk (XOR or compact).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    /// Append with a timestamp that is not strictly after the chunk's last one.
    #[error("out-of-order sample: timestamp {t} is not after the chunk's last timestamp {last}")]
    OutOfOrder {
        /// The chunk's last timestamp.
        last: i64,
        /// The rejected timestamp.
        t: i64,
    },
    /// The u16 sample counter is exhausted.
    #[error("chunk is full ({} samples)", u16::MAX)]
    Full,
    /// Fewer bytes than the 2-byte header.
    #[error("chunk too short: {len} bytes, the header alone needs {HEADER_LEN}")]
    TooShort {
        /// Length of the given bytes.
        len: usize,
    },
    /// The data ended before the header's sample count was reached.
    #[error("chunk data ends inside sample {sample}")]
    UnexpectedEof {
        /// Index of the sample being decoded.
        sample: u16,
    },
    /// A varint longer than 10 bytes or overflowing 64 bits.
    #[error("varint overflows 64 bits in sample {sample}")]
    VarintOverflow {
        /// Index of the sample being decoded.
        sample: u16,
    },
    /// A value window whose leading zeros plus significant bits exceed 64.
    #[error(
        "invalid XOR window in sample {sample}: {leading} leading zeros + {significant} significant bits > 64"
    )]
    InvalidWindow {
        /// Index of the sample being decoded.
        sample: u16,
        /// Decoded leading-zero count.
        leading: u8,
        /// Decoded significant-bit count.
        significant: u8,
    },
    /// Decoded timestamps are not strictly increasing (only checked by `from_bytes`).
    #[error("timestamps not increasing at sample {sample}: {t} after {prev}")]
    NotIncreasing {
        /// Index of the offending sample.
        sample: u16,
        /// Previous timestamp.
        prev: i64,
        /// Offending timestamp.
        t: i64,
    },
    /// More bytes after the last sample than padding can explain.
    #[error("{extra_bits} bits of trailing data after the last sample")]
    TrailingData {
        /// Unused bits after the last sample.
        extra_bits: usize,
    },
    /// Padding bits after the last sample are not zero.
    #[error("non-zero padding after the last sample")]
    NonZeroPadding,
    /// A compact chunk that does not decode (see `crate::chunk::compact`).
    #[error("malformed compact chunk: {0}")]
    Malformed(&'static str),
    /// A chunk record with an encoding byte this version does not know.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
}

/// A chunk of XOR-encoded `(timestamp ms, f64)` samples with strictly increasing timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct XorChunk {
    w: BitWriter,
    num: u16,
    first_t: i64,
    /// Appender state: last timestamp, last value bits, last timestamp delta.
    t: i64,
    v: u64,
    t_delta: u64,
    /// Current XOR window; `leading == 0xff` means no window yet (as in Prometheus).
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (two header bytes, zero samples).
    pub fn new() -> Self {
        // Exactly the two header bytes, no spare byte (as Prometheus's NewXORChunk).
        let w = BitWriter::from_parts(vec![0; HEADER_LEN], 0).unwrap_or_default();
        Self {
            w,
            num: 0,
            first_t: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// True if the chunk holds no samples.
    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// Timestamp of the first sample, if any.
    pub fn first_timestamp(&self) -> Option<i64> {
        (self.num > 0).then_some(self.first_t)
    }

    /// Timestamp of the last sample, if any.
    pub fn last_timestamp(&self) -> Option<i64> {
        (self.num > 0).then_some(self.t)
    }

    /// The last sample (timestamp, value bits), if any.
    pub fn last_sample(&self) -> Option<(i64, u64)> {
        (self.num > 0).then_some((self.t, self.v))
    }

    /// The encoded chunk, header included; identical to Prometheus's `XORChunk.Bytes()` for
    /// the same appends.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Gives the buffer's spare capacity back: for a chunk no longer appended to.
    pub fn shrink_to_fit(&mut self) {
        self.w.shrink_to_fit();
    }

    /// Bytes allocated for the encoded chunk (at least `bytes().len()`).
    pub fn capacity(&self) -> usize {
        self.w.capacity()
    }

    /// Consumes the chunk, returning its encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// Iterates over the samples.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.w.bytes())
    }

    /// Appends a sample. Fails without modifying the chunk if `t` is not strictly greater than
    /// the last timestamp or the chunk already holds `u16::MAX` samples.
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.num == u16::MAX {
            return Err(ChunkError::Full);
        }
        if self.num > 0 && t <= self.t {
            return Err(ChunkError::OutOfOrder { last: self.t, t });
        }
        let v = v.to_bits();
        let mut t_delta = 0u64;
        match self.num {
            0 => {
                write_uvarint(&mut self.w, zigzag(t));
                self.w.write_bits(v, 64);
                self.first_t = t;
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                write_uvarint(&mut self.w, t_delta);
                self.write_value(v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.write_bit(false);
                } else if bit_range(dod, 14) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64, 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        self.num += 1;
        self.w.bytes_mut()[..HEADER_LEN].copy_from_slice(&self.num.to_be_bytes());
        Ok(())
    }

    fn write_value(&mut self, v: u64) {
        let delta = v ^ self.v;
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        // Clamp so the count fits in 5 bits.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            // Fits the previous window.
            self.w.write_bit(false);
            self.w
                .write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.w.write_bit(true);
            self.w.write_bits(u64::from(leading), 5);
            // 64 significant bits do not fit in 6 bits; they are written as 0 (a delta is
            // never 0 here, so 0 is free to mean 64).
            let sig = 64 - leading - trailing;
            self.w.write_bits(u64::from(sig) & 0x3f, 6);
            self.w.write_bits(delta >> trailing, sig);
        }
    }

    /// Loads an encoded chunk (e.g. from disk or from Prometheus), validating it completely:
    /// every sample must decode, timestamps must strictly increase, and nothing but zero
    /// padding may follow the last sample (at most one whole zero byte, which Prometheus's
    /// writer leaves after byte writes). The result can be appended to, and appending to it
    /// gives the same bytes as if all samples had been appended to a fresh chunk.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<XorChunk, ChunkError> {
        let mut it = XorIter::new(&bytes);
        if let Some(e) = it.err() {
            return Err(e.clone());
        }
        let mut first_t = 0;
        let mut prev: Option<i64> = None;
        for (sample, (t, _)) in (0u16..).zip(it.by_ref()) {
            match prev {
                None => first_t = t,
                Some(p) if t <= p => {
                    return Err(ChunkError::NotIncreasing { sample, prev: p, t });
                }
                Some(_) => {}
            }
            prev = Some(t);
        }
        if let Some(e) = it.err() {
            return Err(e.clone());
        }
        let end_bits = HEADER_LEN * 8 + it.r.position();
        let slack = bytes.len() * 8 - end_bits;
        if slack > 8 {
            return Err(ChunkError::TrailingData { extra_bits: slack });
        }
        let (num, t, v, t_delta) = (it.total, it.t, it.v, it.t_delta);
        let (leading, trailing) = if it.window_set {
            (it.leading, it.trailing)
        } else {
            (0xff, 0)
        };
        let w = BitWriter::from_parts(bytes, slack as u8).ok_or(ChunkError::NonZeroPadding)?;
        Ok(XorChunk {
            w,
            num,
            first_t,
            t,
            v,
            t_delta,
            leading,
            trailing,
        })
    }
}

/// Whether `x` fits Prometheus's n-bit dod bucket: `-(2^(n-1) - 1) ..= 2^(n-1)`.
fn bit_range(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn write_uvarint(w: &mut BitWriter, mut x: u64) {
    while x >= 0x80 {
        w.write_byte((x as u8) | 0x80);
        x >>= 7;
    }
    w.write_byte(x as u8);
}

/// Iterator over the samples of an encoded XOR chunk.
///
/// It never panics on malformed input: decoding stops, `next` returns `None`, and
/// [`XorIter::err`] reports what went wrong. A chunk that ends without error has been read
/// completely (all `num_samples` samples were yielded).
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    window_set: bool,
    at: Option<(i64, f64)>,
    err: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// Iterates over an encoded chunk without validating it first (cheap; errors surface
    /// during iteration).
    pub fn new(bytes: &'a [u8]) -> Self {
        let (total, data, err) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest, None),
            _ => (0, &[][..], Some(ChunkError::TooShort { len: bytes.len() })),
        };
        Self {
            r: BitReader::new(data),
            total,
            read: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            // Like Prometheus's reader: before any window is written, "reuse" means 64 bits.
            leading: 0,
            trailing: 0,
            window_set: false,
            at: None,
            err,
        }
    }

    /// The decoding error that ended iteration, if any.
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    /// The sample most recently returned by `next` or `seek`.
    pub fn at(&self) -> Option<(i64, f64)> {
        self.at
    }

    /// Number of samples the header announces.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// Advances to the first sample with timestamp `>= t` and returns it, or `None` if there
    /// is none (or decoding failed; see [`XorIter::err`]). Like Prometheus's `Seek`, it never
    /// moves backwards: if the sample most recently returned already has timestamp `>= t`,
    /// that sample is returned again. A following `next` yields the sample after it.
    pub fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        if let Some(at) = self.at
            && at.0 >= t
        {
            return Some(at);
        }
        loop {
            let s = self.next()?;
            if s.0 >= t {
                return Some(s);
            }
        }
    }

    fn decode_next(&mut self) -> Result<(i64, f64), ChunkError> {
        let sample = self.read;
        let eof = |_: EndOfStream| ChunkError::UnexpectedEof { sample };
        match self.read {
            0 => {
                self.t = unzigzag(self.read_uvarint(sample)?);
                self.v = self.r.read_bits(64).map_err(eof)?;
            }
            1 => {
                self.t_delta = self.read_uvarint(sample)?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(sample)?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    prefix <<= 1;
                    if !self.r.read_bit().map_err(eof)? {
                        break;
                    }
                    prefix |= 1;
                }
                let dod = match prefix {
                    0b0 => 0,
                    0b10 => self.read_dod(14, sample)?,
                    0b110 => self.read_dod(17, sample)?,
                    0b1110 => self.read_dod(20, sample)?,
                    _ => self.r.read_bits(64).map_err(eof)? as i64,
                };
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(sample)?;
            }
        }
        self.read += 1;
        Ok((self.t, f64::from_bits(self.v)))
    }

    fn read_dod(&mut self, sz: u8, sample: u16) -> Result<i64, ChunkError> {
        let mut bits = self
            .r
            .read_bits(sz)
            .map_err(|_| ChunkError::UnexpectedEof { sample })?;
        // Raw values above 2^(sz-1) are negative numbers in sz-bit two's complement.
        if bits > 1 << (sz - 1) {
            bits = bits.wrapping_sub(1 << sz);
        }
        Ok(bits as i64)
    }

    fn read_value(&mut self, sample: u16) -> Result<(), ChunkError> {
        let eof = |_: EndOfStream| ChunkError::UnexpectedEof { sample };
        if !self.r.read_bit().map_err(eof)? {
            return Ok(());
        }
        if self.r.read_bit().map_err(eof)? {
            let leading = self.r.read_bits(5).map_err(eof)? as u8;
            let mut sig = self.r.read_bits(6).map_err(eof)? as u8;
            if sig == 0 {
                sig = 64;
            }
            if u32::from(leading) + u32::from(sig) > 64 {
                return Err(ChunkError::InvalidWindow {
                    sample,
                    leading,
                    significant: sig,
                });
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
            self.window_set = true;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig).map_err(eof)?;
        self.v ^= bits << self.trailing;
        Ok(())
    }

    fn read_uvarint(&mut self, sample: u16) -> Result<u64, ChunkError> {
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let b = self
                .r
                .read_byte()
                .map_err(|_| ChunkError::UnexpectedEof { sample })?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(ChunkError::VarintOverflow { sample });
                }
                return Ok(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Err(ChunkError::VarintOverflow { sample })
    }
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.err.is_some() || self.read >= self.total {
            return None;
        }
        match self.decode_next() {
            Ok(s) => {
                self.at = Some(s);
                Some(s)
            }
            Err(e) => {
                self.err = Some(e);
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.err.is_some() {
            (0, Some(0))
        } else {
            (0, Some(usize::from(self.total - self.read)))
        }
    }
}

impl std::iter::FusedIterator for XorIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{STALE_NAN, is_stale};

    fn round_trip(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        assert_eq!(c.num_samples(), samples.len());
        let mut it = c.iter();
        let got: Vec<(i64, u64)> = it.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(it.err(), None);
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
        // from_bytes accepts what we wrote and reproduces the same state.
        let loaded = XorChunk::from_bytes(c.bytes().to_vec()).unwrap();
        assert_eq!(loaded, c);
        c
    }

    /// Bits the third sample costs when its delta-of-delta is `dod` and its value repeats.
    fn third_sample_bits(dod: i64) -> usize {
        let d1 = 1i64 << 40;
        let mut c = XorChunk::new();
        c.append(0, 1.0).unwrap();
        c.append(d1, 1.0).unwrap();
        let before = c.w.bit_len();
        c.append(2 * d1 + dod, 1.0).unwrap();
        let after = c.w.bit_len();
        let got: Vec<i64> = c.iter().map(|(t, _)| t).collect();
        assert_eq!(got, vec![0, d1, 2 * d1 + dod], "dod {dod}");
        after - before
    }

    #[test]
    fn golden_bytes_match_prometheus_layout() {
        let mut c = XorChunk::new();
        assert_eq!(c.bytes(), &[0, 0]);
        c.append(1000, 1.0).unwrap();
        // header 1 | varint(1000) = zigzag 2000 = D0 0F | 1.0 = 3FF0.. | trailing byte
        assert_eq!(
            c.bytes(),
            &[0, 1, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0]
        );
        c.append(2000, 1.0).unwrap();
        // uvarint(1000) = E8 07, then '0' for the unchanged value.
        assert_eq!(
            c.bytes(),
            &[
                0, 2, 0xD0, 0x0F, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xE8, 0x07, 0
            ]
        );
        c.append(3000, 1.0).unwrap();
        // dod 0 → '0', value → '0'.
        assert_eq!(c.bytes().len(), 15);
        assert_eq!(&c.bytes()[..2], &[0, 3]);
        c.append(4001, 1.0).unwrap();
        // Byte 14 held 3 bits (value '0', dod '0', value '0'); now '10' for dod 1, the
        // 14-bit dod 00000000000001, and '0' for the unchanged value.
        assert_eq!(&c.bytes()[14..], &[0b0001_0000, 0b0000_0000, 0b0010_0000]);
    }

    #[test]
    fn dod_zero_costs_one_bit() {
        assert_eq!(third_sample_bits(0), 2);
    }

    #[test]
    fn dod_bucket_14_bits_edges() {
        assert_eq!(third_sample_bits(1), 2 + 14 + 1);
        assert_eq!(third_sample_bits(-1), 2 + 14 + 1);
        assert_eq!(third_sample_bits(8192), 2 + 14 + 1);
        assert_eq!(third_sample_bits(-8191), 2 + 14 + 1);
    }

    #[test]
    fn dod_bucket_17_bits_edges() {
        assert_eq!(third_sample_bits(8193), 3 + 17 + 1);
        assert_eq!(third_sample_bits(-8192), 3 + 17 + 1);
        assert_eq!(third_sample_bits(65536), 3 + 17 + 1);
        assert_eq!(third_sample_bits(-65535), 3 + 17 + 1);
    }

    #[test]
    fn dod_bucket_20_bits_edges() {
        assert_eq!(third_sample_bits(65537), 4 + 20 + 1);
        assert_eq!(third_sample_bits(-65536), 4 + 20 + 1);
        assert_eq!(third_sample_bits(524_288), 4 + 20 + 1);
        assert_eq!(third_sample_bits(-524_287), 4 + 20 + 1);
    }

    #[test]
    fn dod_bucket_64_bits_edges() {
        assert_eq!(third_sample_bits(524_289), 4 + 64 + 1);
        assert_eq!(third_sample_bits(-524_288), 4 + 64 + 1);
        assert_eq!(third_sample_bits(1 << 39), 4 + 64 + 1);
        assert_eq!(third_sample_bits(-(1 << 40) + 1), 4 + 64 + 1);
    }

    #[test]
    fn negative_dods_decode() {
        // Shrinking intervals: 60 s, then 59.5 s, 45 s, 30 ms.
        round_trip(&[
            (0, 1.0),
            (60_000, 2.0),
            (119_500, 3.0),
            (164_500, 4.0),
            (164_530, 5.0),
        ]);
    }

    #[test]
    fn constant_values() {
        let s: Vec<_> = (0..120).map(|i| (i * 15_000, 42.5)).collect();
        let c = round_trip(&s);
        // 2 header + 2 varint + 8 value + ~1 byte per 4 samples.
        assert!(c.bytes().len() < 50, "{}", c.bytes().len());
    }

    #[test]
    fn counter_values() {
        let s: Vec<_> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * i) as f64))
            .collect();
        round_trip(&s);
    }

    #[test]
    fn random_float_values() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let s: Vec<_> = (0..500)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (i * 1000, f64::from_bits(x))
            })
            .collect();
        round_trip(&s);
    }

    #[test]
    fn special_float_values() {
        let specials = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
            STALE_NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),                     // smallest subnormal
            f64::from_bits(0x000f_ffff_ffff_ffff), // largest subnormal
            -f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1.0,
            STALE_NAN,
            STALE_NAN,
            -0.0,
            0.0,
        ];
        let s: Vec<_> = specials
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 10, v))
            .collect();
        let c = round_trip(&s);
        let stale: Vec<bool> = c.iter().map(|(_, v)| is_stale(v)).collect();
        assert_eq!(stale.iter().filter(|&&b| b).count(), 3);
        assert!(!is_stale(f64::NAN));
    }

    #[test]
    fn stale_marker_bits_preserved_after_normal_values() {
        let c = round_trip(&[(1, 1.5), (2, STALE_NAN), (3, 2.5), (4, STALE_NAN)]);
        let got: Vec<u64> = c.iter().map(|(_, v)| v.to_bits()).collect();
        assert_eq!(got[1], 0x7ff0_0000_0000_0002);
        assert_eq!(got[3], 0x7ff0_0000_0000_0002);
    }

    #[test]
    fn large_gaps_of_years() {
        let year = 365 * 24 * 3600 * 1000i64;
        round_trip(&[
            (0, 1.0),
            (15_000, 2.0),
            (15_000 + 10 * year, 3.0),
            (15_000 + 10 * year + 15_000, 4.0),
            (15_000 + 300 * year, 5.0),
            (15_000 + 300 * year + 1, 6.0),
        ]);
    }

    #[test]
    fn i64_extremes() {
        round_trip(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]);
        round_trip(&[(i64::MIN, 1.0), (-1, 2.0), (0, 3.0), (i64::MAX, 4.0)]);
        round_trip(&[
            (i64::MIN, 0.0),
            (i64::MIN + 1, 0.0),
            (i64::MAX - 1, 0.0),
            (i64::MAX, 0.0),
        ]);
        round_trip(&[(i64::MAX, 7.0)]);
        round_trip(&[(-1_000_000, 7.0), (-999_999, 8.0)]);
    }

    #[test]
    fn rejects_out_of_order_and_duplicates() {
        let mut c = XorChunk::new();
        c.append(100, 1.0).unwrap();
        let before = c.clone();
        assert_eq!(
            c.append(100, 2.0),
            Err(ChunkError::OutOfOrder { last: 100, t: 100 })
        );
        assert_eq!(
            c.append(99, 2.0),
            Err(ChunkError::OutOfOrder { last: 100, t: 99 })
        );
        assert_eq!(c, before);
        c.append(101, 2.0).unwrap();
        assert_eq!(c.iter().count(), 2);
    }

    #[test]
    fn full_chunk_is_refused() {
        let mut c = XorChunk::new();
        for i in 0..i64::from(u16::MAX) {
            c.append(i, 0.0).unwrap();
        }
        assert_eq!(c.append(1 << 20, 0.0), Err(ChunkError::Full));
        assert_eq!(c.iter().count(), usize::from(u16::MAX));
    }

    #[test]
    fn seek_semantics() {
        let c = round_trip(&[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]);
        let mut it = c.iter();
        assert_eq!(it.seek(15), Some((20, 2.0)));
        assert_eq!(it.seek(5), Some((20, 2.0)), "seek never goes back");
        assert_eq!(it.seek(20), Some((20, 2.0)));
        assert_eq!(it.next(), Some((30, 3.0)));
        assert_eq!(it.seek(40), Some((40, 4.0)));
        assert_eq!(it.seek(41), None);
        assert_eq!(it.err(), None);
        assert_eq!(c.iter().seek(i64::MIN), Some((10, 1.0)));
        assert_eq!(XorChunk::new().iter().seek(0), None);
    }

    #[test]
    fn from_bytes_then_append_equals_continuous_append() {
        let samples: Vec<(i64, f64)> = (0..50)
            .map(|i| (i * 15_000 + (i % 3), (i as f64).sqrt()))
            .collect();
        for cut in 0..samples.len() {
            let mut full = XorChunk::new();
            for &(t, v) in &samples {
                full.append(t, v).unwrap();
            }
            let mut part = XorChunk::new();
            for &(t, v) in &samples[..cut] {
                part.append(t, v).unwrap();
            }
            let mut loaded = XorChunk::from_bytes(part.bytes().to_vec()).unwrap();
            for &(t, v) in &samples[cut..] {
                loaded.append(t, v).unwrap();
            }
            assert_eq!(loaded.bytes(), full.bytes(), "cut at {cut}");
        }
    }

    #[test]
    fn from_bytes_accepts_prometheus_trailing_byte_and_trimmed_form() {
        let mut c = XorChunk::new();
        c.append(5, 1.0).unwrap();
        let b = c.bytes().to_vec();
        assert_eq!(*b.last().unwrap(), 0);
        // With the trailing zero byte (as Prometheus writes it) and without it.
        assert!(XorChunk::from_bytes(b.clone()).is_ok());
        let trimmed = b[..b.len() - 1].to_vec();
        let mut t = XorChunk::from_bytes(trimmed).unwrap();
        t.append(6, 2.0).unwrap();
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![(5, 1.0), (6, 2.0)]);
    }

    #[test]
    fn from_bytes_rejects_garbage() {
        assert_eq!(
            XorChunk::from_bytes(vec![]),
            Err(ChunkError::TooShort { len: 0 })
        );
        assert_eq!(
            XorChunk::from_bytes(vec![0]),
            Err(ChunkError::TooShort { len: 1 })
        );
        assert!(XorChunk::from_bytes(vec![0, 0]).is_ok());
        assert_eq!(
            XorChunk::from_bytes(vec![0, 1, 0x02]),
            Err(ChunkError::UnexpectedEof { sample: 0 })
        );
        assert_eq!(
            XorChunk::from_bytes(vec![0, 0, 0, 0]),
            Err(ChunkError::TrailingData { extra_bits: 16 })
        );
        assert_eq!(
            XorChunk::from_bytes(vec![0, 0, 1]),
            Err(ChunkError::NonZeroPadding)
        );
        let mut overflow = vec![0, 1];
        overflow.extend([0xff; 11]);
        assert_eq!(
            XorChunk::from_bytes(overflow),
            Err(ChunkError::VarintOverflow { sample: 0 })
        );
        // Two samples with a zero delta: decodes, but is not increasing.
        let mut c = XorChunk::new();
        c.append(7, 1.0).unwrap();
        c.append(8, 1.0).unwrap();
        let mut b = c.bytes().to_vec();
        // The second sample's uvarint delta (1) sits right after t0 and v0.
        let delta_at = 2 + 1 + 8;
        assert_eq!(b[delta_at], 1);
        b[delta_at] = 0;
        assert_eq!(
            XorChunk::from_bytes(b),
            Err(ChunkError::NotIncreasing {
                sample: 1,
                prev: 7,
                t: 7
            })
        );
    }

    #[test]
    fn invalid_window_is_an_error_not_a_panic() {
        // Sample 0: t=0 (varint 00), v=0.0 (8 zero bytes). Sample 1: delta 1 (01), then
        // value bits '11' + leading 31 (11111) + sig 63 (111111) → 31 + 63 > 64.
        let b = vec![
            0,
            2,
            0x00,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0x01,
            0b1111_1111,
            0b1111_1000,
        ];
        let mut it = XorIter::new(&b);
        assert_eq!(it.next(), Some((0, 0.0)));
        assert_eq!(it.next(), None);
        assert_eq!(
            it.err(),
            Some(&ChunkError::InvalidWindow {
                sample: 1,
                leading: 31,
                significant: 63
            })
        );
        assert!(XorChunk::from_bytes(b).is_err());
    }
}
