//! Decimal values as scaled integers, for the compact chunk ([`super::compact`]): finds the
//! smallest `k` such that every value of a chunk is exactly `m / 10^k` for an integer `m`
//! (the division [`value`] performs, so decoding gives back the very same bits), and turns
//! values into those integers.
//!
//! A float printed with `k` decimals and parsed back (`2527207.29`, `0.57`) is the nearest
//! double to `m / 10^k`, and so is the IEEE division of the exact doubles `m` and `10^k`:
//! such values always qualify. Anything else (full-precision floats, NaN, ±Inf, `-0.0`) is
//! refused, and the chunk stays XOR-encoded.

/// The largest scale tried (10^18 is exact in an f64; so are all smaller powers).
pub const MAX_SCALE: u8 = 18;

/// `10^k` for `k` in `0..=MAX_SCALE`, all exact.
const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The value an integer `m` stands for at scale `k` (`k <= MAX_SCALE`, checked by the
/// caller).
#[inline]
pub fn value(m: i64, k: u8) -> f64 {
    let p = POW10[usize::from(k)];
    if k == 0 { m as f64 } else { m as f64 / p }
}

/// The integer standing for `v` at scale `k`, if `value(m, k)` has exactly `v`'s bits.
fn scaled(v: f64, k: u8) -> Option<i64> {
    // `as` saturates (and maps NaN to 0); the bit comparison refuses what does not fit.
    let m = (v * POW10[usize::from(k)]).round() as i64;
    (value(m, k).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest scale at which every value is exact, with the integers; `None` if there
/// is none up to [`MAX_SCALE`].
pub fn scale(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    let mut out = Vec::with_capacity(values.len());
    'scales: for k in 0..=MAX_SCALE {
        out.clear();
        for &v in values {
            match scaled(v, k) {
                Some(m) => out.push(m),
                None => continue 'scales,
            }
        }
        return Some((k, out));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_find_their_scale() {
        assert_eq!(
            scale(&[1.0, 2.0, 3e15]),
            Some((0, vec![1, 2, 3_000_000_000_000_000]))
        );
        assert_eq!(scale(&[2527207.29, 0.5]), Some((2, vec![252720729, 50])));
        assert_eq!(scale(&[0.1, 0.57]), Some((2, vec![10, 57])));
        assert_eq!(scale(&[1704067200.123]), Some((3, vec![1704067200123])));
        assert_eq!(scale(&[-1.5]), Some((1, vec![-15])));
        // Full-precision floats qualify too when 18 decimals suffice (and the chunk encoder
        // then decides by size).
        assert_eq!(
            scale(&[0.1 + 0.2]),
            Some((17, vec![30_000_000_000_000_004]))
        );
        // 2^63 (what 9223372036854775807 parses to) saturates to i64::MAX, whose f64 is 2^63.
        assert_eq!(scale(&[9223372036854775807.0]), Some((0, vec![i64::MAX])));
    }

    #[test]
    fn inexact_values_are_refused() {
        for v in [
            1.2345e-15,
            f64::NAN,
            crate::chunk::STALE_NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e300,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(scale(&[1.0, v]), None, "{v:e} ({:#x})", v.to_bits());
        }
    }
}
