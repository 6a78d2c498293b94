//! Durability acceptance test with real processes and SIGKILL.
//!
//! `kill9_loses_no_acknowledged_sample` re-executes this test binary to run
//! `writer_process` as a child (the child test returns at once unless `PIER_TSDB_CRASH_DIR`
//! is set). The child opens the store with `sync: true` and loops: append one batch (five
//! fixed series plus a "churn" series that changes every 25 batches, so series records are
//! written throughout), commit, then print `acked <t>` and flush. The parent kills it with
//! SIGKILL at a random moment (seeded; the seed is printed; set `PIER_TSDB_CRASH_SEED` to
//! replay one), reopens the directory in-process and checks that every acknowledged batch is
//! there with the exact values, that each batch is all-or-nothing, and that nothing appears
//! that was never appended. Then it starts the writer again on the same directory.

use pier_tsdb::{Tsdb, TsdbOptions};
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const DIR_ENV: &str = "PIER_TSDB_CRASH_DIR";
const START_ENV: &str = "PIER_TSDB_CRASH_START";
const SEED_ENV: &str = "PIER_TSDB_CRASH_SEED";
const STEP: i64 = 15_000;
const ITERATIONS: usize = 24;

fn options() -> TsdbOptions {
    TsdbOptions {
        sync: true,
        wal_segment_bytes: 16 << 10,
        samples_per_chunk: 120,
        ..TsdbOptions::default()
    }
}

/// The child: writes batches until killed (or, as a safety net, for 30 s).
#[test]
fn writer_process() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let start: i64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let db = Tsdb::open(Path::new(&dir), options()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = std::io::stdout();
    let mut t = start;
    while Instant::now() < deadline {
        let mut app = db.appender();
        for (labels, v) in common::batch(t, STEP) {
            app.append(&labels, t, v).unwrap();
        }
        app.commit().unwrap();
        writeln!(out, "acked {t}").unwrap();
        out.flush().unwrap();
        t += STEP;
    }
}

#[test]
fn kill9_loses_no_acknowledged_sample() {
    if std::env::var_os(DIR_ENV).is_some() {
        return;
    }
    let seed: u64 = match std::env::var(SEED_ENV) {
        Ok(s) => s.parse().unwrap(),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("crash test seed {seed} (set {SEED_ENV}={seed} to replay)");
    let mut rng = seed;
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<i64> = Vec::new();
    let mut next_t = 0i64;
    let started = Instant::now();
    for iter in 0..ITERATIONS {
        let new = common::run_writer(
            &common::Writer {
                test: "writer_process",
                env: vec![
                    (DIR_ENV, dir.path().display().to_string()),
                    (START_ENV, (next_t).to_string()),
                ],
                window_ms: 40,
            },
            &mut rng,
        );
        for w in new.windows(2) {
            assert_eq!(w[1], w[0] + STEP);
        }
        if let Some(&last) = new.last() {
            next_t = last + STEP;
        }
        acked.extend(new.iter().copied());

        let db = Tsdb::open(dir.path(), options()).unwrap();
        let (got, _) = common::contents(&db);
        let st = db.stats();
        drop(db);
        for &t in &acked {
            assert!(
                got.contains_key(&t),
                "iteration {iter}: acked batch {t} lost (seed {seed})"
            );
        }
        for (t, series) in &got {
            // Only acknowledged batches, or the one in flight at the kill (which the next
            // writer re-appends, identical, as an ignored duplicate).
            assert!(
                acked.binary_search(t).is_ok() || *t == next_t,
                "iteration {iter}: batch {t} was never appended (seed {seed})"
            );
            let want: BTreeMap<String, u64> = common::batch(*t, STEP)
                .into_iter()
                .map(|(l, v)| (l.to_string(), v.to_bits()))
                .collect();
            assert_eq!(series, &want, "iteration {iter}: batch {t} (seed {seed})");
        }
        eprintln!(
            "iteration {iter}: {} acked this run, {} total, {} batches stored, wal {} bytes in {} segments, {} torn bytes cut",
            new.len(),
            acked.len(),
            got.len(),
            st.wal_bytes,
            st.wal_segments,
            st.wal_truncated_bytes
        );
    }
    assert!(
        acked.len() >= ITERATIONS,
        "too few commits acknowledged: {}",
        acked.len()
    );
    eprintln!("{} iterations in {:?}", ITERATIONS, started.elapsed());
}
