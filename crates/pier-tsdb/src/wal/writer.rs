//! Appending to the WAL: one buffered write per commit, fsync when asked, segment rotation,
//! and rollback of a failed write so the log never keeps a half-written record before later
//! ones.

use super::segment_name;
use crate::error::TsdbError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The open tail of the log.
#[derive(Debug)]
pub struct WalWriter {
    dir: PathBuf,
    seq: u32,
    file: File,
    /// Size of the current segment.
    size: u64,
    /// Size of all earlier segments.
    earlier: u64,
    segments: usize,
    segment_limit: u64,
    sync: bool,
    broken: Option<String>,
}

impl WalWriter {
    /// Continues segment `seq` of size `size` (or starts segment `first_seq` if `last` is
    /// `None`). `earlier` is the size of the segments before it.
    pub fn open(
        dir: &Path,
        last: Option<(u32, u64)>,
        first_seq: u32,
        earlier: u64,
        segments: usize,
        segment_limit: u64,
        sync: bool,
    ) -> Result<Self, TsdbError> {
        let (seq, size, segments) = match last {
            Some((seq, size)) => (seq, size, segments),
            None => (first_seq.max(1), 0, 1),
        };
        let file = open_segment(dir, seq)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            seq,
            file,
            size,
            earlier,
            segments,
            segment_limit: segment_limit.max(1),
            sync,
            broken: None,
        })
    }

    /// Total bytes in all segments.
    pub fn total_bytes(&self) -> u64 {
        self.earlier + self.size
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Path of the current segment.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(segment_name(self.seq))
    }

    /// Writes one commit's records (fsyncing if configured). On failure the segment is cut
    /// back to where it was, so a later commit does not follow a damaged record; if even that
    /// fails, the writer refuses all further writes.
    pub fn write(&mut self, buf: &[u8]) -> Result<(), TsdbError> {
        if let Some(why) = &self.broken {
            return Err(TsdbError::WalBroken(why.clone()));
        }
        if self.size >= self.segment_limit {
            self.rotate()?;
        }
        let path = self.current_path();
        let result = self
            .file
            .write_all(buf)
            .map_err(|e| TsdbError::io("write", &path, e))
            .and_then(|()| {
                if self.sync {
                    self.file
                        .sync_data()
                        .map_err(|e| TsdbError::io("fsync", &path, e))
                } else {
                    Ok(())
                }
            });
        match result {
            Ok(()) => {
                self.size += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // After a failed fsync the page cache cannot be trusted either way; cut the
                // record off and sync again, or give up on the log.
                let undo = self
                    .file
                    .set_len(self.size)
                    .and_then(|()| self.file.sync_all());
                if let Err(u) = undo {
                    self.broken = Some(format!("{e}; rolling back failed too: {u}"));
                }
                Err(e)
            }
        }
    }

    /// Prepares a checkpoint: moves on to a fresh segment unless the current one is empty,
    /// and returns the last segment the checkpoint will replace (every commit so far is in a
    /// segment `<=` it; 0 if there is none).
    pub fn cut_for_checkpoint(&mut self) -> Result<u32, TsdbError> {
        if let Some(why) = &self.broken {
            return Err(TsdbError::WalBroken(why.clone()));
        }
        if self.size > 0 {
            self.rotate()?;
        }
        Ok(self.seq - 1)
    }

    /// The current segment's sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Accounts for `count` segments of `bytes` in total deleted before the current one.
    pub fn forget(&mut self, bytes: u64, count: usize) {
        self.earlier = self.earlier.saturating_sub(bytes);
        self.segments = self.segments.saturating_sub(count).max(1);
    }

    fn rotate(&mut self) -> Result<(), TsdbError> {
        let file = open_segment(&self.dir, self.seq + 1)?;
        self.file = file;
        self.seq += 1;
        self.earlier += self.size;
        self.size = 0;
        self.segments += 1;
        Ok(())
    }
}

/// Opens (creating, in append mode) a segment, fsyncing the directory if it was created.
fn open_segment(dir: &Path, seq: u32) -> Result<File, TsdbError> {
    let path = dir.join(segment_name(seq));
    let existed = path.exists();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| TsdbError::io("open", &path, e))?;
    if !existed {
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Fsyncs a directory so a file created in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), TsdbError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TsdbError::io("fsync directory", dir, e))
}

/// Creates a directory (and parents) if needed.
pub fn ensure_dir(dir: &Path) -> Result<(), TsdbError> {
    fs::create_dir_all(dir).map_err(|e| TsdbError::io("create directory", dir, e))
}
