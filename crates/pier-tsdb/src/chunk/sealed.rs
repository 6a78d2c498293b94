//! The sealed chunk: an immutable, non-empty chunk in memory — a head series' closed chunk,
//! or a copy of its open chunk handed to a reader — in one reference-counted allocation of
//! exactly its size: the encoding byte, the first and last timestamps, then the chunk's
//! bytes. It owns that layout and the choice made when a head chunk is closed: the compact
//! encoding when it is smaller (as [`encode_for_block`] chooses for blocks), else the XOR
//! bytes as they are. A closed head chunk thus costs what its block record will cost, and
//! cutting a block writes its bytes without encoding them again.
//!
//! Compared with an `Arc<XorChunk>` (the appender's state, a `Vec` and the buffer: two
//! allocations, about 90 bytes besides the data), a sealed chunk is one allocation with 17
//! bytes besides the data.

use super::encoding::{ChunkIter, ENCODING_COMPACT, ENCODING_XOR, decode_into, encode_for_block};
use super::{ChunkError, XorChunk};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Encoding byte, first timestamp (i64 LE), last timestamp (i64 LE).
const HEADER_LEN: usize = 17;

/// Set in the encoding byte (in memory only; no encoding uses this bit: XOR is 1, compact
/// 0x81) when the encoding was chosen for the chunk's
/// block record ([`SealedChunk::seal`]): the block writer then frames the bytes as they are
/// instead of trying the compact encoding again.
const CHOSEN: u8 = 0x40;
const _: () = assert!(ENCODING_XOR & CHOSEN == 0 && ENCODING_COMPACT & CHOSEN == 0);

/// An immutable, non-empty chunk. Cloning shares it. See the module docs.
#[derive(Clone)]
pub struct SealedChunk(Arc<[u8]>);

// Equal when the encoding, timestamps and bytes are: whether the encoding was chosen for a
// block ([`CHOSEN`]) is bookkeeping, not content.
impl PartialEq for SealedChunk {
    fn eq(&self, other: &Self) -> bool {
        self.encoding() == other.encoding() && self.0[1..] == other.0[1..]
    }
}

impl Eq for SealedChunk {}

impl SealedChunk {
    /// Seals a closed chunk in the smaller of its XOR and compact encodings; `None` if it
    /// holds no sample.
    pub fn seal(chunk: &XorChunk) -> Option<SealedChunk> {
        let (first, last) = (chunk.first_timestamp()?, chunk.last_timestamp()?);
        let (encoding, data) = encode_for_block(chunk.bytes());
        Some(Self::from_parts(encoding | CHOSEN, &data, first, last))
    }

    /// A copy of a chunk in its XOR encoding (no re-encoding: for the open chunk, which
    /// readers copy); `None` if it holds no sample.
    pub fn copy_xor(chunk: &XorChunk) -> Option<SealedChunk> {
        let (first, last) = (chunk.first_timestamp()?, chunk.last_timestamp()?);
        Some(Self::from_parts(ENCODING_XOR, chunk.bytes(), first, last))
    }

    /// A chunk of samples (timestamps strictly increasing), sealed as a closed chunk is;
    /// `None` if there are none or they do not fit one chunk.
    pub fn from_samples(samples: impl IntoIterator<Item = (i64, f64)>) -> Option<SealedChunk> {
        let mut c = XorChunk::new();
        for (t, v) in samples {
            c.append(t, v).ok()?;
        }
        Self::seal(&c)
    }

    fn from_parts(encoding: u8, data: &[u8], first: i64, last: i64) -> SealedChunk {
        let mut buf = Vec::with_capacity(HEADER_LEN + data.len());
        buf.push(encoding);
        buf.extend_from_slice(&first.to_le_bytes());
        buf.extend_from_slice(&last.to_le_bytes());
        buf.extend_from_slice(data);
        SealedChunk(Arc::from(buf))
    }

    /// The encoding of [`SealedChunk::data`] ([`ENCODING_XOR`] or [`ENCODING_COMPACT`]).
    pub fn encoding(&self) -> u8 {
        self.0[0] & !CHOSEN
    }

    /// True if the chunk is in the encoding its block record will use: it was sealed (the
    /// compact encoding was tried), not copied from an open chunk.
    pub fn is_block_encoded(&self) -> bool {
        self.0[0] & CHOSEN != 0
    }

    /// The chunk's bytes in its encoding (header included), as a block record holds them.
    pub fn data(&self) -> &[u8] {
        &self.0[HEADER_LEN..]
    }

    /// Timestamp of the first sample.
    pub fn first_timestamp(&self) -> i64 {
        i64::from_le_bytes(self.header_word(1))
    }

    /// Timestamp of the last sample.
    pub fn last_timestamp(&self) -> i64 {
        i64::from_le_bytes(self.header_word(9))
    }

    fn header_word(&self, at: usize) -> [u8; 8] {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[at..at + 8]);
        word
    }

    /// Number of samples (the first two bytes of the data in both encodings).
    pub fn num_samples(&self) -> usize {
        match self.data() {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        }
    }

    /// Iterates over the samples.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(self.encoding(), self.data())
    }

    /// Appends the samples with timestamp `>= mint` to `out`.
    pub fn decode_into(&self, mint: i64, out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
        decode_into(self.encoding(), self.data(), mint, out)
    }

    /// The chunk's bytes in the XOR encoding (converted if it is compact; checkpoints and
    /// tests want those).
    pub fn xor_bytes(&self) -> Cow<'_, [u8]> {
        if self.encoding() == ENCODING_XOR {
            return Cow::Borrowed(self.data());
        }
        let mut c = XorChunk::new();
        for (t, v) in self.iter() {
            // Timestamps strictly increase within a chunk.
            let _ = c.append(t, v);
        }
        Cow::Owned(c.into_bytes())
    }

    /// True if both share one allocation (one is a clone of the other).
    pub fn ptr_eq(a: &SealedChunk, b: &SealedChunk) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// True if the chunk is stored in pier's compact encoding.
    pub fn is_compact(&self) -> bool {
        self.encoding() == ENCODING_COMPACT
    }

    /// Bytes allocated for the chunk (its data, header and the reference counts).
    pub fn heap_bytes(&self) -> usize {
        self.0.len() + 2 * std::mem::size_of::<usize>()
    }
}

impl fmt::Debug for SealedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedChunk")
            .field("encoding", &self.encoding())
            .field("first", &self.first_timestamp())
            .field("last", &self.last_timestamp())
            .field("samples", &self.num_samples())
            .field("bytes", &self.data().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::STALE_NAN;

    fn xor(samples: &[(i64, f64)]) -> XorChunk {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        c
    }

    fn bits(samples: impl IntoIterator<Item = (i64, f64)>) -> Vec<(i64, u64)> {
        samples.into_iter().map(|(t, v)| (t, v.to_bits())).collect()
    }

    #[test]
    fn decimal_chunks_are_sealed_compact_and_round_trip() {
        let samples: Vec<(i64, f64)> = (0..60)
            .map(|i| (1_700_000_000_000 + i * 1000, 2_527_207.29 + i as f64 * 0.37))
            .collect();
        let c = xor(&samples);
        let s = SealedChunk::seal(&c).unwrap();
        assert!(s.is_compact());
        assert!(s.is_block_encoded());
        assert!(
            s.data().len() < c.bytes().len() / 2,
            "{s:?} vs {}",
            c.bytes().len()
        );
        assert_eq!(s.heap_bytes(), s.data().len() + HEADER_LEN + 16);
        assert_eq!(s.first_timestamp(), 1_700_000_000_000);
        assert_eq!(s.last_timestamp(), 1_700_000_059_000);
        assert_eq!(s.num_samples(), 60);
        assert_eq!(bits(s.iter()), bits(samples.iter().copied()));
        let mut out = Vec::new();
        s.decode_into(1_700_000_030_000, &mut out).unwrap();
        assert_eq!(bits(out), bits(samples[30..].iter().copied()));
        // Converted back to XOR: the bytes the XOR chunk had.
        assert_eq!(&*s.xor_bytes(), c.bytes());
    }

    #[test]
    fn other_values_keep_their_xor_bytes() {
        let samples = [
            (1, 0.1f64.sqrt()),
            (2, f64::NAN),
            (3, STALE_NAN),
            (4, f64::INFINITY),
        ];
        let c = xor(&samples);
        let s = SealedChunk::seal(&c).unwrap();
        assert_eq!(s.encoding(), ENCODING_XOR);
        // The choice is made: a block frames these bytes without trying compact again.
        assert!(s.is_block_encoded());
        assert_eq!(s.data(), c.bytes());
        assert_eq!(bits(s.iter()), bits(samples));
        assert_eq!((s.first_timestamp(), s.last_timestamp()), (1, 4));
    }

    #[test]
    fn a_copy_keeps_the_xor_encoding_and_an_empty_chunk_is_not_sealed() {
        let c = xor(&[(5, 1.0), (6, 2.0)]);
        let s = SealedChunk::copy_xor(&c).unwrap();
        assert_eq!((s.encoding(), s.data()), (ENCODING_XOR, c.bytes()));
        // Not chosen for a block yet: an open chunk's copy is encoded when a block is written.
        assert!(!s.is_block_encoded());
        // Equal to the same chunk sealed in XOR (values no decimal holds exactly): the flag
        // is bookkeeping, not content.
        let c = xor(&[(5, 2f64.sqrt()), (6, 3f64.sqrt())]);
        let (copied, sealed) = (
            SealedChunk::copy_xor(&c).unwrap(),
            SealedChunk::seal(&c).unwrap(),
        );
        assert!(sealed.is_block_encoded() && sealed.encoding() == ENCODING_XOR);
        assert_eq!(copied, sealed);
        assert_eq!(s.num_samples(), 2);
        assert!(SealedChunk::seal(&XorChunk::new()).is_none());
        assert!(SealedChunk::copy_xor(&XorChunk::new()).is_none());
        assert!(SealedChunk::from_samples([]).is_none());
        assert_eq!(
            SealedChunk::from_samples([(1, 1.0), (2, 2.0)]).map(|s| s.num_samples()),
            Some(2)
        );
    }
}
