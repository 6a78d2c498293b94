//! Owns what OpenMetrics lines mean together: which family a sample belongs to, metadata before
//! samples and at most once, unique family names, contiguous label groups, non-decreasing
//! timestamps, the value and label rules of each metric type, where exemplars may appear, and
//! the shape of histograms. Knows nothing of the line syntax that produced the events.

use std::collections::{HashMap, HashSet};

use super::{Metadata, MetricType, ParseError, Sample, number};

type Labels = Vec<(String, String)>;

/// A parsed `# HELP`, `# TYPE` or `# UNIT` line.
pub(crate) enum MetaLine {
    Help {
        name: String,
        help: String,
    },
    Type {
        name: String,
        kind: MetricType,
    },
    Unit {
        name: String,
        name_at: usize,
        unit: String,
    },
}

impl MetaLine {
    fn name(&self) -> &str {
        match self {
            MetaLine::Help { name, .. } | MetaLine::Type { name, .. } => name,
            MetaLine::Unit { name, .. } => name,
        }
    }
}

/// A parsed sample line with what the checks need beyond the sample.
#[derive(Default)]
pub(crate) struct SampleLine {
    pub(crate) sample: Sample,
    /// The timestamp as read (seconds), compared exactly for ordering.
    pub(crate) timestamp_secs: Option<f64>,
    /// Byte offsets of the value and of the exemplar's `#`, for error columns.
    pub(crate) value_at: usize,
    pub(crate) exemplar_at: Option<usize>,
}

/// The sample-name suffixes a family of each type owns.
pub(crate) fn suffixes(kind: MetricType) -> &'static [&'static str] {
    match kind {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[""],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Info => &["_info"],
    }
}

/// The checker, fed lines in order.
#[derive(Default)]
pub(crate) struct Families {
    current: Option<Family>,
    /// Every name (family names and the sample names they own) of the families already closed.
    closed_names: HashSet<String>,
    metadata: Vec<Metadata>,
}

impl Families {
    pub(crate) fn metadata(&mut self, line: usize, meta: MetaLine) -> Result<(), ParseError> {
        if self.current.as_ref().is_none_or(|f| f.name != meta.name()) {
            self.start(line, meta.name())?;
        }
        let Some(family) = self.current.as_mut() else {
            return Err(ParseError::new(line, 1, "internal: no current family"));
        };
        if family.has_samples {
            let message = format!("metadata for {} must come before its samples", family.name);
            return Err(ParseError::new(line, 1, message));
        }
        let index = *family.meta_index.get_or_insert_with(|| {
            self.metadata.push(Metadata {
                family: family.name.clone(),
                kind: MetricType::Unknown,
                help: None,
                unit: None,
            });
            self.metadata.len() - 1
        });
        let entry = &mut self.metadata[index];
        match meta {
            MetaLine::Help { help, .. } => {
                once(&mut family.help_seen, line, "HELP", &family.name)?;
                entry.help = Some(help);
            }
            MetaLine::Type { kind, .. } => {
                once(&mut family.typed, line, "TYPE", &family.name)?;
                family.kind = kind;
                entry.kind = kind;
                family.check_claims(line, &self.closed_names)?;
                family.check_unit_allowed(line)?;
            }
            MetaLine::Unit { unit, name_at, .. } => {
                once(&mut family.unit_seen, line, "UNIT", &family.name)?;
                if !unit.is_empty() && !family.name.ends_with(&format!("_{unit}")) {
                    let message = format!(
                        "metric family {} has unit {unit:?} but its name does not end in _{unit}",
                        family.name
                    );
                    return Err(ParseError::new(line, name_at + 1, message));
                }
                entry.unit = (!unit.is_empty()).then(|| unit.clone());
                family.unit = unit;
                family.check_unit_allowed(line)?;
            }
        }
        Ok(())
    }

    pub(crate) fn sample(&mut self, line: usize, sample: &SampleLine) -> Result<(), ParseError> {
        let name = &sample.sample.name;
        if self.current.as_ref().is_none_or(|f| !f.owns(name)) {
            if let Some(family) = self.current.as_ref().filter(|f| &f.name == name) {
                let expected: Vec<String> = suffixes(family.kind)
                    .iter()
                    .map(|suffix| format!("{name}{suffix}"))
                    .collect();
                let message = format!("samples must be named {}", expected.join(" or "));
                return Err(family.error(line, 1, message));
            }
            self.start(line, name)?;
        }
        let Some(family) = self.current.as_mut() else {
            return Err(ParseError::new(line, 1, "internal: no current family"));
        };
        family.has_samples = true;
        family.check_sample(line, sample)?;
        family.check_order(line, sample)?;
        family.histogram_step(line, sample)
    }

    /// Closes the last family at `# EOF` and hands back the metadata.
    pub(crate) fn finish(mut self, _line: usize) -> Result<Vec<Metadata>, ParseError> {
        self.close()?;
        Ok(self.metadata)
    }

    fn start(&mut self, line: usize, name: &str) -> Result<(), ParseError> {
        self.close()?;
        if self.closed_names.contains(name) {
            let message = format!(
                "{name} was already used by an earlier metric family; a family's lines must be contiguous and names must not clash"
            );
            return Err(ParseError::new(line, 1, message));
        }
        self.current = Some(Family::new(name));
        Ok(())
    }

    fn close(&mut self) -> Result<(), ParseError> {
        let Some(mut family) = self.current.take() else {
            return Ok(());
        };
        family.finish_histogram_run()?;
        self.closed_names.insert(family.name.clone());
        for suffix in suffixes(family.kind) {
            self.closed_names.insert(format!("{}{suffix}", family.name));
        }
        Ok(())
    }
}

/// The family being read.
struct Family {
    name: String,
    kind: MetricType,
    typed: bool,
    help_seen: bool,
    unit_seen: bool,
    unit: String,
    meta_index: Option<usize>,
    has_samples: bool,
    groups: Groups,
    run: Option<HistogramRun>,
}

/// Label groups of a family: one group's samples must be contiguous.
#[derive(Default)]
struct Groups {
    current: Option<Labels>,
    seen: HashSet<Labels>,
    last_timestamp: Option<f64>,
    /// Series of the current group, and whether their last sample had a timestamp.
    series: HashMap<(String, Labels), bool>,
    /// The series of the last sample (a key of `series`), and whether it had a timestamp.
    last_series: Option<(String, Labels, bool)>,
}

impl Family {
    fn new(name: &str) -> Self {
        Family {
            name: name.to_string(),
            kind: MetricType::Unknown,
            typed: false,
            help_seen: false,
            unit_seen: false,
            unit: String::new(),
            meta_index: None,
            has_samples: false,
            groups: Groups::default(),
            run: None,
        }
    }

    fn error(&self, line: usize, column: usize, what: impl std::fmt::Display) -> ParseError {
        ParseError::new(
            line,
            column,
            format!("{} {}: {what}", self.kind_name(), self.name),
        )
    }

    fn kind_name(&self) -> &'static str {
        self.kind.openmetrics_name()
    }

    fn owns(&self, sample_name: &str) -> bool {
        sample_name
            .strip_prefix(self.name.as_str())
            .is_some_and(|suffix| suffixes(self.kind).contains(&suffix))
    }

    /// The sample names a newly typed family owns must not belong to an earlier family.
    fn check_claims(&self, line: usize, closed: &HashSet<String>) -> Result<(), ParseError> {
        for suffix in suffixes(self.kind) {
            let name = format!("{}{suffix}", self.name);
            if closed.contains(&name) {
                let message = format!("clashes with the earlier metric family that owns {name}");
                return Err(self.error(line, 1, message));
            }
        }
        Ok(())
    }

    fn check_unit_allowed(&self, line: usize) -> Result<(), ParseError> {
        if matches!(self.kind, MetricType::Info | MetricType::StateSet) && !self.unit.is_empty() {
            return Err(self.error(line, 1, "info and stateset families cannot have a unit"));
        }
        Ok(())
    }

    fn suffix<'s>(&self, sample: &'s Sample) -> &'s str {
        sample.name.get(self.name.len()..).unwrap_or("")
    }

    fn check_sample(&self, line: usize, sample: &SampleLine) -> Result<(), ParseError> {
        let s = &sample.sample;
        let value_col = sample.value_at + 1;
        let non_negative = |what: &str| {
            if s.value.is_nan() || s.value < 0.0 {
                let message = format!("{what} must be a non-negative number, not {}", s.value);
                return Err(self.error(line, value_col, message));
            }
            Ok(())
        };
        let suffix = self.suffix(s);
        match (self.kind, suffix) {
            (MetricType::Counter, "_total") => non_negative("counter value")?,
            (MetricType::Histogram, "_bucket" | "_count" | "_sum")
            | (MetricType::GaugeHistogram, "_bucket" | "_gcount")
            | (MetricType::Summary, "_count" | "_sum") => non_negative(&format!("{suffix} value"))?,
            (MetricType::GaugeHistogram, "_gsum") if s.value.is_nan() => {
                return Err(self.error(line, value_col, "_gsum must not be NaN"));
            }
            (MetricType::Summary, "") => self.check_quantile(line, s, value_col)?,
            (MetricType::Info, _) if s.value != 1.0 => {
                return Err(self.error(line, value_col, "info value must be 1"));
            }
            (MetricType::StateSet, _) => self.check_state(line, s, value_col)?,
            _ => {}
        }
        if matches!(
            self.kind,
            MetricType::Histogram | MetricType::GaugeHistogram
        ) && suffix == "_bucket"
        {
            self.bucket_bound(line, s)?;
        }
        self.check_exemplar(line, sample, suffix)
    }

    fn check_quantile(&self, line: usize, s: &Sample, value_col: usize) -> Result<(), ParseError> {
        let Some(raw) = label(s, "quantile") else {
            return Err(self.error(line, 1, "summary quantile sample needs a quantile label"));
        };
        let q = number::openmetrics_value(raw).unwrap_or(f64::NAN);
        if !(0.0..=1.0).contains(&q) {
            let message = format!("quantile {raw:?} must be a number from 0 to 1");
            return Err(self.error(line, 1, message));
        }
        if s.value < 0.0 {
            return Err(self.error(line, value_col, "quantile value must not be negative"));
        }
        Ok(())
    }

    fn check_state(&self, line: usize, s: &Sample, value_col: usize) -> Result<(), ParseError> {
        if label(s, &self.name).is_none() {
            let message = format!("stateset sample needs a label named {}", self.name);
            return Err(self.error(line, 1, message));
        }
        if s.value != 0.0 && s.value != 1.0 {
            return Err(self.error(line, value_col, "stateset value must be 0 or 1"));
        }
        Ok(())
    }

    /// The `le` bound of a bucket: a number, infinities spelled exactly `+Inf`/`-Inf`.
    fn bucket_bound(&self, line: usize, s: &Sample) -> Result<f64, ParseError> {
        let Some(raw) = label(s, "le") else {
            return Err(self.error(line, 1, "bucket sample needs an le label"));
        };
        match number::openmetrics_value(raw) {
            Some(le) if le.is_finite() || raw == "+Inf" || raw == "-Inf" => Ok(le),
            _ => {
                let message = format!("le {raw:?} must be a number, infinity written +Inf");
                Err(self.error(line, 1, message))
            }
        }
    }

    fn check_exemplar(&self, line: usize, s: &SampleLine, suffix: &str) -> Result<(), ParseError> {
        let Some(at) = s.exemplar_at else {
            return Ok(());
        };
        let allowed = matches!(
            (self.kind, suffix),
            (MetricType::Counter, "_total")
                | (
                    MetricType::Histogram | MetricType::GaugeHistogram,
                    "_bucket"
                )
        );
        if !allowed {
            let message =
                "exemplars are only allowed on counter _total and histogram _bucket samples";
            return Err(self.error(line, at + 1, message));
        }
        Ok(())
    }

    /// The label left out of a sample's group: `le`, `quantile` or the state label.
    fn group_drop(&self, s: &Sample) -> Option<&str> {
        match (self.kind, self.suffix(s)) {
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
            (MetricType::Summary, "") => Some("quantile"),
            (MetricType::StateSet, _) => Some(self.name.as_str()),
            _ => None,
        }
    }

    /// The labels that make up a sample's group: all but `le`, `quantile` or the state label.
    fn group_of(&self, s: &Sample) -> Labels {
        let drop = self.group_drop(s);
        s.labels
            .iter()
            .filter(|(n, _)| Some(n.as_str()) != drop)
            .cloned()
            .collect()
    }

    /// Whether `group_of(s)` is `group`, without building it.
    fn in_group(&self, group: &Labels, s: &Sample) -> bool {
        let drop = self.group_drop(s);
        let mut mine = s.labels.iter().filter(|(n, _)| Some(n.as_str()) != drop);
        group.iter().all(|g| mine.next() == Some(g)) && mine.next().is_none()
    }

    fn check_order(&mut self, line: usize, s: &SampleLine) -> Result<(), ParseError> {
        let same_group = self
            .groups
            .current
            .as_ref()
            .is_some_and(|g| self.in_group(g, &s.sample));
        if !same_group {
            let group = self.group_of(&s.sample);
            let group = &group;
            if self.groups.seen.contains(group) {
                let message = format!(
                    "samples with labels {group:?} must be contiguous, but this group appeared earlier"
                );
                return Err(self.error(line, 1, message));
            }
            self.groups.seen.insert(group.clone());
            self.groups.current = Some(group.clone());
            self.groups.last_timestamp = None;
            self.groups.series.clear();
            self.groups.last_series = None;
        }
        if let Some(ts) = s.timestamp_secs {
            if self.groups.last_timestamp.is_some_and(|last| ts < last) {
                return Err(self.error(line, 1, "timestamps must not go backwards within a group"));
            }
            self.groups.last_timestamp = Some(ts);
        }
        let has_ts = s.timestamp_secs.is_some();
        // The same series as the line before (a file of history): its entry is there already.
        let repeat = self
            .groups
            .last_series
            .as_ref()
            .filter(|(name, labels, _)| *name == s.sample.name && *labels == s.sample.labels)
            .map(|(_, _, had_ts)| *had_ts);
        let had_ts = match repeat {
            Some(had_ts) => Some(had_ts),
            None => {
                let key = (s.sample.name.clone(), s.sample.labels.clone());
                let had = self.groups.series.insert(key.clone(), has_ts);
                self.groups.last_series = Some((key.0, key.1, has_ts));
                had
            }
        };
        if let Some(had_ts) = had_ts
            && !(had_ts && has_ts)
        {
            let message = format!(
                "{} repeats a series; repeated samples of a series need timestamps",
                s.sample.name
            );
            return Err(self.error(line, 1, message));
        }
        Ok(())
    }

    /// Feeds a histogram sample to the run of its group and timestamp.
    fn histogram_step(&mut self, line: usize, s: &SampleLine) -> Result<(), ParseError> {
        if !matches!(
            self.kind,
            MetricType::Histogram | MetricType::GaugeHistogram
        ) {
            return Ok(());
        }
        let ts = s.timestamp_secs.map(f64::to_bits);
        let same_run = self
            .run
            .as_ref()
            .is_some_and(|run| run.key.1 == ts && self.in_group(&run.key.0, &s.sample));
        if !same_run {
            self.finish_histogram_run()?;
            self.run = Some(HistogramRun::new((self.group_of(&s.sample), ts)));
        }
        let suffix = self.suffix(&s.sample);
        let bound = if suffix == "_bucket" {
            Some(self.bucket_bound(line, &s.sample)?)
        } else {
            None
        };
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let outcome = run.step(line, suffix, s.sample.value, bound);
        outcome.map_err(|m| self.error(line, s.value_at + 1, m))
    }

    fn finish_histogram_run(&mut self) -> Result<(), ParseError> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        run.check().map_err(|m| self.error(run.last_line, 1, m))
    }
}

/// Marks a metadata line as seen, failing if it was seen before.
fn once(seen: &mut bool, line: usize, keyword: &str, family: &str) -> Result<(), ParseError> {
    if *seen {
        let message = format!("second {keyword} line for metric family {family}");
        return Err(ParseError::new(line, 1, message));
    }
    *seen = true;
    Ok(())
}

fn label<'s>(s: &'s Sample, name: &str) -> Option<&'s str> {
    s.labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The samples of one histogram group at one timestamp.
struct HistogramRun {
    key: (Labels, Option<u64>),
    last_line: usize,
    bound: Option<f64>,
    bucket_value: f64,
    count: Option<f64>,
    has_sum: bool,
    has_gsum: bool,
    negative_bucket: bool,
    negative_gsum: bool,
}

impl HistogramRun {
    fn new(key: (Labels, Option<u64>)) -> Self {
        HistogramRun {
            key,
            last_line: 0,
            bound: None,
            bucket_value: 0.0,
            count: None,
            has_sum: false,
            has_gsum: false,
            negative_bucket: false,
            negative_gsum: false,
        }
    }

    fn step(
        &mut self,
        line: usize,
        suffix: &str,
        value: f64,
        bound: Option<f64>,
    ) -> Result<(), String> {
        self.last_line = line;
        match (suffix, bound) {
            ("_bucket", Some(le)) => {
                if self.bound.is_some_and(|prev| le <= prev) {
                    return Err("buckets must be in increasing le order".into());
                }
                if value < self.bucket_value {
                    return Err("bucket counts must not decrease as le increases".into());
                }
                self.negative_bucket |= le < 0.0;
                self.bound = Some(le);
                self.bucket_value = value;
            }
            ("_count" | "_gcount", _) => self.count = Some(value),
            ("_sum", _) => self.has_sum = true,
            ("_gsum", _) => {
                self.has_gsum = true;
                self.negative_gsum |= value < 0.0;
            }
            _ => {}
        }
        Ok(())
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.bound != Some(f64::INFINITY) {
            return Err("the last bucket must be le=\"+Inf\"");
        }
        if self.count.is_some_and(|c| c != self.bucket_value) {
            return Err("the count must equal the +Inf bucket");
        }
        if self.has_sum && self.count.is_none() {
            return Err("_sum needs _count");
        }
        if self.has_gsum && self.count.is_none() {
            return Err("_gsum needs _gcount");
        }
        if self.count.is_some() && !(self.has_sum || self.has_gsum) {
            return Err("a count needs a sum");
        }
        if self.negative_bucket && self.has_sum {
            return Err("_sum is not allowed with negative buckets");
        }
        if self.negative_gsum && !self.negative_bucket {
            return Err("a negative _gsum needs negative buckets");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, openmetrics};

    fn check(body: &str) -> Result<(), String> {
        openmetrics::parse(body.as_bytes(), &Limits::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn rejects(body: &str, needle: &str, line: usize) {
        let e = openmetrics::parse(body.as_bytes(), &Limits::default()).unwrap_err();
        assert!(e.message.contains(needle), "{body:?}: {e}");
        assert_eq!(e.line, line, "{body:?}: {e}");
    }

    #[test]
    fn a_complete_histogram_passes() {
        let body = "# TYPE a histogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2\n# EOF\n";
        check(body).unwrap();
    }

    #[test]
    fn histogram_shape_errors() {
        rejects("# TYPE a histogram\na_sum 1\n# EOF\n", "+Inf", 2);
        rejects(
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_count 1\na_sum 1\n# EOF\n",
            "count must equal",
            4,
        );
        rejects(
            "# TYPE a histogram\na_bucket{le=\"2\"} 0\na_bucket{le=\"1\"} 0\n# EOF\n",
            "increasing le",
            3,
        );
        rejects(
            "# TYPE a histogram\na_bucket{le=\"+INF\"} 0\n# EOF\n",
            "+Inf",
            2,
        );
        rejects("# TYPE a histogram\na_bucket 0\n# EOF\n", "le label", 2);
    }

    #[test]
    fn metadata_rules() {
        rejects(
            "# HELP a x\na 1\n# TYPE a gauge\n# EOF\n",
            "before its samples",
            3,
        );
        rejects("# TYPE a gauge\n# TYPE a gauge\n# EOF\n", "second TYPE", 2);
        rejects(
            "# TYPE a_created gauge\n# TYPE a counter\n# EOF\n",
            "clashes",
            2,
        );
        rejects("# UNIT a seconds\n# EOF\n", "does not end in _seconds", 1);
        rejects(
            "# TYPE x_u info\n# UNIT x_u u\n# EOF\n",
            "cannot have a unit",
            2,
        );
    }

    #[test]
    fn ordering_rules() {
        rejects("# TYPE a gauge\na 0 1\na 0 0\n# EOF\n", "backwards", 3);
        rejects("a 0\na 0 0\n# EOF\n", "repeats a series", 2);
        rejects(
            "a{x=\"1\"} 0\na{x=\"2\"} 0\na{x=\"1\"} 0\n# EOF\n",
            "contiguous",
            3,
        );
        rejects("a 1\nb 1\na 1\n# EOF\n", "already used", 3);
        check("a 0 0\na 0 0\na{x=\"1\"} 0 -5\n# EOF\n").unwrap();
    }

    #[test]
    fn type_value_rules() {
        rejects("# TYPE a counter\na_total -1\n# EOF\n", "non-negative", 2);
        rejects("# TYPE a info\na_info 2\n# EOF\n", "must be 1", 2);
        rejects("# TYPE a info\na 1\n# EOF\n", "named a_info", 2);
        rejects("# TYPE a stateset\na{a=\"x\"} 2\n# EOF\n", "0 or 1", 2);
        rejects(
            "# TYPE a summary\na{quantile=\"1.5\"} 0\n# EOF\n",
            "from 0 to 1",
            2,
        );
        rejects("# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n", "exemplars", 2);
        check("# TYPE a summary\na{quantile=\"0.5\"} NaN\na_count 0\na_sum 0\n# EOF\n").unwrap();
    }
}
