//! Quantiles and fractions of a classic histogram given as cumulative buckets
//! `(upper bound, count)`, as Prometheus's `BucketQuantile` and `BucketFraction`.

/// One cumulative bucket: observations `<= upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// What [`quantile`] found besides the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct QuantileResult {
    pub value: f64,
    /// The counts were not monotonic and had to be fixed (Prometheus reports an info).
    pub forced_monotonic: bool,
}

/// The `q`-quantile of the buckets (sorted here), interpolating linearly inside the bucket
/// where the rank falls. Special cases:
/// - `q` NaN gives NaN, `q < 0` gives -Inf, `q > 1` gives +Inf;
/// - no `+Inf` bucket, fewer than two buckets, or no observations give NaN;
/// - a rank in the `+Inf` bucket gives the second-highest bound;
/// - a rank in the lowest bucket interpolates from 0 if its bound is positive, and gives
///   the bound itself otherwise.
///
/// Buckets with the same bound are merged; counts within 1e-12 (relative) of the previous
/// bucket are taken as equal; a count lower than a previous one is raised to it.
pub(super) fn quantile(q: f64, mut buckets: Vec<Bucket>) -> QuantileResult {
    let plain = |value| QuantileResult {
        value,
        forced_monotonic: false,
    };
    if q.is_nan() {
        return plain(f64::NAN);
    }
    if q < 0.0 {
        return plain(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return plain(f64::INFINITY);
    }
    let Some(buckets) = prepare(&mut buckets) else {
        return plain(f64::NAN);
    };
    correct_precision_errors(buckets, 1e-12);
    let forced_monotonic = ensure_monotonic(buckets);
    let result = |value| QuantileResult {
        value,
        forced_monotonic,
    };
    if buckets.len() < 2 {
        return plain(f64::NAN);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return plain(f64::NAN);
    }
    let mut rank = q * observations;
    // The first bucket (excluding +Inf) whose count reaches the rank.
    let b = buckets[..buckets.len() - 1].partition_point(|x| x.count < rank);
    if b == buckets.len() - 1 {
        return result(buckets[buckets.len() - 2].upper);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return result(buckets[0].upper);
    }
    let end = buckets[b].upper;
    let mut start = 0.0;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    result(start + (end - start) * (rank / count))
}

/// The fraction of observations in `(lower, upper]`, interpolating linearly inside
/// buckets. The lowest bucket spans from 0 if its bound is positive, else from -Inf; the
/// observations of a bucket reaching -Inf or +Inf sit at that infinity (no interpolation
/// into an infinitely wide bucket). NaN bounds, no observations, or no `+Inf` bucket give
/// NaN; `lower >= upper` gives 0.
pub(super) fn fraction(lower: f64, upper: f64, mut buckets: Vec<Bucket>) -> f64 {
    let Some(buckets) = prepare(&mut buckets) else {
        return f64::NAN;
    };
    ensure_monotonic(buckets);
    let total = buckets[buckets.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let mut lower_rank = None;
    let mut upper_rank = None;
    for (i, b) in buckets.iter().enumerate() {
        let (b_lower, count) = if i == 0 {
            (
                if b.upper > 0.0 {
                    0.0
                } else {
                    f64::NEG_INFINITY
                },
                b.count,
            )
        } else {
            (buckets[i - 1].upper, b.count - buckets[i - 1].count)
        };
        let b_upper = b.upper;
        // The observations of this bucket at or below x, for b_lower < x < b_upper.
        let within = |x: f64| {
            if b_lower == f64::NEG_INFINITY {
                count
            } else {
                count * (x - b_lower) / (b_upper - b_lower)
            }
        };
        if lower_rank.is_none() && b_lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b_lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b_lower < lower && b_upper > lower {
            lower_rank = Some(rank + within(lower));
        }
        if upper_rank.is_none() && b_lower < upper && b_upper > upper {
            upper_rank = Some(rank + within(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += count;
    }
    let lower_rank = lower_rank.map_or(total, |r: f64| r.min(total));
    let upper_rank = upper_rank.map_or(total, |r: f64| r.min(total));
    (upper_rank - lower_rank) / total
}

/// Sorts by bound, checks the top bucket is `+Inf`, and merges equal bounds. `None` when
/// there are no buckets or no `+Inf` bucket.
fn prepare(buckets: &mut Vec<Bucket>) -> Option<&mut [Bucket]> {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return None,
    }
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    *buckets = merged;
    Some(&mut buckets[..])
}

/// Raises counts that are within `tolerance` (relative) of the previous count to it,
/// undoing floating-point noise from rates and sums.
fn correct_precision_errors(buckets: &mut [Bucket], tolerance: f64) {
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let delta = (b.count - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / b.count <= tolerance {
            b.count = prev;
        } else {
            prev = b.count;
        }
    }
}

/// Makes counts non-decreasing; true if any had to change.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut max = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
            forced = true;
        }
    }
    forced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn quantiles_of_testhistogram() {
        // testhistogram{start="positive"} at 50m: 0.1:50 .2:70 1:110 +Inf:120.
        let pos = bs(&[(0.1, 50.0), (0.2, 70.0), (1.0, 110.0), (INF, 120.0)]);
        let neg = bs(&[(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)]);
        let q = |q, b: &Vec<Bucket>| quantile(q, b.clone()).value;
        assert!((q(0.2, &pos) - 0.048).abs() < 1e-12);
        assert!((q(0.5, &pos) - 0.15).abs() < 1e-12);
        assert!((q(0.8, &pos) - 0.72).abs() < 1e-12);
        assert_eq!(q(0.0, &pos), 0.0);
        assert_eq!(q(1.0, &pos), 1.0);
        assert_eq!(q(0.2, &neg), -0.2);
        assert!((q(0.5, &neg) + 0.15).abs() < 1e-12);
        assert_eq!(q(0.8, &neg), 0.3);
        assert_eq!(q(-0.1, &pos), f64::NEG_INFINITY);
        assert_eq!(q(1.01, &pos), INF);
        assert!(q(f64::NAN, &pos).is_nan());
        assert!(q(0.5, &bs(&[(1.0, 1.0), (2.0, 2.0)])).is_nan());
        assert!(q(0.5, &bs(&[(INF, 3.0)])).is_nan());
        assert!(q(0.5, &bs(&[(1.0, 0.0), (INF, 0.0)])).is_nan());
    }

    #[test]
    fn nonmonotonic_buckets_are_fixed() {
        let b = bs(&[
            (0.1, 20.0),
            (1.0, 10.0),
            (10.0, 50.0),
            (100.0, 40.0),
            (1000.0, 90.0),
            (INF, 80.0),
        ]);
        let r = quantile(0.01, b.clone());
        assert!(r.forced_monotonic);
        assert!((r.value - 0.0045).abs() < 1e-12);
        assert!((quantile(0.5, b.clone()).value - 8.5).abs() < 1e-12);
        assert!((quantile(0.99, b).value - 979.75).abs() < 1e-9);
    }

    #[test]
    fn equal_bounds_merge() {
        // mixed_bucket ins1 after rate: 0.1:1, three 0.2 buckets of 1, +Inf:4.
        let b = bs(&[(0.1, 1.0), (0.2, 1.0), (0.2, 1.0), (0.2, 1.0), (INF, 4.0)]);
        assert!((quantile(0.5, b).value - 0.15).abs() < 1e-12);
    }

    #[test]
    fn fractions_match_histograms_test() {
        let pos = bs(&[(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (INF, 100.0)]);
        let neg = bs(&[(-3.0, 10.0), (-2.0, 12.0), (-1.0, 15.0), (INF, 100.0)]);
        let f = |lo, hi, b: &Vec<Bucket>| fraction(lo, hi, b.clone());
        let near = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(near(f(0.0, 1.5, &pos), 0.02));
        assert!(near(f(-4.0, -2.0, &neg), 0.02));
        assert!(near(f(f64::NEG_INFINITY, -1.5, &neg), 0.135));
        assert!(near(f(f64::NEG_INFINITY, INF, &pos), 1.0));
        assert!(near(f(f64::NEG_INFINITY, INF, &neg), 1.0));
        assert!(near(f(4.0, 5.0, &pos), 0.0));
        assert!(near(f(0.0, 1.0, &neg), 0.0));
        assert!(near(f(2.0, 5.0, &pos), 0.03));
        assert!(near(f(400.0, INF, &pos), 0.94));
        assert!(near(f(2.0, 2.0, &pos), 0.0));
        assert!(near(f(3.0, 2.0, &pos), 0.0));
        assert!(near(f(0.5, 2.0, &pos), 0.025));
        assert!(near(f(1.0, 3.0, &pos), 0.05));
        assert!(near(f(2.0, 3.5, &pos), 0.03));
        assert!(near(f(0.0, 1.0, &bs(&[(INF, 100.0)])), 0.0));
        assert!(f(0.0, 5.0, &bs(&[(1.0, 0.0), (INF, 0.0)])).is_nan());
        assert!(f(f64::NAN, 1.0, &pos).is_nan());
        assert!(f(0.0, f64::NAN, &pos).is_nan());
        let frac = bs(&[(0.5, 2.5), (1.0, 7.5), (INF, 100.0)]);
        assert!(near(f(0.1, 0.75, &frac), 0.045));
        let cross = bs(&[
            (-2.0, 5.0),
            (-1.0, 10.0),
            (0.0, 15.0),
            (1.0, 20.0),
            (INF, 100.0),
        ]);
        assert!(near(f(-1.0, 1.0, &cross), 0.1));
        let small = bs(&[(1.0, 1.0), (2.0, 3.0), (INF, 10.0)]);
        assert!(near(f(-10.0, -5.0, &small), 0.0));
        assert!(near(f(5.0, 10.0, &small), 0.0));
        // testhistogram2 at 50m: 0:0 2:10 4:20 6:30 +Inf:30.
        let h2 = bs(&[
            (0.0, 0.0),
            (2.0, 10.0),
            (4.0, 20.0),
            (6.0, 30.0),
            (INF, 30.0),
        ]);
        assert!(near(f(0.0, 4.0, &h2), 2.0 / 3.0));
        assert!(near(f(0.0, 6.0, &h2), 1.0));
        assert!(near(f(0.0, 3.5, &h2), 0.5833333333333334));
    }
}
