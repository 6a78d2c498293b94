//! Durability acceptance test for blocks, with real processes and SIGKILL.
//!
//! Like `crash.rs`, `kill9_with_maintenance_loses_nothing` re-executes this test binary to
//! run `maintaining_writer_process` as a child (which returns at once unless
//! `PIER_TSDB_CRASHB_DIR` is set). The child opens the store with `sync: true` and a tiny
//! block range (200 ms of sample time, 20 ms per batch) and loops: append one batch (five
//! fixed series, one with stale markers, plus a "churn" series that changes every 25
//! batches, so series leave the head and come back), commit, print `acked <t>`, and every
//! third batch call `Tsdb::maintain` (cut the head into blocks, checkpoint and truncate the
//! WAL, merge blocks, retention — with a retention long enough to keep everything). The
//! parent kills it with SIGKILL at a random moment (seeded; the seed is printed; set
//! `PIER_TSDB_CRASHB_SEED` to replay one), reopens the directory in-process and checks that
//! it opens cleanly, that every acknowledged batch is there with the exact values, that
//! nothing appears that was never appended, and that every sample is stored exactly once
//! (the store's own count of samples in blocks plus head equals what a full select returns,
//! so no sample sits in both a block and the head). Then it starts the writer again.

use pier_tsdb::{Tsdb, TsdbOptions};
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const DIR_ENV: &str = "PIER_TSDB_CRASHB_DIR";
const START_ENV: &str = "PIER_TSDB_CRASHB_START";
const SEED_ENV: &str = "PIER_TSDB_CRASHB_SEED";
const STEP: i64 = 20;
const ITERATIONS: usize = 24;

fn options() -> TsdbOptions {
    TsdbOptions {
        sync: true,
        wal_segment_bytes: 2 << 10,
        samples_per_chunk: 8,
        block_range_ms: 200,
        retention_ms: i64::MAX / 4,
        retention_bytes: None,
    }
}

/// The child: writes batches and maintains the store until killed (or, as a safety net,
/// for 30 s).
#[test]
fn maintaining_writer_process() {
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
        if (t / STEP) % 3 == 0 {
            db.maintain().unwrap();
        }
        t += STEP;
    }
}

/// What an interrupted maintenance left behind, seen before reopening: temporary and
/// half-deleted blocks, temporary checkpoints, segments a checkpoint already replaces, blocks
/// next to the merged block that replaces them.
fn leftovers(dir: &Path) -> [usize; 5] {
    let names = |d: &str| -> Vec<String> {
        std::fs::read_dir(dir.join(d))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let blocks = names("blocks");
    let wal = names("wal");
    let checkpoint: u32 = wal
        .iter()
        .filter_map(|n| n.strip_prefix("checkpoint.")?.parse().ok())
        .max()
        .unwrap_or(0);
    let stale_segments = wal
        .iter()
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|&s| s <= checkpoint)
        .count();
    let mut parents = 0;
    // Only complete blocks (a `.tmp` one may hold a half-written meta.json).
    for b in blocks.iter().filter(|b| !b.contains('.')) {
        if let Ok(meta) = std::fs::read_to_string(dir.join("blocks").join(b).join("meta.json")) {
            let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
            parents += v["compaction"]["parents"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| blocks.iter().any(|b| Some(b.as_str()) == p.as_str()))
                .count();
        }
    }
    [
        blocks.iter().filter(|n| n.ends_with(".tmp")).count(),
        blocks.iter().filter(|n| n.ends_with(".deleted")).count(),
        wal.iter().filter(|n| n.ends_with(".tmp")).count(),
        stale_segments,
        parents,
    ]
}

#[test]
fn kill9_with_maintenance_loses_nothing() {
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
    let mut seen = [0usize; 5];
    for iter in 0..ITERATIONS {
        let new = common::run_writer(
            &common::Writer {
                test: "maintaining_writer_process",
                env: vec![
                    (DIR_ENV, dir.path().display().to_string()),
                    (START_ENV, (next_t).to_string()),
                ],
                window_ms: 60,
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

        let left = leftovers(dir.path());
        for (s, l) in seen.iter_mut().zip(left) {
            *s += usize::from(l > 0);
        }
        let db = Tsdb::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("iteration {iter}: open failed: {e} (seed {seed})"));
        let (got, n) = common::contents(&db);
        let st = db.stats();
        drop(db);
        assert_eq!(
            st.total_samples, n,
            "iteration {iter}: samples stored twice or lost (seed {seed})"
        );
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
            "iteration {iter}: {} acked this run, {} total, {} batches stored, {} blocks ({} samples), head {} samples, wal {} bytes in {} segments, {} torn bytes cut",
            new.len(),
            acked.len(),
            got.len(),
            st.blocks,
            st.block_samples,
            st.samples,
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
    let db = Tsdb::open(dir.path(), options()).unwrap();
    let st = db.stats();
    assert!(st.blocks > 0, "{st:?}");
    assert_eq!(leftovers(dir.path()), [0; 5], "open cleaned up");
    eprintln!(
        "kills that interrupted maintenance, leaving: a block being written {}, a block being deleted {}, a checkpoint being written {}, replaced WAL segments {}, merged sources {}",
        seen[0], seen[1], seen[2], seen[3], seen[4]
    );
    eprintln!("final: {st:?}");
    eprintln!("{} iterations in {:?}", ITERATIONS, started.elapsed());
}
