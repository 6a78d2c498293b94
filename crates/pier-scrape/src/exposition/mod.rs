//! Parses what a scrape target answers — the Prometheus text format 0.0.4 and OpenMetrics 1.0
//! text — into flat samples plus family metadata, and writes OpenMetrics back. Owns the public
//! types, the entry points [`parse`] (a whole [`Parsed`] payload) and `parse_each` (sample by
//! sample out of one reused buffer, for the scrape loop), content negotiation ([`SCRAPE_ACCEPT`], [`format_of`]) and
//! the error type. Knows nothing of HTTP clients, targets, relabelling or storage: bytes in,
//! [`Parsed`] out, and never a panic whatever the bytes.

mod families;
mod limits;
mod line;
mod number;
mod openmetrics;
#[cfg(test)]
mod proptests;
mod render;
mod text;

pub use limits::Limits;
pub use render::render_openmetrics;

/// An exposition format pier can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

/// The `Accept` header pier sends when scraping. It is the header Prometheus 2.5x sends with its
/// default `scrape_protocols` (and Prometheus 3 minus the protobuf and UTF-8 `escaping=` entries
/// pier cannot read): OpenMetrics 1.0.0 first, then OpenMetrics 0.0.1, then the text format
/// 0.0.4, then anything, each with a lower q-value.
pub const SCRAPE_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
application/openmetrics-text;version=0.0.1;q=0.4,\
text/plain;version=0.0.4;q=0.3,\
*/*;q=0.2";

/// The format of a scrape response from its `Content-Type`.
///
/// `application/openmetrics-text` (any version, any parameters, any case) is OpenMetrics.
/// Everything else — `text/plain; version=0.0.4`, a missing header, an unknown type — is read as
/// the Prometheus text format, as Prometheus does with `fallback_scrape_protocol: PrometheusText0.0.4`.
pub fn format_of(content_type: Option<&str>) -> Format {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// The type of a metric family, as a `# TYPE` line declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// OpenMetrics `unknown`, text-format `untyped`, or no `# TYPE` line at all.
    Unknown,
}

impl MetricType {
    /// The spelling of this type on an OpenMetrics `# TYPE` line.
    pub fn openmetrics_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// What the `# TYPE`, `# HELP` and `# UNIT` lines say about one metric family.
///
/// In the text format `family` is the name written on those lines (for counters usually the
/// full `x_total`); in OpenMetrics it is the family name (`x` for samples `x_total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub family: String,
    pub kind: MetricType,
    /// Unescaped help text; `Some("")` for an empty `# HELP x ` line.
    pub help: Option<String>,
    /// The unit (OpenMetrics only); an empty `# UNIT x ` line gives `None`.
    pub unit: Option<String>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// The metric name including suffixes such as `_total`, `_bucket`, `_sum`.
    pub name: String,
    /// Label pairs sorted by name, values unescaped; never contains `__name__`.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the Unix epoch. OpenMetrics float seconds are converted exactly
    /// (sub-millisecond digits truncated toward zero, saturating at the `i64` range).
    pub timestamp_ms: Option<i64>,
}

/// A whole parsed payload: samples in input order and metadata in order of first appearance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub samples: Vec<Sample>,
    pub metadata: Vec<Metadata>,
}

/// Why a payload was rejected. `line` and `column` are 1-based; `column` counts bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// The `# TYPE`s declared so far in a payload, by family (the name on the `# TYPE` line).
#[derive(Debug, Default)]
pub(crate) struct Types(std::collections::HashMap<String, MetricType>);

impl Types {
    pub(crate) fn set(&mut self, family: &str, kind: MetricType) {
        match self.0.get_mut(family) {
            Some(k) => *k = kind,
            None => {
                self.0.insert(family.to_string(), kind);
            }
        }
    }

    /// The declared type of `family` (`Unknown` when none was declared yet).
    pub(crate) fn get(&self, family: &str) -> MetricType {
        self.0.get(family).copied().unwrap_or(MetricType::Unknown)
    }
}

/// One sample as `parse_each` hands it out.
pub(crate) struct ParsedLine<'a> {
    /// The sample (a buffer reused from line to line).
    pub sample: &'a Sample,
    /// The series as written on the line: the metric name and the label set, byte for byte
    /// (what a scrape cache can key on without looking at the labels).
    pub series_text: &'a str,
    /// The types declared before this line.
    pub types: &'a Types,
}

/// Parses a scrape body like [`parse`], handing each sample to `on_sample` as soon as its line
/// is checked instead of collecting them: one reused buffer, no allocation per sample. The
/// whole body is still checked; after an error, the samples handed out must be discarded.
pub(crate) fn parse_each(
    body: &[u8],
    format: Format,
    limits: &Limits,
    on_sample: impl FnMut(&ParsedLine<'_>) -> Result<(), ParseError>,
) -> Result<Vec<Metadata>, ParseError> {
    limits.check_body(body)?;
    match format {
        Format::PrometheusText => text::parse_each(body, limits, on_sample),
        Format::OpenMetrics => openmetrics::parse_each_line(body, limits, on_sample),
    }
}

/// Parses a scrape body in the given format, enforcing `limits`.
pub fn parse(body: &[u8], format: Format, limits: &Limits) -> Result<Parsed, ParseError> {
    limits.check_body(body)?;
    match format {
        Format::PrometheusText => text::parse(body, limits),
        Format::OpenMetrics => openmetrics::parse(body, limits),
    }
}

/// Parses an OpenMetrics body like [`parse`], handing each sample to `on_sample` with its
/// 1-based line number instead of collecting them (one reused buffer: no allocation per
/// sample). The samples handed out before an error are not valid.
pub(crate) fn parse_openmetrics_each(
    body: &[u8],
    limits: &Limits,
    mut on_sample: impl FnMut(&Sample, usize) -> Result<(), ParseError>,
) -> Result<Vec<Metadata>, ParseError> {
    limits.check_body(body)?;
    openmetrics::parse_each(body, limits, |line, number| on_sample(line.sample, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_content_types_are_recognised() {
        let om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        assert_eq!(format_of(Some(om)), Format::OpenMetrics);
        assert_eq!(
            format_of(Some("Application/OpenMetrics-Text;version=0.0.1")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn everything_else_falls_back_to_the_text_format() {
        for ct in [
            Some("text/plain; version=0.0.4; charset=utf-8"),
            Some("text/plain"),
            Some("application/json"),
            Some(""),
            None,
        ] {
            assert_eq!(format_of(ct), Format::PrometheusText, "{ct:?}");
        }
    }

    #[test]
    fn the_accept_header_prefers_openmetrics_then_text() {
        let om1 = SCRAPE_ACCEPT
            .find("openmetrics-text;version=1.0.0")
            .unwrap();
        let om0 = SCRAPE_ACCEPT
            .find("openmetrics-text;version=0.0.1")
            .unwrap();
        let txt = SCRAPE_ACCEPT.find("text/plain;version=0.0.4").unwrap();
        assert!(om1 < om0 && om0 < txt);
        assert!(!SCRAPE_ACCEPT.contains(' '));
    }

    #[test]
    fn the_body_limit_applies_to_both_formats() {
        let limits = Limits {
            max_body_bytes: 8,
            ..Limits::default()
        };
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let err = parse(b"a 1\nb 2\nc 3\n", format, &limits).unwrap_err();
            assert!(err.message.contains("max_body_bytes"), "{err}");
            assert_eq!(err.line, 3);
        }
    }
}
