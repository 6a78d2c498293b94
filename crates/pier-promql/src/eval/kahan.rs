//! Compensated (Kahan–Neumaier) summation, as Prometheus uses for `sum` and `avg`.

/// Adds `inc` to `sum` with compensation `c`; returns the new sum and compensation.
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
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
