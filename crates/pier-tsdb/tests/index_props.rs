//! Property test: `Index::select` agrees with a brute-force filter over random series and
//! random matchers (every operator, empty values, labels the series lack).

use pier_tsdb::index::{Index, Labels, MatchOp, Matcher, SeriesRef};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const NAMES: &[&str] = &["job", "env", "code"];
const VALUES: &[&str] = &["", "a", "b", "ab", "ba", "x\ny"];
const PATTERNS: &[&str] = &[
    "", "a", "b", "a.*", ".*", ".+", "a|b", "a|", "b?", "[ab]+", "ab|x.y", "x.*", ".*b.*",
];

fn series() -> impl Strategy<Value = Labels> {
    (
        prop::sample::select(vec!["up", "http_requests_total"]),
        prop::collection::vec(prop::sample::select(VALUES.to_vec()), NAMES.len()),
    )
        .prop_map(|(name, vals)| {
            let mut pairs = vec![("__name__", name)];
            pairs.extend(NAMES.iter().copied().zip(vals));
            Labels::from_pairs(pairs).unwrap()
        })
}

fn matcher() -> impl Strategy<Value = Matcher> {
    let names = vec!["__name__", "job", "env", "code", "missing"];
    let plain = vec!["", "a", "b", "ab", "up", "x\ny", "zzz"];
    (
        prop::sample::select(names),
        prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::RegexMatch),
            Just(MatchOp::RegexNoMatch)
        ],
        prop::sample::select(plain),
        prop::sample::select(PATTERNS.to_vec()),
    )
        .prop_map(|(name, op, value, pattern)| {
            let v = match op {
                MatchOp::Equal | MatchOp::NotEqual => value,
                MatchOp::RegexMatch | MatchOp::RegexNoMatch => pattern,
            };
            Matcher::new(op, name, v).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Failing cases are saved beside this file as `<name>.regressions`.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn select_matches_brute_force(
        all in prop::collection::vec(series(), 0..40),
        matchers in prop::collection::vec(matcher(), 0..4),
    ) {
        let mut ix = Index::new();
        let mut refs = Vec::new();
        for s in &all {
            refs.push(ix.add(s).unwrap());
        }
        // Same labels give the same ref.
        for (s, r) in all.iter().zip(&refs) {
            prop_assert_eq!(ix.get_ref(s), Some(*r));
            prop_assert_eq!(ix.labels(*r), Some(s));
        }
        let mut want: Vec<SeriesRef> = (0..ix.len() as u32)
            .map(SeriesRef)
            .filter(|&r| {
                let l = ix.labels(r).unwrap();
                matchers.iter().all(|m| m.matches_labels(l))
            })
            .collect();
        want.sort();
        prop_assert_eq!(ix.select(&matchers), want);

        // label_names / label_values agree with the stored series.
        let mut names: Vec<&str> = all.iter().flat_map(|l| l.iter().map(|x| x.name)).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(ix.label_names(), names);
        let mut jobs: Vec<&str> = all.iter().filter_map(|l| l.get("job")).collect();
        jobs.sort();
        jobs.dedup();
        prop_assert_eq!(ix.label_values("job"), jobs);
    }
}
