//! A Prometheus histogram whose observations take no lock: each bucket, the count and the sum
//! are atomics, so router workers recording latencies never wait on one another (the
//! prometheus-client histogram takes a write lock per observation, which its callers then
//! contend on). It encodes exactly like prometheus-client's classic histogram.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A classic histogram with fixed bucket bounds (plus `+Inf`). Clones share the counts.
#[derive(Clone, Debug)]
pub struct AtomicHistogram {
    inner: Arc<Inner>,
}

/// Shards keep threads that observe at the same time off each other's cache lines.
const SHARDS: usize = 8;

#[derive(Debug)]
struct Inner {
    /// Upper bounds, ascending, ending with `+Inf`.
    bounds: Vec<f64>,
    shards: Vec<Shard>,
}

/// One thread group's counts, on cache lines of its own.
#[derive(Debug)]
#[repr(align(128))]
struct Shard {
    /// Observations per bucket (not cumulative).
    counts: Vec<AtomicU64>,
    /// The sum of observations, as `f64` bits.
    sum: AtomicU64,
}

thread_local! {
    /// The shard this thread records into, assigned round robin on first use.
    static SHARD: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) as usize % SHARDS
    };
}

impl AtomicHistogram {
    /// A histogram with `bounds` (ascending) and the `+Inf` bucket.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> AtomicHistogram {
        let bounds: Vec<f64> = bounds
            .into_iter()
            .filter(|b| b.is_finite())
            .chain([f64::INFINITY])
            .collect();
        let shards = (0..SHARDS)
            .map(|_| Shard {
                counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
                sum: AtomicU64::new(0f64.to_bits()),
            })
            .collect();
        AtomicHistogram {
            inner: Arc::new(Inner { bounds, shards }),
        }
    }

    pub fn observe(&self, value: f64) {
        let inner = &*self.inner;
        let bucket = inner
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(inner.bounds.len() - 1);
        let shard = &inner.shards[SHARD.with(|s| *s)];
        shard.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let mut sum = shard.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(sum) + value).to_bits();
            match shard
                .sum
                .compare_exchange_weak(sum, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(current) => sum = current,
            }
        }
    }

    /// (sum, count, per-bucket counts) as of now.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &*self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .enumerate()
            .map(|(i, bound)| {
                let count = inner
                    .shards
                    .iter()
                    .map(|s| s.counts[i].load(Ordering::Relaxed))
                    .sum();
                (*bound, count)
            })
            .collect();
        // The count is the buckets' total, so the two always agree in one scrape.
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = inner
            .shards
            .iter()
            .map(|s| f64::from_bits(s.sum.load(Ordering::Relaxed)))
            .sum();
        (sum, count, buckets)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sum_and_count() {
        let h = AtomicHistogram::new([0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 2.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 4);
        assert!((sum - 2.65).abs() < 1e-9);
        assert_eq!(buckets, vec![(0.1, 2), (1.0, 1), (f64::INFINITY, 1)]);
    }

    #[test]
    fn encodes_like_a_prometheus_histogram() {
        let mut registry = prometheus_client::registry::Registry::default();
        let h = AtomicHistogram::new([0.5]);
        registry.register("latency_seconds", "Latency", h.clone());
        h.observe(0.25);
        h.observe(3.0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("# TYPE latency_seconds histogram"), "{text}");
        assert!(
            text.contains("latency_seconds_bucket{le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(text.contains("latency_seconds_count 2"), "{text}");
        assert!(text.contains("latency_seconds_sum 3.25"), "{text}");
    }
}
