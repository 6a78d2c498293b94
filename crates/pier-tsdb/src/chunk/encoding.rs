//! Chunk encodings of block records: the encoding bytes, the choice of encoding for a chunk
//! written to a block ([`encode_for_block`]: the compact chunk when it is smaller, else XOR),
//! and reading a chunk of either encoding ([`ChunkIter`], [`decode_into`]).

use super::{ChunkError, CompactIter, XorIter, compact};
use std::borrow::Cow;

/// Encoding byte of XOR chunks (as Prometheus's `EncXOR`).
pub const ENCODING_XOR: u8 = 1;
/// Encoding byte of pier's compact chunks ([`super::compact`]); the high bit marks an
/// encoding of pier's own.
pub const ENCODING_COMPACT: u8 = 0x81;

/// The encoding and bytes to store in a block for an XOR chunk's data: the compact chunk
/// if it represents every sample exactly and is smaller, else the XOR bytes unchanged
/// (also when they do not decode).
pub fn encode_for_block(xor: &[u8]) -> (u8, Cow<'_, [u8]>) {
    let mut it = XorIter::new(xor);
    let samples: Vec<(i64, f64)> = it.by_ref().collect();
    if it.err().is_none()
        && let Some(c) = compact::encode(&samples)
        && c.len() < xor.len()
    {
        return (ENCODING_COMPACT, Cow::Owned(c));
    }
    (ENCODING_XOR, Cow::Borrowed(xor))
}

/// Decodes a block chunk, appending its samples with timestamp `>= mint` to `out`. Samples
/// decoded before an error are kept (XOR decodes as it goes; a compact chunk is all or
/// nothing).
pub fn decode_into(
    encoding: u8,
    data: &[u8],
    mint: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), ChunkError> {
    match encoding {
        ENCODING_XOR => {
            let mut it = XorIter::new(data);
            out.extend(it.by_ref().filter(|s| s.0 >= mint));
            it.err().map_or(Ok(()), |e| Err(e.clone()))
        }
        ENCODING_COMPACT => {
            let start = out.len();
            compact::decode(data, out)?;
            // Timestamps increase: drop the prefix before mint.
            let skip = out[start..].partition_point(|s| s.0 < mint);
            out.drain(start..start + skip);
            Ok(())
        }
        other => Err(ChunkError::UnknownEncoding(other)),
    }
}

/// Iterator over a chunk of either encoding. Never panics on malformed input: iteration
/// stops and [`ChunkIter::err`] says why.
#[derive(Debug, Clone)]
pub enum ChunkIter<'a> {
    /// An XOR chunk, decoded sample by sample.
    Xor(XorIter<'a>),
    /// A compact chunk, decoded when the iterator is made.
    Compact(CompactIter),
    /// An encoding this version does not know.
    Unknown(ChunkError),
}

impl<'a> ChunkIter<'a> {
    /// Iterates over `data` in `encoding`.
    pub fn new(encoding: u8, data: &'a [u8]) -> Self {
        match encoding {
            ENCODING_XOR => Self::Xor(XorIter::new(data)),
            ENCODING_COMPACT => Self::Compact(CompactIter::new(data)),
            other => Self::Unknown(ChunkError::UnknownEncoding(other)),
        }
    }

    /// The error that ended iteration, if any.
    pub fn err(&self) -> Option<&ChunkError> {
        match self {
            Self::Xor(it) => it.err(),
            Self::Compact(it) => it.err(),
            Self::Unknown(e) => Some(e),
        }
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        match self {
            Self::Xor(it) => it.next(),
            Self::Compact(it) => it.next(),
            Self::Unknown(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{STALE_NAN, XorChunk};

    fn xor(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        c.into_bytes()
    }

    fn read(enc: u8, data: &[u8]) -> Vec<(i64, u64)> {
        let mut it = ChunkIter::new(enc, data);
        let out = it.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(it.err(), None);
        out
    }

    #[test]
    fn smaller_encoding_wins() {
        let decimals: Vec<(i64, f64)> = (0..120)
            .map(|i| (i * 15_000, (1000 + i * 13) as f64 / 100.0))
            .collect();
        let x = xor(&decimals);
        let (enc, data) = encode_for_block(&x);
        assert_eq!(enc, ENCODING_COMPACT);
        assert!(data.len() < x.len());
        assert_eq!(read(enc, &data), read(ENCODING_XOR, &x));

        // A stale marker forces XOR.
        let mut stale = decimals.clone();
        stale.push((120 * 15_000, STALE_NAN));
        let x = xor(&stale);
        let (enc, data) = encode_for_block(&x);
        assert_eq!((enc, &*data), (ENCODING_XOR, &x[..]));

        // Full-precision floats: XOR is smaller.
        let floats: Vec<(i64, f64)> = (0..120)
            .map(|i| (i * 15_000, (i as f64 * 0.37).sin() / 3.0))
            .collect();
        let x = xor(&floats);
        assert_eq!(encode_for_block(&x).0, ENCODING_XOR);
    }

    #[test]
    fn decode_into_skips_before_mint_and_rejects_unknown() {
        let s: Vec<(i64, f64)> = (0..10).map(|i| (i, i as f64)).collect();
        let x = xor(&s);
        let (enc, data) = encode_for_block(&x);
        assert_eq!(enc, ENCODING_COMPACT);
        for (e, d) in [(enc, &*data), (ENCODING_XOR, &x[..])] {
            let mut out = vec![(-1, 0.0)];
            decode_into(e, d, 4, &mut out).unwrap();
            assert_eq!(
                out,
                [
                    (-1, 0.0),
                    (4, 4.0),
                    (5, 5.0),
                    (6, 6.0),
                    (7, 7.0),
                    (8, 8.0),
                    (9, 9.0)
                ]
            );
        }
        assert_eq!(
            decode_into(7, &x, 0, &mut Vec::new()),
            Err(ChunkError::UnknownEncoding(7))
        );
        assert_eq!(ChunkIter::new(7, &x).count(), 0);
    }
}
