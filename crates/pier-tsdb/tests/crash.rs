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

use pier_tsdb::{Labels, Matcher, STALE_NAN, Storage, Tsdb, TsdbOptions};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DIR_ENV: &str = "PIER_TSDB_CRASH_DIR";
const START_ENV: &str = "PIER_TSDB_CRASH_START";
const SEED_ENV: &str = "PIER_TSDB_CRASH_SEED";
const STEP: i64 = 15_000;
const ITERATIONS: usize = 24;

/// The batch written at `t`: (labels, value). Deterministic, so the parent can check values.
fn batch(t: i64) -> Vec<(Labels, f64)> {
    let n = t / STEP;
    let mut out: Vec<(Labels, f64)> = (0..5)
        .map(|i| {
            let labels = Labels::series([("__name__", "crash_fixed"), ("i", &i.to_string())]);
            let v = if i == 4 && n % 7 == 3 {
                STALE_NAN
            } else {
                t as f64 * 0.25 + f64::from(i)
            };
            (labels.unwrap(), v)
        })
        .collect();
    let churn = Labels::series([("__name__", "crash_churn"), ("gen", &(n / 25).to_string())]);
    out.push((churn.unwrap(), -(t as f64)));
    out
}

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
        for (labels, v) in batch(t) {
            app.append(&labels, t, v).unwrap();
        }
        app.commit().unwrap();
        writeln!(out, "acked {t}").unwrap();
        out.flush().unwrap();
        t += STEP;
    }
}

/// Kills the child if the parent panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs one writer from `start`, kills it per `rng`, returns the acknowledged timestamps.
fn run_writer(dir: &Path, start: i64, rng: &mut u64) -> Vec<i64> {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writer_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<i64>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest's own "test writer_process ... " may precede the first ack on its line.
            if let Some((_, t)) = line.split_once("acked ") {
                let _ = tx.send(t.trim().parse().unwrap());
            }
        }
    });
    let mut acked = Vec::new();
    let r = splitmix(rng);
    // One kill in four lands anywhere from process start (often during open and replay);
    // the others land 0-40 ms after the first acknowledged commit.
    let deadline = if r.is_multiple_of(4) {
        Instant::now() + Duration::from_millis(r % 40)
    } else {
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("writer acks");
        acked.push(first);
        Instant::now() + Duration::from_millis((r >> 8) % 40)
    };
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(t) => acked.push(t),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("writer exited early"),
        }
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    reader.join().unwrap();
    acked.extend(rx.try_iter());
    acked
}

/// Everything in the store: t -> (labels string -> value bits).
fn contents(db: &Tsdb) -> BTreeMap<i64, BTreeMap<String, u64>> {
    let mut out: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    let all = db
        .select(
            &[Matcher::regex("__name__", "crash_.*").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    for c in all {
        let name = c.labels.to_string();
        for (t, v) in c {
            out.entry(t).or_default().insert(name.clone(), v.to_bits());
        }
    }
    out
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
        let new = run_writer(dir.path(), next_t, &mut rng);
        for w in new.windows(2) {
            assert_eq!(w[1], w[0] + STEP);
        }
        if let Some(&last) = new.last() {
            next_t = last + STEP;
        }
        acked.extend(new.iter().copied());

        let db = Tsdb::open(dir.path(), options()).unwrap();
        let got = contents(&db);
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
            let want: BTreeMap<String, u64> = batch(*t)
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
