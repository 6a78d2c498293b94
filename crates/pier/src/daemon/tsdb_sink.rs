//! The sink the scrapers write through: every scrape's batch is committed to the store by one
//! long-lived thread, in arrival order. The head's memory (label sets, chunks growing sample by
//! sample) is then allocated by that one thread — one jemalloc arena — instead of by whichever
//! blocking-pool thread ran the commit, which scattered it over every arena, each holding
//! partly used pages (about 300 bytes per live series more resident memory in
//! `scripts/bench-tsdb`). The batch travels to the thread and back with the answer, so the
//! scraper keeps its buffer for the next scrape.

use std::sync::Arc;
use std::sync::mpsc;

use pier_scrape::scrape::{SampleSink, ScrapedSample};
use pier_tsdb::Tsdb;

type Batch = Vec<ScrapedSample>;
type Reply = mpsc::SyncSender<(Batch, Result<(), String>)>;

/// Commits each scrape to the store: `Ok` only once the batch is in the write-ahead log.
pub struct TsdbSink {
    /// To the commit thread; `None` if it could not be started (then commits run on the
    /// caller's thread).
    jobs: Option<mpsc::Sender<(Batch, Reply)>>,
    tsdb: Arc<Tsdb>,
}

impl TsdbSink {
    /// Starts the commit thread. It ends when the sink is dropped.
    pub fn start(tsdb: Arc<Tsdb>) -> TsdbSink {
        let (tx, rx) = mpsc::channel::<(Batch, Reply)>();
        let store = tsdb.clone();
        let started = std::thread::Builder::new()
            .name("pier-tsdb-commit".into())
            .spawn(move || {
                // Allocates what the head keeps: see `crate::allocator`.
                let _no_cache = crate::allocator::WithoutThreadCache::start();
                for (batch, reply) in rx {
                    let result = commit(&store, &batch);
                    let _ = reply.send((batch, result));
                }
            });
        if let Err(error) = &started {
            tracing::warn!(%error, "cannot start the metrics store's commit thread; committing on the scrapers' threads");
        }
        TsdbSink {
            jobs: started.ok().map(|_| tx),
            tsdb,
        }
    }
}

/// Commits one batch as it is (no copy). Out-of-order, duplicate and invalid samples are
/// counted by the store and skipped; the rest of the scrape is still stored.
fn commit(tsdb: &Tsdb, batch: &[ScrapedSample]) -> Result<(), String> {
    tsdb.commit_batch(batch.iter().map(|s| (&s.labels, s.t_ms, s.value)))
        .map(|_| ())
        .map_err(|error| format!("cannot store the scrape: {error}"))
}

impl SampleSink for TsdbSink {
    fn write(&self, batch: &mut Vec<ScrapedSample>) -> Result<(), String> {
        let Some(jobs) = &self.jobs else {
            return commit(&self.tsdb, batch);
        };
        let gone = || "the metrics store's commit thread has stopped".to_string();
        let (reply, answer) = mpsc::sync_channel(1);
        jobs.send((std::mem::take(batch), reply))
            .map_err(|_| gone())?;
        let (back, result) = answer.recv().map_err(|_| gone())?;
        *batch = back;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_tsdb::{Labels, Storage, TsdbOptions};

    #[test]
    fn batches_are_committed_by_the_thread_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Arc::new(Tsdb::open(dir.path(), TsdbOptions::default()).unwrap());
        let sink = TsdbSink::start(tsdb.clone());
        let up = Labels::series([("__name__", "up")]).unwrap();
        for t in [1000, 2000, 1500] {
            let mut batch = vec![ScrapedSample {
                labels: up.clone(),
                t_ms: t,
                value: t as f64,
            }];
            let buffer = batch.as_ptr();
            assert_eq!(sink.write(&mut batch), Ok(()));
            // The batch comes back from the thread: the caller's buffer is kept.
            assert_eq!(batch.as_ptr(), buffer);
        }
        drop(sink);
        let got: Vec<(i64, f64)> = tsdb.select(&[], 0, 10_000).unwrap()[0].clone().collect();
        assert_eq!(got, vec![(1000, 1000.0), (2000, 2000.0)]);
        assert_eq!(tsdb.stats().out_of_order_total, 1);
    }
}
