//! Property test of blocks against a brute-force model: random series and samples are
//! appended (one commit each), the store is maintained (head cut into blocks, WAL truncated,
//! blocks merged) and reopened at random points, with random block ranges and chunk sizes;
//! after every step `select` over random windows and matchers must return exactly the
//! model's samples (bit-exact values, stale markers included), and the store's own sample
//! count must equal the model's (nothing stored twice).

use pier_tsdb::{AppendError, Labels, Matcher, STALE_NAN, Storage, Tsdb, TsdbOptions};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Model: labels string -> t -> value bits.
type Model = BTreeMap<String, BTreeMap<i64, u64>>;

#[derive(Debug, Clone)]
enum Op {
    /// Advance the clock by `dt` and append to series `s` at the clock.
    Append { s: usize, dt: i64, v: f64 },
    /// `Tsdb::maintain`.
    Maintain,
    /// Close and reopen the store.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![
        4 => (-1000i32..1000).prop_map(f64::from),
        1 => Just(STALE_NAN),
        1 => Just(f64::NAN),
        1 => any::<f64>(),
    ];
    prop_oneof![
        20 => (0usize..5, 0i64..25, value).prop_map(|(s, dt, v)| Op::Append { s, dt, v }),
        2 => Just(Op::Maintain),
        1 => Just(Op::Reopen),
    ]
}

fn labels(s: usize) -> Labels {
    let name = if s.is_multiple_of(2) { "even" } else { "odd" };
    Labels::series([("__name__", name), ("s", &s.to_string())]).unwrap()
}

fn check(db: &Tsdb, model: &Model, windows: &[(i64, i64)], matcher: usize) {
    let ms: Vec<Matcher> = match matcher {
        0 => vec![],
        1 => vec![Matcher::equal("__name__", "even")],
        2 => vec![Matcher::regex("s", "[13]").unwrap()],
        _ => vec![Matcher::not_equal("s", "2")],
    };
    for &(a, b) in windows {
        let (mint, maxt) = (a.min(b), a.max(b));
        let got: Vec<(String, Vec<(i64, u64)>)> = db
            .select(&ms, mint, maxt)
            .unwrap()
            .into_iter()
            .map(|mut c| {
                let n = c.labels.to_string();
                let v = c.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
                assert_eq!(c.error(), None);
                (n, v)
            })
            .collect();
        let want: Vec<(String, Vec<(i64, u64)>)> = (0..5)
            .map(labels)
            .filter(|l| ms.iter().all(|m| m.matches_labels(l)))
            .filter_map(|l| {
                let n = l.to_string();
                let v: Vec<(i64, u64)> = model
                    .get(&n)?
                    .range(mint..=maxt)
                    .map(|(t, v)| (*t, *v))
                    .collect();
                (!v.is_empty()).then_some((n, v))
            })
            .collect();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "window [{mint}, {maxt}] matchers {ms:?}");
    }
    let total: usize = model.values().map(BTreeMap::len).sum();
    assert_eq!(db.stats().total_samples, total as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn select_matches_model_across_cuts_compactions_and_reopens(
        ops in prop::collection::vec(op(), 1..200),
        range in prop_oneof![Just(20i64), Just(50), Just(100)],
        spc in 2usize..12,
        windows in prop::collection::vec((-20i64..2500, -20i64..2500), 6),
        matcher in 0usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = TsdbOptions {
            sync: false,
            wal_segment_bytes: 512,
            samples_per_chunk: spc,
            block_range_ms: range,
            retention_ms: i64::MAX / 4,
            retention_bytes: None,
        };
        let mut db = Tsdb::open(dir.path(), opts.clone()).unwrap();
        let mut model = Model::new();
        let mut clock = 0i64;
        let mut last: [Option<i64>; 5] = [None; 5];
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Append { s, dt, v } => {
                    clock += dt;
                    if last[*s].is_some_and(|l| l >= clock) {
                        continue;
                    }
                    let l = labels(*s);
                    let mut app = db.appender();
                    match app.append(&l, clock, *v) {
                        Ok(()) => {
                            app.commit().unwrap();
                            last[*s] = Some(clock);
                            model.entry(l.to_string()).or_default().insert(clock, v.to_bits());
                        }
                        Err(AppendError::OutOfBounds { min_valid, .. }) => {
                            prop_assert!(clock < min_valid);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Maintain => {
                    db.maintain().unwrap();
                }
                Op::Reopen => {
                    drop(db);
                    db = Tsdb::open(dir.path(), opts.clone()).unwrap();
                }
            }
            if i % 25 == 0 {
                check(&db, &model, &windows, matcher);
            }
        }
        db.maintain().unwrap();
        check(&db, &model, &windows, matcher);
        check(&db, &model, &[(i64::MIN, i64::MAX)], 0);
        drop(db);
        let db = Tsdb::open(dir.path(), opts).unwrap();
        check(&db, &model, &windows, matcher);
        check(&db, &model, &[(i64::MIN, i64::MAX)], 0);
        let names = db.label_values("__name__", &[]).unwrap();
        let mut want: Vec<String> = model
            .keys()
            .map(|k| if k.contains("even") { "even".into() } else { "odd".into() })
            .collect();
        want.dedup();
        want.sort();
        want.dedup();
        prop_assert_eq!(names, want);
    }
}
