//! [`Tsdb`]: the store as callers see it — a directory holding a lock file, the WAL and the
//! blocks; the head behind a `RwLock`, the list of open blocks behind another, the WAL writer
//! behind a `Mutex` (which also serializes commits), and the counters. Opening cleans up
//! after crashes, opens the blocks and replays the WAL (checkpoint, then later segments);
//! [`Tsdb::appender`] writes; the [`Storage`] impl reads blocks and head together;
//! [`Tsdb::maintain`] cuts the head into blocks, truncates the WAL, compacts blocks and
//! applies retention.
//!
//! # Locks
//!
//! Order: maintenance → WAL → head → blocks; nobody takes an earlier one while holding a
//! later one. Readers take the head's read lock and, under it, clone the block list, so they
//! see either the blocks and head from before a cut or those after it, never data twice or
//! not at all. A cut holds the WAL lock (pausing commits) and the head's write lock only to
//! truncate the head and swap in the new block — the block itself is written before, with
//! no lock held — and the WAL lock a moment longer to start a new segment and stream the
//! head into the checkpoint file (into the page cache through a small buffer, instead of
//! copying the head), which is then fsynced and renamed without locks.
//!
//! # Time bounds
//!
//! Once a range is being cut, the head refuses samples older than its end
//! ([`AppendError::OutOfBounds`](crate::AppendError::OutOfBounds)), so a block and the head
//! never overlap. After a restart that bound is the newest block's `maxt`, and WAL samples
//! below it (already in a block when a crash hit before the WAL was truncated) are skipped
//! on replay.

use crate::appender::Appender;
use crate::block::compact;
use crate::block::writer::delete_block;
use crate::block::{self, Block, DELETED_SUFFIX, TMP_SUFFIX};
use crate::chunk::ChunkIter;
use crate::error::TsdbError;
use crate::head::Head;
use crate::index::{LabelPool, Labels, Matcher, SeriesRef};
use crate::storage::{ChunkSource, SeriesCursor, Storage};
use crate::wal::checkpoint::{self, Record};
use crate::wal::{self, reader, writer::WalWriter};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Two hours in ms.
const TWO_HOURS_MS: i64 = 2 * 3600 * 1000;
/// Fifteen days in ms.
const FIFTEEN_DAYS_MS: i64 = 15 * 24 * 3600 * 1000;

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
    /// The time range of a block cut from the head, in ms (default 2 h, as Prometheus). The
    /// head is cut once it spans more than 1.5 × this; ranges are aligned to multiples of it.
    pub block_range_ms: i64,
    /// Blocks whose end is older than the newest block's end minus this are deleted
    /// (default 15 d; `<= 0` disables time retention). Also caps compaction: merged blocks
    /// are at most a tenth of it (and at most 31 d).
    pub retention_ms: i64,
    /// If set, the oldest blocks are deleted while blocks plus WAL exceed this many bytes
    /// (default none). The head is never deleted.
    pub retention_bytes: Option<u64>,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            sync: true,
            wal_segment_bytes: 32 << 20,
            samples_per_chunk: 120,
            block_range_ms: TWO_HOURS_MS,
            retention_ms: FIFTEEN_DAYS_MS,
            retention_bytes: None,
        }
    }
}

/// A snapshot of the store's size and counters: the head, the WAL, and the blocks.
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
    /// Oldest sample timestamp in the head (ms).
    pub min_time: Option<i64>,
    /// Newest sample timestamp in the head (ms).
    pub max_time: Option<i64>,
    /// Bytes of the WAL on disk: segments plus checkpoint.
    pub wal_bytes: u64,
    /// Number of WAL segments.
    pub wal_segments: u64,
    /// Bytes of the WAL checkpoint (included in `wal_bytes`).
    pub checkpoint_bytes: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of all blocks on disk.
    pub block_bytes: u64,
    /// Samples in all blocks.
    pub block_samples: u64,
    /// Bytes on disk in all: blocks plus WAL.
    pub disk_bytes: u64,
    /// Samples stored in all: blocks plus head (each sample once).
    pub total_samples: u64,
    /// Oldest sample timestamp over blocks and head (ms).
    pub oldest_time: Option<i64>,
    /// Newest sample timestamp over blocks and head (ms).
    pub newest_time: Option<i64>,
    /// The oldest timestamp the head accepts (the newest block's end), if any.
    pub min_valid_time: Option<i64>,
    /// Samples committed since open (replayed ones not included).
    pub samples_appended_total: u64,
    /// Samples rejected as older than their series' last sample.
    pub out_of_order_total: u64,
    /// Samples rejected as older than the head's start (already in a block).
    pub out_of_bounds_total: u64,
    /// Samples rejected for repeating a timestamp with a different value.
    pub duplicate_total: u64,
    /// Exact repeats (same timestamp and value) silently ignored; not errors.
    pub duplicates_ignored_total: u64,
    /// Bytes cut from a torn WAL tail when the store was opened.
    pub wal_truncated_bytes: u64,
    /// Blocks cut from the head since open.
    pub head_cuts_total: u64,
    /// Compactions (merges of blocks) since open.
    pub compactions_total: u64,
    /// Blocks deleted by retention since open.
    pub retention_deletions_total: u64,
}

impl HeadStats {
    /// Bytes on disk per stored sample (`disk_bytes / total_samples`), if any sample.
    pub fn bytes_per_sample(&self) -> Option<f64> {
        (self.total_samples > 0).then(|| self.disk_bytes as f64 / self.total_samples as f64)
    }
}

/// What one [`Tsdb::maintain`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Blocks cut from the head.
    pub blocks_written: u64,
    /// Merges of blocks into bigger ones.
    pub compactions: u64,
    /// Blocks deleted by retention.
    pub blocks_deleted: u64,
    /// Time spent writing blocks from the head (no lock held).
    pub cut_write_time: Duration,
    /// Longest time commits were paused by a cut (WAL lock held: head truncation, new
    /// segment, checkpoint snapshot).
    pub max_commit_pause: Duration,
    /// Total time of the call.
    pub duration: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub head_cuts: AtomicU64,
    pub compactions: AtomicU64,
    pub retention_deletions: AtomicU64,
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
    options: TsdbOptions,
    head: RwLock<Head>,
    /// Open blocks sorted by mint (non-overlapping); replaced wholesale on change.
    blocks: RwLock<Arc<Vec<Arc<Block>>>>,
    wal: Mutex<WalWriter>,
    /// [`Tsdb::commit_batch`]'s working vectors, kept between commits; locked after `wal`.
    pub(crate) commit_scratch: Mutex<crate::batch::CommitScratch>,
    /// The oldest timestamp the head accepts (`i64::MIN`: no bound).
    min_valid: AtomicI64,
    /// Serializes cutting, compaction and retention.
    maintenance: Mutex<()>,
    checkpoint_bytes: AtomicU64,
    pub(crate) counters: Counters,
    truncated: u64,
    /// Held for the life of the store: an exclusive lock on `dir/LOCK`.
    _lock: File,
}

impl Tsdb {
    /// Opens (creating) the store in `dir`: deletes leftovers of interrupted block writes and
    /// deletions, and blocks already merged into another block; opens the blocks; replays
    /// the WAL (checkpoint, then later segments, skipping samples older than the newest
    /// block's end): every sample whose commit returned Ok before a kill is there again. A
    /// torn record at the end of the last segment is dropped with the rest of its commit and
    /// the segment truncated there; damage elsewhere is a [`TsdbError::WalCorrupt`] naming
    /// the segment and offset, a damaged block a [`TsdbError::BlockCorrupt`]. Fails with
    /// [`TsdbError::Locked`] if the directory is already open.
    pub fn open(dir: &Path, options: TsdbOptions) -> Result<Tsdb, TsdbError> {
        let wal_dir = dir.join("wal");
        let blocks_dir = dir.join("blocks");
        for d in [&wal_dir, &blocks_dir] {
            if !d.is_dir() {
                wal::writer::ensure_dir(d)?;
                // Make the new directory entries themselves durable.
                wal::writer::sync_dir(dir)?;
            }
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

        // Blocks and head share each series' labels in memory.
        let mut pool = LabelPool::new();
        let blocks = open_blocks(&blocks_dir, &mut pool)?;
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().maxt)
            .max()
            .unwrap_or(i64::MIN);

        let mut head = Head::new(options.samples_per_chunk, options.block_range_ms);
        let mut refs: HashMap<u64, SeriesRef> = HashMap::new();
        let checkpoints = checkpoint::list(&wal_dir)?;
        let after = checkpoints.last().copied().unwrap_or(0);
        let mut checkpoint_bytes = 0;
        if after > 0 {
            checkpoint_bytes = checkpoint::read(&wal_dir, after, |rec| match rec {
                Record::Series(wal_ref, labels) => {
                    let labels = pool.intern(labels);
                    let r = head
                        .get_or_create_with_wal_ref(&labels, wal_ref)
                        .map_err(|e| format!("series {labels}: {e}"))?;
                    refs.insert(wal_ref, r);
                    Ok(())
                }
                Record::Chunk(wal_ref, encoding, bytes) => {
                    let r = *refs
                        .get(&wal_ref)
                        .ok_or_else(|| format!("chunk for unknown series ref {wal_ref}"))?;
                    let mut it = ChunkIter::new(encoding, bytes);
                    for (t, v) in it.by_ref() {
                        if t >= min_valid {
                            head.append(r, t, v);
                        }
                    }
                    it.err().map_or(Ok(()), |e| Err(format!("bad chunk: {e}")))
                }
            })?;
        }
        let outcome = reader::replay(&wal_dir, after, |series, samples| {
            for (wal_ref, labels) in series {
                let labels = pool.intern(labels.clone());
                let r = head
                    .get_or_create_with_wal_ref(&labels, *wal_ref)
                    .map_err(|e| format!("series {labels}: {e}"))?;
                refs.insert(*wal_ref, r);
            }
            for &(wal_ref, t, v) in samples {
                let r = refs
                    .get(&wal_ref)
                    .ok_or_else(|| format!("sample for unknown series ref {wal_ref}"))?;
                // Logged samples were validated before logging; a rejected one here can only
                // repeat an earlier sample, so it is skipped. Samples below the newest
                // block's end are in that block already (the WAL was not yet truncated).
                if t >= min_valid {
                    head.append(*r, t, v);
                }
            }
            Ok(())
        })?;
        if after > 0 {
            // Segments and checkpoints a crash left behind after the checkpoint was written.
            checkpoint::delete_replaced(&wal_dir, after)?;
        }
        // Drop series whose samples all turned out to be in blocks.
        head.truncate(min_valid);
        let last = outcome.segments.last().map(|&s| (s, outcome.last_size));
        let writer = WalWriter::open(
            &wal_dir,
            last,
            after + 1,
            outcome.total_bytes - outcome.last_size,
            outcome.segments.len(),
            options.wal_segment_bytes,
            options.sync,
        )?;
        Ok(Tsdb {
            dir: dir.to_path_buf(),
            options,
            head: RwLock::new(head),
            blocks: RwLock::new(Arc::new(blocks)),
            wal: Mutex::new(writer),
            commit_scratch: Mutex::new(crate::batch::CommitScratch::default()),
            min_valid: AtomicI64::new(min_valid),
            maintenance: Mutex::new(()),
            checkpoint_bytes: AtomicU64::new(checkpoint_bytes),
            counters: Counters::default(),
            truncated: outcome.truncated_bytes,
            _lock: lock,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &TsdbOptions {
        &self.options
    }

    /// A new appender; it buffers samples until [`Appender::commit`].
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(self)
    }

    /// The oldest timestamp the head accepts (`i64::MIN` if unbounded).
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid.load(Ordering::SeqCst)
    }

    /// The open blocks, sorted by time.
    pub fn blocks(&self) -> Arc<Vec<Arc<Block>>> {
        self.read_blocks().clone()
    }

    /// Sizes and counters.
    pub fn stats(&self) -> HeadStats {
        let (seg_bytes, wal_segments) = {
            let w = self.lock_wal();
            (w.total_bytes(), w.segments() as u64)
        };
        let checkpoint_bytes = self.checkpoint_bytes.load(Ordering::Relaxed);
        let (series, samples, chunks, head_bytes, range) = {
            let head = self.read_head();
            (
                head.num_series() as u64,
                head.num_samples(),
                head.num_chunks() as u64,
                head.approx_bytes() as u64,
                head.time_range(),
            )
        };
        let blocks = self.blocks();
        let block_bytes: u64 = blocks.iter().map(|b| b.size()).sum();
        let block_samples: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
        let wal_bytes = seg_bytes + checkpoint_bytes;
        let mins = blocks
            .iter()
            .filter_map(|b| b.meta().stats.min_sample_time)
            .chain(range.map(|r| r.0));
        let maxs = blocks
            .iter()
            .filter_map(|b| b.meta().stats.max_sample_time)
            .chain(range.map(|r| r.1));
        let min_valid = self.min_valid_time();
        let c = &self.counters;
        HeadStats {
            series,
            samples,
            chunks,
            head_bytes,
            min_time: range.map(|r| r.0),
            max_time: range.map(|r| r.1),
            wal_bytes,
            wal_segments,
            checkpoint_bytes,
            blocks: blocks.len() as u64,
            block_bytes,
            block_samples,
            disk_bytes: block_bytes + wal_bytes,
            total_samples: block_samples + samples,
            oldest_time: mins.min(),
            newest_time: maxs.max(),
            min_valid_time: (min_valid > i64::MIN).then_some(min_valid),
            samples_appended_total: c.appended.load(Ordering::Relaxed),
            out_of_order_total: c.out_of_order.load(Ordering::Relaxed),
            out_of_bounds_total: c.out_of_bounds.load(Ordering::Relaxed),
            duplicate_total: c.duplicate.load(Ordering::Relaxed),
            duplicates_ignored_total: c.ignored.load(Ordering::Relaxed),
            wal_truncated_bytes: self.truncated,
            head_cuts_total: c.head_cuts.load(Ordering::Relaxed),
            compactions_total: c.compactions.load(Ordering::Relaxed),
            retention_deletions_total: c.retention_deletions.load(Ordering::Relaxed),
        }
    }

    /// All periodic work, in order: [`compact_head`](Self::compact_head),
    /// [`compact_blocks`](Self::compact_blocks), [`apply_retention`](Self::apply_retention).
    /// Meant to be called periodically (e.g. every minute) from a blocking thread
    /// (`tokio::task::spawn_blocking`); commits and queries keep working meanwhile, pausing
    /// only for the moments reported in [`MaintenanceReport::max_commit_pause`]. Calls are
    /// serialized.
    pub fn maintain(&self) -> Result<MaintenanceReport, TsdbError> {
        let _m = self.lock_maintenance();
        let started = Instant::now();
        let mut report = MaintenanceReport::default();
        self.compact_head_locked(&mut report)?;
        report.compactions = self.compact_blocks_locked()?;
        report.blocks_deleted = self.apply_retention_locked()?;
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Holds off [`maintain`](Self::maintain) and its parts until the returned guard is
    /// dropped (a call in progress finishes first). For loading history through the head:
    /// a head cut in the middle would move the block boundary (the oldest time the head
    /// accepts) past samples not loaded yet, and they would be refused as too old. Commits
    /// and queries keep working; the head grows until the guard is dropped.
    pub fn hold_maintenance(&self) -> MaintenanceHold<'_> {
        MaintenanceHold {
            _guard: self.lock_maintenance(),
        }
    }

    /// Cuts the head into blocks while it spans more than 1.5 × `block_range_ms` (as
    /// Prometheus): each time the oldest whole range `[k·range, (k+1)·range)` holding head
    /// samples is written as a block, dropped from the head (a chunk straddling its end is
    /// split), and the WAL is truncated (checkpoint of the head, older segments deleted).
    /// Returns the number of blocks written.
    pub fn compact_head(&self) -> Result<u64, TsdbError> {
        let _m = self.lock_maintenance();
        let mut report = MaintenanceReport::default();
        self.compact_head_locked(&mut report)?;
        Ok(report.blocks_written)
    }

    /// Merges adjacent blocks into bigger ones (ranges growing × 3 from `block_range_ms`, up
    /// to a tenth of the retention or 31 days; Prometheus's planner), deleting the sources
    /// once the merged block is in place. Returns the number of merges.
    pub fn compact_blocks(&self) -> Result<u64, TsdbError> {
        let _m = self.lock_maintenance();
        self.compact_blocks_locked()
    }

    /// Deletes whole blocks: those ending before the newest block's end minus
    /// `retention_ms`, then the oldest while blocks plus WAL exceed `retention_bytes`.
    /// Returns the number deleted.
    pub fn apply_retention(&self) -> Result<u64, TsdbError> {
        let _m = self.lock_maintenance();
        self.apply_retention_locked()
    }

    fn compact_head_locked(&self, report: &mut MaintenanceReport) -> Result<(), TsdbError> {
        let range = self.options.block_range_ms.max(1);
        loop {
            let Some((hmin, hmax)) = self.read_head().time_range() else {
                return Ok(());
            };
            if i128::from(hmax) - i128::from(hmin) <= i128::from(range) * 3 / 2 {
                return Ok(());
            }
            // Saturating: near i64::MIN the aligned start is clamped, still <= hmin.
            let mint = hmin.div_euclid(range).saturating_mul(range);
            let maxt = mint.saturating_add(range);
            self.cut(mint, maxt, report)?;
        }
    }

    /// Moves `[mint, maxt)` from the head into a block, then truncates the WAL.
    fn cut(&self, mint: i64, maxt: i64, report: &mut MaintenanceReport) -> Result<(), TsdbError> {
        {
            // From here on no commit adds samples below maxt (commits validate under the WAL
            // lock, so none is half-way).
            let _wal = self.lock_wal();
            self.min_valid.fetch_max(maxt, Ordering::SeqCst);
        }
        let series = self.read_head().select(&[], mint, maxt - 1);
        let mut pool = LabelPool::new();
        for (labels, _) in &series {
            pool.add(labels);
        }
        let started = Instant::now();
        let block = match compact::write_head_block(&self.blocks_dir(), mint, maxt, series)? {
            Some(dir) => Some(Arc::new(Block::open_pooled(&dir, &mut pool)?)),
            None => None,
        };
        report.cut_write_time += started.elapsed();

        let paused = Instant::now();
        let wal_dir = self.dir.join("wal");
        let checkpoint = {
            let mut wal = self.lock_wal();
            {
                let mut head = self.write_head();
                head.truncate(maxt);
                if let Some(b) = &block {
                    let mut list = self.write_blocks();
                    let mut v: Vec<Arc<Block>> = list.as_ref().clone();
                    v.push(b.clone());
                    v.sort_by_key(|b| b.meta().mint);
                    *list = Arc::new(v);
                }
            }
            let n = wal.cut_for_checkpoint()?;
            if n > 0 {
                // Streamed from the head into the file's page cache while commits wait (no
                // copy of the head); flushed and fsynced below without locks.
                let mut w = checkpoint::CheckpointWriter::create(&wal_dir, n)?;
                self.read_head().write_checkpoint(&mut w)?;
                Some((n, w))
            } else {
                None
            }
        };
        report.max_commit_pause = report.max_commit_pause.max(paused.elapsed());
        if block.is_some() {
            report.blocks_written += 1;
            Counters::add(&self.counters.head_cuts, 1);
        }
        if let Some((n, w)) = checkpoint {
            let bytes = w.finish()?;
            self.checkpoint_bytes.store(bytes, Ordering::Relaxed);
            let (gone_bytes, gone) = checkpoint::delete_replaced(&wal_dir, n)?;
            self.lock_wal().forget(gone_bytes, gone);
        }
        Ok(())
    }

    fn compact_blocks_locked(&self) -> Result<u64, TsdbError> {
        let ranges = compact::ranges(self.options.block_range_ms, self.retention_cap());
        let mut merges = 0;
        loop {
            let blocks = self.blocks();
            let spans: Vec<(i64, i64)> = blocks
                .iter()
                .map(|b| (b.meta().mint, b.meta().maxt))
                .collect();
            let Some(picked) = compact::plan(&spans, &ranges) else {
                return Ok(merges);
            };
            let sources: Vec<Arc<Block>> = picked.iter().map(|&i| blocks[i].clone()).collect();
            let dir = compact::merge(&self.blocks_dir(), &sources)?;
            let mut pool = LabelPool::new();
            for b in &sources {
                b.all_labels().for_each(|l| pool.add(l));
            }
            let merged = Arc::new(Block::open_pooled(&dir, &mut pool)?);
            {
                let mut list = self.write_blocks();
                let gone: HashSet<&str> = sources.iter().map(|b| b.id()).collect();
                let mut v: Vec<Arc<Block>> = list
                    .iter()
                    .filter(|b| !gone.contains(b.id()))
                    .cloned()
                    .collect();
                v.push(merged);
                v.sort_by_key(|b| b.meta().mint);
                *list = Arc::new(v);
            }
            // Cursors still reading a source keep its files open.
            for b in &sources {
                delete_block(b.dir())?;
            }
            merges += 1;
            Counters::add(&self.counters.compactions, 1);
        }
    }

    /// The retention that caps compaction (31 d when time retention is off).
    fn retention_cap(&self) -> i64 {
        if self.options.retention_ms > 0 {
            self.options.retention_ms
        } else {
            i64::MAX
        }
    }

    fn apply_retention_locked(&self) -> Result<u64, TsdbError> {
        let blocks = self.blocks();
        let mut doomed: HashSet<String> = HashSet::new();
        if self.options.retention_ms > 0
            && let Some(newest) = blocks.iter().map(|b| b.meta().maxt).max()
        {
            let limit = newest.saturating_sub(self.options.retention_ms);
            for b in blocks.iter().filter(|b| b.meta().maxt < limit) {
                doomed.insert(b.id().to_string());
            }
        }
        if let Some(max_bytes) = self.options.retention_bytes {
            let wal = self.lock_wal().total_bytes() + self.checkpoint_bytes.load(Ordering::Relaxed);
            let mut total = wal
                + blocks
                    .iter()
                    .filter(|b| !doomed.contains(b.id()))
                    .map(|b| b.size())
                    .sum::<u64>();
            for b in blocks.iter() {
                if total <= max_bytes {
                    break;
                }
                if doomed.insert(b.id().to_string()) {
                    total -= b.size();
                }
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        {
            let mut list = self.write_blocks();
            let v: Vec<Arc<Block>> = list
                .iter()
                .filter(|b| !doomed.contains(b.id()))
                .cloned()
                .collect();
            *list = Arc::new(v);
        }
        for b in blocks.iter().filter(|b| doomed.contains(b.id())) {
            delete_block(b.dir())?;
        }
        let n = doomed.len() as u64;
        Counters::add(&self.counters.retention_deletions, n);
        Ok(n)
    }

    fn blocks_dir(&self) -> PathBuf {
        self.dir.join("blocks")
    }

    pub(crate) fn read_head(&self) -> RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write_head(&self) -> RwLockWriteGuard<'_, Head> {
        self.head.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_blocks(&self) -> RwLockReadGuard<'_, Arc<Vec<Arc<Block>>>> {
        self.blocks.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_blocks(&self) -> RwLockWriteGuard<'_, Arc<Vec<Arc<Block>>>> {
        self.blocks.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_wal(&self) -> MutexGuard<'_, WalWriter> {
        self.wal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_maintenance(&self) -> MutexGuard<'_, ()> {
        self.maintenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Maintenance held off; see [`Tsdb::hold_maintenance`].
#[must_use = "maintenance resumes as soon as the hold is dropped"]
pub struct MaintenanceHold<'a> {
    _guard: MutexGuard<'a, ()>,
}

/// Opens every block in `blocks_dir` after cleaning up: `*.tmp` and `*.deleted` directories
/// are removed, and so are blocks named as a parent of another block (the merged block is
/// complete, so its sources are redundant). Fails if blocks overlap.
fn open_blocks(blocks_dir: &Path, pool: &mut LabelPool) -> Result<Vec<Arc<Block>>, TsdbError> {
    let rd =
        fs::read_dir(blocks_dir).map_err(|e| TsdbError::io("read directory", blocks_dir, e))?;
    let mut blocks = Vec::new();
    let mut removed = false;
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io("read directory", blocks_dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TMP_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
            fs::remove_dir_all(&path).map_err(|e| TsdbError::io("remove", &path, e))?;
            removed = true;
        } else if block::is_block_id(name) && path.is_dir() {
            blocks.push(Block::open_pooled(&path, pool)?);
        }
    }
    if removed {
        wal::writer::sync_dir(blocks_dir)?;
    }
    let parents: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.parents.iter().cloned())
        .collect();
    let (stale, mut blocks): (Vec<Block>, Vec<Block>) =
        blocks.into_iter().partition(|b| parents.contains(b.id()));
    for b in stale {
        delete_block(b.dir())?;
    }
    blocks.sort_by_key(|b| b.meta().mint);
    for w in blocks.windows(2) {
        if w[1].meta().mint < w[0].meta().maxt {
            return Err(TsdbError::BlockCorrupt {
                path: w[1].dir().to_path_buf(),
                reason: format!(
                    "overlaps block {} ([{}, {}) and [{}, {}))",
                    w[0].id(),
                    w[0].meta().mint,
                    w[0].meta().maxt,
                    w[1].meta().mint,
                    w[1].meta().maxt
                ),
            });
        }
    }
    Ok(blocks.into_iter().map(Arc::new).collect())
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
        let (found, blocks) = {
            let head = self.read_head();
            (head.select(matchers, mint, maxt), self.blocks())
        };
        // Outside the lock: chain each series' chunks, blocks (oldest first) then head, and
        // keep only series with a sample inside the window (chunks that merely overlap it may
        // have a gap there).
        let mut by_series: BTreeMap<Labels, Vec<ChunkSource>> = BTreeMap::new();
        for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
            for (labels, metas) in b.select(matchers, mint, maxt) {
                by_series
                    .entry(labels)
                    .or_default()
                    .extend(metas.into_iter().map(|meta| ChunkSource::Block {
                        block: b.clone(),
                        meta,
                    }));
            }
        }
        for (labels, chunks) in found {
            by_series
                .entry(labels)
                .or_default()
                .extend(chunks.into_iter().map(ChunkSource::Mem));
        }
        Ok(by_series
            .into_iter()
            .filter_map(|(labels, chunks)| {
                let mut c = SeriesCursor::from_sources(labels, chunks, mint, maxt);
                c.has_sample().then_some(c)
            })
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        let mut out = BTreeSet::new();
        let blocks = {
            let head = self.read_head();
            block::label_names_of(head.index(), matchers, &mut out);
            self.blocks()
        };
        for b in blocks.iter() {
            b.label_names(matchers, &mut out);
        }
        Ok(out.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        let mut out = BTreeSet::new();
        let blocks = {
            let head = self.read_head();
            block::label_values_of(head.index(), name, matchers, &mut out);
            self.blocks()
        };
        for b in blocks.iter() {
            b.label_values(name, matchers, &mut out);
        }
        Ok(out.into_iter().collect())
    }
}
