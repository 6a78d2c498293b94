//! The scrape loop and target manager: one tokio task per target fetches its `/metrics` on a
//! fixed interval, parses it with [`crate::exposition`], attaches the target's labels, adds the
//! synthetic series Prometheus adds (`up`, `scrape_duration_seconds`, …), writes staleness
//! markers for series that went away, and hands each scrape to a [`SampleSink`] as one batch.
//!
//! Owns the public types ([`SampleSink`], [`ScrapedSample`], [`Target`], [`TargetHealth`],
//! [`Health`]) and re-exports [`ScrapeManager`]. Knows nothing of how samples are stored: the
//! daemon implements [`SampleSink`] over pier-tsdb.
//!
//! Behaviour follows Prometheus 3 with `honor_labels: false`, `honor_timestamps: true`, no
//! relabelling, and timestamps aligned within Prometheus's 2 ms tolerance. Where pier differs it
//! says so in the docs of the item concerned (first scrape at once, the stop-time staleness
//! markers).

mod cache;
mod fetch;
mod manager;
mod scrape_loop;
mod series;
mod target;
mod timing;

use std::fmt;
use std::time::{Duration, SystemTime};

pub use manager::ScrapeManager;

/// Where scraped samples go. The manager calls [`SampleSink::write`] once per scrape with the
/// whole scrape — exposed samples, synthetic series and staleness markers — as one batch, and
/// once more with the end-of-run staleness markers when a target stops.
///
/// `Ok` means durably stored (the daemon's implementation commits to the tsdb WAL). The call is
/// made from a blocking-capable thread (`tokio::task::spawn_blocking`), so it may do file I/O.
/// An `Err` marks the target `down` with the error as `last_error`.
///
/// The batch is lent: the caller clears it after the call and fills the same buffer with the
/// target's next scrape, so that a scrape of many series does not allocate (and free) a
/// batch every interval. A sink may take the samples out (`std::mem::take`) or leave them.
pub trait SampleSink: Send + Sync + 'static {
    fn write(&self, batch: &mut Vec<ScrapedSample>) -> Result<(), String>;
}

/// One sample of a scrape: the full series labels (with `__name__`), a timestamp in milliseconds
/// since the Unix epoch, and the value ([`pier_tsdb::STALE_NAN`] for a staleness marker).
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedSample {
    pub labels: pier_tsdb::Labels,
    pub t_ms: i64,
    pub value: f64,
}

/// A scrape target.
///
/// Its identity is `(job, url, labels)` (label order and empty values do not matter): a new
/// target set that keeps a target with the same identity keeps its loop running, and only an
/// `interval`/`timeout` change is applied to the running loop.
///
/// Series get the target labels `job`, `instance` (the URL's `host:port`, the port filled in
/// from the scheme when the URL has none) and every pair in `labels` with a non-empty value;
/// a pair in `labels` named `job` or `instance` overrides the default, names starting with `__`
/// are dropped (as Prometheus drops them after relabelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub job: String,
    /// What to GET, e.g. `http://127.0.0.1:PORT/metrics`.
    pub url: String,
    /// Extra target labels, e.g. `app`, `replica`, `release`.
    pub labels: Vec<(String, String)>,
    pub interval: Duration,
    /// Bound on one whole scrape (connect, headers and body). Clamped to `interval`, as
    /// Prometheus refuses a `scrape_timeout` above the `scrape_interval`.
    pub timeout: Duration,
}

/// A target's health, as Prometheus's `/api/v1/targets` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The last scrape succeeded and was stored.
    Up,
    /// The last scrape failed (or storing it did).
    Down,
    /// Not scraped yet.
    Unknown,
}

impl Health {
    /// `"up"`, `"down"` or `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `pier targets` shows about one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealth {
    pub job: String,
    pub url: String,
    /// The extra labels as given in [`Target::labels`] (empty values dropped, sorted by name).
    pub labels: Vec<(String, String)>,
    /// The `instance` label the target's series carry.
    pub instance: String,
    pub health: Health,
    /// Start of the last finished scrape; `None` before the first.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took (fetch and parse).
    pub last_duration: Option<Duration>,
    /// Why the last scrape failed; `None` after a success.
    pub last_error: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    /// `scrape_samples_scraped` of the last scrape (0 after a failure).
    pub samples: usize,
}
