//! Integer sequences for the compact chunk ([`super::compact`]): a first value, then deltas
//! (or deltas of deltas) scaled by their common divisor and bit-packed by frame of reference
//! in blocks, each block with its own bit width. Owns the bit packer ([`BitSink`]), the fast
//! bit reader ([`Bits`]), and the sequence's layout:
//!
//! ```text
//! first      varint (zigzag LEB128; 8 bits per byte, in the bit stream)
//! if n ≥ 2:
//!   layout   u8: 0 = every value equals the first (nothing follows), else
//!               order in bits 0-1 (1 = deltas, 2 = deltas of deltas) and
//!               log2 of the block length in bits 2-4 (blocks of 1..=128 residuals)
//!   step     uvarint g ≥ 1: every delta is a multiple of g and is stored divided by g
//!   if order 2: first delta / g   varint
//!   if there are residuals (n − order of them):
//!     base   varint: the smallest residual
//!     blocks header u8: width w (0..=64) in bits 0-6, bit 7 = sparse; then
//!            dense:  each residual − base in w bits
//!            sparse: per residual a bit, 0 = the residual is 0, 1 = residual − base
//!                    follows in w bits (for sequences that often repeat a value or delta)
//! ```
//!
//! All arithmetic is wrapping (as the XOR chunk's), so any `i64` sequence round-trips;
//! a constant sequence costs its first value and one byte, a regular one (timestamps on a
//! grid) its first value and delta and a few bytes. The encoder tries both
//! orders and several block lengths and keeps the smallest.

use super::ChunkError;

/// Block lengths (log2) the encoder tries.
const BLOCK_LOG2: [u8; 4] = [3, 4, 5, 7];
/// Bits of a block's header: the sparse flag and the width.
const BLOCK_HEADER_BITS: u32 = 8;
/// The sparse flag in a block header.
const SPARSE: u64 = 0x80;

/// Appends bits, most significant first, to a byte buffer (no trailing byte quirks).
#[derive(Debug, Default)]
pub(crate) struct BitSink {
    buf: Vec<u8>,
    /// Pending bits (the low `n` bits), fewer than 8 between calls.
    acc: u64,
    n: u32,
}

impl BitSink {
    /// A sink appending after `buf`'s bytes.
    pub(crate) fn new(buf: Vec<u8>) -> Self {
        Self { buf, acc: 0, n: 0 }
    }

    /// Appends the low `w` bits of `v` (`w <= 64`).
    pub(crate) fn put(&mut self, v: u64, w: u32) {
        if w > 32 {
            self.put(v >> 32, w - 32);
            self.put(v & 0xffff_ffff, 32);
            return;
        }
        if w == 0 {
            return;
        }
        self.acc = (self.acc << w) | (v & mask(w));
        self.n += w;
        while self.n >= 8 {
            self.n -= 8;
            self.buf.push((self.acc >> self.n) as u8);
        }
        self.acc &= mask(self.n);
    }

    fn put_uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.put((x & 0x7f) | 0x80, 8);
            x >>= 7;
        }
        self.put(x, 8);
    }

    fn put_varint(&mut self, x: i64) {
        self.put_uvarint(zigzag(x));
    }

    /// The bytes, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.buf.push((self.acc << (8 - self.n)) as u8);
        }
        self.buf
    }
}

/// Reads bits, most significant first, from a byte slice; never panics.
#[derive(Debug, Clone)]
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Reads `w <= 64` bits.
    #[inline]
    pub(crate) fn get(&mut self, w: u32) -> Result<u64, ChunkError> {
        if w == 0 {
            return Ok(0);
        }
        let end = self.pos + w as usize;
        if w > 64 || end > self.data.len() * 8 {
            return Err(ChunkError::Malformed("data ends inside a value"));
        }
        let byte = self.pos / 8;
        let off = (self.pos % 8) as u32;
        self.pos = end;
        // Fast path: the bits lie in the 8 bytes from `byte`.
        if off + w <= 64
            && let Some(s) = self.data.get(byte..byte + 8)
        {
            let mut b = [0u8; 8];
            b.copy_from_slice(s);
            return Ok((u64::from_be_bytes(b) << off) >> (64 - w));
        }
        // off + w <= 71 bits: at most 9 bytes, read as the top of a u128.
        let mut b = [0u8; 16];
        let tail = &self.data[byte..self.data.len().min(byte + 16)];
        b[..tail.len()].copy_from_slice(tail);
        Ok(((u128::from_be_bytes(b) << off) >> (128 - w)) as u64)
    }

    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut x = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.get(8)?;
            if shift == 63 && b > 1 {
                return Err(ChunkError::Malformed("varint overflows 64 bits"));
            }
            x |= (b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(x);
            }
        }
        Err(ChunkError::Malformed("varint too long"))
    }

    fn varint(&mut self) -> Result<i64, ChunkError> {
        self.uvarint().map(unzigzag)
    }
}

fn mask(w: u32) -> u64 {
    if w >= 64 { u64::MAX } else { (1u64 << w) - 1 }
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn varint_bits(x: i64) -> usize {
    let bits = 64 - zigzag(x).leading_zeros() as usize;
    8 * bits.div_ceil(7).max(1)
}

/// Greatest common divisor of the deltas of `xs` (1 if they do not all fit an `i64` or are
/// all zero).
fn delta_gcd(xs: &[i64]) -> u64 {
    let mut g = 0u64;
    for w in xs.windows(2) {
        let d = i128::from(w[1]) - i128::from(w[0]);
        let Ok(d) = i64::try_from(d) else {
            return 1;
        };
        g = gcd(g, d.unsigned_abs());
        if g == 1 {
            return 1;
        }
    }
    g.max(1)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Residuals of `deltas` for `order` (1: the deltas; 2: the first delta, then the deltas of
/// deltas).
fn residuals(deltas: &[i64], order: u8) -> (i64, Vec<i64>) {
    if order == 1 {
        (0, deltas.to_vec())
    } else {
        let r = deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        (deltas[0], r)
    }
}

/// Size in bits of the residuals in blocks of `1 << block_log2`, headers included.
fn body_bits(residuals: &[i64], base: i64, block_log2: u8) -> usize {
    residuals
        .chunks(1 << block_log2)
        .map(|b| BLOCK_HEADER_BITS as usize + block_form(b, base).2)
        .sum()
}

/// How a block is best packed: `(sparse, width, bits)`. Dense: every `r − base` in `width`
/// bits. Sparse: a bit per residual (0: the residual is 0), then `r − base` in `width` bits
/// for the others.
fn block_form(block: &[i64], base: i64) -> (bool, u32, usize) {
    let bits_of = |r: i64| 64 - (r.wrapping_sub(base) as u64).leading_zeros();
    let dense_w = block.iter().map(|&r| bits_of(r)).max().unwrap_or(0);
    let nonzero = block.iter().filter(|&&r| r != 0).count();
    let sparse_w = block
        .iter()
        .filter(|&&r| r != 0)
        .map(|&r| bits_of(r))
        .max()
        .unwrap_or(0);
    let dense = block.len() * dense_w as usize;
    let sparse = block.len() + nonzero * sparse_w as usize;
    if sparse < dense {
        (true, sparse_w, sparse)
    } else {
        (false, dense_w, dense)
    }
}

/// Writes `xs` (non-empty) in the smallest layout.
pub(crate) fn write(sink: &mut BitSink, xs: &[i64]) {
    sink.put_varint(xs[0]);
    if xs.len() < 2 {
        return;
    }
    if xs.iter().all(|&x| x == xs[0]) {
        sink.put(0, 8);
        return;
    }
    let step = delta_gcd(xs);
    // Exact when step > 1 (the deltas fit an i64 and are multiples of it).
    let deltas: Vec<i64> = xs
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]).wrapping_div(step as i64))
        .collect();
    // (bits, order, block log2, first delta, base, residuals) of the smallest layout.
    let mut best: Option<(usize, u8, u8, i64, i64, Vec<i64>)> = None;
    for order in [1u8, 2] {
        let (first_delta, res) = residuals(&deltas, order);
        let base = res.iter().copied().min().unwrap_or(0);
        let mut head = 0;
        if order == 2 {
            head += varint_bits(first_delta);
        }
        if !res.is_empty() {
            head += varint_bits(base);
        }
        let mut pick: Option<(usize, u8)> = None;
        for lb in BLOCK_LOG2 {
            let bits = head + body_bits(&res, base, lb);
            if pick.is_none_or(|(b, _)| bits < b) {
                pick = Some((bits, lb));
            }
        }
        if let Some((bits, lb)) = pick
            && best.as_ref().is_none_or(|b| bits < b.0)
        {
            best = Some((bits, order, lb, first_delta, base, res));
        }
    }
    let Some((_, order, block_log2, first_delta, base, res)) = best else {
        return;
    };
    sink.put(u64::from(order | (block_log2 << 2)), 8);
    sink.put_uvarint(step);
    if order == 2 {
        sink.put_varint(first_delta);
    }
    if res.is_empty() {
        return;
    }
    sink.put_varint(base);
    for block in res.chunks(1 << block_log2) {
        let (sparse, w, _) = block_form(block, base);
        sink.put(
            u64::from(w) | if sparse { SPARSE } else { 0 },
            BLOCK_HEADER_BITS,
        );
        for &r in block {
            if sparse {
                sink.put(u64::from(r != 0), 1);
                if r == 0 {
                    continue;
                }
            }
            sink.put(r.wrapping_sub(base) as u64, w);
        }
    }
}

/// Reads `n >= 1` integers written by [`write`], handing each to `out` in order.
#[inline]
pub(crate) fn read(
    bits: &mut Bits<'_>,
    n: usize,
    mut out: impl FnMut(i64),
) -> Result<(), ChunkError> {
    let mut x = bits.varint()?;
    out(x);
    if n < 2 {
        return Ok(());
    }
    let layout = bits.get(8)? as u8;
    if layout == 0 {
        for _ in 1..n {
            out(x);
        }
        return Ok(());
    }
    let order = layout & 3;
    let block = 1usize << ((layout >> 2) & 7);
    if !(1..=2).contains(&order) || layout >> 5 != 0 {
        return Err(ChunkError::Malformed("bad integer sequence layout"));
    }
    let step = bits.uvarint()?;
    if step == 0 {
        return Err(ChunkError::Malformed("zero step"));
    }
    let step = step as i64;
    let mut delta = 0i64;
    let mut left = n - 1;
    if order == 2 {
        delta = bits.varint()?;
        x = x.wrapping_add(delta.wrapping_mul(step));
        out(x);
        left -= 1;
    }
    if left == 0 {
        return Ok(());
    }
    let base = bits.varint()?;
    while left > 0 {
        let header = bits.get(BLOCK_HEADER_BITS)?;
        let w = (header & !SPARSE) as u32;
        if w > 64 {
            return Err(ChunkError::Malformed("bit width above 64"));
        }
        let len = left.min(block);
        if header & SPARSE == 0 {
            if bits.pos + len * w as usize > bits.data.len() * 8 {
                return Err(ChunkError::Malformed("data ends inside a block"));
            }
            for _ in 0..len {
                let r = base.wrapping_add(bits.get(w)? as i64);
                delta = if order == 1 { r } else { delta.wrapping_add(r) };
                x = x.wrapping_add(delta.wrapping_mul(step));
                out(x);
            }
        } else {
            for _ in 0..len {
                let r = if bits.get(1)? == 1 {
                    base.wrapping_add(bits.get(w)? as i64)
                } else {
                    0
                };
                delta = if order == 1 { r } else { delta.wrapping_add(r) };
                x = x.wrapping_add(delta.wrapping_mul(step));
                out(x);
            }
        }
        left -= len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(xs: &[i64]) -> usize {
        let mut sink = BitSink::new(Vec::new());
        write(&mut sink, xs);
        let bytes = sink.finish();
        let mut out = Vec::new();
        let mut bits = Bits::new(&bytes);
        read(&mut bits, xs.len(), |x| out.push(x)).unwrap();
        assert_eq!(out, xs);
        assert!(bytes.len() * 8 - bits.position() < 8);
        bytes.len()
    }

    #[test]
    fn sequences_round_trip() {
        round_trip(&[5]);
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[i64::MAX, i64::MIN, 0, -1, 1]);
        round_trip(&[0, 4096 * 3, 4096 * 5, 4096 * 2]);
        let grid: Vec<i64> = (0..120).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        // Regular timestamps: the first value, the first delta, a few header bytes.
        assert!(round_trip(&grid) <= 14, "{}", round_trip(&grid));
        let constant = vec![42i64; 120];
        assert_eq!(round_trip(&constant), 2);
    }

    #[test]
    fn sink_packs_msb_first() {
        let mut s = BitSink::new(vec![0xAA]);
        s.put(0b1, 1);
        s.put(u64::MAX, 64);
        s.put(0, 7);
        assert_eq!(
            s.finish(),
            vec![0xAA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]
        );
        let data = [0b1011_0000u8, 0xFF];
        let mut b = Bits::new(&data);
        assert_eq!(b.get(3).unwrap(), 0b101);
        assert_eq!(b.get(13).unwrap(), 0b1_0000_1111_1111);
        assert!(b.get(1).is_err());
    }
}
