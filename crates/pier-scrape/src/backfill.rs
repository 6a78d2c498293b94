//! Moving history in and out of the store in the OpenMetrics text format: `import` loads a file
//! (the input `promtool tsdb create-blocks-from openmetrics` takes: every sample timestamped,
//! ending in `# EOF`) — migration of history, and how tests and benchmarks load the same data
//! into pier and into Prometheus; `export` writes selected series back out.

use std::collections::BTreeMap;

use pier_tsdb::{Labels, Matcher, Storage, Tsdb};

use crate::exposition::{self, Format, Limits, Metadata, MetricType, Parsed, Sample};

/// Samples committed per transaction while importing.
const BATCH: usize = 10_000;

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub series: usize,
    pub samples: usize,
    /// Samples the store refused (older than the series' newest, or a timestamp it already
    /// has with another value), as it would during scraping.
    pub rejected: usize,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Parse(#[from] exposition::ParseError),
    #[error(
        "line {line}: sample `{name}` has no timestamp; an import needs every sample timestamped"
    )]
    NoTimestamp { line: usize, name: String },
    #[error("sample `{name}`: {message}")]
    Labels { name: String, message: String },
    #[error("storing the samples failed: {0}")]
    Store(String),
}

/// Imports an OpenMetrics payload. Everything is checked before anything is stored, so a bad
/// file changes nothing; samples are then committed in batches, series by series, oldest first.
pub fn import(tsdb: &Tsdb, body: &[u8]) -> Result<ImportReport, ImportError> {
    let unlimited = Limits {
        max_body_bytes: 0,
        max_samples: 0,
        ..Limits::default()
    };
    let parsed = exposition::parse(body, Format::OpenMetrics, &unlimited)?;
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (index, sample) in parsed.samples.iter().enumerate() {
        let Some(t) = sample.timestamp_ms else {
            return Err(ImportError::NoTimestamp {
                line: line_of(body, index),
                name: sample.name.clone(),
            });
        };
        let labels = Labels::series(
            std::iter::once(("__name__".to_string(), sample.name.clone()))
                .chain(sample.labels.iter().cloned()),
        )
        .map_err(|error| ImportError::Labels {
            name: sample.name.clone(),
            message: error.to_string(),
        })?;
        series.entry(labels).or_default().push((t, sample.value));
    }
    let mut report = ImportReport {
        series: series.len(),
        ..ImportReport::default()
    };
    let mut appender = tsdb.appender();
    let mut pending = 0;
    for (labels, mut samples) in series {
        samples.sort_by_key(|(t, _)| *t);
        for (t, v) in samples {
            match appender.append(&labels, t, v) {
                Ok(()) => {
                    report.samples += 1;
                    report.min_time_ms = Some(report.min_time_ms.map_or(t, |m| m.min(t)));
                    report.max_time_ms = Some(report.max_time_ms.map_or(t, |m| m.max(t)));
                }
                Err(_) => report.rejected += 1,
            }
            pending += 1;
            if pending == BATCH {
                appender
                    .commit()
                    .map_err(|e| ImportError::Store(e.to_string()))?;
                appender = tsdb.appender();
                pending = 0;
            }
        }
    }
    appender
        .commit()
        .map_err(|e| ImportError::Store(e.to_string()))?;
    Ok(report)
}

/// The 1-based line of the `index`th sample line (for error messages; metadata lines skipped).
fn line_of(body: &[u8], index: usize) -> usize {
    let mut seen = 0;
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        if seen == index {
            return n + 1;
        }
        seen += 1;
    }
    0
}

/// Every series matching any of `selectors` (each a list of matchers, all of which must
/// match; no selector means every series) with its samples in `[mint, maxt]`, as OpenMetrics.
pub fn export(
    storage: &dyn Storage,
    selectors: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
) -> Result<String, String> {
    let everything = vec![vec![
        Matcher::regex("__name__", ".+").map_err(|e| e.to_string())?,
    ]];
    let selectors = if selectors.is_empty() {
        &everything
    } else {
        selectors
    };
    let mut series = BTreeMap::new();
    for matchers in selectors {
        for cursor in storage
            .select(matchers, mint, maxt)
            .map_err(|e| e.to_string())?
        {
            series.entry(cursor.labels.clone()).or_insert(cursor);
        }
    }
    let mut parsed = Parsed::default();
    let mut families = std::collections::BTreeSet::new();
    for (labels, cursor) in series {
        let name = labels.metric_name().unwrap_or_default().to_string();
        families.insert(name.clone());
        let pairs: Vec<(String, String)> = labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        for (t, value) in cursor {
            parsed.samples.push(Sample {
                name: name.clone(),
                labels: pairs.clone(),
                value,
                timestamp_ms: Some(t),
            });
        }
    }
    // Types are not stored, so every family is written as `unknown` (what promtool reads back
    // as untyped series).
    parsed.metadata = families
        .into_iter()
        .map(|family| Metadata {
            family,
            kind: MetricType::Unknown,
            help: None,
            unit: None,
        })
        .collect();
    Ok(exposition::render_openmetrics(&parsed))
}
