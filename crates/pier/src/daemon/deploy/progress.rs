//! What a deploy, rollback or config change reports: each step and output line goes to the
//! client's stream (if it is still listening), to the release's log file, and (steps only) to
//! the log bus as `release`. Config values are masked by the log bus before they get here.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use pier_api::{OutcomeDto, ProgressDto};
use pier_supervisor::{LogBus, LogStream};
use tokio::sync::mpsc;

/// Lines buffered for a slow client before output lines are dropped from its stream (they
/// stay in the log file).
pub const STREAM_BUFFER: usize = 4096;

/// The reporting side of one operation.
pub struct Progress {
    tx: mpsc::Sender<ProgressDto>,
    file: Mutex<Option<File>>,
    logs: LogBus,
}

impl Progress {
    /// Reports to `tx` and appends to the log file at `log` (created with its folder).
    pub fn new(tx: mpsc::Sender<ProgressDto>, log: &Path, logs: LogBus) -> Self {
        let file = log
            .parent()
            .map(std::fs::create_dir_all)
            .and_then(Result::ok)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .ok()
            });
        Progress {
            tx,
            file: Mutex::new(file),
            logs,
        }
    }

    pub fn step(&self, text: &str) {
        let text = self.logs.mask(text.to_string());
        self.logs.push("release", LogStream::System, text.clone());
        self.write(&format!("-----> {text}"));
        let _ = self.tx.try_send(ProgressDto::Step { text });
    }

    /// A line of a command's output, already masked.
    pub fn output(&self, text: &str) {
        self.write(&format!("       {text}"));
        let _ = self.tx.try_send(ProgressDto::Output {
            text: text.to_string(),
        });
    }

    pub async fn done(&self, outcome: OutcomeDto) {
        let verdict = if outcome.ok { "done" } else { "failed" };
        self.write(&format!("-----> {verdict}: {}", outcome.message));
        let _ = self.tx.send(ProgressDto::Done(outcome)).await;
    }

    fn write(&self, line: &str) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = file.as_mut() {
            let _ = writeln!(file, "{line}");
        }
    }
}
