//! Starting a shell command through the shim, capturing its output into the [`LogBus`], and
//! stopping it: gracefully (SIGTERM to its process group, then SIGKILL after a grace period)
//! or at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use crate::logs::{LogBus, LogStream};
use crate::shim;

/// Longest line kept whole; longer output is split into several lines.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// What to run and where.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The pier executable, which runs the shim as `pier __shim -- …`.
    pub shim: PathBuf,
    /// Shell command, run with `sh -c`.
    pub command: String,
    pub dir: PathBuf,
    /// The complete environment (nothing is inherited).
    pub env: BTreeMap<String, String>,
}

/// Prefixes a simple command (one program with its arguments) with `exec`, so that the shell
/// is replaced by the program: the program is the process group leader, gets SIGTERM itself,
/// and its exit status is reported as it is rather than as the shell's death by the signal.
/// Anything with shell control syntax (lists, pipes, subshells, keywords, leading variable
/// assignments) runs unchanged.
pub fn exec_simple_command(command: &str) -> String {
    const CONTROL: &[char] = &[';', '&', '|', '\n', '(', ')', '`', '{', '}', '<', '>', '#'];
    const KEYWORDS: &[&str] = &[
        "if", "for", "while", "until", "case", "exec", "!", "time", "trap", "cd", "export", ".",
    ];
    let trimmed = command.trim();
    let first = trimmed.split_whitespace().next().unwrap_or("");
    let simple = !trimmed.is_empty()
        && !trimmed.contains(CONTROL)
        && !first.contains('=')
        && !KEYWORDS.contains(&first);
    if simple {
        format!("exec {trimmed}")
    } else {
        command.to_string()
    }
}

/// A running command under its shim.
pub struct Process {
    child: Child,
    control: Option<ChildStdin>,
    output: Vec<JoinHandle<()>>,
    shim_pid: u32,
}

impl Process {
    /// Spawns `spec`, sending each output line to `logs` under `source`.
    pub fn spawn(spec: &SpawnSpec, logs: &LogBus, source: &str) -> std::io::Result<Process> {
        let mut child = Command::new(&spec.shim)
            .arg(shim::SUBCOMMAND)
            .arg("--")
            .args(["sh", "-c", &exec_simple_command(&spec.command)])
            .current_dir(&spec.dir)
            .env_clear()
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false)
            .spawn()?;
        let shim_pid = child.id().unwrap_or(0);
        let mut output = Vec::new();
        if let Some(out) = child.stdout.take() {
            output.push(capture(out, logs.clone(), source, LogStream::Stdout));
        }
        if let Some(err) = child.stderr.take() {
            output.push(capture(err, logs.clone(), source, LogStream::Stderr));
        }
        Ok(Process {
            control: child.stdin.take(),
            child,
            output,
            shim_pid,
        })
    }

    /// The application's pid (the shim's child), if it is already running.
    pub fn app_pid(&self) -> Option<u32> {
        let path = format!("/proc/{0}/task/{0}/children", self.shim_pid);
        std::fs::read_to_string(path)
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Waits for the application's pid to appear, for up to a second.
    pub async fn wait_app_pid(&self) -> Option<u32> {
        for _ in 0..200 {
            if let Some(pid) = self.app_pid() {
                return Some(pid);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// Waits for the process (and its output) to end.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        for task in self.output.drain(..) {
            let _ = task.await;
        }
        Ok(status)
    }

    /// Asks the shim to send SIGTERM to the process group.
    pub async fn terminate(&mut self) {
        self.send(shim::CONTROL_TERMINATE).await;
    }

    /// Asks the shim to SIGKILL the process group and every descendant.
    pub async fn kill(&mut self) {
        self.send(shim::CONTROL_KILL).await;
    }

    async fn send(&mut self, byte: u8) {
        let delivered = match self.control.as_mut() {
            Some(pipe) => pipe.write_all(&[byte]).await.is_ok() && pipe.flush().await.is_ok(),
            None => false,
        };
        if !delivered && byte == shim::CONTROL_KILL {
            // The shim is gone or unreachable: closing its control pipe is the last resort.
            self.control = None;
            let _ = self.child.start_kill();
        }
    }

    /// SIGTERM, then SIGKILL if still running after `grace`. Returns the exit status and
    /// whether SIGKILL was needed.
    pub async fn stop(&mut self, grace: Duration) -> (Option<ExitStatus>, bool) {
        self.terminate().await;
        if let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await {
            return (self.finish(status).await, false);
        }
        self.kill().await;
        let status = self.child.wait().await;
        (self.finish(status).await, true)
    }

    async fn finish(&mut self, status: std::io::Result<ExitStatus>) -> Option<ExitStatus> {
        for task in self.output.drain(..) {
            let _ = task.await;
        }
        status.ok()
    }
}

/// Runs `spec` to completion with a timeout; the output goes to `logs`. Returns `None` on
/// timeout (the process has then been killed).
pub async fn run_to_completion(
    spec: &SpawnSpec,
    logs: &LogBus,
    source: &str,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let mut process = Process::spawn(spec, logs, source)?;
    match tokio::time::timeout(timeout, process.wait()).await {
        Ok(status) => status.map(Some),
        Err(_) => {
            process.kill().await;
            let _ = process.wait().await;
            Ok(None)
        }
    }
}

/// Describes an exit status the way `pier ps` shows it.
pub fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(sig) => format!("killed by {}", sig.as_str()),
            Err(_) => format!("killed by signal {signal}"),
        },
        _ => "ended".to_string(),
    }
}

fn capture<R>(reader: R, logs: LogBus, source: &str, stream: LogStream) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let source = source.to_string();
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            let read = (&mut reader)
                .take(MAX_LINE_BYTES as u64)
                .read_until(b'\n', &mut buf)
                .await;
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    logs.push(&source, stream, String::from_utf8_lossy(&buf).into_owned());
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::exec_simple_command;

    #[test]
    fn simple_commands_are_execed() {
        assert_eq!(
            exec_simple_command("python3 -m http.server $PORT"),
            "exec python3 -m http.server $PORT"
        );
        assert_eq!(exec_simple_command("  bin/web  "), "exec bin/web");
    }

    #[test]
    fn shell_syntax_runs_unchanged() {
        for command in [
            "a && b",
            "a; b",
            "a | b",
            "sleep 1 & exec sleep 2",
            "FOO=1 bin/web",
            "if true; then x; fi",
            "exec bin/web",
            "bin/web > out.log",
            "(cd x && y)",
        ] {
            assert_eq!(exec_simple_command(command), command);
        }
    }
}
