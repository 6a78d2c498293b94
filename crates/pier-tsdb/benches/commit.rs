//! Commit latency and append throughput of the head + WAL: a scrape-sized batch (1,000
//! series × 1 sample) committed with and without fsync, and a single-sample commit with fsync.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pier_tsdb::{Labels, Tsdb, TsdbOptions};

fn series(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            Labels::series([
                ("__name__", "http_requests_total"),
                ("job", "bench"),
                ("path", &format!("/p/{i}")),
            ])
            .unwrap()
        })
        .collect()
}

fn bench_commit(c: &mut Criterion) {
    for (name, n, sync) in [
        ("commit_1000_samples_sync", 1000, true),
        ("commit_1000_samples_nosync", 1000, false),
        ("commit_1_sample_sync", 1, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(
            dir.path(),
            TsdbOptions {
                sync,
                ..TsdbOptions::default()
            },
        )
        .unwrap();
        let labels = series(n);
        let mut t = 0i64;
        c.bench_function(name, |b| {
            b.iter_batched(
                || {
                    t += 15_000;
                    t
                },
                |t| {
                    let mut app = db.appender();
                    for (i, l) in labels.iter().enumerate() {
                        app.append(l, t, (t + i as i64) as f64).unwrap();
                    }
                    app.commit().unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(benches, bench_commit);
criterion_main!(benches);
