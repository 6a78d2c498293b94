//! Kahan–Neumaier compensated summation, as Prometheus's `kahansum.Inc`.

/// Adds `inc` to `sum` with compensation `c`; returns the new sum and compensation. The
/// caller adds the compensation at the end (`sum + c`). An infinite sum resets the
/// compensation, so `Inf + c` never turns into NaN.
pub(crate) fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensates_cancellation() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn infinite_sum_stays_infinite() {
        let (s, c) = inc(f64::INFINITY, 1.0, 0.5);
        assert_eq!((s, c), (f64::INFINITY, 0.0));
    }
}
