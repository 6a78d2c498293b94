//! `pier run -- CMD …`: a one-off process with the current release's folder and env and the
//! chosen service's env, under the shim. Its output streams to the client unmasked (the user
//! asked for it) and to the log bus as `run.N` (masked); the stream ends with the exit code.
//! The process is killed if the client goes away.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pier_api::{ApiError, RunEventDto, RunRequest};
use pier_supervisor::env::{ReplicaIdentity, replica_env, url_var};
use pier_supervisor::spawn::{Process, SpawnSpec, describe_exit};
use pier_supervisor::{LogBus, LogStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::Inner;

/// Validates the request, starts the process and returns its stream.
pub async fn start(
    inner: Arc<Inner>,
    request: RunRequest,
) -> Result<mpsc::Receiver<RunEventDto>, ApiError> {
    if request.command.is_empty() || request.command[0].trim().is_empty() {
        return Err(ApiError::bad_request(
            "nothing to run: give a command after `--`, like `pier run -- printenv`",
        ));
    }
    let release = inner
        .supervisor
        .current_release()
        .await
        .map_err(ApiError::from)?;
    let services = &release.manifest.services;
    let service = match &request.service {
        Some(name) => services.get(name).ok_or_else(|| {
            ApiError::not_found(
                "unknown_service",
                format!(
                    "unknown service `{name}` (this app has: {})",
                    services.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?,
        None => services
            .get("web")
            .or_else(|| services.values().next())
            .ok_or_else(|| ApiError::bad_request("the app has no service"))?,
    };
    let name = format!("run.{}", inner.runs.fetch_add(1, Ordering::Relaxed));
    let urls: BTreeMap<String, String> = inner
        .internal_urls
        .iter()
        .map(|(s, url)| (url_var(s), url.clone()))
        .collect();
    let id = ReplicaIdentity {
        app: &release.manifest.app,
        service: &service.name,
        replica: &name,
        release: release.version,
        port: None,
    };
    let spec = SpawnSpec {
        shim: inner.shim.clone(),
        command: shell_command(&request.command),
        dir: release.dir.clone(),
        env: replica_env(&id, &release.env, &service.env, &urls),
    };
    if *inner.ending.borrow() {
        return Err(ApiError::conflict("this environment is being destroyed"));
    }
    let private = LogBus::in_memory(1000);
    let lines = private.subscribe();
    let process = Process::spawn(&spec, &private, &name)
        .map_err(|e| ApiError::bad_request(format!("cannot run `{}`: {e}", spec.command)))?;
    let (tx, rx) = mpsc::channel(1024);
    let _ = tx
        .send(RunEventDto::Started {
            name: name.clone(),
            release: release.version,
        })
        .await;
    inner.logs.push(
        &name,
        LogStream::System,
        format!("running `{}` (v{})", spec.command, release.version),
    );
    inner.one_offs.send_modify(|n| *n += 1);
    tokio::spawn(supervise(inner, name, process, private, lines, tx));
    Ok(rx)
}

async fn supervise(
    inner: Arc<Inner>,
    name: String,
    mut process: Process,
    private: LogBus,
    mut lines: tokio::sync::broadcast::Receiver<Arc<pier_supervisor::LogLine>>,
    tx: mpsc::Sender<RunEventDto>,
) {
    let forward = {
        let (tx, main, name) = (tx.clone(), inner.logs.clone(), name.clone());
        tokio::spawn(async move {
            loop {
                match lines.recv().await {
                    Ok(line) => {
                        main.push(&name, line.stream, line.text.clone());
                        let stream = match line.stream {
                            LogStream::Stderr => "stderr",
                            _ => "stdout",
                        };
                        let _ = tx
                            .send(RunEventDto::Output {
                                stream: stream.to_string(),
                                text: line.text.clone(),
                            })
                            .await;
                    }
                    Err(RecvError::Lagged(n)) => {
                        let text = format!("({n} lines skipped: output too fast)");
                        let _ = tx
                            .send(RunEventDto::Output {
                                stream: "stderr".into(),
                                text,
                            })
                            .await;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    };
    let mut ending = inner.ending.subscribe();
    // The guard `wait_for` yields is not `Send`: drop it inside its own future.
    let ended = async move {
        let _ = ending.wait_for(|e| *e).await;
    };
    let (status, killed) = tokio::select! {
        status = process.wait() => (status.ok(), "killed: the client went away"),
        _ = tx.closed() => {
            process.kill().await;
            let _ = process.wait().await;
            (None, "killed: the client went away")
        }
        _ = ended => {
            process.kill().await;
            let _ = process.wait().await;
            (None, "killed: its environment was destroyed")
        }
    };
    drop(process);
    inner.one_offs.send_modify(|n| *n = n.saturating_sub(1));
    drop(private);
    let _ = forward.await;
    let (code, message) = match status {
        Some(status) => (exit_code(&status), describe_exit(&status)),
        None => (137, killed.to_string()),
    };
    inner.logs.push(
        &name,
        LogStream::System,
        format!("process exited ({message})"),
    );
    let _ = tx.send(RunEventDto::Exit { code, message }).await;
}

/// The exit code a shell would report: the code, or 128 + the signal.
fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// One argument is a shell command line (`pier run -- 'rake db:migrate && echo ok'`);
/// several are a program and its arguments, each quoted for `sh -c`.
pub fn shell_command(args: &[String]) -> String {
    if let [single] = args {
        return single.clone();
    }
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::shell_command;

    #[test]
    fn arguments_are_quoted_and_a_single_one_is_a_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_command(&args(&["echo $HOME && true"])),
            "echo $HOME && true"
        );
        assert_eq!(
            shell_command(&args(&["sh", "-c", "exit 3"])),
            "'sh' '-c' 'exit 3'"
        );
        assert_eq!(shell_command(&args(&["echo", "it's"])), r"'echo' 'it'\''s'");
    }
}
