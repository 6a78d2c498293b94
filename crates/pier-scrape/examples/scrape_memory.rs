//! Memory per active series with series scraped live, measured the way `scripts/bench-tsdb`
//! measures the daemon, but in one process with the daemon's allocator (jemalloc with its
//! background thread) wrapped to count live heap bytes: a store
//! (fsync on, blocks of `--block-ms`), a [`ScrapeManager`] scraping `--url` every
//! `--interval-ms` into it through a sink like the daemon's, and maintenance every half block.
//! Prints live heap bytes and RSS: the idle baseline (before the first scrape), then the mean
//! over the last third of the run, each per series.
//!
//! ```text
//! python3 scripts/gen-openmetrics.py serve 9911 --series 10000 --interval 0.25 &
//! cargo run --release -p pier-scrape --example scrape_memory -- \
//!     http://127.0.0.1:9911/metrics 10000 250 15000 60
//! ```
//!
//! (URL, series, scrape interval ms, block ms, seconds.) A 250 ms interval with 15 s blocks
//! keeps the 60 samples per block of the benchmark's 1 s / 1 min in a quarter of the time
//! (`1000 60000` is the benchmark's own setting, and its figures are closer to it).
//!
//! The daemon's allocator settings (`crates/pier/src/allocator.rs`: pages given back after a
//! second, and no per-thread cache on the threads that build the store, which here is every
//! thread) are not this program's own; give them to it through the environment:
//!
//! ```text
//! _RJEM_MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,tcache:false \
//!     target/release/examples/scrape_memory http://127.0.0.1:9911/metrics 10000 1000 60000 180
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use pier_scrape::exposition::Limits;
use pier_scrape::scrape::{SampleSink, ScrapeManager, ScrapedSample, Target};
use pier_tsdb::{Tsdb, TsdbOptions};
use tikv_jemallocator::Jemalloc;

/// jemalloc, counting the bytes asked for (live heap = allocated - freed).
struct Counting {
    live: AtomicIsize,
}

// Forwards every call to jemalloc unchanged; only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.live
            .fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { Jemalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live
            .fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.live
            .fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { Jemalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.live.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { Jemalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting {
    live: AtomicIsize::new(0),
};

fn live_heap() -> f64 {
    GLOBAL.live.load(Ordering::Relaxed) as f64
}

/// The daemon's sink: one appender and commit per scrape.
struct Sink(Arc<Tsdb>);

impl SampleSink for Sink {
    fn write(&self, batch: &mut Vec<ScrapedSample>) -> Result<(), String> {
        self.0
            .commit_batch(batch.iter().map(|s| (&s.labels, s.t_ms, s.value)))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn rss_bytes() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<i64>().ok())
        })
        .map_or(0, |k| k * 1024)
}

/// Mean (heap, RSS) over readings every 500 ms for `secs`.
async fn mean_over(secs: f64) -> (f64, f64) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let (mut heap, mut rss, mut n) = (0f64, 0f64, 0f64);
    while Instant::now() < end {
        heap += live_heap();
        rss += rss_bytes() as f64;
        n += 1.0;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (heap / n, rss / n)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let url = arg(0, "http://127.0.0.1:9911/metrics");
    let series: f64 = arg(1, "10000").parse().expect("series");
    let interval_ms: u64 = arg(2, "250").parse().expect("interval ms");
    let block_ms: i64 = arg(3, "15000").parse().expect("block ms");
    let secs: f64 = arg(4, "60").parse().expect("seconds");

    let dir = std::env::temp_dir().join(format!("pier-scrape-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = TsdbOptions {
        block_range_ms: block_ms,
        ..TsdbOptions::default()
    };
    let tsdb = Arc::new(Tsdb::open(&dir, options).expect("open store"));
    let manager = ScrapeManager::new(Arc::new(Sink(tsdb.clone())), Limits::default());
    let maint = tsdb.clone();
    let maintenance = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis((block_ms / 2) as u64));
        every.tick().await;
        loop {
            every.tick().await;
            let t = maint.clone();
            let _ = tokio::task::spawn_blocking(move || t.maintain()).await;
        }
    });
    let (base_heap, base_rss) = mean_over(3.0).await;
    manager.set_targets(vec![Target {
        job: "node".into(),
        url,
        labels: Vec::new(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms),
    }]);
    tokio::time::sleep(Duration::from_secs_f64(secs * 2.0 / 3.0)).await;
    let (heap, rss) = mean_over(secs / 3.0).await;
    let stats = tsdb.stats();
    let health = manager.targets();
    println!(
        "target: {:?} samples {} error {:?}",
        health[0].health, health[0].samples, health[0].last_error
    );
    println!(
        "head: {} series, {} samples, {} chunks, approx {} B; blocks {}; appended {}",
        stats.series,
        stats.samples,
        stats.chunks,
        stats.head_bytes,
        stats.blocks,
        stats.samples_appended_total
    );
    println!(
        "heap: idle {:.1} MiB, live {:.1} MiB -> {:.0} B/series",
        base_heap / 1048576.0,
        heap / 1048576.0,
        (heap - base_heap) / series
    );
    println!(
        "RSS:  idle {:.1} MiB, live {:.1} MiB -> {:.0} B/series",
        base_rss / 1048576.0,
        rss / 1048576.0,
        (rss - base_rss) / series
    );
    // Breakdown: what the scrape side holds (its per-target state), then the store.
    maintenance.abort();
    let _ = maintenance.await;
    let before = live_heap();
    manager.shutdown().await;
    drop(manager);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_scrape = live_heap();
    drop(tsdb);
    let after_store = live_heap();
    println!(
        "held at the end: scrape state {:.0} B/series, store {:.0} B/series",
        (before - after_scrape) / series,
        (after_scrape - after_store) / series
    );
    let _ = std::fs::remove_dir_all(&dir);
}
