//! Owns one target's task: when it scrapes, what a scrape writes (samples, staleness markers and
//! synthetic series as one batch through the [`SampleSink`]), the target's health record, and
//! the end-of-run staleness markers when it is stopped.
//!
//! Schedule: the first scrape happens as soon as the task starts (so a freshly deployed app
//! shows up at once instead of up to one interval later); the second at the target's slot —
//! a wall-clock phase within the interval derived from the stable hash of the target identity,
//! as Prometheus spreads its loops — at least half an interval after the first; then every
//! interval on that slot. A scrape that overruns its slot makes the loop skip the slots it
//! missed (Prometheus's ticker drops ticks the same way). Stopping cancels a scrape in flight.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::fetch;
use super::series::{Report, SeriesState};
use super::target::target_labels;
use super::timing::{self, Aligner, unix_millis, unix_nanos};
use super::{Health, SampleSink, ScrapedSample, Target, TargetHealth};
use crate::exposition::{Limits, format_of};

/// How often and how long a loop scrapes; the running loop picks up changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cadence {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Cadence {
    /// The cadence of `target`: an interval of at least 1 ms and a timeout of at most the
    /// interval.
    pub fn of(target: &Target) -> Cadence {
        let interval = target.interval.max(Duration::from_millis(1));
        Cadence {
            interval,
            timeout: target.timeout.min(interval),
        }
    }
}

/// Everything one loop needs.
pub(crate) struct LoopArgs {
    pub target: Target,
    pub hash: u64,
    pub sink: Arc<dyn SampleSink>,
    pub limits: Arc<Limits>,
    pub client: reqwest::Client,
    pub health: Arc<Mutex<TargetHealth>>,
    pub cadence: watch::Receiver<Cadence>,
    /// Becomes `true` (or is dropped) when the loop must stop.
    pub stop: watch::Receiver<bool>,
    /// A stopping loop of the same target that must finish (and write its end-of-run
    /// markers) before this one scrapes.
    pub predecessor: Option<JoinHandle<()>>,
    /// The latest scrape timestamp of this target (`i64::MIN` before any), shared with the
    /// target's predecessor and successor loops so timestamps never go back across them.
    pub last_t: Arc<AtomicI64>,
}

/// The health record of a target that has not been scraped yet.
pub(crate) fn initial_health(target: &Target, cadence: Cadence) -> TargetHealth {
    TargetHealth {
        job: target.job.clone(),
        url: target.url.clone(),
        labels: super::target::normalized_labels(&target.labels),
        instance: super::target::instance_of(&target.url),
        health: Health::Unknown,
        last_scrape: None,
        last_duration: None,
        last_error: None,
        interval: cadence.interval,
        timeout: cadence.timeout,
        samples: 0,
    }
}

/// Runs one target's loop until told to stop, then writes its end-of-run staleness markers.
///
/// Scrape timestamps only move forward: a scrape is never stamped at or before the previous
/// one (or the predecessor's markers), even if the wall clock steps back.
pub(crate) async fn run(mut args: LoopArgs) {
    if let Some(previous) = args.predecessor.take() {
        let _ = previous.await;
    }
    // The earliest timestamp the next scrape may carry.
    let mut floor_ms = args.last_t.load(Ordering::Acquire).saturating_add(1);
    let mut state = match SeriesState::new(target_labels(&args.target)) {
        Ok(state) => state,
        Err(error) => {
            set_health(&args.health, |h| {
                h.health = Health::Down;
                h.last_error = Some(error.clone());
            });
            tracing::warn!(job = %args.target.job, url = %args.target.url, %error, "scrape target not started");
            stop_signal(&mut args.stop).await;
            return;
        }
    };
    let mut cadence = *args.cadence.borrow_and_update();
    let mut aligner = Aligner::new(cadence.interval);
    let mut next: Option<tokio::time::Instant> = None;
    let mut first = true;
    // The response body's buffer and the batch's, kept from one scrape to the next: the
    // whole exposition and a sample per series would otherwise be allocated and freed every
    // interval, and the allocator keeps freed pages resident for a while.
    let mut body: Vec<u8> = Vec::new();
    let mut batch: Vec<ScrapedSample> = Vec::new();
    'run: loop {
        if let Some(at) = next {
            tokio::select! {
                _ = stop_signal(&mut args.stop) => break 'run,
                changed = args.cadence.changed() => {
                    if changed.is_err() {
                        // The manager is gone.
                        break 'run;
                    }
                    cadence = *args.cadence.borrow_and_update();
                    aligner = Aligner::new(cadence.interval);
                    let delay = timing::delay_to_slot(cadence.interval, args.hash, unix_nanos(SystemTime::now()));
                    next = Some(tokio::time::Instant::now() + delay);
                    continue 'run;
                }
                _ = tokio::time::sleep_until(at) => {}
            }
        }
        if stopped(&args.stop) {
            break;
        }
        let started_at = SystemTime::now();
        let started = Instant::now();
        let started_tokio = tokio::time::Instant::now();
        let now_ns = unix_nanos(started_at);
        let t_ns = if first { now_ns } else { aligner.align(now_ns) };
        let t_ms = (t_ns / 1_000_000).max(floor_ms);
        floor_ms = t_ms.saturating_add(1);
        args.last_t.store(t_ms, Ordering::Release);

        let outcome = tokio::select! {
            _ = stop_signal(&mut args.stop) => break 'run,
            outcome = fetch::fetch(&args.client, &args.target.url, cadence.timeout, args.limits.max_body_bytes, &mut body) => outcome,
        };
        let fetched = outcome.map(|f| (f, body.as_slice()));
        batch = record(&args, &mut state, fetched, batch, started_at, t_ms, started).await;
        fetch::trim_body_buffer(&mut body);

        next = Some(match next {
            None => {
                started_tokio + timing::delay_to_second_scrape(cadence.interval, args.hash, now_ns)
            }
            Some(slot) => {
                let mut slot = slot + cadence.interval;
                let now = tokio::time::Instant::now();
                while slot <= now {
                    slot += cadence.interval;
                }
                slot
            }
        });
        first = false;
    }
    let markers = state.end_of_run(unix_millis(SystemTime::now()).max(floor_ms));
    if let Some(marker) = markers.first() {
        args.last_t.fetch_max(marker.t_ms, Ordering::AcqRel);
    }
    if let (_, Err(error)) = write(&args.sink, markers).await {
        tracing::warn!(job = %args.target.job, url = %args.target.url, %error, "storing end-of-run staleness markers failed");
    }
}

/// Resolves when the loop is told to stop (or its manager is gone).
async fn stop_signal(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Parses a fetched body into one batch (the scrape's duration covers fetch and parse),
/// updates the health record, writes the batch. `batch` is an empty buffer to fill; it is
/// returned empty again, for the next scrape.
async fn record(
    args: &LoopArgs,
    state: &mut SeriesState,
    outcome: Result<(fetch::Fetched, &[u8]), String>,
    mut batch: Vec<ScrapedSample>,
    started_at: SystemTime,
    t_ms: i64,
    started: Instant,
) -> Vec<ScrapedSample> {
    let limits: &Limits = &args.limits;
    let prepared = outcome.and_then(|(fetched, body)| {
        let format = format_of(fetched.content_type.as_deref());
        state
            .prepare(body, format, limits, t_ms, &mut batch)
            .map(|p| {
                let count = p.samples_scraped;
                (p, count)
            })
    });
    let duration = started.elapsed();
    let report = |up: bool, samples_scraped: usize, series_added: usize| Report {
        up,
        duration_seconds: duration.as_secs_f64(),
        samples_scraped,
        series_added,
    };
    let set = |health: Health, error: Option<String>, samples: usize| {
        set_health(&args.health, |h| {
            h.health = health;
            h.last_error = error;
            h.last_scrape = Some(started_at);
            h.last_duration = Some(duration);
            h.samples = samples;
        })
    };
    match prepared {
        Ok((prepared, count)) => {
            state.report(t_ms, report(true, count, prepared.series_added), &mut batch);
            set(Health::Up, None, count);
            let (batch, written) = write(&args.sink, batch).await;
            match written {
                Ok(()) => state.commit(prepared, t_ms),
                Err(error) => {
                    state.commit_unstored(prepared);
                    sink_failed(args, error);
                }
            }
            batch
        }
        Err(error) => {
            tracing::debug!(job = %args.target.job, url = %args.target.url, %error, "scrape failed");
            // A parse that failed half way left samples in the batch.
            batch.clear();
            state.fail(t_ms, &mut batch);
            state.report(t_ms, report(false, 0, 0), &mut batch);
            set(Health::Down, Some(error), 0);
            let (batch, written) = write(&args.sink, batch).await;
            if let Err(error) = written {
                sink_failed(args, error);
            }
            batch
        }
    }
}

fn sink_failed(args: &LoopArgs, error: String) {
    tracing::warn!(job = %args.target.job, url = %args.target.url, %error, "storing scraped samples failed");
    set_health(&args.health, |h| {
        h.health = Health::Down;
        h.last_error = Some(format!("storing the scraped samples failed: {error}"));
    });
}

fn set_health(health: &Mutex<TargetHealth>, f: impl FnOnce(&mut TargetHealth)) {
    let mut guard = health
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard);
}

/// Hands a batch to the sink on a blocking-capable thread. An empty batch is not written.
/// Returns the batch's buffer emptied — its samples (and their references to label sets)
/// dropped, its capacity kept for the next scrape — with the sink's answer.
async fn write(
    sink: &Arc<dyn SampleSink>,
    mut batch: Vec<ScrapedSample>,
) -> (Vec<ScrapedSample>, Result<(), String>) {
    if batch.is_empty() {
        return (batch, Ok(()));
    }
    let sink = Arc::clone(sink);
    let written = tokio::task::spawn_blocking(move || {
        let result = sink.write(&mut batch);
        batch.clear();
        (batch, result)
    })
    .await;
    match written {
        Ok((batch, result)) => (batch, result),
        Err(e) => (Vec::new(), Err(format!("the sample sink panicked: {e}"))),
    }
}
