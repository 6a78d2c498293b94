//! [`Tsdb`]: the store as callers see it — a directory holding a lock file and the WAL, the
//! head behind a `RwLock`, the WAL writer behind a `Mutex` (which also serializes commits),
//! and the counters. Opening replays the WAL; [`Tsdb::appender`] writes; the [`Storage`]
//! impl reads.

use crate::appender::Appender;
use crate::error::TsdbError;
use crate::head::Head;
use crate::index::{Matcher, SeriesRef};
use crate::storage::{SeriesCursor, Storage};
use crate::wal::{self, reader, writer::WalWriter};
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How the store behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsdbOptions {
    /// Fsync the WAL on every commit (default true). Without it a commit survives a process
    /// kill but not a machine crash.
    pub sync: bool,
    /// Start a new WAL segment before a commit once the current one is this big
    /// (default 32 MiB).
    pub wal_segment_bytes: u64,
    /// Samples per head chunk (default 120, as Prometheus).
    pub samples_per_chunk: usize,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            sync: true,
            wal_segment_bytes: 32 << 20,
            samples_per_chunk: 120,
        }
    }
}

/// A snapshot of the store's size and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in the head.
    pub series: u64,
    /// Samples in the head.
    pub samples: u64,
    /// Chunks in the head (closed plus open).
    pub chunks: u64,
    /// Approximate memory of the head: chunk bytes, labels, per-series overhead.
    pub head_bytes: u64,
    /// Oldest sample timestamp (ms).
    pub min_time: Option<i64>,
    /// Newest sample timestamp (ms).
    pub max_time: Option<i64>,
    /// Bytes in all WAL segments.
    pub wal_bytes: u64,
    /// Number of WAL segments.
    pub wal_segments: u64,
    /// Samples committed since open (replayed ones not included).
    pub samples_appended_total: u64,
    /// Samples rejected as older than their series' last sample.
    pub out_of_order_total: u64,
    /// Samples rejected for repeating a timestamp with a different value.
    pub duplicate_total: u64,
    /// Exact repeats (same timestamp and value) silently ignored; not errors.
    pub duplicates_ignored_total: u64,
    /// Bytes cut from a torn WAL tail when the store was opened.
    pub wal_truncated_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub duplicate: AtomicU64,
    pub ignored: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The time-series store. Cheap to share (`Arc<Tsdb>`): every method takes `&self`.
#[derive(Debug)]
pub struct Tsdb {
    dir: PathBuf,
    head: RwLock<Head>,
    wal: Mutex<WalWriter>,
    pub(crate) counters: Counters,
    truncated: u64,
    /// Held for the life of the store: an exclusive lock on `dir/LOCK`.
    _lock: File,
}

impl Tsdb {
    /// Opens (creating) the store in `dir` and replays the WAL: every sample whose commit
    /// returned Ok before a kill is there again. A torn record at the end of the last segment
    /// is dropped with the rest of its commit and the segment truncated there; damage
    /// elsewhere is a [`TsdbError::WalCorrupt`] naming the segment and offset. Fails with
    /// [`TsdbError::Locked`] if the directory is already open.
    pub fn open(dir: &Path, options: TsdbOptions) -> Result<Tsdb, TsdbError> {
        let wal_dir = dir.join("wal");
        if !wal_dir.is_dir() {
            wal::writer::ensure_dir(&wal_dir)?;
            // Make the new directory entries themselves durable.
            wal::writer::sync_dir(dir)?;
        }
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| TsdbError::io("open", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(TsdbError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => return Err(TsdbError::io("lock", &lock_path, e)),
        }

        let mut head = Head::new(options.samples_per_chunk);
        let mut refs: HashMap<u64, SeriesRef> = HashMap::new();
        let outcome = reader::replay(&wal_dir, |series, samples| {
            for (wal_ref, labels) in series {
                let r = head
                    .get_or_create(labels)
                    .map_err(|e| format!("series {labels}: {e}"))?;
                refs.insert(*wal_ref, r);
            }
            for (wal_ref, t, v) in wal::decode_samples(samples)? {
                let r = refs
                    .get(&wal_ref)
                    .ok_or_else(|| format!("sample for unknown series ref {wal_ref}"))?;
                // Logged samples were validated before logging; a rejected one here can only
                // repeat an earlier sample, so it is skipped.
                head.append(*r, t, v);
            }
            Ok(())
        })?;
        let last = outcome.segments.last().map(|&s| (s, outcome.last_size));
        let writer = WalWriter::open(
            &wal_dir,
            last,
            outcome.total_bytes - outcome.last_size,
            outcome.segments.len(),
            options.wal_segment_bytes,
            options.sync,
        )?;
        Ok(Tsdb {
            dir: dir.to_path_buf(),
            head: RwLock::new(head),
            wal: Mutex::new(writer),
            counters: Counters::default(),
            truncated: outcome.truncated_bytes,
            _lock: lock,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new appender; it buffers samples until [`Appender::commit`].
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(self)
    }

    /// Sizes and counters.
    pub fn stats(&self) -> HeadStats {
        let (wal_bytes, wal_segments) = {
            let w = self.lock_wal();
            (w.total_bytes(), w.segments() as u64)
        };
        let head = self.read_head();
        let range = head.time_range();
        let c = &self.counters;
        HeadStats {
            series: head.num_series() as u64,
            samples: head.num_samples(),
            chunks: head.num_chunks() as u64,
            head_bytes: head.approx_bytes() as u64,
            min_time: range.map(|r| r.0),
            max_time: range.map(|r| r.1),
            wal_bytes,
            wal_segments,
            samples_appended_total: c.appended.load(Ordering::Relaxed),
            out_of_order_total: c.out_of_order.load(Ordering::Relaxed),
            duplicate_total: c.duplicate.load(Ordering::Relaxed),
            duplicates_ignored_total: c.ignored.load(Ordering::Relaxed),
            wal_truncated_bytes: self.truncated,
        }
    }

    pub(crate) fn read_head(&self) -> RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write_head(&self) -> RwLockWriteGuard<'_, Head> {
        self.head.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_wal(&self) -> MutexGuard<'_, WalWriter> {
        self.wal.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for Tsdb {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesCursor>, TsdbError> {
        if mint > maxt {
            return Ok(Vec::new());
        }
        let found = self.read_head().select(matchers, mint, maxt);
        // Outside the lock: keep only series with a sample inside the window (chunks that
        // merely overlap it may have a gap there).
        let mut out: Vec<SeriesCursor> = found
            .into_iter()
            .filter_map(|(labels, chunks)| {
                let mut c = SeriesCursor::new(labels, chunks, mint, maxt);
                c.peek().is_some().then_some(c)
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        let head = self.read_head();
        let ix = head.index();
        if matchers.is_empty() {
            return Ok(ix.label_names().into_iter().map(String::from).collect());
        }
        let names: BTreeSet<&str> = ix
            .select(matchers)
            .into_iter()
            .filter_map(|r| ix.labels(r))
            .flat_map(|l| l.iter().map(|l| l.name.as_str()))
            .collect();
        Ok(names.into_iter().map(String::from).collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        let head = self.read_head();
        let ix = head.index();
        if matchers.is_empty() {
            return Ok(ix
                .label_values(name)
                .into_iter()
                .map(String::from)
                .collect());
        }
        let values: BTreeSet<&str> = ix
            .select(matchers)
            .into_iter()
            .filter_map(|r| ix.labels(r)?.get(name))
            .collect();
        Ok(values.into_iter().map(String::from).collect())
    }
}
