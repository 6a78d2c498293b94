//! Owns the set of running scrape loops: diffing a new target set against the running one
//! (start new targets, stop removed ones, retune kept ones in place), the health table behind
//! `pier targets`, and shutdown. One tokio task per target, so a slow target never delays
//! another.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::scrape_loop::{self, Cadence, LoopArgs};
use super::target::TargetKey;
use super::{SampleSink, Target, TargetHealth};
use crate::exposition::Limits;

/// Runs one scrape loop per target. See the [module docs](super) for the behaviour.
///
/// Must be used inside a tokio runtime ([`ScrapeManager::set_targets`] spawns tasks). Dropping
/// the manager without [`ScrapeManager::shutdown`] stops the loops too (they still write their
/// staleness markers if the runtime lives on), but nothing waits for them.
pub struct ScrapeManager {
    sink: Arc<dyn SampleSink>,
    limits: Arc<Limits>,
    client: reqwest::Client,
    loops: Mutex<Loops>,
}

#[derive(Default)]
struct Loops {
    running: BTreeMap<TargetKey, Running>,
    /// Loops told to stop that may still be writing their end-of-run markers, kept until they
    /// have finished and the clock has passed their last timestamp.
    stopping: HashMap<TargetKey, Stopping>,
}

struct Stopping {
    handle: JoinHandle<()>,
    last_t: Arc<AtomicI64>,
}

struct Running {
    health: Arc<Mutex<TargetHealth>>,
    cadence: watch::Sender<Cadence>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
    last_t: Arc<AtomicI64>,
}

impl ScrapeManager {
    /// A manager writing every scrape to `sink`, holding scrapes to `limits`. Spawns nothing
    /// until targets are set.
    pub fn new(sink: Arc<dyn SampleSink>, limits: Limits) -> ScrapeManager {
        ScrapeManager {
            sink,
            limits: Arc::new(limits),
            client: super::fetch::client(),
            loops: Mutex::new(Loops::default()),
        }
    }

    /// Replaces the target set.
    ///
    /// - A target whose identity `(job, url, labels)` is already running keeps its loop (no
    ///   extra scrape, no gap); a changed `interval` or `timeout` is applied to it in place.
    /// - A new target starts scraping at once, then on its slot every interval.
    /// - A removed target stops (a scrape in flight is abandoned) and its series — exposed and
    ///   synthetic — get a staleness marker at the stop time, as Prometheus writes when a target
    ///   goes away. A target removed and added again starts only after those markers are written.
    ///
    /// When `targets` holds the same identity twice, the first one counts.
    pub fn set_targets(&self, targets: Vec<Target>) {
        let mut wanted: BTreeMap<TargetKey, Target> = BTreeMap::new();
        for target in targets {
            wanted.entry(TargetKey::of(&target)).or_insert(target);
        }
        let mut loops = self.lock();
        let removed: Vec<TargetKey> = loops
            .running
            .keys()
            .filter(|key| !wanted.contains_key(*key))
            .cloned()
            .collect();
        for key in removed {
            if let Some(running) = loops.running.remove(&key) {
                let _ = running.stop.send(true);
                loops.stopping.insert(
                    key,
                    Stopping {
                        handle: running.handle,
                        last_t: running.last_t,
                    },
                );
            }
        }
        for (key, target) in wanted {
            let cadence = Cadence::of(&target);
            if let Some(running) = loops.running.get(&key) {
                running.cadence.send_if_modified(|current| {
                    let changed = *current != cadence;
                    *current = cadence;
                    changed
                });
                let mut health = running
                    .health
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                health.interval = cadence.interval;
                health.timeout = cadence.timeout;
                continue;
            }
            let predecessor = loops.stopping.remove(&key);
            let running = self.start(&key, target, cadence, predecessor);
            loops.running.insert(key, running);
        }
        let now_ms = super::timing::unix_millis(std::time::SystemTime::now());
        loops.stopping.retain(|_, stopping| {
            !stopping.handle.is_finished() || stopping.last_t.load(Ordering::Acquire) >= now_ms
        });
    }

    /// The health of every current target, ordered by `(job, url, labels)`.
    pub fn targets(&self) -> Vec<TargetHealth> {
        self.lock()
            .running
            .values()
            .map(|running| {
                running
                    .health
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone()
            })
            .collect()
    }

    /// Stops every loop and waits until each has written its staleness markers. The target set
    /// is empty afterwards; `set_targets` may start a new one.
    pub async fn shutdown(&self) {
        let handles: Vec<JoinHandle<()>> = {
            let mut loops = self.lock();
            let running = std::mem::take(&mut loops.running);
            let mut handles: Vec<JoinHandle<()>> = loops
                .stopping
                .drain()
                .map(|(_, stopping)| stopping.handle)
                .collect();
            for (_, running) in running {
                let _ = running.stop.send(true);
                handles.push(running.handle);
            }
            handles
        };
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::warn!(%error, "a scrape loop ended abnormally");
            }
        }
    }

    fn start(
        &self,
        key: &TargetKey,
        target: Target,
        cadence: Cadence,
        predecessor: Option<Stopping>,
    ) -> Running {
        let (predecessor, last_t) = match predecessor {
            Some(stopping) => (Some(stopping.handle), stopping.last_t),
            None => (None, Arc::new(AtomicI64::new(i64::MIN))),
        };
        let health = Arc::new(Mutex::new(scrape_loop::initial_health(&target, cadence)));
        let (cadence_tx, cadence_rx) = watch::channel(cadence);
        let (stop_tx, stop_rx) = watch::channel(false);
        let handle = tokio::spawn(scrape_loop::run(LoopArgs {
            target,
            hash: key.stable_hash(),
            sink: Arc::clone(&self.sink),
            limits: Arc::clone(&self.limits),
            client: self.client.clone(),
            health: Arc::clone(&health),
            cadence: cadence_rx,
            stop: stop_rx,
            predecessor,
            last_t: Arc::clone(&last_t),
        }));
        Running {
            health,
            cadence: cadence_tx,
            stop: stop_tx,
            handle,
            last_t,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loops> {
        self.loops
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
