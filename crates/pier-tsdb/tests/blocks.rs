//! Blocks, WAL truncation, compaction and retention through the public API: cutting the head
//! into blocks and reopening, chunks split at block boundaries (stale markers included),
//! merging blocks, retention by time and size, the crash-recovery rules at open (leftover
//! temporaries, sources next to their merged block, a WAL not yet truncated), and lazy,
//! CRC-checked chunk reads.

use pier_tsdb::{AppendError, Labels, Matcher, STALE_NAN, Storage, Tsdb, TsdbOptions};
use std::fs;
use std::path::Path;

type Dump = Vec<(String, Vec<(i64, u64)>)>;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

fn opts(range: i64) -> TsdbOptions {
    TsdbOptions {
        sync: false,
        wal_segment_bytes: 1 << 10,
        samples_per_chunk: 7,
        block_range_ms: range,
        ..TsdbOptions::default()
    }
}

fn dump(db: &Tsdb, ms: &[Matcher], mint: i64, maxt: i64) -> Dump {
    db.select(ms, mint, maxt)
        .unwrap()
        .into_iter()
        .map(|mut c| {
            let name = c.labels.to_string();
            let samples: Vec<(i64, u64)> = c.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
            assert_eq!(c.error(), None);
            (name, samples)
        })
        .collect()
}

fn all(db: &Tsdb) -> Dump {
    dump(db, &[], i64::MIN, i64::MAX)
}

/// A handful of windows that cross block boundaries, fall inside one, or hit gaps.
fn windows(db: &Tsdb) -> Vec<Dump> {
    let mut out = vec![all(db)];
    for (a, b) in [
        (0, 999),
        (950, 1050),
        (1000, 1000),
        (999, 999),
        (1001, 1049),
        (2500, 4200),
        (-100, 10),
        (4990, 20_000),
    ] {
        out.push(dump(db, &[], a, b));
        out.push(dump(db, &[Matcher::equal("job", "a")], a, b));
    }
    out
}

/// Three series every 50 ms over [0, 5000) (one with stale markers) and a short-lived
/// series in [0, 500).
fn fill(db: &Tsdb, from: i64, to: i64) {
    for t in (from..to).step_by(50) {
        let mut app = db.appender();
        app.append(&l(&[("__name__", "up"), ("job", "a")]), t, 1.0)
            .unwrap();
        let v = if t % 450 == 0 { STALE_NAN } else { t as f64 };
        app.append(&l(&[("__name__", "rps"), ("job", "a")]), t, v)
            .unwrap();
        app.append(
            &l(&[("__name__", "rps"), ("job", "b")]),
            t,
            -(t as f64) / 3.0,
        )
        .unwrap();
        if t < 500 {
            app.append(&l(&[("__name__", "churn"), ("job", "c")]), t, 7.0)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

fn count(d: &Dump) -> u64 {
    d.iter().map(|(_, s)| s.len() as u64).sum()
}

fn block_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn cut_reopen_select_identical_and_wal_replaced_by_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    fill(&db, 0, 5000);
    let before = windows(&db);
    let st0 = db.stats();
    assert!(st0.wal_segments > 3, "{st0:?}");
    assert_eq!(st0.blocks, 0);

    // Span 4950 > 1500: cut [0,1000) … [3000,4000); the head keeps [4000, 4950].
    assert_eq!(db.compact_head().unwrap(), 4);
    assert_eq!(db.compact_head().unwrap(), 0, "nothing more to cut");
    assert_eq!(windows(&db), before);
    let st = db.stats();
    assert_eq!(st.blocks, 4);
    assert_eq!(st.min_time, Some(4000));
    assert_eq!(st.oldest_time, Some(0));
    assert_eq!(st.newest_time, Some(4950));
    assert_eq!(st.min_valid_time, Some(4000));
    assert_eq!(st.series, 3, "the short-lived series left the head");
    assert_eq!(st.total_samples, count(&before[0]));
    assert_eq!(st.block_samples + st.samples, st.total_samples);
    assert!(
        st.wal_bytes < st0.wal_bytes / 3,
        "{} vs {}",
        st.wal_bytes,
        st0.wal_bytes
    );
    assert_eq!(st.wal_segments, 1);
    assert!(st.checkpoint_bytes > 0);
    assert_eq!(st.disk_bytes, st.block_bytes + st.wal_bytes);
    let wal_files: Vec<String> = fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(wal_files.len(), 2, "{wal_files:?}");
    assert!(wal_files.iter().any(|f| f.starts_with("checkpoint.")));
    assert_eq!(
        db.label_values("__name__", &[]).unwrap(),
        vec!["churn", "rps", "up"]
    );
    assert_eq!(
        db.label_values("job", &[Matcher::equal("__name__", "churn")])
            .unwrap(),
        vec!["c"]
    );
    assert_eq!(db.label_names(&[]).unwrap(), vec!["__name__", "job"]);

    // The head no longer takes samples below the cut.
    let up = l(&[("__name__", "up"), ("job", "a")]);
    let mut app = db.appender();
    assert!(matches!(
        app.append(&up, 3999, 1.0),
        Err(AppendError::OutOfBounds {
            min_valid: 4000,
            ..
        })
    ));
    let churn = l(&[("__name__", "churn"), ("job", "c")]);
    assert!(matches!(
        app.append(&churn, 100, 1.0),
        Err(AppendError::OutOfBounds { .. })
    ));
    drop(app);
    assert_eq!(db.stats().out_of_bounds_total, 2);

    // More data after the cut, into the new segment; then reopen.
    fill(&db, 5000, 5200);
    let before = windows(&db);
    drop(db);
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(windows(&db), before);
    let st2 = db.stats();
    assert_eq!(st2.blocks, 4);
    assert_eq!(st2.series, 3);
    assert_eq!(st2.total_samples, count(&before[0]));
    // A series that left the head comes back (new WAL ref) and survives another reopen.
    let mut app = db.appender();
    app.append(&churn, 6000, 8.0).unwrap();
    app.commit().unwrap();
    let before = windows(&db);
    drop(db);
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(windows(&db), before);
    let got = dump(&db, &[Matcher::equal("__name__", "churn")], 0, 10_000);
    assert_eq!(got[0].1.len(), 11);
    assert_eq!(got[0].1.last(), Some(&(6000, 8f64.to_bits())));
}

#[test]
fn head_chunks_end_at_block_boundaries_and_stale_markers_survive() {
    let dir = tempfile::tempdir().unwrap();
    let o = TsdbOptions {
        samples_per_chunk: 120,
        ..opts(1000)
    };
    let db = Tsdb::open(dir.path(), o.clone()).unwrap();
    let s = l(&[("__name__", "x")]);
    let mut app = db.appender();
    for t in (0..2500).step_by(100) {
        let v = if t == 900 || t == 1000 || t == 2000 {
            STALE_NAN
        } else {
            t as f64
        };
        app.append(&s, t, v).unwrap();
    }
    app.commit().unwrap();
    // 25 samples fit one chunk of 120, but the head closes chunks at block boundaries.
    assert_eq!(
        db.stats().chunks,
        3,
        "one head chunk per block range: {:?}",
        db.stats()
    );
    let before = all(&db);
    assert_eq!(db.compact_head().unwrap(), 1);
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    let b = &blocks[0];
    assert_eq!((b.meta().mint, b.meta().maxt), (0, 1000));
    assert_eq!(b.meta().stats.num_samples, 10);
    let r = b.index().get_ref(&s).unwrap();
    let metas = b.chunks_of(r);
    assert_eq!(metas.len(), 1);
    assert_eq!((metas[0].mint, metas[0].maxt), (0, 900));
    let st = db.stats();
    assert_eq!(st.min_time, Some(1000));
    assert_eq!(st.samples, 15);
    assert_eq!(all(&db), before);
    let stale: Vec<i64> = all(&db)[0]
        .1
        .iter()
        .filter(|s| s.1 == STALE_NAN.to_bits())
        .map(|s| s.0)
        .collect();
    assert_eq!(stale, vec![900, 1000, 2000]);
    drop(db);
    let db = Tsdb::open(dir.path(), o).unwrap();
    assert_eq!(all(&db), before);
    // Windows right at the boundary.
    assert_eq!(
        dump(&db, &[], 900, 1000)[0].1,
        vec![(900, STALE_NAN.to_bits()), (1000, STALE_NAN.to_bits())]
    );
    assert_eq!(dump(&db, &[], 901, 999), Dump::new());
}

#[test]
fn compaction_merges_blocks_and_deletes_sources() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    fill(&db, 0, 10_000);
    assert_eq!(db.compact_head().unwrap(), 9);
    let before = windows(&db);
    let sources = block_dirs(dir.path());
    assert_eq!(sources.len(), 9);
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("blocks"), backup.path());

    assert_eq!(db.compact_blocks().unwrap(), 2);
    assert_eq!(windows(&db), before);
    let blocks = db.blocks();
    let spans: Vec<(i64, i64, u32)> = blocks
        .iter()
        .map(|b| (b.meta().mint, b.meta().maxt, b.meta().compaction.level))
        .collect();
    assert_eq!(
        spans,
        vec![
            (0, 3000, 2),
            (3000, 6000, 2),
            (6000, 7000, 1),
            (7000, 8000, 1),
            (8000, 9000, 1)
        ]
    );
    assert_eq!(blocks[0].meta().compaction.sources.len(), 3);
    assert_eq!(blocks[0].meta().compaction.parents.len(), 3);
    let now = block_dirs(dir.path());
    assert_eq!(now.len(), 5, "sources deleted: {now:?}");
    assert_eq!(now.iter().filter(|d| sources.contains(d)).count(), 3);
    let st = db.stats();
    assert_eq!(st.compactions_total, 2);
    assert_eq!(st.total_samples, count(&before[0]));
    drop(db);

    // A crash after the merged block was renamed into place but before its sources were
    // deleted: the sources come back; open deletes them (the merged block wins).
    for e in fs::read_dir(backup.path()).unwrap() {
        let e = e.unwrap();
        let dest = dir.path().join("blocks").join(e.file_name());
        if !dest.exists() {
            copy_dir(&e.path(), &dest);
        }
    }
    assert_eq!(block_dirs(dir.path()).len(), 11);
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(block_dirs(dir.path()), now);
    assert_eq!(windows(&db), before);
    assert_eq!(db.stats().total_samples, count(&before[0]));
}

#[test]
fn retention_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let o = TsdbOptions {
        retention_ms: 3000,
        ..opts(1000)
    };
    let db = Tsdb::open(dir.path(), o).unwrap();
    fill(&db, 0, 10_000);
    let r = db.maintain().unwrap();
    assert_eq!(r.blocks_written, 9);
    assert_eq!(r.compactions, 0, "a tenth of 3 s is below the block range");
    // Newest block ends at 9000: blocks ending before 6000 go.
    assert_eq!(r.blocks_deleted, 5);
    let spans: Vec<i64> = db.blocks().iter().map(|b| b.meta().mint).collect();
    assert_eq!(spans, vec![5000, 6000, 7000, 8000]);
    let got = all(&db);
    assert!(got.iter().all(|(_, s)| s[0].0 == 5000), "{:?}", got[0].1[0]);
    assert_eq!(got.iter().map(|(_, s)| s.len()).sum::<usize>(), 3 * 100);
    assert_eq!(block_dirs(dir.path()).len(), 4);
    assert_eq!(db.stats().retention_deletions_total, 5);
    assert_eq!(db.stats().oldest_time, Some(5000));
}

#[test]
fn retention_by_size_never_touches_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    fill(&db, 0, 10_000);
    db.compact_head().unwrap();
    let st = db.stats();
    let sizes: Vec<u64> = db.blocks().iter().map(|b| b.size()).collect();
    assert_eq!(sizes.len(), 9);
    drop(db);
    // Room for the WAL and the four newest blocks.
    let limit = st.wal_bytes + sizes[5..].iter().sum::<u64>();
    let o = TsdbOptions {
        retention_bytes: Some(limit),
        ..opts(1000)
    };
    let db = Tsdb::open(dir.path(), o).unwrap();
    assert_eq!(db.apply_retention().unwrap(), 5);
    let st2 = db.stats();
    assert!(st2.disk_bytes <= limit);
    assert_eq!(st2.blocks, 4);
    assert_eq!(st2.samples, st.samples, "head untouched");
    drop(db);
    // Even a limit of one byte leaves the head alone.
    let o = TsdbOptions {
        retention_bytes: Some(1),
        ..opts(1000)
    };
    let db = Tsdb::open(dir.path(), o).unwrap();
    assert_eq!(db.apply_retention().unwrap(), 4);
    assert_eq!(db.stats().blocks, 0);
    assert_eq!(db.stats().samples, st.samples);
    assert_eq!(all(&db)[0].1[0].0, 9000);
}

#[test]
fn crash_before_wal_truncation_replays_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    fill(&db, 0, 5000);
    let before = windows(&db);
    let wal_backup = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("wal"), wal_backup.path());
    db.compact_head().unwrap();
    drop(db);
    // The blocks are in place but the old WAL is back, as if the crash hit before the
    // checkpoint; leftovers of interrupted writes lie around too.
    fs::remove_dir_all(dir.path().join("wal")).unwrap();
    copy_dir(wal_backup.path(), &dir.path().join("wal"));
    fs::create_dir_all(
        dir.path()
            .join("blocks/01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp/chunks"),
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("blocks/01ARZ3NDEKTSV4RRFFQ69G5FAW.deleted")).unwrap();
    fs::write(dir.path().join("wal/checkpoint.00000099.tmp"), b"junk").unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(windows(&db), before);
    let st = db.stats();
    assert_eq!(st.total_samples, count(&before[0]), "no sample twice");
    assert_eq!(st.min_time, Some(4000));
    assert_eq!(block_dirs(dir.path()).len(), 4);
    assert!(!dir.path().join("wal/checkpoint.00000099.tmp").exists());
    // Cutting again now replaces the old segments.
    fill(&db, 5000, 6000);
    db.compact_head().unwrap();
    drop(db);
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(db.stats().total_samples, count(&all(&db)));
}

#[test]
fn block_chunks_are_read_lazily_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    fill(&db, 0, 5000);
    db.compact_head().unwrap();
    let first = db.blocks()[0].clone();
    // Damage the last chunk record of the first block (the tail of its only chunks file).
    let path = first.dir().join("chunks/000001");
    let mut data = fs::read(&path).unwrap();
    let n = data.len();
    data[n - 6] ^= 0xff;
    fs::write(&path, &data).unwrap();
    // The block stays open and queries elsewhere are unaffected: nothing was read at open
    // and only chunks a cursor reaches are read.
    assert_eq!(dump(&db, &[], 1000, 5000).len(), 3);
    let cursors = db.select(&[], 0, 999).unwrap();
    let mut errors = 0;
    for mut c in cursors {
        c.by_ref().for_each(drop);
        if let Some(e) = c.error() {
            assert!(e.contains("CRC"), "{e}");
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
}

#[test]
fn maintenance_runs_alongside_commits_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(100)).unwrap();
    let s = l(&[("__name__", "c")]);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..200 {
                if i % 10 == 0 {
                    db.maintain().unwrap();
                }
                let _ = db.select(&[], 0, i64::MAX).unwrap();
            }
        });
        for t in 0..3000 {
            let mut app = db.appender();
            app.append(&s, t, t as f64).unwrap();
            app.commit().unwrap();
        }
    });
    db.maintain().unwrap();
    let got = all(&db);
    assert_eq!(got[0].1.len(), 3000);
    assert!(got[0].1.iter().enumerate().all(|(i, s)| s.0 == i as i64));
    assert!(db.stats().blocks > 0);
}

#[test]
fn extreme_timestamps_cut_and_compact_without_overflow() {
    let dir = tempfile::tempdir().unwrap();
    // No time retention (it would drop the block near i64::MIN).
    let o = TsdbOptions {
        retention_ms: 0,
        ..opts(1000)
    };
    let db = Tsdb::open(dir.path(), o.clone()).unwrap();
    let s = l(&[("__name__", "x")]);
    for t in [i64::MIN + 1, -5000, 0, 1, 5000, i64::MAX - 1, i64::MAX] {
        let mut app = db.appender();
        app.append(&s, t, t as f64).unwrap();
        app.commit().unwrap();
    }
    let before = all(&db);
    db.maintain().unwrap();
    assert!(db.stats().blocks >= 3);
    assert_eq!(all(&db), before);
    assert_eq!(db.stats().total_samples, 7);
    drop(db);
    let db = Tsdb::open(dir.path(), o).unwrap();
    assert_eq!(all(&db), before);
    assert_eq!(dump(&db, &[], i64::MAX, i64::MAX)[0].1.len(), 1);
}

/// Figures for the report (run with `--release -- --ignored --nocapture`): 1000 series
/// scraped every 15 s for 6 h, cut into 2 h blocks with the default options; bytes per
/// sample in blocks and overall, and the time to write a block. Series are a third integer
/// counters, a third constant gauges (`up`), a third float counters (CPU seconds, 0.001
/// steps: full mantissas). Run with timestamps on the 15 s grid (as Prometheus ≥ 2.42 with
/// its 2 ms timestamp tolerance writes them) and with 0-3 ms of jitter, and per kind.
#[test]
#[ignore = "prints bytes-per-sample figures for the README; slow in debug builds: run with --release -- --ignored --nocapture"]
fn figures_bytes_per_sample() {
    for (jitter, kinds) in [
        (false, &[0usize, 1, 2][..]),
        (true, &[0, 1, 2][..]),
        (false, &[0][..]),
        (false, &[1][..]),
        (false, &[2][..]),
    ] {
        figure(jitter, kinds);
    }
}

fn figure(jitter: bool, kinds: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            sync: false,
            ..TsdbOptions::default()
        },
    )
    .unwrap();
    let series: Vec<(usize, Labels)> = (0..1000)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            let name = ["http_requests_total", "up", "process_cpu_seconds_total"][kind];
            let l = Labels::series([
                ("__name__", name),
                ("instance", &format!("host-{i}:9100")),
                ("job", "node"),
            ])
            .unwrap();
            (kind, l)
        })
        .collect();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut counters = vec![0f64; series.len()];
    let started = std::time::Instant::now();
    for step in 0..(6 * 240) {
        let mut app = db.appender();
        for (i, (kind, l)) in series.iter().enumerate() {
            let t = step * 15_000 + if jitter { (next() % 4) as i64 } else { 0 };
            let v = match kind {
                0 => {
                    counters[i] += (next() % 50) as f64;
                    counters[i]
                }
                1 => 1.0,
                _ => {
                    counters[i] += (next() % 300) as f64 * 0.001;
                    counters[i]
                }
            };
            app.append(l, t, v).unwrap();
        }
        app.commit().unwrap();
    }
    let append_time = started.elapsed();
    let before = db.stats();
    let r = db.maintain().unwrap();
    let st = db.stats();
    eprintln!("--- jitter {jitter}, kinds {kinds:?}");
    eprintln!(
        "appended {} samples in {append_time:?}; wal before cutting {} bytes = {:.2} B/sample",
        before.samples,
        before.wal_bytes,
        before.wal_bytes as f64 / before.samples as f64
    );
    eprintln!(
        "maintain: {} blocks written in {:?} (whole call {:?}), commits paused at most {:?}",
        r.blocks_written, r.cut_write_time, r.duration, r.max_commit_pause
    );
    eprintln!(
        "blocks: {} bytes for {} samples = {:.3} B/sample; overall disk {} bytes (wal+checkpoint {}) for {} samples = {:.3} B/sample",
        st.block_bytes,
        st.block_samples,
        st.block_bytes as f64 / st.block_samples as f64,
        st.disk_bytes,
        st.wal_bytes,
        st.total_samples,
        st.bytes_per_sample().unwrap(),
    );
}

/// The encodings of every chunk record in the store's blocks.
fn encodings(db: &Tsdb) -> Vec<u8> {
    let mut out = Vec::new();
    for b in db.blocks().iter() {
        for r in 0..b.index().len() as u32 {
            for c in &b.chunks_of(pier_tsdb::SeriesRef(r)) {
                out.push(b.read_chunk(c).unwrap().0);
            }
        }
    }
    out
}

#[test]
fn blocks_hold_compact_and_xor_chunks_and_read_back_bit_exact() {
    use pier_tsdb::block::{ENCODING_COMPACT, ENCODING_XOR};
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    // `fill` has an integer gauge, a counter with stale markers (XOR where they fall), and
    // thirds (full-precision floats: XOR); add decimals with two places and pages.
    fill(&db, 0, 5000);
    for t in (0..5000).step_by(50) {
        let mut app = db.appender();
        let cpu = (252_720_729 + t * 13) as f64 / 100.0;
        app.append(&l(&[("__name__", "cpu"), ("job", "d")]), t, cpu)
            .unwrap();
        let mem = ((3 << 20) + (t % 7) * 5) as f64 * 4096.0;
        app.append(&l(&[("__name__", "mem"), ("job", "d")]), t, mem)
            .unwrap();
        app.commit().unwrap();
    }
    let before = windows(&db);
    db.maintain().unwrap();
    let enc = encodings(&db);
    assert!(enc.contains(&ENCODING_COMPACT), "{enc:?}");
    assert!(enc.contains(&ENCODING_XOR), "{enc:?}");
    assert_eq!(windows(&db), before);
    drop(db);
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(windows(&db), before);
}

#[test]
fn xor_only_blocks_stay_readable_and_merging_recodes_them() {
    use pier_tsdb::block::writer::{BlockWriter, frame_record};
    use pier_tsdb::block::{BlockCompaction, ENCODING_COMPACT, ENCODING_XOR, new_id};
    use pier_tsdb::chunk::XorChunk;
    let dir = tempfile::tempdir().unwrap();
    let blocks = dir.path().join("blocks");
    fs::create_dir_all(&blocks).unwrap();
    // Four blocks as written before the compact encoding existed: XOR records only.
    let series = [
        l(&[("__name__", "cpu"), ("job", "a")]),
        l(&[("__name__", "stale"), ("job", "a")]),
    ];
    let mut want: Dump = series.iter().map(|s| (s.to_string(), Vec::new())).collect();
    for b in 0..4i64 {
        let id = new_id();
        let mut w = BlockWriter::new(&blocks, id.clone(), b * 1000, (b + 1) * 1000).unwrap();
        for (i, labels) in series.iter().enumerate() {
            let mut c = XorChunk::new();
            for t in (b * 1000..(b + 1) * 1000).step_by(10) {
                // The second series ends each block with a stale marker: it stays XOR.
                let v = if i == 0 {
                    (1000 + t * 3) as f64 / 100.0
                } else if t % 1000 == 990 {
                    STALE_NAN
                } else {
                    t as f64
                };
                c.append(t, v).unwrap();
                want[i].1.push((t, v.to_bits()));
            }
            let mut rec = Vec::new();
            frame_record(&mut rec, ENCODING_XOR, c.bytes());
            let (first, last) = (c.first_timestamp().unwrap(), c.last_timestamp().unwrap());
            w.add_series(labels.clone(), [(first, last, rec.as_slice())])
                .unwrap();
        }
        w.finish(BlockCompaction {
            level: 1,
            sources: vec![id],
            parents: Vec::new(),
        })
        .unwrap();
    }
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(encodings(&db), vec![ENCODING_XOR; 8]);
    assert_eq!(all(&db), want);
    // The first three merge into one block; its decimal chunks are now compact.
    assert_eq!(db.compact_blocks().unwrap(), 1);
    assert_eq!(db.blocks().len(), 2);
    let enc = encodings(&db);
    assert_eq!(
        enc.iter().filter(|&&e| e == ENCODING_COMPACT).count(),
        3,
        "{enc:?}"
    );
    assert_eq!(all(&db), want);
    drop(db);
    let db = Tsdb::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(all(&db), want);
}
