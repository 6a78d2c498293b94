//! Owns writing samples and metadata back out as OpenMetrics 1.0 text ending in `# EOF`:
//! grouping samples into families, OpenMetrics family naming (a text-format counter `x_total`
//! becomes family `x`), escaping, and number and timestamp spelling that parse back to the same
//! bits. It does not re-validate semantics (a histogram without `+Inf` is written as given).

use std::collections::HashMap;
use std::fmt::Write;

use super::families::suffixes;
use super::{Metadata, MetricType, Parsed, Sample};

/// Every suffix some family type owns, the bare name last.
const ALL_SUFFIXES: [&str; 9] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info", "",
];

/// Writes `parsed` as OpenMetrics 1.0 text. Samples are grouped by family (families in order of
/// their first sample, metadata-only families last); within a family input order is kept.
pub fn render_openmetrics(parsed: &Parsed) -> String {
    let mut families = Families::from_metadata(&parsed.metadata, &parsed.samples);
    for sample in &parsed.samples {
        families.add(sample);
    }
    let mut out = String::new();
    for family in families.in_order() {
        family.write(&mut out);
    }
    out.push_str("# EOF\n");
    out
}

/// A family to write: its OpenMetrics name, metadata and samples.
struct Family<'a> {
    name: String,
    meta: Option<&'a Metadata>,
    kind: MetricType,
    samples: Vec<&'a Sample>,
}

struct Families<'a> {
    list: Vec<Family<'a>>,
    by_name: HashMap<String, usize>,
    /// Indices into `list` in order of first sample.
    order: Vec<usize>,
}

impl<'a> Families<'a> {
    fn from_metadata(metadata: &'a [Metadata], samples: &[Sample]) -> Self {
        let mut families = Families {
            list: Vec::new(),
            by_name: HashMap::new(),
            order: Vec::new(),
        };
        for meta in metadata {
            let mut name = meta.family.clone();
            if meta.kind == MetricType::Counter {
                // The text format names counters by their sample name.
                if let Some(base) = name.strip_suffix("_total") {
                    name = base.to_string();
                }
            }
            let mut kind = meta.kind;
            // A family whose samples do not fit OpenMetrics naming is written as unknown.
            if !suffixes(kind).contains(&"") && samples.iter().any(|s| s.name == name) {
                kind = MetricType::Unknown;
            }
            if families.by_name.contains_key(&name) {
                continue;
            }
            families.by_name.insert(name.clone(), families.list.len());
            families.list.push(Family {
                name,
                meta: Some(meta),
                kind,
                samples: Vec::new(),
            });
        }
        families
    }

    /// Puts a sample in the family that owns its name, or a new unknown family of its own.
    fn add(&mut self, sample: &'a Sample) {
        let owner = ALL_SUFFIXES.iter().find_map(|suffix| {
            let base = sample.name.strip_suffix(suffix)?;
            let index = *self.by_name.get(base)?;
            suffixes(self.list[index].kind)
                .contains(suffix)
                .then_some(index)
        });
        let index = owner.unwrap_or_else(|| {
            self.by_name
                .entry(sample.name.clone())
                .or_insert_with(|| {
                    self.list.push(Family {
                        name: sample.name.clone(),
                        meta: None,
                        kind: MetricType::Unknown,
                        samples: Vec::new(),
                    });
                    self.list.len() - 1
                })
                .to_owned()
        });
        if self.list[index].samples.is_empty() {
            self.order.push(index);
        }
        self.list[index].samples.push(sample);
    }

    fn in_order(&self) -> impl Iterator<Item = &Family<'a>> {
        let empty = self.list.iter().filter(|f| f.samples.is_empty());
        self.order.iter().map(|&i| &self.list[i]).chain(empty)
    }
}

impl Family<'_> {
    fn write(&self, out: &mut String) {
        if let Some(meta) = self.meta {
            let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind.openmetrics_name());
            if let Some(unit) = meta.unit.as_deref().filter(|u| self.unit_fits(u)) {
                let _ = writeln!(out, "# UNIT {} {unit}", self.name);
            }
            if let Some(help) = &meta.help {
                let _ = writeln!(out, "# HELP {} {}", self.name, escape(help));
            }
        }
        for sample in &self.samples {
            write_sample(out, sample);
        }
    }

    fn unit_fits(&self, unit: &str) -> bool {
        !unit.is_empty()
            && self.name.ends_with(&format!("_{unit}"))
            && !matches!(self.kind, MetricType::Info | MetricType::StateSet)
    }
}

fn write_sample(out: &mut String, sample: &Sample) {
    out.push_str(&sample.name);
    let labels: Vec<_> = sample
        .labels
        .iter()
        .filter(|(name, _)| name != "__name__")
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    if !labels.is_empty() {
        let _ = write!(out, "{{{}}}", labels.join(","));
    }
    let _ = write!(out, " {}", format_value(sample.value));
    if let Some(ms) = sample.timestamp_ms {
        let _ = write!(out, " {}", format_timestamp(ms));
    }
    out.push('\n');
}

/// Escapes `\`, `"` and newlines, as both label values and OpenMetrics help text need.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

/// The shortest spelling that parses back to the same `f64` (Rust's `Debug` form).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{value:?}")
    }
}

/// Milliseconds as exact decimal seconds.
fn format_timestamp(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Format, Limits, parse};

    fn sample(name: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) -> Sample {
        Sample {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            value,
            timestamp_ms: ts,
        }
    }

    #[test]
    fn numbers_and_timestamps_are_spelled_exactly() {
        assert_eq!(format_value(1.0), "1.0");
        assert_eq!(format_value(1e300), "1e300");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_timestamp(1_500), "1.500");
        assert_eq!(format_timestamp(-1), "-0.001");
        assert_eq!(format_timestamp(i64::MIN), "-9223372036854775.808");
    }

    #[test]
    fn writes_families_with_metadata_and_escaping() {
        let parsed = Parsed {
            samples: vec![
                sample("a_total", &[("x", "q\"\\\n")], 3.0, Some(1_001)),
                sample("b", &[], f64::NAN, None),
            ],
            metadata: vec![Metadata {
                family: "a".into(),
                kind: MetricType::Counter,
                help: Some("it \"counts\"\n".into()),
                unit: None,
            }],
        };
        let text = render_openmetrics(&parsed);
        assert_eq!(
            text,
            "# TYPE a counter\n# HELP a it \\\"counts\\\"\\n\na_total{x=\"q\\\"\\\\\\n\"} 3.0 1.001\nb NaN\n# EOF\n"
        );
    }

    #[test]
    fn text_format_payloads_become_valid_openmetrics() {
        let body = b"# HELP c_total Requests.\n# TYPE c_total counter\nc_total{a=\"1\"} 5\n\
# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n\
# TYPE odd counter\nodd 4\nplain 1 1000\n";
        let parsed = parse(body, Format::PrometheusText, &Limits::default()).unwrap();
        let text = render_openmetrics(&parsed);
        let back = parse(text.as_bytes(), Format::OpenMetrics, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.samples, parsed.samples);
        assert_eq!(back.metadata[0].family, "c");
        assert_eq!(back.metadata[2].kind, MetricType::Unknown);
    }
}
