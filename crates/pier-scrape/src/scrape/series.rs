//! Owns what one target's scrapes become as series: the label set of each exposed sample
//! (target labels attached, conflicting exposed labels renamed `exported_<name>`, `le` and
//! `quantile` values normalised as Prometheus 3 does), timestamps (explicit ones honoured), the
//! synthetic series, and staleness — remembering the previous scrape's series to mark the ones
//! that vanished, and everything at the end of the run. No I/O, no clock.
//!
//! A scrape is read line by line out of the body ([`crate::exposition`]'s reused buffer) into
//! the target's [`SeriesCache`]: a line whose series text was seen before, and whose cached
//! labels are checked to be what it means, costs no allocation; only new series build a label
//! set. The batch of samples for the store goes into a buffer the caller keeps from one scrape
//! to the next, so a steady scrape allocates nothing here.

use pier_tsdb::{Labels, STALE_NAN};

use super::ScrapedSample;
use super::cache::{Seen, SeriesCache};
use crate::exposition::{Format, Limits, MetricType, ParseError, Sample, Types, parse_each};

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

/// A successful scrape turned into samples (in the caller's batch), not yet committed to the
/// state.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Sample lines in the body (repeats included).
    pub samples_scraped: usize,
    /// Series new since the previous scrape.
    pub series_added: usize,
}

/// One target's series memory.
#[derive(Debug)]
pub(crate) struct SeriesState {
    /// Target labels, sorted by name, no empty values.
    target_labels: Vec<(String, String)>,
    /// The synthetic series' label sets, in [`SYNTHETIC`] order.
    synthetic: Vec<Labels>,
    /// The series of the latest scrapes, by series text, with their staleness state. Series
    /// with an explicit timestamp are not tracked for staleness, as in Prometheus: their owner
    /// decides when they end.
    cache: SeriesCache,
    /// How many samples the latest batch held, to size the next one.
    last_batch: usize,
    /// Timestamp of the latest sample written, so end-of-run markers never precede it.
    last_t_ms: Option<i64>,
}

impl SeriesState {
    /// `target_labels` as made by `target::target_labels`. Fails when a target label name is not
    /// a valid Prometheus label name.
    pub fn new(target_labels: Vec<(String, String)>) -> Result<SeriesState, String> {
        Self::with_cache(target_labels, SeriesCache::new())
    }

    /// Like [`SeriesState::new`], hashing series texts with `text_hash` (tests force
    /// collisions with it).
    #[cfg(test)]
    fn with_text_hash(
        target_labels: Vec<(String, String)>,
        text_hash: fn(&std::hash::RandomState, &str) -> u64,
    ) -> Result<SeriesState, String> {
        Self::with_cache(target_labels, SeriesCache::with_text_hash(text_hash))
    }

    fn with_cache(
        target_labels: Vec<(String, String)>,
        cache: SeriesCache,
    ) -> Result<SeriesState, String> {
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
            cache,
            last_batch: 0,
            last_t_ms: None,
        })
    }

    /// Number of series the state holds (for tests and diagnostics).
    #[cfg(test)]
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }

    /// Parses a scrape body taken at `t_ms` into samples plus staleness markers for the
    /// previous scrape's series that are gone, put in `samples` (cleared first; its buffer is
    /// reused, grown to the previous batch's size at once, or shrunk when it is more than
    /// twice that). Fails when the body does not parse or a sample's labels cannot form a
    /// series (`samples` then holds part of the scrape); the previous scrape is then still the
    /// one [`SeriesState::fail`] marks stale.
    pub fn prepare(
        &mut self,
        body: &[u8],
        format: Format,
        limits: &Limits,
        t_ms: i64,
        samples: &mut Vec<ScrapedSample>,
    ) -> Result<Prepared, String> {
        self.cache.begin();
        samples.clear();
        // The buffer is kept from one scrape to the next at about the size the latest one
        // needed: a target's first scrape grows it by doubling, which leaves up to half of it
        // unused for as long as the target is scraped.
        let want = self.last_batch.max(16);
        if samples.capacity() > want + want / 4 + 64 {
            samples.shrink_to(want + want / 16);
        } else {
            samples.reserve(want);
        }
        let (mut scraped, mut added) = (0usize, 0usize);
        let mut bad_labels: Option<String> = None;
        let Self {
            target_labels,
            cache,
            ..
        } = self;
        let parsed = parse_each(body, format, limits, |line| {
            scraped += 1;
            let sample = line.sample;
            let hash = cache.hash(line.series_text);
            let found = cache.find_by_text(hash, |labels| {
                is_series_of(target_labels, labels, sample, line.types)
            });
            let i = match found {
                Some(i) => i,
                None => match series_labels(target_labels, sample, line.types) {
                    Ok(labels) => cache.find_or_insert(labels, hash),
                    Err(message) => {
                        bad_labels = Some(message);
                        // Stops the parse; the message above is what is reported.
                        return Err(ParseError::new(0, 0, String::new()));
                    }
                },
            };
            match cache.see(i, sample.timestamp_ms.is_none()) {
                // A repeated series in one scrape: the first sample wins, as the storage would
                // reject the second for the same timestamp.
                Seen::Repeat => {}
                Seen::First { added: new } => {
                    added += usize::from(new);
                    samples.push(ScrapedSample {
                        labels: cache.labels(i).clone(),
                        t_ms: sample.timestamp_ms.unwrap_or(t_ms),
                        value: sample.value,
                    });
                }
            }
            Ok(())
        });
        if let Some(message) = bad_labels {
            return Err(message);
        }
        parsed.map_err(|e| e.to_string())?;
        samples.extend(self.stale_markers(t_ms, false));
        self.last_batch = samples.len() + SYNTHETIC.len();
        Ok(Prepared {
            samples_scraped: scraped,
            series_added: added,
        })
    }

    /// Records a stored successful scrape taken at `t_ms`.
    pub fn commit(&mut self, _prepared: Prepared, t_ms: i64) {
        self.cache.commit();
        self.note_time(t_ms);
    }

    /// Records a scrape whose batch the sink refused: nothing of it is known to be stored, so
    /// the series to mark stale later are those of both scrapes.
    pub fn commit_unstored(&mut self, _prepared: Prepared) {
        self.cache.commit_unstored();
    }

    /// A failed scrape at `t_ms`: staleness markers for every series of the previous scrape,
    /// added to `batch`; that scrape is then forgotten (Prometheus appends an empty scrape).
    pub fn fail(&mut self, t_ms: i64, batch: &mut Vec<ScrapedSample>) {
        batch.extend(self.stale_markers(t_ms, true));
        self.cache.forget_previous();
        self.note_time(t_ms);
    }

    /// The end of the target's run at `t_ms`: markers for every series of the previous scrape
    /// and for the synthetic series, at `t_ms` or just after the last sample written, whichever
    /// is later. Empty when the target never wrote anything.
    pub fn end_of_run(&mut self, t_ms: i64) -> Vec<ScrapedSample> {
        let Some(last) = self.last_t_ms else {
            return Vec::new();
        };
        let t = t_ms.max(last.saturating_add(1));
        let mut markers = self.stale_markers(t, true);
        markers.extend(self.synthetic.iter().map(|labels| ScrapedSample {
            labels: labels.clone(),
            t_ms: t,
            value: STALE_NAN,
        }));
        self.cache.clear();
        self.last_t_ms = None;
        markers
    }

    /// The synthetic series for one scrape, added to `batch`.
    pub fn report(&mut self, t_ms: i64, report: Report, batch: &mut Vec<ScrapedSample>) {
        self.note_time(t_ms);
        let values = [
            if report.up { 1.0 } else { 0.0 },
            report.duration_seconds,
            report.samples_scraped as f64,
            report.samples_scraped as f64,
            report.series_added as f64,
        ];
        batch.extend(
            self.synthetic
                .iter()
                .zip(values)
                .map(|(labels, value)| ScrapedSample {
                    labels: labels.clone(),
                    t_ms,
                    value,
                }),
        );
    }

    fn note_time(&mut self, t_ms: i64) {
        self.last_t_ms = Some(self.last_t_ms.map_or(t_ms, |last| last.max(t_ms)));
    }

    /// Markers for the previous scrape's tracked series the current one lacks (all of them
    /// when `all`), sorted by labels.
    fn stale_markers(&self, t_ms: i64, all: bool) -> Vec<ScrapedSample> {
        let mut v: Vec<ScrapedSample> = self
            .cache
            .vanished(all)
            .map(|labels| ScrapedSample {
                labels: labels.clone(),
                t_ms,
                value: STALE_NAN,
            })
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}

/// Whether `labels` is what [`series_labels`] makes of `sample`, checked without building it.
/// Only for samples whose labels do not clash with a target label (false otherwise, sending
/// them the slow way): then the series labels are exactly the metric name, the target labels
/// and the sample's non-empty labels (normalised).
fn is_series_of(
    target_labels: &[(String, String)],
    labels: &Labels,
    sample: &Sample,
    types: &Types,
) -> bool {
    let target = |name: &str| {
        target_labels
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| target_labels[i].1.as_str())
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
    let mut n = 0;
    let all_match = labels.iter().all(|l| {
        n += 1;
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
                match normalized(sample, name, value, types) {
                    Some(normal) => l.value == normal,
                    None => l.value == value,
                }
            }
            Err(_) => false,
        }
    });
    all_match && n == 1 + target_labels.len() + exposed
}

/// The series labels of an exposed sample (Prometheus's `mutateSampleLabels` with
/// `honor_labels: false`): the exposed labels, then the target labels set over them; an
/// exposed label whose name a target label takes moves to `exported_<name>` (more
/// `exported_` prefixes while that name is taken too, shorter names first).
fn series_labels(
    target_labels: &[(String, String)],
    sample: &Sample,
    types: &Types,
) -> Result<Labels, String> {
    let mut builder: std::collections::BTreeMap<&str, String> = std::collections::BTreeMap::new();
    for (name, value) in &sample.labels {
        if !value.is_empty() {
            let value = normalized(sample, name, value, types).unwrap_or_else(|| value.clone());
            builder.insert(name, value);
        }
    }
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    for (name, value) in target_labels {
        if let Some(exposed) = builder.insert(name, value.clone()) {
            conflicts.push((name, exposed));
        }
    }
    conflicts.sort_by_key(|(name, _)| name.len());
    let mut renamed: Vec<(String, String)> = Vec::new();
    for (name, value) in conflicts {
        let mut new_name = format!("exported_{name}");
        while builder.contains_key(new_name.as_str()) || renamed.iter().any(|(n, _)| *n == new_name)
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

/// Prometheus 3 rewrites the `le` of classic histogram buckets and the `quantile` of summaries
/// in OpenMetrics float spelling (`le="1"` becomes `le="1.0"`) so text-format and OpenMetrics
/// scrapes of one exporter give the same series. `None` when the value stays as written.
fn normalized(sample: &Sample, name: &str, value: &str, types: &Types) -> Option<String> {
    let applies = match name {
        "le" => sample
            .name
            .strip_suffix("_bucket")
            .is_some_and(|family| types.get(family) == MetricType::Histogram),
        "quantile" => types.get(&sample.name) == MetricType::Summary,
        _ => false,
    };
    if !applies {
        return None;
    }
    let normal = openmetrics_float(value.parse::<f64>().ok()?);
    (normal != value).then_some(normal)
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
    use pier_tsdb::is_stale;

    fn state() -> SeriesState {
        SeriesState::new(vec![
            ("instance".into(), "127.0.0.1:9100".into()),
            ("job".into(), "web".into()),
        ])
        .unwrap()
    }

    /// A prepared scrape with its batch.
    #[derive(Debug)]
    struct Scraped {
        prepared: Prepared,
        samples: Vec<ScrapedSample>,
    }

    impl std::ops::Deref for Scraped {
        type Target = Prepared;
        fn deref(&self) -> &Prepared {
            &self.prepared
        }
    }

    /// Prepares a text-format scrape into a new batch.
    fn prep(st: &mut SeriesState, body: &str, t_ms: i64) -> Result<Scraped, String> {
        let mut samples = Vec::new();
        let prepared = prep_into(st, body, t_ms, &mut samples)?;
        Ok(Scraped { prepared, samples })
    }

    /// Prepares a text-format scrape into `batch` (a buffer the caller keeps between scrapes).
    fn prep_into(
        st: &mut SeriesState,
        body: &str,
        t_ms: i64,
        batch: &mut Vec<ScrapedSample>,
    ) -> Result<Prepared, String> {
        let limits = Limits::default();
        st.prepare(
            body.as_bytes(),
            Format::PrometheusText,
            &limits,
            t_ms,
            batch,
        )
    }

    /// The staleness markers of a failed scrape at `t_ms`.
    fn fail(st: &mut SeriesState, t_ms: i64) -> Vec<ScrapedSample> {
        let mut batch = Vec::new();
        st.fail(t_ms, &mut batch);
        batch
    }

    fn find<'a>(samples: &'a [ScrapedSample], name: &str) -> Vec<&'a ScrapedSample> {
        samples
            .iter()
            .filter(|s| s.labels.metric_name() == Some(name))
            .collect()
    }

    #[test]
    fn target_labels_are_attached_and_conflicts_exported() {
        let mut st = state();
        let p = prep(
            &mut st,
            "m{job=\"other\",instance=\"x\",exported_job=\"y\",a=\"\"} 1\n",
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
        let p = prep(&mut st, "a 1 5000\nb 2\n", 9000).unwrap();
        assert_eq!(find(&p.samples, "a")[0].t_ms, 5000);
        assert_eq!(find(&p.samples, "b")[0].t_ms, 9000);
        assert_eq!(p.series_added, 2);
        st.commit(p.prepared, 9000);
        let p = prep(&mut st, "c 1\n", 10_000).unwrap();
        let stale: Vec<_> = p.samples.iter().filter(|s| is_stale(s.value)).collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].labels.metric_name(), Some("b"));
        assert_eq!(stale[0].t_ms, 10_000);
        assert_eq!(p.series_added, 1);
    }

    #[test]
    fn a_reused_batch_holds_only_the_current_scrape() {
        let mut st = state();
        let mut batch = Vec::new();
        let first = prep_into(&mut st, "a 1\nb 2\nc 3\n", 1000, &mut batch).unwrap();
        assert_eq!(batch.len(), 3);
        st.commit(first, 1000);
        let buffer = batch.as_ptr();
        // The loop's sink is done with it: the next scrape fills the same buffer.
        let second = prep_into(&mut st, "a 4\n", 2000, &mut batch).unwrap();
        assert_eq!(batch.as_ptr(), buffer, "the buffer is reused");
        let live: Vec<(&str, i64, f64)> = batch
            .iter()
            .filter(|s| !is_stale(s.value))
            .map(|s| (s.labels.metric_name().unwrap(), s.t_ms, s.value))
            .collect();
        assert_eq!(live, vec![("a", 2000, 4.0)]);
        let stale: HashSet<String> = names(
            &batch
                .iter()
                .filter(|s| is_stale(s.value))
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert_eq!(stale, HashSet::from(["b".into(), "c".into()]));
        assert!(batch.iter().all(|s| s.t_ms == 2000));
        st.commit(second, 2000);
    }

    #[test]
    fn a_batch_buffer_far_larger_than_the_scrapes_is_shrunk() {
        let mut st = state();
        let mut batch: Vec<ScrapedSample> = Vec::with_capacity(100_000);
        let p = prep_into(&mut st, "a 1\n", 1000, &mut batch).unwrap();
        st.commit(p, 1000);
        assert_eq!(batch.len(), 1);
        assert!(batch.capacity() < 2000, "{}", batch.capacity());
    }

    #[test]
    fn a_batch_buffer_grown_by_doubling_is_brought_back_to_the_scrapes_size() {
        let mut st = state();
        let body: String = (0..10_000).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
        let mut batch: Vec<ScrapedSample> = Vec::new();
        for t in [1000, 2000, 3000] {
            let p = prep_into(&mut st, &body, t, &mut batch).unwrap();
            st.commit(p, t);
            batch.clear();
        }
        // 10,000 samples (the synthetic series are not added here): doubling gave 16,384.
        let cap = batch.capacity();
        assert!((10_005..=10_005 + 10_005 / 8).contains(&cap), "{cap}");
    }

    #[test]
    fn a_failure_marks_everything_stale_once() {
        let mut st = state();
        let p = prep(&mut st, "a 1\nb 2\n", 1000).unwrap();
        st.commit(p.prepared, 1000);
        let markers = fail(&mut st, 2000);
        assert_eq!(names(&markers), HashSet::from(["a".into(), "b".into()]));
        assert!(fail(&mut st, 3000).is_empty());
        let p = prep(&mut st, "a 1\n", 4000).unwrap();
        assert_eq!(p.series_added, 1);
    }

    #[test]
    fn end_of_run_marks_synthetic_series_too() {
        let mut st = state();
        assert!(st.end_of_run(500).is_empty());
        let p = prep(&mut st, "a 1\n", 1000).unwrap();
        st.commit(p.prepared, 1000);
        st.report(
            1000,
            Report {
                up: true,
                duration_seconds: 0.1,
                samples_scraped: 1,
                series_added: 1,
            },
            &mut Vec::new(),
        );
        let markers = st.end_of_run(1000);
        assert!(markers.iter().all(|s| is_stale(s.value) && s.t_ms == 1001));
        let mut expected: HashSet<String> = SYNTHETIC.iter().map(|s| s.to_string()).collect();
        expected.insert("a".into());
        assert_eq!(names(&markers), expected);
    }

    #[test]
    fn repeated_series_keep_the_first_sample() {
        let mut st = state();
        let p = prep(&mut st, "a 1\na 2\na{b=\"\"} 3\n", 1).unwrap();
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.samples[0].value, 1.0);
    }

    #[test]
    fn le_and_quantile_are_normalised_for_histograms_and_summaries() {
        let mut st = state();
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1e6\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n\
# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 1\n\
# TYPE g gauge\ng_bucket{le=\"1\"} 1\n";
        let p = prep(&mut st, body, 1).unwrap();
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
        let first = prep(&mut st, body, 1000).unwrap();
        let labels: Vec<Labels> = first.samples.iter().map(|s| s.labels.clone()).collect();
        st.commit(first.prepared, 1000);
        let second = prep(&mut st, body, 2000).unwrap();
        let again: Vec<Labels> = second.samples.iter().map(|s| s.labels.clone()).collect();
        assert_eq!(labels, again);
        assert_eq!(second.series_added, 0);
        assert!(second.samples.iter().all(|s| !is_stale(s.value)));
        st.commit(second.prepared, 2000);
        // A sample whose labels changed is not mistaken for the cached one.
        let third = prep(&mut st, "n{a=\"x\",b=\"z\"} 2\n", 3000).unwrap();
        assert_eq!(third.samples[0].labels.get("b"), Some("z"));
        assert_eq!(third.series_added, 1);
    }

    #[test]
    fn labels_that_change_under_the_same_name_are_a_new_series() {
        let mut st = state();
        let p = prep(&mut st, "m{a=\"1\"} 1\nh_bucket{le=\"1\"} 1\n", 1000).unwrap();
        st.commit(p.prepared, 1000);
        // Same name, another label value: a new series, the old one stale.
        let p = prep(&mut st, "m{a=\"2\"} 1\nh_bucket{le=\"1\"} 1\n", 2000).unwrap();
        assert_eq!(p.series_added, 1);
        let stale: Vec<_> = p.samples.iter().filter(|s| is_stale(s.value)).collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].labels.get("a"), Some("1"));
        st.commit(p.prepared, 2000);
        // The same line, now typed a histogram: `le` is normalised, so the cached labels
        // (le="1") are not what the line means any more.
        let body = "# TYPE h histogram\nm{a=\"2\"} 1\nh_bucket{le=\"1\"} 1\n";
        let p = prep(&mut st, body, 3000).unwrap();
        assert_eq!(
            find(&p.samples, "h_bucket")[0].labels.get("le"),
            Some("1.0")
        );
        assert_eq!(p.series_added, 1);
        assert_eq!(st.cached_series(), 3);
        st.commit(p.prepared, 3000);
        assert_eq!(st.cached_series(), 2, "the vanished series is forgotten");
    }

    #[test]
    fn colliding_series_texts_stay_distinct_series() {
        let targets = vec![("job".to_string(), "web".to_string())];
        let mut st = SeriesState::with_text_hash(targets, |_, _| 42).unwrap();
        let body = "a 1\nb 2\nc{x=\"1\"} 3\nc{x=\"2\"} 4\na 5\n";
        let first = prep(&mut st, body, 1000).unwrap();
        let values: Vec<(String, f64)> = first
            .samples
            .iter()
            .map(|s| (s.labels.to_string(), s.value))
            .collect();
        assert_eq!(values.len(), 4, "{values:?}");
        assert_eq!(first.series_added, 4);
        assert_eq!(first.samples_scraped, 5);
        st.commit(first.prepared, 1000);
        let second = prep(&mut st, body, 2000).unwrap();
        let again: Vec<(String, f64)> = second
            .samples
            .iter()
            .map(|s| (s.labels.to_string(), s.value))
            .collect();
        assert_eq!(values, again);
        assert_eq!(second.series_added, 0);
        assert_eq!(st.cached_series(), 4);
    }

    #[test]
    fn the_same_series_written_two_ways_is_one_series() {
        let mut st = state();
        let p = prep(&mut st, "m{a=\"1\",b=\"2\"} 1\n", 1000).unwrap();
        st.commit(p.prepared, 1000);
        let p = prep(&mut st, "m{ b=\"2\", a=\"1\", } 1\n", 2000).unwrap();
        assert_eq!(p.series_added, 0);
        assert!(p.samples.iter().all(|s| !is_stale(s.value)));
        st.commit(p.prepared, 2000);
        assert_eq!(st.cached_series(), 1);
        // Both spellings in one scrape: the first sample wins.
        let p = prep(
            &mut st,
            "m{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 2\n",
            3000,
        )
        .unwrap();
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.samples[0].value, 1.0);
    }

    #[test]
    fn a_bad_payload_fails_and_the_previous_scrape_is_still_marked_stale() {
        let mut st = state();
        let p = prep(&mut st, "a 1\nb 2\n", 1000).unwrap();
        st.commit(p.prepared, 1000);
        let e = prep(&mut st, "a 1\nnew 2\nb{x=1} 2\n", 2000).unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        let markers = fail(&mut st, 2000);
        assert_eq!(names(&markers), HashSet::from(["a".into(), "b".into()]));
        // The series the failed scrape met are not taken for the previous scrape's.
        let p = prep(&mut st, "new 1\n", 3000).unwrap();
        assert_eq!(p.series_added, 1);
        assert!(p.samples.iter().all(|s| !is_stale(s.value)));
    }

    #[test]
    fn the_state_is_emptied_at_the_end_of_the_run() {
        let mut st = state();
        let p = prep(&mut st, "a 1\nb 2\n", 1000).unwrap();
        st.commit(p.prepared, 1000);
        assert_eq!(st.cached_series(), 2);
        let markers = st.end_of_run(1500);
        assert_eq!(markers.len(), 2 + SYNTHETIC.len());
        assert_eq!(st.cached_series(), 0);
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
        let mut r = Vec::new();
        st.report(
            7,
            Report {
                up: false,
                duration_seconds: 0.5,
                samples_scraped: 0,
                series_added: 0,
            },
            &mut r,
        );
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].labels.metric_name(), Some("up"));
        assert_eq!(r[0].value, 0.0);
        assert_eq!(r[0].labels.get("job"), Some("web"));
        assert_eq!(r[1].value, 0.5);
    }
}
