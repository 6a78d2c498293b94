//! Criterion benchmarks for the XOR chunk: appending a head-sized chunk (120 samples) and
//! iterating one.

use criterion::{Criterion, criterion_group, criterion_main};
use pier_tsdb::XorChunk;
use std::hint::black_box;

/// A counter scraped every 15 s with occasional jitter: 120 samples.
fn samples() -> Vec<(i64, f64)> {
    let mut t = 1_700_000_000_000i64;
    let mut v = 1000.0;
    (0..120)
        .map(|i| {
            t += 15_000 + if i % 7 == 0 { 3 } else { 0 };
            v += f64::from(i % 5);
            (t, v)
        })
        .collect()
}

fn bench_chunk(c: &mut Criterion) {
    let s = samples();
    c.bench_function("xor_append_120", |b| {
        b.iter(|| {
            let mut ch = XorChunk::new();
            for &(t, v) in black_box(&s) {
                ch.append(t, v).unwrap();
            }
            ch
        })
    });

    let mut ch = XorChunk::new();
    for &(t, v) in &s {
        ch.append(t, v).unwrap();
    }
    c.bench_function("xor_iterate_120", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            let mut last = 0;
            for (t, v) in black_box(&ch).iter() {
                sum += v;
                last = t;
            }
            (sum, last)
        })
    });
}

criterion_group!(benches, bench_chunk);
criterion_main!(benches);
