//! Query errors and annotations, with the `errorType` and HTTP status Prometheus's API gives
//! each kind (`bad_data` 400, `execution` 422, `timeout` 503, `canceled` 503, `internal` 500).

use thiserror::Error;

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QueryError {
    /// The query does not parse, or is invalid (wrong argument types…). The message carries
    /// the position, as Prometheus's does.
    #[error("{0}")]
    Parse(String),
    /// A bad parameter (step, time range…) rather than a bad expression.
    #[error("{0}")]
    BadData(String),
    /// A run-time error, e.g. "many-to-many matching not allowed: …" or
    /// "vector cannot contain metrics with the same labelset".
    #[error("{0}")]
    Execution(String),
    /// The query ran longer than the engine's timeout.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query would hold more samples in memory at once than the engine's limit.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The store failed to read.
    #[error("storage error: {0}")]
    Storage(String),
}

impl QueryError {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Parse(_) | Self::BadData(_) => "bad_data",
            Self::Execution(_) | Self::TooManySamples(_) => "execution",
            Self::Timeout(_) => "timeout",
            Self::Storage(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Parse(_) | Self::BadData(_) => 400,
            Self::Execution(_) | Self::TooManySamples(_) => 422,
            Self::Timeout(_) => 503,
            Self::Storage(_) => 500,
        }
    }
}

impl From<pier_tsdb::TsdbError> for QueryError {
    fn from(e: pier_tsdb::TsdbError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Warnings and infos a successful query produced (Prometheus's annotations), such as
/// "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// `PromQL warning: …` lines.
    pub warnings: Vec<String>,
    /// `PromQL info: …` lines.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning once (the text without the `PromQL warning: ` prefix).
    pub fn warn(&mut self, text: impl Into<String>) {
        let text = format!("PromQL warning: {}", text.into());
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    /// Adds an info once (the text without the `PromQL info: ` prefix).
    pub fn info(&mut self, text: impl Into<String>) {
        let text = format!("PromQL info: {}", text.into());
        if !self.infos.contains(&text) {
            self.infos.push(text);
        }
    }

    /// Adds all of `other`'s annotations.
    pub fn merge(&mut self, other: Annotations) {
        for w in other.warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        for i in other.infos {
            if !self.infos.contains(&i) {
                self.infos.push(i);
            }
        }
    }
}
