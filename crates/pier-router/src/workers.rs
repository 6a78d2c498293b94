//! The router's worker threads. Each runs its own single-threaded tokio runtime and owns the
//! client connections handed to it, together with every task those connections start (backend
//! connections, tunnels). A request is then served start to finish on one thread, as HAProxy's
//! threads do: no cross-thread wake-ups per request, and each worker keeps its own pool of
//! idle backend connections.
//!
//! With `pin` (the default, `[router] pin_workers`), worker `i` is bound to the `i`-th CPU the
//! process may run on, as HAProxy's `cpu-map` and nginx's `worker_cpu_affinity auto` do. A
//! worker owns its connections for their whole life, so two workers the kernel happens to
//! place on one CPU serve all their clients at half speed while another CPU runs something
//! else; pinned, each CPU carries one worker. Measured with `scripts/bench-router` on 2
//! cores: p99 latency 1.3–1.5 × HAProxy's unpinned, 0.9–1.05 × pinned.

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

/// The CPUs this thread (and so the process, before any worker is pinned) may run on.
fn allowed_cpus() -> Vec<core_affinity::CoreId> {
    core_affinity::get_core_ids().unwrap_or_default()
}

impl Workers {
    /// Starts `count` workers (at least one), each bound to one CPU if `pin` is set and the
    /// process may use more than one.
    pub(crate) fn start(count: usize, pin: bool) -> std::io::Result<Workers> {
        let cpus = if pin { allowed_cpus() } else { Vec::new() };
        let mut senders = Vec::new();
        for index in 0..count.max(1) {
            let cpu = (cpus.len() > 1).then(|| cpus[index % cpus.len()]);
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("pier-router-{index}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(index));
                    if let Some(cpu) = cpu
                        && !core_affinity::set_for_current(cpu)
                    {
                        tracing::warn!(
                            worker = index,
                            cpu = cpu.id,
                            "could not bind the router worker to its CPU; it runs unbound"
                        );
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUs each worker may run on, as the worker itself sees them.
    fn cpus_of_each_worker(workers: &Workers) -> Vec<Vec<usize>> {
        (0..workers.count())
            .map(|index| {
                let (tx, rx) = std::sync::mpsc::channel();
                workers.run(
                    index,
                    Box::pin(async move {
                        let ids = allowed_cpus().into_iter().map(|c| c.id).collect();
                        let _ = tx.send(ids);
                    }),
                );
                rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap()
            })
            .collect()
    }

    #[test]
    fn pinned_workers_run_on_one_cpu_each_in_turn() {
        let all: Vec<usize> = allowed_cpus().into_iter().map(|c| c.id).collect();
        let workers = Workers::start(all.len() + 1, true).unwrap();
        let seen = cpus_of_each_worker(&workers);
        if all.len() < 2 {
            // One CPU: nothing to spread over, the workers stay as they are.
            assert!(seen.iter().all(|cpus| *cpus == all));
            return;
        }
        for (index, cpus) in seen.iter().enumerate() {
            assert_eq!(*cpus, vec![all[index % all.len()]], "worker {index}");
        }
    }

    #[test]
    fn unpinned_workers_may_run_anywhere_the_process_may() {
        let all: Vec<usize> = allowed_cpus().into_iter().map(|c| c.id).collect();
        let workers = Workers::start(2, false).unwrap();
        assert!(
            cpus_of_each_worker(&workers)
                .iter()
                .all(|cpus| *cpus == all)
        );
    }
}
