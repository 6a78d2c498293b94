//! The daemon lock: one daemon per app directory. The daemon holds an exclusive `flock` on
//! `.pier/daemon.lock` for its lifetime and publishes how to reach it in `.pier/daemon.json`.
//! The kernel releases the lock when the process dies, even by `kill -9`, so a crashed daemon
//! never blocks the next start, and a `daemon.json` is believed only while its lock is held.
//! Knows nothing of what the daemon runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};
use serde::{Deserialize, Serialize};

use crate::db::create_state_dir;

const LOCK_FILE: &str = "daemon.lock";
const INFO_FILE: &str = "daemon.json";
const INFO_TMP_FILE: &str = "daemon.json.tmp";

/// How long [`DaemonLock::acquire`] keeps looking for the holder's `daemon.json` (it may be
/// between taking the lock and publishing, or a CLI may be probing the lock for a moment).
const UNPUBLISHED_GRACE: Duration = Duration::from_millis(250);
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How to reach a running daemon, published in `daemon.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    /// The control API address, e.g. `127.0.0.1:7070`.
    pub api: String,
    /// The public listener address, if the daemon routes traffic.
    pub listen: Option<String>,
    pub started_at_ms: i64,
    pub app: String,
}

/// Why the daemon lock could not be taken or published.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock; its published info when it could be read.
    #[error("{}", describe_holder(.0.as_ref()))]
    Held(Option<DaemonInfo>),

    #[error("cannot {op} {}: {source}; check the .pier directory's permissions", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Proof that this process is the app's daemon. Dropping it removes `daemon.json` and
/// releases the lock.
#[derive(Debug)]
pub struct DaemonLock {
    // Rust opens files close-on-exec, so child processes never inherit (and prolong) the lock.
    file: File,
    state_dir: PathBuf,
}

impl DaemonLock {
    /// Takes the lock without waiting for it; [`LockError::Held`] if another daemon has it.
    /// Creates `state_dir` if missing.
    pub fn acquire(state_dir: &Path) -> Result<DaemonLock, LockError> {
        create_state_dir(state_dir).map_err(io_error("create", state_dir))?;
        let lock_path = state_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error("open", &lock_path))?;
        let deadline = Instant::now() + UNPUBLISHED_GRACE;
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => return Ok(DaemonLock::taken(file, state_dir)),
                Err(TryLockError::WouldBlock) => {
                    let info = read_info_file(state_dir);
                    if info.is_some() || Instant::now() >= deadline {
                        return Err(LockError::Held(info));
                    }
                    pause(POLL_INTERVAL);
                }
                Err(TryLockError::Error(source)) => {
                    return Err(io_error("lock", &lock_path)(source));
                }
            }
        }
    }

    /// Writes `daemon.json` atomically (temporary file, fsync, rename, fsync of the folder),
    /// so a reader sees the old file or the new one, never a torn one.
    pub fn publish(&self, info: &DaemonInfo) -> Result<(), LockError> {
        let tmp = self.state_dir.join(INFO_TMP_FILE);
        let json = serde_json::to_vec_pretty(info).map_err(io::Error::other);
        let write = |json: Vec<u8>| -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()
        };
        json.and_then(write).map_err(io_error("write", &tmp))?;
        let path = self.state_dir.join(INFO_FILE);
        fs::rename(&tmp, &path).map_err(io_error("rename into place", &path))?;
        File::open(&self.state_dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error("sync", &self.state_dir))
    }

    /// The state directory this lock guards.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    fn taken(file: File, state_dir: &Path) -> DaemonLock {
        // Any daemon.json present now was left by a daemon that died without cleaning up;
        // remove it so nobody reads it while we hold the lock but have not published yet.
        let _ = fs::remove_file(state_dir.join(INFO_FILE));
        DaemonLock {
            file,
            state_dir: state_dir.to_path_buf(),
        }
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        // Remove the info while still holding the lock, so it cannot race with the next
        // daemon's publish. Failure leaves a stale file, which readers ignore (lock not held).
        let _ = fs::remove_file(self.state_dir.join(INFO_FILE));
        let _ = FileExt::unlock(&self.file);
    }
}

/// The running daemon's info, or `None` if no process holds the lock (any `daemon.json` left
/// by a killed daemon is stale and ignored) or the daemon has not published yet.
pub fn read_daemon_info(state_dir: &Path) -> Option<DaemonInfo> {
    let file = File::open(state_dir.join(LOCK_FILE)).ok()?;
    // A shared lock only conflicts with the daemon's exclusive one; it is released when
    // `file` is dropped at the end of this function.
    match FileExt::try_lock_shared(&file) {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => read_info_file(state_dir),
        Err(TryLockError::Error(_)) => None,
    }
}

fn read_info_file(state_dir: &Path) -> Option<DaemonInfo> {
    let bytes = fs::read(state_dir.join(INFO_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn describe_holder(info: Option<&DaemonInfo>) -> String {
    match info {
        Some(info) => format!(
            "a pier daemon already runs app {} from this directory (pid {}, api {}); \
             stop it first or use the cli against it",
            info.app, info.pid, info.api
        ),
        None => "another process holds this app's daemon lock (pid unknown); \
                 stop the other pier daemon first"
            .to_owned(),
    }
}

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LockError {
    let path = path.to_path_buf();
    move |source| LockError::Io { op, path, source }
}

/// Waits between polls of the lock. This API is blocking by design (callers use
/// `spawn_blocking`), and the wait is bounded by [`UNPUBLISHED_GRACE`].
#[expect(
    clippy::disallowed_methods,
    reason = "blocking API, never called on an async worker; polls with a deadline"
)]
fn pause(interval: Duration) {
    std::thread::sleep(interval);
}
