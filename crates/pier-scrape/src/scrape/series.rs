//! Owns what one target's scrapes become as series: the label set of each exposed sample
//! (target labels attached, conflicting exposed labels renamed `exported_<name>`, `le` and
//! `quantile` values normalised as Prometheus 3 does), timestamps (explicit ones honoured), the
//! synthetic series, and staleness — remembering the previous scrape's series to mark the ones
//! that vanished, and everything at the end of the run. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use pier_tsdb::{Labels, STALE_NAN};

use super::ScrapedSample;
use crate::exposition::{MetricType, Parsed, Sample};

/// The synthetic series every scrape writes, in the order written.
pub(crate) const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The values of the synthetic series for one scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Report {
    pub up: bool,
    pub duration_seconds: f64,
    pub samples_scraped: usize,
    pub series_added: usize,
}

/// A successful scrape turned into samples, not yet committed to the state.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Exposed samples, then staleness markers for the previous scrape's vanished series.
    pub samples: Vec<ScrapedSample>,
    /// Series new since the previous scrape.
    pub series_added: usize,
    /// Series of this scrape, `true` when tracked for staleness (no explicit timestamp).
    current: HashMap<Labels, bool>,
    /// This scrape's label sets by the hash of the sample's name and labels as exposed.
    by_sample: HashMap<u64, Labels>,
}

/// One target's series memory.
#[derive(Debug)]
pub(crate) struct SeriesState {
    /// Target labels, sorted by name, no empty values.
    target_labels: Vec<(String, String)>,
    /// The synthetic series' label sets, in [`SYNTHETIC`] order.
    synthetic: Vec<Labels>,
    /// Series of the previous stored scrape; `true` when tracked for staleness. Series with an
    /// explicit timestamp are not tracked, as in Prometheus: their owner decides when they end.
    previous: HashMap<Labels, bool>,
    /// The label sets of the previous stored scrape by the hash of the exposed name and labels
    /// ([`sample_hash`]), so that a series seen before does not build its label set again;
    /// a hit is checked against the sample ([`SeriesState::is_series_of`]), so a hash
    /// collision costs only the slow path.
    by_sample: HashMap<u64, Labels>,
    /// Timestamp of the latest sample written, so end-of-run markers never precede it.
    last_t_ms: Option<i64>,
}

impl SeriesState {
    /// `target_labels` as made by `target::target_labels`. Fails when a target label name is not
    /// a valid Prometheus label name.
    pub fn new(target_labels: Vec<(String, String)>) -> Result<SeriesState, String> {
        let synthetic = SYNTHETIC
            .iter()
            .map(|name| {
                Labels::series(
                    target_labels
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .chain([("__name__", *name)]),
                )
                .map_err(|e| format!("target labels: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SeriesState {
            target_labels,
            synthetic,
            previous: HashMap::new(),
            by_sample: HashMap::new(),
            last_t_ms: None,
        })
    }

    /// Turns a parsed scrape taken at `t_ms` into samples plus staleness markers for the previous
    /// scrape's series that are gone. Fails (and changes nothing) when a sample's labels cannot
    /// form a series.
    pub fn prepare(&self, parsed: &Parsed, t_ms: i64) -> Result<Prepared, String> {
        let kinds: HashMap<&str, MetricType> = parsed
            .metadata
            .iter()
            .map(|m| (m.family.as_str(), m.kind))
            .collect();
        let mut samples = Vec::with_capacity(parsed.samples.len() + self.previous.len());
        let mut current: HashMap<Labels, bool> = HashMap::with_capacity(parsed.samples.len());
        let mut by_sample: HashMap<u64, Labels> = HashMap::with_capacity(parsed.samples.len());
        for sample in &parsed.samples {
            let hash = sample_hash(sample);
            let known = self
                .by_sample
                .get(&hash)
                .filter(|l| self.is_series_of(l, sample, &kinds));
            let labels = match known {
                Some(labels) => labels.clone(),
                None => {
                    let labels = self.series_labels(sample, &kinds)?;
                    // The previous scrape's label set, if it had this series: the store keeps
                    // the label set it first saw, so reusing it keeps one copy in memory.
                    match self.previous.get_key_value(&labels) {
                        Some((known, _)) => known.clone(),
                        None => labels,
                    }
                }
            };
            by_sample.insert(hash, labels.clone());
            if current.contains_key(&labels) {
                // A repeated series in one scrape: the first sample wins, as the storage would
                // reject the second for the same timestamp.
                continue;
            }
            current.insert(labels.clone(), sample.timestamp_ms.is_none());
            samples.push(ScrapedSample {
                labels,
                t_ms: sample.timestamp_ms.unwrap_or(t_ms),
                value: sample.value,
            });
        }
        let series_added = current
            .keys()
            .filter(|l| !self.previous.contains_key(*l))
            .count();
        samples.extend(self.stale_markers(t_ms, |l| !current.contains_key(l)));
        Ok(Prepared {
            samples,
            series_added,
            current,
            by_sample,
        })
    }

    /// Records a stored successful scrape taken at `t_ms`.
    pub fn commit(&mut self, prepared: Prepared, t_ms: i64) {
        self.previous = prepared.current;
        self.by_sample = prepared.by_sample;
        self.note_time(t_ms);
    }

    /// Records a scrape whose batch the sink refused: nothing of it is known to be stored, so
    /// the series to mark stale later are those of both scrapes.
    pub fn commit_unstored(&mut self, prepared: Prepared) {
        for (labels, tracked) in prepared.current {
            let entry = self.previous.entry(labels).or_insert(tracked);
            *entry |= tracked;
        }
        self.by_sample.extend(prepared.by_sample);
    }

    /// A failed scrape at `t_ms`: staleness markers for every series of the previous scrape,
    /// which is then forgotten (Prometheus appends an empty scrape).
    pub fn fail(&mut self, t_ms: i64) -> Vec<ScrapedSample> {
        let markers = self.stale_markers(t_ms, |_| true);
        self.previous.clear();
        self.by_sample.clear();
        self.note_time(t_ms);
        markers
    }

    /// The end of the target's run at `t_ms`: markers for every series of the previous scrape
    /// and for the synthetic series, at `t_ms` or just after the last sample written, whichever
    /// is later. Empty when the target never wrote anything.
    pub fn end_of_run(&mut self, t_ms: i64) -> Vec<ScrapedSample> {
        let Some(last) = self.last_t_ms else {
            return Vec::new();
        };
        let t = t_ms.max(last.saturating_add(1));
        let mut markers = self.stale_markers(t, |_| true);
        markers.extend(self.synthetic.iter().map(|labels| ScrapedSample {
            labels: labels.clone(),
            t_ms: t,
            value: STALE_NAN,
        }));
        self.previous.clear();
        self.by_sample.clear();
        self.last_t_ms = None;
        markers
    }

    /// The synthetic series for one scrape.
    pub fn report(&mut self, t_ms: i64, report: Report) -> Vec<ScrapedSample> {
        self.note_time(t_ms);
        let values = [
            if report.up { 1.0 } else { 0.0 },
            report.duration_seconds,
            report.samples_scraped as f64,
            report.samples_scraped as f64,
            report.series_added as f64,
        ];
        self.synthetic
            .iter()
            .zip(values)
            .map(|(labels, value)| ScrapedSample {
                labels: labels.clone(),
                t_ms,
                value,
            })
            .collect()
    }

    fn note_time(&mut self, t_ms: i64) {
        self.last_t_ms = Some(self.last_t_ms.map_or(t_ms, |last| last.max(t_ms)));
    }

    fn stale_markers(&self, t_ms: i64, gone: impl Fn(&Labels) -> bool) -> Vec<ScrapedSample> {
        let mut v: Vec<ScrapedSample> = self
            .previous
            .iter()
            .filter(|(labels, tracked)| **tracked && gone(labels))
            .map(|(labels, _)| ScrapedSample {
                labels: labels.clone(),
                t_ms,
                value: STALE_NAN,
            })
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Whether `labels` is what [`SeriesState::series_labels`] makes of `sample`, checked
    /// without building it. Only for samples whose labels do not clash with a target label
    /// (false otherwise, sending them the slow way): then the series labels are exactly the
    /// metric name, the target labels and the sample's non-empty labels (normalised).
    fn is_series_of(
        &self,
        labels: &Labels,
        sample: &Sample,
        kinds: &HashMap<&str, MetricType>,
    ) -> bool {
        let target = |name: &str| {
            self.target_labels
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .ok()
                .map(|i| self.target_labels[i].1.as_str())
        };
        let mut exposed = 0;
        for (name, value) in &sample.labels {
            if !value.is_empty() {
                if target(name).is_some() {
                    return false;
                }
                exposed += 1;
            }
        }
        if labels.len() != 1 + self.target_labels.len() + exposed {
            return false;
        }
        labels.iter().all(|l| {
            if l.name == "__name__" {
                return l.value == sample.name;
            }
            if let Some(v) = target(l.name) {
                return l.value == v;
            }
            match sample
                .labels
                .binary_search_by(|(n, _)| n.as_str().cmp(l.name))
            {
                Ok(i) => {
                    let (name, value) = &sample.labels[i];
                    if name == "le" || name == "quantile" {
                        l.value == normalize_label_value(sample, name, value, kinds)
                    } else {
                        l.value == value
                    }
                }
                Err(_) => false,
            }
        })
    }

    /// The series labels of an exposed sample (Prometheus's `mutateSampleLabels` with
    /// `honor_labels: false`): the exposed labels, then the target labels set over them; an
    /// exposed label whose name a target label takes moves to `exported_<name>` (more
    /// `exported_` prefixes while that name is taken too, shorter names first).
    fn series_labels(
        &self,
        sample: &Sample,
        kinds: &HashMap<&str, MetricType>,
    ) -> Result<Labels, String> {
        let mut builder: BTreeMap<&str, String> = BTreeMap::new();
        for (name, value) in &sample.labels {
            if !value.is_empty() {
                builder.insert(name, normalize_label_value(sample, name, value, kinds));
            }
        }
        let mut conflicts: Vec<(&str, String)> = Vec::new();
        for (name, value) in &self.target_labels {
            if let Some(exposed) = builder.insert(name, value.clone()) {
                conflicts.push((name, exposed));
            }
        }
        conflicts.sort_by_key(|(name, _)| name.len());
        let mut renamed: Vec<(String, String)> = Vec::new();
        for (name, value) in conflicts {
            let mut new_name = format!("exported_{name}");
            while builder.contains_key(new_name.as_str())
                || renamed.iter().any(|(n, _)| *n == new_name)
            {
                new_name = format!("exported_{new_name}");
            }
            renamed.push((new_name, value));
        }
        Labels::series(
            builder
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .chain(renamed)
                .chain([("__name__".to_string(), sample.name.clone())]),
        )
        .map_err(|e| format!("sample {}: {e}", sample.name))
    }
}

/// A hash of a sample's name and labels as exposed (the key of the label-set cache).
fn sample_hash(sample: &Sample) -> u64 {
    let mut h = DefaultHasher::new();
    sample.name.hash(&mut h);
    sample.labels.hash(&mut h);
    h.finish()
}

/// Prometheus 3 rewrites the `le` of classic histogram buckets and the `quantile` of summaries
/// in OpenMetrics float spelling (`le="1"` becomes `le="1.0"`) so text-format and OpenMetrics
/// scrapes of one exporter give the same series.
fn normalize_label_value(
    sample: &Sample,
    name: &str,
    value: &str,
    kinds: &HashMap<&str, MetricType>,
) -> String {
    let applies = match name {
        "le" => sample
            .name
            .strip_suffix("_bucket")
            .is_some_and(|family| kinds.get(family) == Some(&MetricType::Histogram)),
        "quantile" => kinds.get(sample.name.as_str()) == Some(&MetricType::Summary),
        _ => false,
    };
    if !applies {
        return value.to_string();
    }
    match value.parse::<f64>() {
        Ok(f) => openmetrics_float(f),
        Err(_) => value.to_string(),
    }
}

/// Prometheus's `formatOpenMetricsFloat`: Go's `strconv.FormatFloat(f, 'g', -1, 64)` with `.0`
/// appended when that has neither `.` nor an exponent.
pub(crate) fn openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return "0.0".to_string();
    }
    // Shortest round-trip digits with their decimal exponent.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.unsigned_abs());
    }
    let plain = format!("{f}");
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The metric names of a batch's series.
    fn names(samples: &[ScrapedSample]) -> HashSet<String> {
        samples
            .iter()
            .map(|s| s.labels.metric_name().unwrap_or("").to_string())
            .collect()
    }
    use crate::exposition::{Format, Limits, parse};
    use pier_tsdb::is_stale;

    fn state() -> SeriesState {
        SeriesState::new(vec![
            ("instance".into(), "127.0.0.1:9100".into()),
            ("job".into(), "web".into()),
        ])
        .unwrap()
    }

    fn text(body: &str) -> Parsed {
        parse(body.as_bytes(), Format::PrometheusText, &Limits::default()).unwrap()
    }

    fn find<'a>(samples: &'a [ScrapedSample], name: &str) -> Vec<&'a ScrapedSample> {
        samples
            .iter()
            .filter(|s| s.labels.metric_name() == Some(name))
            .collect()
    }

    #[test]
    fn target_labels_are_attached_and_conflicts_exported() {
        let st = state();
        let p = st
            .prepare(
                &text("m{job=\"other\",instance=\"x\",exported_job=\"y\",a=\"\"} 1\n"),
                1000,
            )
            .unwrap();
        let l = &p.samples[0].labels;
        assert_eq!(l.get("job"), Some("web"));
        assert_eq!(l.get("instance"), Some("127.0.0.1:9100"));
        assert_eq!(l.get("exported_job"), Some("y"));
        assert_eq!(l.get("exported_exported_job"), Some("other"));
        assert_eq!(l.get("exported_instance"), Some("x"));
        assert_eq!(l.get("a"), None);
        assert_eq!(p.samples[0].t_ms, 1000);
    }

    #[test]
    fn explicit_timestamps_are_honoured_and_not_tracked_for_staleness() {
        let mut st = state();
        let p = st.prepare(&text("a 1 5000\nb 2\n"), 9000).unwrap();
        assert_eq!(find(&p.samples, "a")[0].t_ms, 5000);
        assert_eq!(find(&p.samples, "b")[0].t_ms, 9000);
        assert_eq!(p.series_added, 2);
        st.commit(p, 9000);
        let p = st.prepare(&text("c 1\n"), 10_000).unwrap();
        let stale: Vec<_> = p.samples.iter().filter(|s| is_stale(s.value)).collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].labels.metric_name(), Some("b"));
        assert_eq!(stale[0].t_ms, 10_000);
        assert_eq!(p.series_added, 1);
    }

    #[test]
    fn a_failure_marks_everything_stale_once() {
        let mut st = state();
        let p = st.prepare(&text("a 1\nb 2\n"), 1000).unwrap();
        st.commit(p, 1000);
        let markers = st.fail(2000);
        assert_eq!(names(&markers), HashSet::from(["a".into(), "b".into()]));
        assert!(st.fail(3000).is_empty());
        let p = st.prepare(&text("a 1\n"), 4000).unwrap();
        assert_eq!(p.series_added, 1);
    }

    #[test]
    fn end_of_run_marks_synthetic_series_too() {
        let mut st = state();
        assert!(st.end_of_run(500).is_empty());
        let p = st.prepare(&text("a 1\n"), 1000).unwrap();
        st.commit(p, 1000);
        st.report(
            1000,
            Report {
                up: true,
                duration_seconds: 0.1,
                samples_scraped: 1,
                series_added: 1,
            },
        );
        let markers = st.end_of_run(1000);
        assert!(markers.iter().all(|s| is_stale(s.value) && s.t_ms == 1001));
        let mut expected: HashSet<String> = SYNTHETIC.iter().map(|s| s.to_string()).collect();
        expected.insert("a".into());
        assert_eq!(names(&markers), expected);
    }

    #[test]
    fn repeated_series_keep_the_first_sample() {
        let st = state();
        let parsed = Parsed {
            samples: vec![
                Sample {
                    name: "a".into(),
                    labels: vec![],
                    value: 1.0,
                    timestamp_ms: None,
                },
                Sample {
                    name: "a".into(),
                    labels: vec![],
                    value: 2.0,
                    timestamp_ms: None,
                },
            ],
            metadata: vec![],
        };
        let p = st.prepare(&parsed, 1).unwrap();
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.samples[0].value, 1.0);
    }

    #[test]
    fn le_and_quantile_are_normalised_for_histograms_and_summaries() {
        let st = state();
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1e6\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n\
# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 1\n\
# TYPE g gauge\ng_bucket{le=\"1\"} 1\n";
        let p = st.prepare(&text(body), 1).unwrap();
        let le: Vec<_> = find(&p.samples, "h_bucket")
            .iter()
            .map(|s| s.labels.get("le").unwrap().to_string())
            .collect();
        assert_eq!(le, ["1.0", "1e+06", "+Inf"]);
        let q: Vec<_> = find(&p.samples, "s")
            .iter()
            .map(|s| s.labels.get("quantile").unwrap().to_string())
            .collect();
        assert_eq!(q, ["0.5", "1.0"]);
        assert_eq!(find(&p.samples, "g_bucket")[0].labels.get("le"), Some("1"));
    }

    #[test]
    fn a_second_scrape_gives_the_same_series_from_the_cache() {
        let mut st = state();
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n\
m{job=\"other\",a=\"x\"} 1\nn{a=\"x\",b=\"\"} 2\nn{a=\"y\"} 3\n";
        let first = st.prepare(&text(body), 1000).unwrap();
        let labels: Vec<Labels> = first.samples.iter().map(|s| s.labels.clone()).collect();
        st.commit(first, 1000);
        let second = st.prepare(&text(body), 2000).unwrap();
        let again: Vec<Labels> = second.samples.iter().map(|s| s.labels.clone()).collect();
        assert_eq!(labels, again);
        assert_eq!(second.series_added, 0);
        assert!(second.samples.iter().all(|s| !is_stale(s.value)));
        st.commit(second, 2000);
        // A sample whose labels changed is not mistaken for the cached one.
        let third = st.prepare(&text("n{a=\"x\",b=\"z\"} 2\n"), 3000).unwrap();
        assert_eq!(third.samples[0].labels.get("b"), Some("z"));
        assert_eq!(third.series_added, 1);
    }

    #[test]
    fn openmetrics_floats_follow_go() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.25, "0.25"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1.5e6, "1.5e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e-10, "2.5e-10"),
            (1e21, "1e+21"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(openmetrics_float(f), s, "{f}");
        }
    }

    #[test]
    fn synthetic_series_carry_target_labels() {
        let mut st = state();
        let r = st.report(
            7,
            Report {
                up: false,
                duration_seconds: 0.5,
                samples_scraped: 0,
                series_added: 0,
            },
        );
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].labels.metric_name(), Some("up"));
        assert_eq!(r[0].value, 0.0);
        assert_eq!(r[0].labels.get("job"), Some("web"));
        assert_eq!(r[1].value, 0.5);
    }
}
