//! Criterion benchmarks for chunks: appending a head-sized XOR chunk (120 samples) and
//! iterating one; encoding the same samples as a compact block chunk and decoding it (the
//! way a query's cursor does, into a reused buffer), for a counter with two decimals
//! (cpu seconds) and one with integer steps. Divide by 120 for ns/sample.

use criterion::{Criterion, criterion_group, criterion_main};
use pier_tsdb::XorChunk;
use pier_tsdb::chunk::{ChunkIter, ENCODING_COMPACT, ENCODING_XOR, compact, decode_into};
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

/// Cpu seconds with two decimals on an exact 15 s grid: 120 samples.
fn cpu_samples() -> Vec<(i64, f64)> {
    let mut cs = 252_720_729i64;
    let mut x = 12345u64;
    (0..120)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            cs += 900 + (x >> 54) as i64;
            (1_704_067_200_000 + i * 15_000, cs as f64 / 100.0)
        })
        .collect()
}

fn xor_chunk(s: &[(i64, f64)]) -> XorChunk {
    let mut ch = XorChunk::new();
    for &(t, v) in s {
        ch.append(t, v).unwrap();
    }
    ch
}

fn bench_chunk(c: &mut Criterion) {
    let s = samples();
    c.bench_function("xor_append_120", |b| b.iter(|| xor_chunk(black_box(&s))));

    let ch = xor_chunk(&s);
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

    for (name, s) in [("counter", samples()), ("cpu", cpu_samples())] {
        let xor = xor_chunk(&s).into_bytes();
        let packed = compact::encode(&s).unwrap();
        eprintln!(
            "{name}: xor {} bytes, compact {} bytes for 120 samples",
            xor.len(),
            packed.len()
        );
        c.bench_function(&format!("compact_encode_120_{name}"), |b| {
            b.iter(|| compact::encode(black_box(&s)))
        });
        let mut buf = Vec::with_capacity(120);
        for (enc, data, label) in [
            (ENCODING_XOR, &xor, "xor"),
            (ENCODING_COMPACT, &packed, "compact"),
        ] {
            c.bench_function(&format!("{label}_decode_into_120_{name}"), |b| {
                b.iter(|| {
                    buf.clear();
                    decode_into(enc, black_box(data), i64::MIN, &mut buf).unwrap();
                    buf.len()
                })
            });
        }
        c.bench_function(&format!("compact_chunk_iter_120_{name}"), |b| {
            b.iter(|| {
                ChunkIter::new(ENCODING_COMPACT, black_box(&packed))
                    .map(|s| s.1)
                    .sum::<f64>()
            })
        });
    }
}

criterion_group!(benches, bench_chunk);
criterion_main!(benches);
