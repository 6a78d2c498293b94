//! Moving history in and out of the store in the OpenMetrics text format: `import` loads a file
//! (the input `promtool tsdb create-blocks-from openmetrics` takes: every sample timestamped,
//! ending in `# EOF`) — migration of history, and how tests and benchmarks load the same data
//! into pier and into Prometheus; `export` writes selected series back out.

use std::collections::{BTreeMap, HashMap};

use pier_tsdb::{AppendError, Labels, Matcher, Storage, Tsdb};

use crate::exposition::{self, Limits, Metadata, MetricType, Parsed, Sample};

/// A parsed sample's label pairs.
type LabelPairs = Vec<(String, String)>;

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
    /// Samples refused because their time is already in a block on disk (before
    /// `oldest_accepted_ms`): history can be added only after the store's newest block.
    pub too_old: usize,
    /// The oldest time the store accepted, when some samples were too old.
    pub oldest_accepted_ms: Option<i64>,
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
///
/// The file is read in one pass without keeping its lines: a history file holds each series'
/// samples one after the other, so a sample naming the same series as the line before reuses
/// that series' label set, and a label set is built once per run of lines.
pub fn import(tsdb: &Tsdb, body: &[u8]) -> Result<ImportReport, ImportError> {
    let unlimited = Limits {
        max_body_bytes: 0,
        max_samples: 0,
        ..Limits::default()
    };
    // Series in order of first appearance, with their samples.
    let mut series: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    let mut slots: HashMap<Labels, usize> = HashMap::new();
    // The previous sample's name and labels, and its slot in `series`.
    let mut prev: Option<(String, LabelPairs, usize)> = None;
    // The first sample that cannot be stored; reported only if the whole file parses.
    let mut refused: Option<ImportError> = None;
    exposition::parse_openmetrics_each(body, &unlimited, |sample, line| {
        if refused.is_some() {
            return Ok(());
        }
        let Some(t) = sample.timestamp_ms else {
            refused = Some(ImportError::NoTimestamp {
                line,
                name: sample.name.clone(),
            });
            return Ok(());
        };
        let slot = match &prev {
            Some((name, labels, slot)) if *name == sample.name && *labels == sample.labels => *slot,
            _ => {
                let labels = Labels::series(
                    std::iter::once(("__name__", sample.name.as_str()))
                        .chain(sample.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
                );
                let labels = match labels {
                    Ok(labels) => labels,
                    Err(error) => {
                        refused = Some(ImportError::Labels {
                            name: sample.name.clone(),
                            message: error.to_string(),
                        });
                        return Ok(());
                    }
                };
                let slot = *slots.entry(labels.clone()).or_insert_with(|| {
                    series.push((labels, Vec::new()));
                    series.len() - 1
                });
                prev = Some((sample.name.clone(), sample.labels.clone(), slot));
                slot
            }
        };
        series[slot].1.push((t, sample.value));
        Ok(())
    })?;
    if let Some(error) = refused {
        return Err(error);
    }
    drop(slots);
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut report = ImportReport {
        series: series.len(),
        ..ImportReport::default()
    };
    // No head cut while loading: it would move the block boundary past samples of series
    // not loaded yet (series go one by one, each oldest first). The caller's maintenance
    // afterwards moves the history into blocks.
    let _hold = tsdb.hold_maintenance();
    let mut appender = tsdb.appender();
    let mut pending = 0;
    for (labels, mut samples) in series {
        if !samples.is_sorted_by_key(|(t, _)| *t) {
            samples.sort_by_key(|(t, _)| *t);
        }
        for (t, v) in samples {
            match appender.append(&labels, t, v) {
                Ok(()) => {
                    report.samples += 1;
                    report.min_time_ms = Some(report.min_time_ms.map_or(t, |m| m.min(t)));
                    report.max_time_ms = Some(report.max_time_ms.map_or(t, |m| m.max(t)));
                }
                Err(AppendError::OutOfBounds { min_valid, .. }) => {
                    report.too_old += 1;
                    report.oldest_accepted_ms = Some(min_valid);
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
