//! The process's memory allocator: jemalloc, the settings it starts with, and which threads
//! allocate without its per-thread cache.
//!
//! Why jemalloc: the router allocates small, short-lived buffers per request, which glibc's
//! allocator serves markedly slower (`scripts/bench-router`); and the metrics store's scrapes
//! allocate a batch on one thread and free it on another, which mimalloc (used before) kept as
//! resident memory: about twice jemalloc's RSS per active series (`scripts/bench-tsdb`), for a
//! router at most a few percent faster.
//!
//! The settings ([`MALLOC_CONF`]) and the work done without a cache ([`WithoutThreadCache`])
//! are what the metrics store's memory needs, measured with `scripts/bench-tsdb` (resident
//! memory per live series, 10,000 series scraped every second):
//!
//! - jemalloc's default keeps freed pages for ten seconds before giving them back; the store's
//!   work comes in bursts (a scrape every few seconds, a block cut every few minutes), so the
//!   pages one burst freed stayed resident until the next: **1,416 → 1,307 B** per series with
//!   one second.
//! - Each thread's cache holds freed objects to hand them out again on the same thread. The
//!   store frees in bulk on one thread (a block cut drops a whole time range of chunks) what
//!   another allocated (the commit thread); those objects stay cached or go back to their slabs
//!   in cache-sized batches, and the slabs of the long-lived ones (label sets, open chunks)
//!   stay partly empty. The commit thread and maintenance therefore run without a cache
//!   ([`WithoutThreadCache`]): **1,307 → 1,059 B** per series with the cache off on every
//!   thread of the daemon's runtime, and 948–1,057 B (four runs) with it off on those two
//!   alone, together with the head's open chunks growing from nothing (`pier_tsdb::head`).
//!   Everything else keeps its cache: the router's workers
//!   allocate per request, and an import (parsing a file, appending in bulk) runs about a
//!   fifth slower without one (930,233–1,004,184 against 1,118,881–1,259,843 samples/s per
//!   core, `scripts/bench-tsdb 10000 2 0`).
//!
//! Tried and not kept: giving pages back at once (`dirty_decay_ms:0`) for the whole process took
//! about another 100 B per series off but cost the router 30% of its requests/s
//! (`scripts/bench-router 8 64`: 0.70 × HAProxy's, against 1.04 × with one second); the same for
//! an arena of the store's own (the commit thread and maintenance moved to it) changed nothing
//! (1,003–1,044 B per series), so what it saves is most likely the scrapers' memory (response
//! bodies, the HTTP client's buffers), allocated on the daemon's shared runtime.
//!
//! `_RJEM_MALLOC_CONF` in the environment still overrides the settings (jemalloc reads it after
//! [`MALLOC_CONF`]), e.g. to compare others with `scripts/bench-tsdb`.

use tikv_jemallocator::Jemalloc;

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

/// jemalloc's settings, read once when it starts: a background thread returns freed pages to
/// the kernel after they have been unused for a second (see the module docs). jemalloc reads a
/// C string through this symbol; `tikv-jemallocator` prefixes jemalloc's symbols with `_rjem_`.
// The attribute only names the symbol; no code runs, and the value is a NUL-terminated string
// that lives for the whole program, as jemalloc requires.
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8; 43] = b"background_thread:true,dirty_decay_ms:1000\0";

/// While it lives, the calling thread allocates without jemalloc's per-thread cache (see the
/// module docs); dropping it gives the thread a cache again. For the work that builds and cuts
/// the metrics store (the commit thread, maintenance); a failure is logged and changes nothing.
#[must_use = "the thread has its cache back when the guard is dropped"]
pub struct WithoutThreadCache(());

impl WithoutThreadCache {
    /// Turns the calling thread's cache off until the guard is dropped.
    pub fn start() -> WithoutThreadCache {
        if let Err(error) = set_thread_cache(false) {
            tracing::debug!(%error, "cannot turn off this thread's allocation cache");
        }
        WithoutThreadCache(())
    }
}

impl Drop for WithoutThreadCache {
    fn drop(&mut self) {
        let _ = set_thread_cache(true);
    }
}

/// Sets `thread.tcache.enabled` for the calling thread.
fn set_thread_cache(enabled: bool) -> Result<(), tikv_jemalloc_ctl::Error> {
    // SAFETY: `thread.tcache.enabled` is a `bool` in jemalloc's mallctl interface, the type
    // written here.
    #[allow(unsafe_code)]
    unsafe {
        tikv_jemalloc_ctl::raw::write(b"thread.tcache.enabled\0", enabled)
    }
}

/// Whether the calling thread allocates through jemalloc's per-thread cache.
#[cfg(test)]
fn thread_cache_enabled() -> Result<bool, tikv_jemalloc_ctl::Error> {
    // SAFETY: as in `set_thread_cache`: the key's type is `bool`.
    #[allow(unsafe_code)]
    unsafe {
        tikv_jemalloc_ctl::raw::read(b"thread.tcache.enabled\0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_starts_with_these_settings() {
        assert_eq!(MALLOC_CONF.last(), Some(&0), "jemalloc reads a C string");
        // The test binary has the same allocator and symbol as the daemon.
        if std::env::var_os("_RJEM_MALLOC_CONF").is_none() {
            // SAFETY: `opt.dirty_decay_ms` is an `ssize_t` (isize) in mallctl.
            #[allow(unsafe_code)]
            let decay: isize = unsafe { tikv_jemalloc_ctl::raw::read(b"opt.dirty_decay_ms\0") }
                .expect("read opt.dirty_decay_ms");
            assert_eq!(decay, 1000);
            assert!(tikv_jemalloc_ctl::background_thread::read().expect("background_thread"));
        }
    }

    #[test]
    fn a_thread_gives_up_its_allocation_cache_while_the_guard_lives_and_others_keep_theirs() {
        let bypassed = std::thread::spawn(|| {
            let guard = WithoutThreadCache::start();
            // It still allocates.
            let v: Vec<u8> = std::iter::repeat_n(1, 100).collect();
            let during = thread_cache_enabled();
            drop(guard);
            (during, v.len(), thread_cache_enabled())
        })
        .join()
        .expect("thread");
        assert_eq!(bypassed, (Ok(false), 100, Ok(true)));
        let other = std::thread::spawn(thread_cache_enabled)
            .join()
            .expect("thread");
        assert_eq!(other, Ok(true));
    }
}
