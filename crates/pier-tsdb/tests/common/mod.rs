//! The SIGKILL harness shared by the crash tests: run this test binary again as a writer
//! process (one `#[test]` that acts only when its environment says so), read its `acked T`
//! lines, kill it with SIGKILL at a seeded random moment, and return what it acknowledged.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pier_tsdb::{Labels, Matcher, STALE_NAN, Storage, Tsdb};

/// How a writer is started and when it is killed.
pub struct Writer<'a> {
    /// The `#[test]` function that is the writer.
    pub test: &'a str,
    /// Environment for it (directory, first timestamp, …).
    pub env: Vec<(&'a str, String)>,
    /// Kills land up to this long after the first acknowledged commit.
    pub window_ms: u64,
}

/// Kills the child if the parent panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs one writer from `start`, kills it per `rng`, returns the acknowledged timestamps.
pub fn run_writer(writer: &Writer<'_>, rng: &mut u64) -> Vec<i64> {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", writer.test, "--nocapture", "--test-threads=1"])
        .envs(writer.env.iter().map(|(k, v)| (*k, v.as_str())))
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
    // the others land within the window after the first acknowledged commit.
    let deadline = if r.is_multiple_of(4) {
        Instant::now() + Duration::from_millis(r % 40)
    } else {
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("writer acks");
        acked.push(first);
        Instant::now() + Duration::from_millis((r >> 8) % writer.window_ms)
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

/// The batch written at `t`: (labels, value). Deterministic, so the parent can check values.
pub fn batch(t: i64, step: i64) -> Vec<(Labels, f64)> {
    let n = t / step;
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

/// Everything the crash series hold: t -> (labels -> value bits), and the sample count (a
/// sample stored twice would show in the count, not in the map).
pub fn contents(db: &Tsdb) -> (BTreeMap<i64, BTreeMap<String, u64>>, u64) {
    let mut out: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    let all = db
        .select(
            &[Matcher::regex("__name__", "crash_.*").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    let mut n = 0;
    for mut c in all {
        let name = c.labels.to_string();
        for (t, v) in c.by_ref() {
            out.entry(t).or_default().insert(name.clone(), v.to_bits());
            n += 1;
        }
        assert_eq!(c.error(), None);
    }
    (out, n)
}
