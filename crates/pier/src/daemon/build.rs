//! The build step of `pier up`: runs `[build] command` in the app folder under the shim, with
//! the user's own environment (a build is run like the user's shell would), printing its
//! output as it comes, Heroku-style, and keeping it in `.pier/logs/build.log`.

use std::path::Path;
use std::time::Instant;

use pier_supervisor::LogBus;
use pier_supervisor::spawn::{Process, SpawnSpec, describe_exit};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::console::{self, Style};
use crate::exit::Exit;

/// Runs the build; fails with the exit status when the command fails or is interrupted.
pub async fn run(
    command: &str,
    dir: &Path,
    shim: &Path,
    logs: &LogBus,
    style: Style,
    mut stopping: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    console::step(style, &format!("building with `{command}`"));
    let started = Instant::now();
    let spec = SpawnSpec {
        shim: shim.to_path_buf(),
        command: command.to_string(),
        dir: dir.to_path_buf(),
        env: std::env::vars().collect(),
    };
    let mut lines = logs.subscribe();
    let echo = tokio::spawn(async move {
        loop {
            match lines.recv().await {
                Ok(line) if line.source == "build" => println!("       {}", line.text),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    let mut process = Process::spawn(&spec, logs, "build").map_err(|error| {
        Exit::failed(format!("cannot run the build command `{command}`: {error}"))
    })?;
    let outcome = tokio::select! {
        status = process.wait() => Some(status),
        _ = stopping.wait_for(|s| *s) => None,
    };
    echo.abort();
    let Some(status) = outcome else {
        process.kill().await;
        let _ = process.wait().await;
        return Err(Exit::failed("build interrupted; nothing was started"));
    };
    let status =
        status.map_err(|error| Exit::failed(format!("build command `{command}`: {error}")))?;
    if !status.success() {
        return Err(Exit::failed(format!(
            "build failed ({}); nothing was started — see the output above or .pier/logs/build.log",
            describe_exit(&status)
        )));
    }
    console::step(
        style,
        &format!("build succeeded in {:.1}s", started.elapsed().as_secs_f64()),
    );
    Ok(())
}
