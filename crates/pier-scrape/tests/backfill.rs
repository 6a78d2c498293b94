//! Importing history while the store's periodic maintenance runs: maintenance must not cut the
//! head in the middle of an import, or the samples of series not loaded yet would fall before
//! the new block boundary and be refused as too old.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use pier_scrape::backfill;
use pier_tsdb::{Tsdb, TsdbOptions};

const MINUTE_MS: i64 = 60_000;

/// `series` series with one sample a minute over `minutes`, series after series.
fn history(series: usize, minutes: i64) -> String {
    let mut text = String::from("# TYPE load gauge\n");
    for s in 0..series {
        for m in 0..minutes {
            let _ = writeln!(text, "load{{instance=\"i{s}\"}} {m} {}", m * 60);
        }
    }
    text.push_str("# EOF\n");
    text
}

/// A store in a temporary folder, with ten-minute blocks.
fn store() -> (tempfile::TempDir, Tsdb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = TsdbOptions {
        block_range_ms: 10 * MINUTE_MS,
        sync: false,
        ..TsdbOptions::default()
    };
    let tsdb = Tsdb::open(dir.path(), options).expect("open");
    (dir, tsdb)
}

#[test]
fn maintenance_during_an_import_refuses_nothing() {
    // Ten-minute blocks: the history spans 30 of them, so every maintenance run that got in
    // between two batches of the import would cut.
    let (_dir, tsdb) = store();
    let (series, minutes) = (200, 300);
    let text = history(series, minutes);
    let done = AtomicBool::new(false);
    let (report, cuts) = std::thread::scope(|scope| {
        let maintainer = scope.spawn(|| {
            let mut cuts = 0;
            while !done.load(Ordering::SeqCst) {
                cuts += tsdb.maintain().expect("maintain").blocks_written;
            }
            cuts
        });
        let report = backfill::import(&tsdb, text.as_bytes());
        done.store(true, Ordering::SeqCst);
        (report, maintainer.join().expect("maintainer"))
    });
    let report = report.expect("import");
    let total = series * usize::try_from(minutes).expect("minutes");
    assert_eq!(report.too_old, 0, "{report:?}");
    assert_eq!(report.rejected, 0, "{report:?}");
    assert_eq!(report.samples, total);
    // Maintenance went on after the import and moved the history into blocks.
    let cuts = cuts + tsdb.maintain().expect("maintain").blocks_written;
    assert!(cuts > 0, "the history went to blocks");
    assert_eq!(tsdb.stats().total_samples, total as u64);
}

#[test]
fn history_older_than_the_blocks_is_counted_as_too_old() {
    let (_dir, tsdb) = store();
    // Recent data, cut into blocks: everything before the head's start is on disk.
    let recent: String = (0..60)
        .map(|m| format!("load{{instance=\"new\"}} {m} {}\n", 3600 + m * 60))
        .collect();
    backfill::import(&tsdb, format!("{recent}# EOF\n").as_bytes()).expect("import");
    assert!(tsdb.maintain().expect("maintain").blocks_written > 0);
    let oldest = tsdb.stats().min_valid_time.expect("a block boundary");
    let report = backfill::import(&tsdb, history(1, 10).as_bytes()).expect("import");
    assert_eq!(report.samples, 0);
    assert_eq!(report.too_old, 10);
    assert_eq!(report.oldest_accepted_ms, Some(oldest));
}
