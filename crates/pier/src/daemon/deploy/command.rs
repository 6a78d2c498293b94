//! Runs one command of a deploy — the build or the release phase — under the shim, to
//! completion with a timeout. Its output goes through a private log bus (masked like the main
//! one) so that every line reaches the deploy's progress and the main bus under `source`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pier_supervisor::spawn::{Process, SpawnSpec, describe_exit};
use pier_supervisor::{LogBus, LogFilter};
use tokio::sync::broadcast::error::RecvError;

use super::progress::Progress;

/// How a command ended, when it did not succeed: a message and its last output lines.
pub struct CommandFailure {
    pub message: String,
    pub log_tail: Vec<String>,
}

/// Lines of output a failure carries.
const TAIL: usize = 20;

/// Runs `spec`; `Ok` when it exits 0.
pub async fn run(
    spec: &SpawnSpec,
    what: &str,
    source: &str,
    timeout: Duration,
    main: &LogBus,
    masks: Vec<(String, String)>,
    progress: &Arc<Progress>,
) -> Result<(), CommandFailure> {
    let private = LogBus::in_memory(TAIL * 10);
    private.set_masks(masks);
    let mut lines = private.subscribe();
    let forward = {
        let (main, progress, source) = (main.clone(), progress.clone(), source.to_string());
        tokio::spawn(async move {
            loop {
                match lines.recv().await {
                    Ok(line) => {
                        main.push(&source, line.stream, line.text.clone());
                        progress.output(&line.text);
                    }
                    Err(RecvError::Lagged(n)) => progress.output(&format!("({n} lines skipped)")),
                    Err(RecvError::Closed) => return,
                }
            }
        })
    };
    let outcome = execute(spec, what, timeout, &private).await;
    let tail = private
        .tail(&LogFilter::default(), TAIL)
        .iter()
        .map(|l| l.text.clone())
        .collect();
    drop(private);
    let _ = forward.await;
    outcome.map_err(|message| CommandFailure {
        message,
        log_tail: tail,
    })
}

async fn execute(
    spec: &SpawnSpec,
    what: &str,
    timeout: Duration,
    bus: &LogBus,
) -> Result<(), String> {
    let mut process = Process::spawn(spec, bus, "command")
        .map_err(|e| format!("cannot run the {what} `{}`: {e}", spec.command))?;
    let status = match tokio::time::timeout(timeout, process.wait()).await {
        Ok(status) => status.map_err(|e| format!("the {what}: {e}"))?,
        Err(_) => {
            process.kill().await;
            let _ = process.wait().await;
            return Err(format!(
                "the {what} timed out after {timeout:?} and was killed"
            ));
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!("the {what} failed ({})", describe_exit(&status)))
    }
}

/// A spawn spec for `command` in `dir` with `env`.
pub fn spec(
    shim: &std::path::Path,
    command: &str,
    dir: PathBuf,
    env: std::collections::BTreeMap<String, String>,
) -> SpawnSpec {
    SpawnSpec {
        shim: shim.to_path_buf(),
        command: command.to_string(),
        dir,
        env,
    }
}
