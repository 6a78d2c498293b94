//! Property tests for the compact block chunk and the choice of encoding: bit-exact round
//! trips of decimal values (k decimals, multiples of 4096, integers, large magnitudes),
//! refusal of anything it cannot represent exactly (NaN payloads, the stale marker, ±Inf,
//! -0.0, full-precision floats), large timestamp gaps, single-sample and 120-sample
//! chunks; the smaller encoding wins; arbitrary or damaged bytes never panic.

use pier_tsdb::chunk::{
    ChunkIter, ENCODING_COMPACT, ENCODING_XOR, STALE_NAN, XorChunk, compact, encode_for_block,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Timestamp gaps: scrape-like, jittered, tiny, huge.
fn gap() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => Just(15_000i64),
        3 => 14_990i64..=15_010,
        1 => 1i64..=100,
        1 => 1i64..=(1i64 << 45),
        1 => 1i64..=i64::MAX / 4,
    ]
}

/// How a chunk's values are made: a kind, and for decimals the number of decimals.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// m / 10^k with m a random walk (counter-like or gauge-like).
    Decimal(u8),
    /// Multiples of 4096 (byte gauges).
    Pages,
    /// Arbitrary bit patterns.
    Bits,
    /// Decimals with one special value (NaN payload, stale marker, ±Inf, -0.0) somewhere.
    DecimalWithSpecial(u8),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => (0u8..=6).prop_map(Kind::Decimal),
        2 => Just(Kind::Pages),
        1 => Just(Kind::Bits),
        2 => (0u8..=3).prop_map(Kind::DecimalWithSpecial),
    ]
}

const SPECIALS: [f64; 7] = [
    f64::NAN,
    STALE_NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    f64::from_bits(0x7ff8_0000_dead_beef),
    f64::from_bits(0xfff0_0000_0000_0001),
];

/// Samples: strictly increasing timestamps from any start, values of one kind.
fn chunk() -> impl Strategy<Value = Vec<(i64, f64)>> {
    let len = prop_oneof![1 => Just(1usize), 1 => Just(120usize), 2 => 1usize..300];
    (
        any::<i64>(),
        kind(),
        len,
        any::<u64>(),
        -(1i64 << 40)..(1i64 << 40),
    )
        .prop_flat_map(|(start, kind, n, seed, m0)| {
            (
                Just((start, kind, seed, m0)),
                prop::collection::vec((gap(), -5000i64..5000, any::<u64>()), n),
            )
        })
        .prop_map(|((start, kind, seed, m0), steps)| {
            let mut out = Vec::with_capacity(steps.len());
            let mut t = start;
            let mut m = m0;
            let special_at = (seed as usize) % steps.len();
            for (i, (g, dm, bits)) in steps.into_iter().enumerate() {
                if i > 0 {
                    match t.checked_add(g) {
                        Some(n) => t = n,
                        None => break,
                    }
                }
                m = m.saturating_add(if seed % 2 == 0 { dm.abs() } else { dm });
                let v = match kind {
                    Kind::Decimal(k) => format!("{}e-{k}", m).parse().unwrap(),
                    Kind::Pages => (m * 4096) as f64,
                    Kind::Bits => f64::from_bits(bits),
                    Kind::DecimalWithSpecial(_) if i == special_at => {
                        SPECIALS[(seed as usize / 7) % SPECIALS.len()]
                    }
                    Kind::DecimalWithSpecial(k) => format!("{}e-{k}", m).parse().unwrap(),
                };
                out.push((t, v));
            }
            out
        })
}

fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn xor(s: &[(i64, f64)]) -> Vec<u8> {
    let mut c = XorChunk::new();
    for &(t, v) in s {
        c.append(t, v).unwrap();
    }
    c.into_bytes()
}

fn read(encoding: u8, data: &[u8]) -> Vec<(i64, u64)> {
    let mut it = ChunkIter::new(encoding, data);
    let out: Vec<(i64, f64)> = it.by_ref().collect();
    assert_eq!(it.err(), None);
    bits(&out)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn compact_round_trip_is_bit_exact_or_refused(s in chunk()) {
        let has_special = s.iter().any(|&(_, v)| {
            SPECIALS.iter().any(|x| x.to_bits() == v.to_bits())
        });
        match compact::encode(&s) {
            Some(data) => {
                prop_assert!(!has_special, "a special value was accepted");
                prop_assert_eq!(read(ENCODING_COMPACT, &data), bits(&s));
                prop_assert_eq!(compact::num_samples(&data), Some(s.len() as u16));
            }
            None => {
                // Only chunks with a value no scale represents are refused.
                let decimal = s.iter().all(|&(_, v)| {
                    pier_tsdb::chunk::decimal::scale(&[v]).is_some()
                });
                prop_assert!(has_special || !decimal || s.is_empty());
            }
        }
    }

    #[test]
    fn smaller_encoding_wins_and_reads_back(s in chunk()) {
        let x = xor(&s);
        let (encoding, data) = encode_for_block(&x);
        prop_assert_eq!(read(encoding, &data), bits(&s));
        let packed = compact::encode(&s);
        match encoding {
            ENCODING_COMPACT => prop_assert!(data.len() < x.len()),
            ENCODING_XOR => {
                prop_assert_eq!(&*data, &x[..]);
                prop_assert!(packed.is_none_or(|p| p.len() >= x.len()));
            }
            other => prop_assert!(false, "encoding {other}"),
        }
    }

    #[test]
    fn damaged_compact_chunks_never_panic(s in chunk(), pos in any::<prop::sample::Index>(),
                                          flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
        if let Some(data) = compact::encode(&s) {
            let mut flipped = data.clone();
            flipped[pos.index(data.len())] ^= flip;
            let _ = ChunkIter::new(ENCODING_COMPACT, &flipped).count();
            // A truncated chunk always fails as a whole.
            let n = cut.index(data.len());
            let mut it = ChunkIter::new(ENCODING_COMPACT, &data[..n]);
            prop_assert_eq!(it.by_ref().count(), 0);
            prop_assert!(it.err().is_some());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut it = ChunkIter::new(ENCODING_COMPACT, &data);
        let n = it.by_ref().count();
        prop_assert!(n == 0 || it.err().is_none());
    }
}

#[test]
fn node_exporter_like_values_shrink() {
    let t0 = 1_704_067_200_000i64;
    let cases: [(&str, Vec<f64>); 4] = [
        (
            "cpu seconds",
            (0..120)
                .map(|i| (252_720_729 + i * 1_311 + (i * 37) % 101) as f64 / 100.0)
                .collect(),
        ),
        (
            "load",
            (0..120)
                .map(|i| f64::from(50 + (i * 7) % 23) / 100.0)
                .collect(),
        ),
        (
            "bytes",
            (0..120)
                .map(|i| f64::from((3 << 18) + (i * 331) % 977) * 4096.0)
                .collect(),
        ),
        ("up", vec![1.0; 120]),
    ];
    for (name, values) in cases {
        let s: Vec<(i64, f64)> = (0i64..).map(|i| t0 + i * 15_000).zip(values).collect();
        let x = xor(&s);
        let (encoding, data) = encode_for_block(&x);
        assert_eq!(encoding, ENCODING_COMPACT, "{name}");
        eprintln!(
            "{name}: xor {} bytes, compact {} bytes",
            x.len(),
            data.len()
        );
        assert!(
            data.len() < x.len(),
            "{name}: {} vs {}",
            data.len(),
            x.len()
        );
    }
}
