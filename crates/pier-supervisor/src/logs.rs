//! Captured output: every line a replica (or pier itself, for a replica) writes, with its time,
//! source (`web.1`) and stream. Lines go to a bounded in-memory ring for `pier logs`, to a
//! broadcast channel for followers (`pier logs -f`, the console of `pier up`), and to rotated
//! files under the log directory, one file per service, written by a dedicated thread so that
//! file I/O never blocks the async runtime.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

/// Lines kept in memory for `pier logs` (Heroku's Logplex keeps 1,500; we keep more).
pub const DEFAULT_RING_LINES: usize = 10_000;
/// Config values shorter than this are not masked in logs.
pub const MIN_MASKED_LEN: usize = 4;
/// A log file is rotated when it grows past this size.
pub const ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept per service (`web.log.1` … `web.log.3`).
pub const ROTATED_FILES: u32 = 3;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Written by pier about the source (state changes, probe failures).
    System,
}

/// One captured line.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Monotonic sequence number within this daemon.
    pub seq: u64,
    #[serde(serialize_with = "unix_ms")]
    pub at: SystemTime,
    /// `web.1`, `build`, `router`, …
    pub source: String,
    pub stream: LogStream,
    pub text: String,
}

impl LogLine {
    /// The service part of the source (`web` for `web.1`).
    pub fn service(&self) -> &str {
        self.source.split('.').next().unwrap_or(&self.source)
    }

    /// Heroku's log format: `2026-11-22T07:41:20.123Z app[web.1]: text`.
    pub fn heroku_format(&self) -> String {
        let mut out = String::with_capacity(32 + self.source.len() + self.text.len());
        self.push_heroku_format(&mut out);
        out
    }

    /// Appends [`LogLine::heroku_format`] to `out`.
    pub fn push_heroku_format(&self, out: &mut String) {
        let origin = if self.stream == LogStream::System {
            "pier"
        } else {
            "app"
        };
        push_rfc3339_millis(self.at, out);
        out.push(' ');
        out.push_str(origin);
        out.push('[');
        out.push_str(&self.source);
        out.push_str("]: ");
        out.push_str(&self.text);
    }
}

fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    s.serialize_i64(ms)
}

/// Selects lines by source: `web` matches `web` and `web.N`; `web.2` only itself.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub name: Option<String>,
}

impl LogFilter {
    pub fn matches(&self, line: &LogLine) -> bool {
        match &self.name {
            None => true,
            Some(name) => {
                line.source == *name
                    || line
                        .source
                        .strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }
        }
    }
}

/// The shared log sink. Cheap to clone.
#[derive(Clone)]
pub struct LogBus {
    inner: Arc<Inner>,
}

struct Inner {
    ring: Mutex<Ring>,
    /// Secret values (config vars) replaced in every line pushed.
    masks: std::sync::RwLock<Arc<Vec<(String, String)>>>,
    tx: broadcast::Sender<Arc<LogLine>>,
    files: Option<std_mpsc::Sender<ToFiles>>,
}

/// What the file writer thread is sent.
enum ToFiles {
    Line(Arc<LogLine>),
    /// Write and flush everything sent before, then answer.
    Flush(std_mpsc::Sender<()>),
}

struct Ring {
    next_seq: u64,
    capacity: usize,
    lines: VecDeque<Arc<LogLine>>,
}

impl LogBus {
    /// A bus that also writes rotated files into `dir` (created if missing).
    pub fn with_files(dir: &Path, ring_lines: usize) -> std::io::Result<LogBus> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = std_mpsc::channel();
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("pier-log-files".into())
            .spawn(move || FileWriter::new(dir).run(rx))?;
        Ok(Self::build(ring_lines, Some(tx)))
    }

    /// A bus that keeps lines in memory only.
    pub fn in_memory(ring_lines: usize) -> LogBus {
        Self::build(ring_lines, None)
    }

    fn build(capacity: usize, files: Option<std_mpsc::Sender<ToFiles>>) -> LogBus {
        let (tx, _) = broadcast::channel(4096);
        LogBus {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    next_seq: 1,
                    capacity: capacity.max(1),
                    lines: VecDeque::new(),
                }),
                tx,
                masks: std::sync::RwLock::new(Arc::new(Vec::new())),
                files,
            }),
        }
    }

    /// Masks these values — `(name, value)` pairs of config vars — in every line pushed from
    /// now on: each occurrence becomes `[masked NAME]`. Values shorter than
    /// [`MIN_MASKED_LEN`] characters are not masked (they would garble every line).
    pub fn set_masks(&self, vars: impl IntoIterator<Item = (String, String)>) {
        let mut masks: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(_, value)| value.chars().count() >= MIN_MASKED_LEN)
            .collect();
        // Longest first, so a value containing another is masked whole.
        masks.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        *self.inner.masks.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(masks);
    }

    /// `text` with every masked value replaced.
    pub fn mask(&self, text: String) -> String {
        let masks = self
            .inner
            .masks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut text = text;
        for (name, value) in masks.iter() {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), &format!("[masked {name}]"));
            }
        }
        text
    }

    /// Records a line now.
    pub fn push(&self, source: &str, stream: LogStream, text: impl Into<String>) {
        let text = self.mask(text.into());
        let line = {
            let mut ring = self.inner.ring.lock().unwrap_or_else(|e| e.into_inner());
            let line = Arc::new(LogLine {
                seq: ring.next_seq,
                at: SystemTime::now(),
                source: source.to_string(),
                stream,
                text,
            });
            ring.next_seq += 1;
            if ring.lines.len() == ring.capacity {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.clone());
            // Sent under the lock so followers see lines in sequence order.
            let _ = self.inner.tx.send(line.clone());
            line
        };
        if let Some(files) = &self.inner.files {
            let _ = files.send(ToFiles::Line(line));
        }
    }

    /// Waits (up to `timeout`) until every line pushed so far is written to its file: the
    /// writer batches lines, so call this before the process exits.
    pub fn flush_files(&self, timeout: Duration) {
        let Some(files) = &self.inner.files else {
            return;
        };
        let (ack, done) = std_mpsc::channel();
        let sent = files.send(ToFiles::Flush(ack));
        if sent.is_ok() {
            let _ = done.recv_timeout(timeout);
        }
    }

    /// The last `limit` lines matching `filter`, oldest first.
    pub fn tail(&self, filter: &LogFilter, limit: usize) -> Vec<Arc<LogLine>> {
        let ring = self.inner.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = ring
            .lines
            .iter()
            .rev()
            .filter(|l| filter.matches(l))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Subscribes to new lines. Take the subscription before calling [`LogBus::tail`] and skip
    /// lines whose `seq` was already printed, so nothing is lost or shown twice.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.inner.tx.subscribe()
    }
}

/// How long the file writer lets lines gather after writing a batch.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Appends lines to `<dir>/<service>.log`, rotating by size.
struct FileWriter {
    dir: PathBuf,
    // foldhash: looked up once per line written.
    open: std::collections::HashMap<String, (BufWriter<File>, u64), foldhash::fast::RandomState>,
    /// The line being written, reused from one line to the next.
    scratch: String,
}

impl FileWriter {
    fn new(dir: PathBuf) -> Self {
        FileWriter {
            dir,
            open: Default::default(),
            scratch: String::new(),
        }
    }

    fn run(mut self, rx: std_mpsc::Receiver<ToFiles>) {
        while let Ok(first) = rx.recv() {
            let mut acks = Vec::new();
            // Flush when the queue is drained, so files are current without a write per line.
            for message in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match message {
                    ToFiles::Line(line) => self.write(&line),
                    ToFiles::Flush(ack) => acks.push(ack),
                }
            }
            for (writer, _) in self.open.values_mut() {
                let _ = writer.flush();
            }
            for ack in acks {
                let _ = ack.send(());
            }
            // Coalesce: while this thread is not blocked in `recv`, a busy producer (the
            // router's access log, a line per request) sends without waking it, instead of
            // paying a futex wake-up and a context switch per line. Files lag by at most this.
            std::thread::park_timeout(COALESCE);
        }
    }

    fn write(&mut self, line: &LogLine) {
        let service = sanitize(line.service());
        let service = service.as_ref();
        self.scratch.clear();
        line.push_heroku_format(&mut self.scratch);
        self.scratch.push('\n');
        let open = self.open.get(service).map(|(_, size)| *size);
        if open.is_none_or(|size| size >= ROTATE_BYTES) {
            if open.is_some() {
                self.rotate(service);
            }
            let path = self.dir.join(format!("{service}.log"));
            let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) else {
                return;
            };
            let size = file.metadata().map_or(0, |m| m.len());
            self.open
                .insert(service.to_string(), (BufWriter::new(file), size));
        }
        if let Some((writer, size)) = self.open.get_mut(service)
            && writer.write_all(self.scratch.as_bytes()).is_ok()
        {
            *size += self.scratch.len() as u64;
        }
    }

    fn rotate(&mut self, service: &str) {
        if let Some((mut writer, _)) = self.open.remove(service) {
            let _ = writer.flush();
        }
        let path = |n: u32| match n {
            0 => self.dir.join(format!("{service}.log")),
            n => self.dir.join(format!("{service}.log.{n}")),
        };
        let _ = std::fs::remove_file(path(ROTATED_FILES));
        for n in (0..ROTATED_FILES).rev() {
            let _ = std::fs::rename(path(n), path(n + 1));
        }
    }
}

/// Keeps file names tame whatever the source is called.
fn sanitize(name: &str) -> std::borrow::Cow<'_, str> {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return std::borrow::Cow::Borrowed(name);
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .into()
}

/// Formats a time as RFC 3339 UTC with milliseconds (`2026-11-22T07:41:20.123Z`).
pub fn rfc3339_millis(t: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    push_rfc3339_millis(t, &mut out);
    out
}

/// Appends [`rfc3339_millis`] to `out`. Lines come many per second (the router's access log
/// writes one per request), so each thread formats the date and time to the second once per
/// second and only appends the milliseconds.
pub fn push_rfc3339_millis(t: SystemTime, out: &mut String) {
    use std::cell::RefCell;
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let Ok(since) = t.duration_since(UNIX_EPOCH) else {
        // Before 1970: no cache, and jiff knows the calendar.
        out.push_str(&jiff::Timestamp::try_from(t).map_or_else(
            |_| "0000-00-00T00:00:00.000Z".to_string(),
            |ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        ));
        return;
    };
    let secs = since.as_secs();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let whole = UNIX_EPOCH + Duration::from_secs(secs);
            second.1 = jiff::Timestamp::try_from(whole).map_or_else(
                |_| "0000-00-00T00:00:00".to_string(),
                |ts| ts.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
            );
            second.0 = secs;
        }
        out.push_str(&second.1);
    });
    let millis = since.subsec_millis();
    out.push('.');
    out.push(char::from(b'0' + (millis / 100) as u8));
    out.push(char::from(b'0' + (millis / 10 % 10) as u8));
    out.push(char::from(b'0' + (millis % 10) as u8));
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_333_280_123);
        assert_eq!(rfc3339_millis(t), "2026-11-22T07:41:20.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // The cached second is not reused for another second, nor the milliseconds.
        assert_eq!(
            rfc3339_millis(t + Duration::from_millis(7)),
            "2026-11-22T07:41:20.130Z"
        );
        assert_eq!(
            rfc3339_millis(t + Duration::from_millis(877)),
            "2026-11-22T07:41:21.000Z"
        );
        assert_eq!(
            rfc3339_millis(t + Duration::from_millis(1_000)),
            "2026-11-22T07:41:21.123Z"
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH - Duration::from_millis(1_500)),
            "1969-12-31T23:59:58.500Z"
        );
    }

    #[test]
    fn ring_is_bounded_and_filters() {
        let bus = LogBus::in_memory(3);
        for (i, src) in ["web.1", "web.2", "webhook.1", "web.1"].iter().enumerate() {
            bus.push(src, LogStream::Stdout, format!("line {i}"));
        }
        let all = bus.tail(&LogFilter::default(), 10);
        assert_eq!(all.len(), 3);
        let web = LogFilter {
            name: Some("web".into()),
        };
        let texts: Vec<_> = bus.tail(&web, 10).iter().map(|l| l.text.clone()).collect();
        assert_eq!(texts, ["line 1", "line 3"]);
    }

    #[test]
    fn flush_files_waits_for_the_batched_writer() {
        let dir = tempfile::tempdir().unwrap();
        let bus = LogBus::with_files(dir.path(), 10).unwrap();
        for n in 0..3 {
            bus.push("web.1", LogStream::Stdout, format!("line {n}"));
        }
        bus.flush_files(std::time::Duration::from_secs(5));
        let text = std::fs::read_to_string(dir.path().join("web.log")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with("line 2\n"), "{text}");
    }

    #[test]
    fn rotates_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FileWriter::new(dir.path().to_path_buf());
        let line = LogLine {
            seq: 1,
            at: SystemTime::now(),
            source: "web.1".into(),
            stream: LogStream::Stdout,
            text: "x".repeat(1000),
        };
        for _ in 0..(ROTATE_BYTES / 1000 + 10) {
            w.write(&line);
        }
        w.open.clear();
        assert!(dir.path().join("web.log.1").exists());
        assert!(dir.path().join("web.log").metadata().unwrap().len() < ROTATE_BYTES);
    }
}
