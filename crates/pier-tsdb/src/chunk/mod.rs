//! Sample chunks: the bit stream primitives ([`bitstream`]), Prometheus's XOR float chunk
//! ([`xor`], used everywhere: head, WAL checkpoints, blocks), pier's compact chunk for
//! decimal values in blocks ([`compact`], built from [`decimal`] scaling and `intseq`
//! bit packing), the choice between them and reading either ([`encoding`]), the immutable
//! in-memory chunk of either encoding ([`sealed`]), plus the staleness marker that travels
//! through chunks as an ordinary value.

pub mod bitstream;
pub mod compact;
pub mod decimal;
pub mod encoding;
mod intseq;
pub mod sealed;
pub mod xor;

pub use compact::CompactIter;
pub use encoding::{ChunkIter, ENCODING_COMPACT, ENCODING_XOR, decode_into, encode_for_block};
pub use sealed::SealedChunk;
pub use xor::{ChunkError, XorChunk, XorIter};

/// Bit pattern of Prometheus's staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Prometheus's staleness marker: a NaN with bits `0x7ff0000000000002`, written when a series
/// disappears from a scrape. It must be compared by bits, never with `==` (it is a NaN).
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True if `v` is the staleness marker (bit-exact; other NaNs are ordinary values).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
