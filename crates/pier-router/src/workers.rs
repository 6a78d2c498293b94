//! The router's worker threads. Each runs its own single-threaded tokio runtime and owns the
//! client connections handed to it, together with every task those connections start (backend
//! connections, tunnels). A request is then served start to finish on one thread, as HAProxy's
//! threads do: no cross-thread wake-ups per request, and each worker keeps its own pool of
//! idle backend connections.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

/// Work handed to a worker: a future to run on its runtime (one client connection).
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

thread_local! {
    /// The index of the worker running on this thread; `usize::MAX` elsewhere.
    static WORKER: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The index of the current worker, or `count` when called from any other thread (the
/// shared slot of per-worker arrays).
pub(crate) fn current(count: usize) -> usize {
    WORKER.with(|w| w.get()).min(count)
}

/// Handles to the worker threads; they exit when this is dropped and their jobs finish.
pub(crate) struct Workers {
    senders: Vec<mpsc::UnboundedSender<Job>>,
}

impl Workers {
    /// Starts `count` workers (at least one).
    pub(crate) fn start(count: usize) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        for index in 0..count.max(1) {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("pier-router-{index}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(index));
                    runtime.block_on(async move {
                        while let Some(job) = rx.recv().await {
                            tokio::spawn(job);
                        }
                    });
                })?;
            senders.push(tx);
        }
        Ok(Workers { senders })
    }

    pub(crate) fn count(&self) -> usize {
        self.senders.len()
    }

    /// Runs `job` on worker `index % count`.
    pub(crate) fn run(&self, index: usize, job: Job) {
        let _ = self.senders[index % self.senders.len()].send(job);
    }
}
