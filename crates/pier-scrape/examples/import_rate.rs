//! Ingest rate of `pier metrics import` without the HTTP hop: imports OpenMetrics files (as
//! written by `scripts/gen-openmetrics.py files`) into a fresh store one by one, each followed
//! by the store's maintenance (block cut and compaction), as the daemon's import handler does,
//! and prints samples per CPU-second of this process (parsing, appending, WAL, blocks).
//!
//! ```text
//! python3 scripts/gen-openmetrics.py files /tmp/om --series 1000 --hours 2
//! cargo run --release -p pier-scrape --example import_rate -- /tmp/om/part-*.om
//! ```

use std::time::Instant;

use pier_scrape::backfill;
use pier_tsdb::{Tsdb, TsdbOptions};

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of /proc/PID/stat (utime, stime), 100 ticks a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::env::temp_dir().join(format!("pier-import-rate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tsdb = Tsdb::open(&dir, TsdbOptions::default()).expect("open store");
    let (mut samples, mut import_cpu, mut maint_cpu) = (0usize, 0f64, 0f64);
    let wall = Instant::now();
    for f in &files {
        let body = std::fs::read(f).expect("read file");
        let c0 = cpu_seconds();
        let report = backfill::import(&tsdb, &body).expect("import");
        let c1 = cpu_seconds();
        tsdb.maintain().expect("maintain");
        let c2 = cpu_seconds();
        samples += report.samples;
        import_cpu += c1 - c0;
        maint_cpu += c2 - c1;
        println!(
            "{f}: {} series, {} samples, {} rejected; import {:.2} s CPU, maintenance {:.2} s CPU",
            report.series,
            report.samples,
            report.rejected,
            c1 - c0,
            c2 - c1
        );
    }
    let cpu = import_cpu + maint_cpu;
    println!(
        "{samples} samples in {:.2} s CPU ({:.2} import + {:.2} maintenance), {:.2} s wall: {:.0} samples/s per core",
        cpu,
        import_cpu,
        maint_cpu,
        wall.elapsed().as_secs_f64(),
        samples as f64 / cpu
    );
    drop(tsdb);
    let _ = std::fs::remove_dir_all(&dir);
}
