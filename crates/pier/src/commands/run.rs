//! `pier run [--service web] -- CMD …`: a one-off process with the current release's code and
//! env. Its output is printed as it comes (stdout to stdout, stderr to stderr) and pier exits
//! with the command's exit code.

use std::io::Write;

use futures_util::StreamExt;
use pier_api::{RunEventDto, RunRequest};
use reqwest::Method;

use crate::client::Client;
use crate::exit::Exit;

/// Returns the command's exit code.
pub async fn run(
    client: &Client,
    service: Option<String>,
    command: Vec<String>,
) -> anyhow::Result<u8> {
    let request = RunRequest { service, command };
    let response = client.send(Method::POST, "/v1/run", Some(&request)).await?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Exit::failed(format!("the daemon stopped answering: {e}")))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            match serde_json::from_slice::<RunEventDto>(&line) {
                Ok(RunEventDto::Started { name, release }) => {
                    eprintln!("Running as {name} (v{release})");
                }
                Ok(RunEventDto::Output { stream, text }) if stream == "stderr" => {
                    eprintln!("{text}");
                }
                Ok(RunEventDto::Output { text, .. }) => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{text}");
                }
                Ok(RunEventDto::Exit { code, .. }) => return Ok(code.clamp(0, 255) as u8),
                Err(_) => {}
            }
        }
    }
    Err(Exit::failed(
        "the daemon ended the stream before the process exited",
    ))
}
