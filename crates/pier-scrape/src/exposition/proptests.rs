//! Property tests of the whole module: arbitrary families survive render → parse unchanged, and
//! no input whatsoever makes either parser panic.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Format, Limits, Metadata, MetricType, Parsed, Sample, parse, render_openmetrics};

type Labels = Vec<(String, String)>;

/// One generated family: its kind, whether it has metadata lines, and its series.
#[derive(Debug, Clone)]
struct GenFamily {
    kind: MetricType,
    with_metadata: bool,
    base: String,
    help: Option<String>,
    unit: Option<String>,
    series: BTreeMap<Labels, (f64, Option<i64>)>,
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z\\\\\"\n #{}=,]{0,10}",
        "(?s).{0,8}",
        Just(String::new()),
    ]
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", label_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        (-1e6f64..1e6),
    ]
}

fn counter_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0f64..1e300,
        Just(f64::INFINITY),
        (0u32..1000).prop_map(f64::from)
    ]
}

fn family() -> impl Strategy<Value = GenFamily> {
    let kind = prop_oneof![
        Just(MetricType::Gauge),
        Just(MetricType::Unknown),
        Just(MetricType::Counter)
    ];
    (
        kind,
        any::<bool>(),
        "[a-z][a-z0-9_]{0,8}",
        proptest::option::of("[a-zA-Z0-9 \\\\\"\n\té☃#{}]{0,20}"),
        proptest::option::of("[a-z]{1,5}"),
    )
        .prop_flat_map(|(kind, meta, base, help, unit)| {
            let value = if kind == MetricType::Counter {
                counter_value().boxed()
            } else {
                any_value().boxed()
            };
            let point = (value, proptest::option::of(any::<i64>()));
            proptest::collection::btree_map(labels(), point, 1..5).prop_map(move |series| {
                GenFamily {
                    kind,
                    with_metadata: meta || kind != MetricType::Unknown,
                    base: base.clone(),
                    help: help.clone(),
                    unit: unit.clone(),
                    series,
                }
            })
        })
}

/// Builds the `Parsed` the OpenMetrics parser should give for these families.
fn build(families: &[GenFamily]) -> Parsed {
    let mut parsed = Parsed::default();
    for (i, f) in families.iter().enumerate() {
        // A unique `m{i}_` prefix keeps family names from clashing.
        let mut name = format!("m{i}_{}", f.base);
        if let (true, Some(unit)) = (f.with_metadata, &f.unit) {
            name = format!("{name}_{unit}");
        }
        if f.with_metadata {
            parsed.metadata.push(Metadata {
                family: name.clone(),
                kind: f.kind,
                help: f.help.clone(),
                unit: f.unit.clone(),
            });
        }
        let sample_name = match f.kind {
            MetricType::Counter => format!("{name}_total"),
            _ => name.clone(),
        };
        for (labels, (value, ts)) in &f.series {
            parsed.samples.push(Sample {
                name: sample_name.clone(),
                labels: labels.clone(),
                value: *value,
                timestamp_ms: *ts,
            });
        }
    }
    parsed
}

fn same_samples(a: &[Sample], b: &[Sample]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.name == y.name
                && x.labels == y.labels
                && x.timestamp_ms == y.timestamp_ms
                && (x.value.to_bits() == y.value.to_bits()
                    || (x.value.is_nan() && y.value.is_nan()))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn render_then_parse_gives_the_same_samples(families in proptest::collection::vec(family(), 0..6)) {
        let original = build(&families);
        let text = render_openmetrics(&original);
        let back = parse(text.as_bytes(), Format::OpenMetrics, &Limits::default());
        let back = match back {
            Ok(back) => back,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        prop_assert!(same_samples(&original.samples, &back.samples), "{text}\n{back:?}");
        prop_assert_eq!(original.metadata, back.metadata);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let _ = parse(&body, format, &Limits::default());
        }
    }

    #[test]
    fn exposition_shaped_text_never_panics(
        body in "((# (TYPE|HELP|UNIT|EOF) ?)?[a-z_]{0,6}(\\{[a-z=\",\\\\ #{}]{0,20}\\})?( [-+0-9.eEInfa]{0,8}){0,4}( # \\{[a-z=\"]{0,10}\\} [0-9.]{0,4})?\n){0,12}(# EOF\n)?"
    ) {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            if let Ok(parsed) = parse(body.as_bytes(), format, &Limits::default()) {
                let _ = render_openmetrics(&parsed);
            }
        }
    }
}
