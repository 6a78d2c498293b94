//! Bit streams for chunk encodings: [`BitWriter`] appends bits most-significant-bit first,
//! [`BitReader`] reads them back from a borrowed byte slice.
//!
//! The writer deliberately mirrors the byte layout of Prometheus's `bstream`
//! (tsdb/chunkenc/bstream.go), including one quirk: writing a whole byte always leaves a
//! fresh (possibly empty) byte at the end of the buffer, so a stream that ends on a byte
//! boundary after [`BitWriter::write_byte`] carries one trailing zero byte. Keeping that
//! quirk makes our encoded chunks byte-identical to the ones Prometheus builds in memory.
//!
//! The writer's buffer grows in small steps (an eighth of its size, at least
//! [`GROW_MIN`] bytes) instead of doubling: a head keeps one open chunk per series for
//! minutes, and doubling would leave up to half of each buffer unused.
//!
//! The reader never panics: reading past the end returns [`EndOfStream`] and leaves the
//! position unchanged.

use thiserror::Error;

/// Returned by [`BitReader`] when fewer bits remain than were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unexpected end of bit stream")]
pub struct EndOfStream;

/// The smallest step the writer's buffer grows by.
pub const GROW_MIN: usize = 16;

/// Appends bits to a growable byte buffer, most significant bit first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// How many low-order bits of the last byte are still free (0..=8).
    free: u8,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes writing after existing data. `free` is the number of unused low-order bits in
    /// the last byte (0..=8); those bits must be zero. Returns `None` if the parts are
    /// inconsistent (free > 8, free > 0 with no bytes, or non-zero free bits).
    pub fn from_parts(bytes: Vec<u8>, free: u8) -> Option<Self> {
        if free > 8 {
            return None;
        }
        match bytes.last() {
            None if free != 0 => None,
            Some(&last) if free > 0 && u16::from(last) & ((1u16 << free) - 1) != 0 => None,
            _ => Some(Self { bytes, free }),
        }
    }

    /// Appends one bit.
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push(0);
            self.free = 8;
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Appends eight bits. Like Prometheus's `bstream.writeByte`, this always pushes a new
    /// byte holding the remainder, even when that remainder is empty.
    pub fn write_byte(&mut self, byte: u8) {
        if self.free == 0 {
            self.push(0);
            self.free = 8;
        }
        let free = u32::from(self.free);
        if let Some(last) = self.bytes.last_mut() {
            // Complete the last byte with the leftmost `free` bits of `byte`...
            *last |= byte.checked_shr(8 - free).unwrap_or(0);
        }
        // ...and start a new byte with the rest (empty when free == 8).
        self.push(byte.checked_shl(free).unwrap_or(0));
    }

    /// Pushes a byte, growing the buffer by a small step when it is full.
    fn push(&mut self, byte: u8) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes
                .reserve_exact((self.bytes.len() / 8).max(GROW_MIN));
        }
        self.bytes.push(byte);
    }

    /// Gives the buffer's spare capacity back (for a stream that is complete).
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    /// Bytes allocated for the buffer.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Appends the `nbits` low-order bits of `value`, most significant first.
    ///
    /// # Panics
    /// If `nbits > 64` (a programming error, never caused by data).
    pub fn write_bits(&mut self, value: u64, nbits: u8) {
        assert!(nbits <= 64, "write_bits: nbits {nbits} > 64");
        if nbits == 0 {
            return;
        }
        let mut v = value << (64 - u32::from(nbits));
        let mut n = nbits;
        while n >= 8 {
            self.write_byte((v >> 56) as u8);
            v <<= 8;
            n -= 8;
        }
        while n > 0 {
            self.write_bit(v >> 63 == 1);
            v <<= 1;
            n -= 1;
        }
    }

    /// The bytes written so far (the last byte may be partially filled, padded with zeros).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable access to the bytes, for patching fixed-width headers in place.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Consumes the writer, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of unused low-order bits in the last byte (0..=8).
    pub fn free_bits(&self) -> u8 {
        self.free
    }

    /// Number of bits written (bytes * 8 minus the free bits of the last byte).
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 - usize::from(self.free)
    }
}

/// Reads bits, most significant first, from a borrowed byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Current position in bits from the start of the slice.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bits left to read.
    pub fn remaining(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    /// Reads one bit.
    pub fn read_bit(&mut self) -> Result<bool, EndOfStream> {
        let byte = *self.data.get(self.pos / 8).ok_or(EndOfStream)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    /// Reads `nbits` (0..=64) bits into the low-order bits of the result. On error nothing
    /// is consumed. Asking for more than 64 bits is reported as [`EndOfStream`].
    pub fn read_bits(&mut self, nbits: u8) -> Result<u64, EndOfStream> {
        let n = usize::from(nbits);
        if nbits > 64 || n > self.remaining() {
            return Err(EndOfStream);
        }
        let mut value: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = self.data.get(self.pos / 8).copied().ok_or(EndOfStream)?;
            let offset = self.pos % 8;
            let avail = 8 - offset;
            let take = avail.min(left);
            // Bits [offset, offset + take) of the byte, counted from the most significant.
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            value = (value << take) | chunk;
            self.pos += take;
            left -= take;
        }
        Ok(value)
    }

    /// Reads eight bits (not necessarily byte-aligned).
    pub fn read_byte(&mut self) -> Result<u8, EndOfStream> {
        self.read_bits(8).map(|v| v as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_every_alignment() {
        for lead in 0..8u8 {
            let mut w = BitWriter::new();
            w.write_bits(0, lead);
            w.write_bits(0xDEAD_BEEF_CAFE_F00D, 64);
            w.write_bit(true);
            w.write_bits(0b101, 3);
            w.write_byte(0xA5);
            w.write_bits(0x1FFF, 13);
            let mut r = BitReader::new(w.bytes());
            assert_eq!(r.read_bits(lead).unwrap(), 0);
            assert_eq!(r.read_bits(64).unwrap(), 0xDEAD_BEEF_CAFE_F00D);
            assert!(r.read_bit().unwrap());
            assert_eq!(r.read_bits(3).unwrap(), 0b101);
            assert_eq!(r.read_byte().unwrap(), 0xA5);
            assert_eq!(r.read_bits(13).unwrap(), 0x1FFF);
            assert_eq!(r.position(), w.bit_len());
        }
    }

    #[test]
    fn write_byte_leaves_trailing_byte_like_prometheus() {
        let mut w = BitWriter::new();
        w.write_byte(0xFF);
        assert_eq!(w.bytes(), &[0xFF, 0x00]);
        assert_eq!(w.free_bits(), 8);
        assert_eq!(w.bit_len(), 8);
        w.write_bit(true);
        assert_eq!(w.bytes(), &[0xFF, 0x80]);

        // Bits alone do not leave a trailing byte.
        let mut w = BitWriter::new();
        w.write_bits(0xF, 4);
        w.write_bits(0xF, 4);
        assert_eq!(w.bytes(), &[0xFF]);
        assert_eq!(w.free_bits(), 0);
    }

    #[test]
    fn reader_stops_cleanly_at_end() {
        let data = [0b1010_0000u8];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_bits(3).unwrap(), 0b101);
        assert_eq!(r.read_bits(6), Err(EndOfStream));
        assert_eq!(r.position(), 3);
        assert_eq!(r.read_bits(5).unwrap(), 0);
        assert_eq!(r.read_bit(), Err(EndOfStream));
        assert_eq!(r.read_bits(65), Err(EndOfStream));
        assert_eq!(BitReader::new(&[]).read_byte(), Err(EndOfStream));
    }

    #[test]
    fn from_parts_validates() {
        assert!(BitWriter::from_parts(vec![], 0).is_some());
        assert!(BitWriter::from_parts(vec![], 3).is_none());
        assert!(BitWriter::from_parts(vec![0xF0], 4).is_some());
        assert!(BitWriter::from_parts(vec![0xF1], 4).is_none());
        assert!(BitWriter::from_parts(vec![0x00], 8).is_some());
        assert!(BitWriter::from_parts(vec![0x01], 8).is_none());
        assert!(BitWriter::from_parts(vec![0x00], 9).is_none());
        let mut w = BitWriter::from_parts(vec![0xF0], 4).unwrap();
        w.write_bits(0xF, 4);
        assert_eq!(w.bytes(), &[0xFF]);
    }

    #[test]
    fn the_buffer_grows_in_small_steps_and_shrinks_to_its_content() {
        let mut w = BitWriter::new();
        for i in 0..4000u32 {
            w.write_bits(u64::from(i), 13);
            let (len, cap) = (w.bytes().len(), w.capacity());
            assert!(cap <= len + (len / 8).max(GROW_MIN), "{len} bytes in {cap}");
        }
        w.shrink_to_fit();
        assert_eq!(w.capacity(), w.bytes().len());
    }
}
