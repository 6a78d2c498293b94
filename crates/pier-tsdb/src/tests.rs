//! Unit tests of the store as a whole: appending, committing, reading back, counters, WAL
//! replay, torn tails, corruption and segment rotation.

use crate::wal::segment_name;
use crate::*;
use std::fs;
use std::path::Path;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

fn opts() -> TsdbOptions {
    TsdbOptions {
        sync: false,
        ..TsdbOptions::default()
    }
}

pub(crate) fn open(dir: &Path) -> Tsdb {
    Tsdb::open(dir, opts()).unwrap()
}

/// Every selected series with its samples, as (labels string, [(t, value bits)]).
fn dump(db: &Tsdb, ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(String, Vec<(i64, u64)>)> {
    db.select(ms, mint, maxt)
        .unwrap()
        .into_iter()
        .map(|c| {
            let name = c.labels.to_string();
            (name, c.map(|(t, v)| (t, v.to_bits())).collect())
        })
        .collect()
}

pub(crate) fn all(db: &Tsdb) -> Vec<(String, Vec<(i64, u64)>)> {
    dump(db, &[], i64::MIN, i64::MAX)
}

/// Three series: up{job=a}, up{job=b}, rps{job=a}; samples at t = 0, 10, ..., 90.
fn fill(db: &Tsdb) {
    let mut app = db.appender();
    for t in 0..10 {
        app.append(&l(&[("__name__", "up"), ("job", "a")]), t * 10, 1.0)
            .unwrap();
        app.append(&l(&[("__name__", "up"), ("job", "b")]), t * 10, 0.0)
            .unwrap();
        app.append(&l(&[("__name__", "rps"), ("job", "a")]), t * 10, t as f64)
            .unwrap();
    }
    let s = app.commit().unwrap();
    assert_eq!(s.samples_accepted, 30);
    assert_eq!(s.series_created, 3);
}

#[test]
fn round_trip_with_matchers_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db);
    let got = dump(&db, &[Matcher::equal("__name__", "up")], 20, 40);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, r#"{__name__="up", job="a"}"#);
    assert_eq!(
        got[0].1,
        vec![
            (20, 1f64.to_bits()),
            (30, 1f64.to_bits()),
            (40, 1f64.to_bits())
        ]
    );
    let got = dump(&db, &[Matcher::regex("job", "a").unwrap()], 85, 1000);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, r#"{__name__="rps", job="a"}"#, "sorted by labels");
    assert_eq!(got[0].1, vec![(90, 9f64.to_bits())]);
    // Windows with no samples select nothing, including a gap between samples.
    assert!(dump(&db, &[], 91, 1000).is_empty());
    assert!(dump(&db, &[], 11, 19).is_empty());
    assert!(dump(&db, &[], 50, 40).is_empty());
    assert!(dump(&db, &[Matcher::equal("job", "zzz")], 0, 100).is_empty());
    assert_eq!(all(&db).len(), 3);
}

#[test]
fn out_of_order_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let s = l(&[("__name__", "x")]);
    let mut app = db.appender();
    app.append(&s, 100, 1.0).unwrap();
    app.append(&s, 100, 1.0).unwrap(); // exact repeat: ignored
    assert!(matches!(
        app.append(&s, 100, 2.0),
        Err(AppendError::Duplicate { t: 100, .. })
    ));
    assert!(matches!(
        app.append(&s, 50, 2.0),
        Err(AppendError::OutOfOrder {
            t: 50,
            last: 100,
            ..
        })
    ));
    assert!(matches!(
        app.append(&l(&[("job", "x")]), 1, 1.0),
        Err(AppendError::Labels { .. })
    ));
    app.append(&s, 200, STALE_NAN).unwrap();
    let cs = app.commit().unwrap();
    assert_eq!(
        cs,
        CommitStats {
            samples_accepted: 2,
            series_created: 1,
            out_of_order: 1,
            out_of_bounds: 0,
            duplicate: 1,
            duplicates_ignored: 1,
            invalid_labels: 1,
            wal_bytes: cs.wal_bytes,
        }
    );
    // Against the head in a later batch.
    let mut app = db.appender();
    app.append(&s, 200, STALE_NAN).unwrap(); // same bits: ignored
    assert!(
        app.append(&s, 200, f64::NAN).is_err(),
        "another NaN differs"
    );
    assert!(app.append(&s, 150, 1.0).is_err());
    app.append(&s, 300, 3.0).unwrap();
    app.commit().unwrap();
    let st = db.stats();
    assert_eq!(st.samples_appended_total, 3);
    assert_eq!(st.out_of_order_total, 2);
    assert_eq!(st.duplicate_total, 2);
    assert_eq!(st.duplicates_ignored_total, 2);
    let got = all(&db);
    assert_eq!(got[0].1.len(), 3);
    assert!(is_stale(f64::from_bits(got[0].1[1].1)));
}

#[test]
fn concurrent_appenders_are_revalidated_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let s = l(&[("__name__", "x")]);
    let mut a = db.appender();
    let mut b = db.appender();
    a.append(&s, 10, 1.0).unwrap();
    b.append(&s, 5, 1.0).unwrap();
    b.append(&s, 20, 2.0).unwrap();
    assert_eq!(a.commit().unwrap().series_created, 1);
    let cs = b.commit().unwrap();
    assert_eq!(
        (cs.samples_accepted, cs.out_of_order, cs.series_created),
        (1, 1, 0)
    );
    assert_eq!(
        all(&db)[0].1,
        vec![(10, 1f64.to_bits()), (20, 2f64.to_bits())]
    );
    let mut c = db.appender();
    c.append(&s, 30, 1.0).unwrap();
    c.rollback();
    assert_eq!(db.stats().samples, 2);
}

#[test]
fn chunks_cut_at_120_and_cursor_seeks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let s = l(&[("__name__", "x")]);
    let mut app = db.appender();
    for t in 0..300 {
        app.append(&s, t * 1000, t as f64).unwrap();
    }
    app.commit().unwrap();
    let st = db.stats();
    assert_eq!((st.series, st.samples, st.chunks), (1, 300, 3));
    assert_eq!((st.min_time, st.max_time), (Some(0), Some(299_000)));
    assert!(st.head_bytes > 300 && st.head_bytes < 5000, "{st:?}");

    let mut c = db.select(&[], 50_000, 250_000).unwrap().remove(0);
    assert_eq!(c.next(), Some((50_000, 50.0)));
    assert_eq!(c.seek(119_500), Some((120_000, 120.0)), "first of chunk 2");
    assert_eq!(c.seek(239_001), Some((240_000, 240.0)), "open chunk");
    assert_eq!(c.seek(1), Some((240_000, 240.0)));
    assert_eq!(c.by_ref().count(), 10);
    assert_eq!(c.seek(260_000), None, "past maxt");
    let c = db.select(&[], i64::MIN, i64::MAX).unwrap().remove(0);
    assert_eq!(c.count(), 300);
    // A cursor does not see samples committed after it was made.
    let c = db.select(&[], 0, i64::MAX).unwrap().remove(0);
    let mut app = db.appender();
    app.append(&s, 300_000, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(c.count(), 300);
}

#[test]
fn label_names_and_values_with_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db);
    let mut app = db.appender();
    app.append(&l(&[("__name__", "rps"), ("path", "/x")]), 0, 1.0)
        .unwrap();
    app.commit().unwrap();
    assert_eq!(db.label_names(&[]).unwrap(), ["__name__", "job", "path"]);
    assert_eq!(
        db.label_names(&[Matcher::equal("__name__", "up")]).unwrap(),
        ["__name__", "job"]
    );
    assert_eq!(db.label_values("job", &[]).unwrap(), ["a", "b"]);
    assert_eq!(
        db.label_values("__name__", &[Matcher::equal("job", "b")])
            .unwrap(),
        ["up"]
    );
    assert_eq!(
        db.label_values("job", &[Matcher::equal("__name__", "rps")])
            .unwrap(),
        ["a"]
    );
    assert!(db.label_values("nope", &[]).unwrap().is_empty());
}

#[test]
fn reopen_replays_identically_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db);
    let mut app = db.appender();
    for t in 10..400 {
        app.append(&l(&[("__name__", "up"), ("job", "a")]), t * 10, STALE_NAN)
            .unwrap();
    }
    app.commit().unwrap();
    assert!(matches!(
        Tsdb::open(dir.path(), opts()),
        Err(TsdbError::Locked { .. })
    ));
    let before = all(&db);
    let st = db.stats();
    drop(db);
    let db = open(dir.path());
    assert_eq!(all(&db), before);
    let st2 = db.stats();
    assert_eq!(
        (st2.series, st2.samples, st2.chunks, st2.wal_bytes),
        (st.series, st.samples, st.chunks, st.wal_bytes)
    );
    assert_eq!(
        st2.samples_appended_total, 0,
        "counters count this run only"
    );
    // Appending continues after the replayed samples.
    let mut app = db.appender();
    assert!(
        app.append(&l(&[("__name__", "up"), ("job", "a")]), 3990, 1.0)
            .is_err()
    );
    app.append(&l(&[("__name__", "up"), ("job", "b")]), 100, 1.0)
        .unwrap();
    app.append(&l(&[("__name__", "new")]), 100, 1.0).unwrap();
    assert_eq!(app.commit().unwrap().series_created, 1);
    let before = all(&db);
    drop(db);
    assert_eq!(all(&open(dir.path())), before);
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let wal = dir.join("wal");
    let mut names: Vec<String> = fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    wal.join(names.last().unwrap())
}

fn commit_one(db: &Tsdb, name: &str, t: i64) {
    let mut app = db.appender();
    app.append(&l(&[("__name__", name)]), t, t as f64).unwrap();
    app.commit().unwrap();
}

#[test]
fn torn_tail_is_dropped_and_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    fill(&db);
    commit_one(&db, "x", 1);
    let good = all(&db);
    let seg = last_segment(dir.path());
    let good_len = fs::metadata(&seg).unwrap().len();
    // The next commit creates a series: series record + samples record.
    commit_one(&db, "y", 1);
    drop(db);
    let full = fs::read(&seg).unwrap();
    let tail = full[good_len as usize..].to_vec();
    assert!(tail.len() > 40);

    let garbage: Vec<Vec<u8>> = vec![
        tail[..5].to_vec(),              // short header
        tail[..tail.len() - 3].to_vec(), // samples record cut short
        tail[..30].to_vec(),             // series record cut short
        vec![0xff; 100],                 // length past the end
        vec![0; 4096],                   // zeros
        {
            let mut t = tail.clone(); // last byte flipped: CRC mismatch on the final record
            let n = t.len();
            t[n - 1] ^= 1;
            t
        },
    ];
    for g in garbage {
        let mut bytes = full[..good_len as usize].to_vec();
        bytes.extend_from_slice(&g);
        fs::write(&seg, &bytes).unwrap();
        let db = open(dir.path());
        assert_eq!(all(&db), good, "tail of {} bytes", g.len());
        assert_eq!(db.stats().wal_truncated_bytes, g.len() as u64);
        assert!(
            db.label_values("__name__", &[])
                .unwrap()
                .iter()
                .all(|n| n != "y")
        );
        drop(db);
        assert_eq!(fs::metadata(&seg).unwrap().len(), good_len);
    }
    // After a repair the store keeps working.
    let db = open(dir.path());
    commit_one(&db, "z", 5);
    drop(db);
    assert_eq!(all(&open(dir.path())).len(), good.len() + 1);
}

#[test]
fn corruption_in_older_segment_names_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let o = TsdbOptions {
        wal_segment_bytes: 200,
        ..opts()
    };
    let db = Tsdb::open(dir.path(), o.clone()).unwrap();
    for t in 0..40 {
        commit_one(&db, "x", t);
    }
    assert!(db.stats().wal_segments >= 3);
    drop(db);
    let seg1 = dir.path().join("wal").join(segment_name(1));
    let mut bytes = fs::read(&seg1).unwrap();
    // Flip a payload byte of the second record.
    let first_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize + 9;
    bytes[first_len + 12] ^= 0x40;
    fs::write(&seg1, &bytes).unwrap();
    let err = Tsdb::open(dir.path(), o.clone()).unwrap_err();
    match &err {
        TsdbError::WalCorrupt {
            segment, offset, ..
        } => {
            assert_eq!(segment, &seg1);
            assert_eq!(*offset, first_len as u64);
        }
        e => panic!("unexpected {e}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("00000001") && msg.contains(&format!("offset {first_len}")),
        "{msg}"
    );

    // Corruption followed by more data in the last segment is not a torn write either.
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for t in 0..3 {
        commit_one(&db, "x", t);
    }
    drop(db);
    let seg = last_segment(dir.path());
    let mut bytes = fs::read(&seg).unwrap();
    bytes[12] ^= 1;
    fs::write(&seg, &bytes).unwrap();
    let err = Tsdb::open(dir.path(), opts()).unwrap_err();
    assert!(
        matches!(err, TsdbError::WalCorrupt { offset: 0, .. }),
        "{err}"
    );

    // A missing segment is an error too.
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), o.clone()).unwrap();
    for t in 0..40 {
        commit_one(&db, "x", t);
    }
    drop(db);
    fs::remove_file(dir.path().join("wal").join(segment_name(2))).unwrap();
    let err = Tsdb::open(dir.path(), o).unwrap_err();
    assert!(err.to_string().contains("segment missing"), "{err}");
}

#[test]
fn segments_rotate_and_replay_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let o = TsdbOptions {
        wal_segment_bytes: 1024,
        samples_per_chunk: 50,
        ..opts()
    };
    let db = Tsdb::open(dir.path(), o.clone()).unwrap();
    for t in 0..200 {
        let mut app = db.appender();
        for s in 0..(1 + t % 5) {
            let name = format!("m{s}");
            app.append(&l(&[("__name__", &name)]), t, (t * s) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    let st = db.stats();
    assert!(st.wal_segments > 5, "{st:?}");
    let before = all(&db);
    drop(db);
    let segs = fs::read_dir(dir.path().join("wal")).unwrap().count() as u64;
    assert_eq!(segs, st.wal_segments);
    let db = Tsdb::open(dir.path(), o).unwrap();
    assert_eq!(all(&db), before);
    assert_eq!(db.stats().wal_bytes, st.wal_bytes);
    assert_eq!(db.stats().samples, 600);
}

#[test]
fn sync_commit_works_and_tsdb_is_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tsdb>();
    assert_send_sync::<Appender<'static>>();
    assert_send_sync::<SeriesCursor>();
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let db = std::sync::Arc::new(db);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let db = db.clone();
            std::thread::spawn(move || {
                for t in 0..20 {
                    let mut app = db.appender();
                    app.append(&l(&[("__name__", "x"), ("th", &i.to_string())]), t, 1.0)
                        .unwrap();
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(db.stats().samples, 80);
}
