//! The compact chunk: pier's own encoding for block chunks whose values are all decimals
//! (integers, `2527207.29`, `0.57`, multiples of 4096 …), typically several times smaller
//! than the XOR chunk for such values. It owns encoding a chunk's samples and decoding them;
//! choosing between it and XOR is [`super::encoding`]'s job. Blocks use it, and so do the
//! head's closed chunks ([`super::sealed`]) and the WAL checkpoints that hold them; the open
//! head chunk and the WAL's samples never do.
//!
//! Layout (bits most significant first after the header, zero-padded to a byte):
//!
//! ```text
//! num_samples  u16 BE (1..=65535), as the XOR chunk's header
//! scale        u8 k (0..=18): every value is m / 10^k for an integer m
//! timestamps   integer sequence of the n timestamps      (see crate::chunk::intseq)
//! values       integer sequence of the n integers m
//! ```
//!
//! A value decodes as `m as f64 / 10^k` (see [`super::decimal`]); the encoder keeps a chunk
//! only if that gives back every value's exact bits, so NaN, ±Inf, `-0.0` and full-precision
//! floats never reach this format.

use super::ChunkError;
use super::decimal::{self, MAX_SCALE};
use super::intseq::{self, BitSink, Bits};

/// Header: sample count (u16) and scale (u8).
const HEADER_LEN: usize = 3;

/// Encodes samples (timestamps strictly increasing, as in any chunk). `None` if there are
/// none, more than `u16::MAX`, or a value that is not an exact decimal.
pub fn encode(samples: &[(i64, f64)]) -> Option<Vec<u8>> {
    let n = u16::try_from(samples.len()).ok().filter(|&n| n > 0)?;
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let (k, ms) = decimal::scale(&values)?;
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let mut head = Vec::with_capacity(HEADER_LEN + samples.len() * 2);
    head.extend_from_slice(&n.to_be_bytes());
    head.push(k);
    let mut sink = BitSink::new(head);
    intseq::write(&mut sink, &ts);
    intseq::write(&mut sink, &ms);
    Some(sink.finish())
}

/// The sample count in a compact chunk's header.
pub fn num_samples(data: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*data.first()?, *data.get(1)?]))
}

/// Decodes a whole chunk, appending its samples to `out`. On error `out` keeps what it had.
pub fn decode(data: &[u8], out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
    let [a, b, k, body @ ..] = data else {
        return Err(ChunkError::TooShort { len: data.len() });
    };
    let n = usize::from(u16::from_be_bytes([*a, *b]));
    let k = *k;
    if n == 0 {
        return Err(ChunkError::Malformed("compact chunk without samples"));
    }
    if k > MAX_SCALE {
        return Err(ChunkError::Malformed("decimal scale above 18"));
    }
    let mut bits = Bits::new(body);
    let mut ts = Vec::with_capacity(n);
    intseq::read(&mut bits, n, |t| ts.push(t))?;
    let start = out.len();
    out.reserve(n);
    let mut i = 0;
    let res = intseq::read(&mut bits, n, |m| {
        // `read` hands out exactly n integers.
        if let Some(&t) = ts.get(i) {
            out.push((t, decimal::value(m, k)));
        }
        i += 1;
    });
    let res = res.and_then(|()| {
        if body.len() * 8 - bits.position() >= 8 {
            Err(ChunkError::TrailingData {
                extra_bits: body.len() * 8 - bits.position(),
            })
        } else {
            Ok(())
        }
    });
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Iterator over a compact chunk's samples (decoded all at once when created).
///
/// Like [`super::XorIter`] it never panics on malformed input: it yields nothing and
/// [`CompactIter::err`] says why.
#[derive(Debug, Clone)]
pub struct CompactIter {
    samples: std::vec::IntoIter<(i64, f64)>,
    err: Option<ChunkError>,
}

impl CompactIter {
    /// Decodes `data`.
    pub fn new(data: &[u8]) -> Self {
        let mut samples = Vec::new();
        let err = decode(data, &mut samples).err();
        Self {
            samples: samples.into_iter(),
            err,
        }
    }

    /// The decoding error, if any (then no sample is yielded).
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }
}

impl Iterator for CompactIter {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        self.samples.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.samples.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &[(i64, f64)]) -> Vec<u8> {
        let data = encode(s).expect("encodable");
        let mut out = Vec::new();
        decode(&data, &mut out).unwrap();
        assert_eq!(out.len(), s.len());
        for (a, b) in out.iter().zip(s) {
            assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
        }
        data
    }

    #[test]
    fn node_exporter_like_chunks_are_small() {
        let t0 = 1_704_067_200_000;
        let cpu: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                (
                    t0 + i * 15_000,
                    (252_720_729 + i * 1_234 + i % 7) as f64 / 100.0,
                )
            })
            .collect();
        assert!(
            round_trip(&cpu).len() < 120 * 2,
            "{}",
            round_trip(&cpu).len()
        );
        let up: Vec<(i64, f64)> = (0..120).map(|i| (t0 + i * 15_000, 1.0)).collect();
        assert!(round_trip(&up).len() <= 20, "{}", round_trip(&up).len());
        let mem: Vec<(i64, f64)> = (0..120)
            .map(|i| (t0 + i * 15_000, ((3 << 30) + (i % 5) * 4096 * 37) as f64))
            .collect();
        round_trip(&mem);
        round_trip(&[(-5, 0.57)]);
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        assert_eq!(encode(&[]), None);
        assert_eq!(encode(&[(1, 1.0), (2, f64::NAN)]), None);
        assert_eq!(encode(&[(1, -0.0)]), None);
    }

    #[test]
    fn malformed_data_is_an_error_not_a_panic() {
        let data = encode(&[(1, 1.5), (2, 2.5), (40, 3.25)]).unwrap();
        for len in 0..data.len() {
            let mut out = vec![(0, 0.0)];
            assert!(decode(&data[..len], &mut out).is_err(), "len {len}");
            assert_eq!(out.len(), 1);
        }
        let mut extra = data.clone();
        extra.push(0);
        assert!(decode(&extra, &mut Vec::new()).is_err());
        let mut bad_scale = data;
        bad_scale[2] = 19;
        assert!(decode(&bad_scale, &mut Vec::new()).is_err());
    }
}
