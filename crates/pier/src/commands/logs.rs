//! `pier logs [-f] [NAME]`: history then, with `-f`, new lines as they come, in Heroku's log
//! format (`2026-11-22T07:41:20.123Z app[web.1]: text`) or as JSON lines.

use futures_util::StreamExt;
use pier_api::LogLineDto;
use reqwest::Method;

use crate::client::Client;

pub async fn run(
    client: &Client,
    name: Option<String>,
    follow: bool,
    lines: usize,
    json: bool,
) -> anyhow::Result<()> {
    let mut path = format!("/v1/logs?lines={lines}&follow={follow}");
    if let Some(name) = name {
        path.push_str(&format!("&name={}", encode(&name)));
    }
    let response = client.send(Method::GET, &path, None::<&()>).await?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            print_line(&line[..line.len() - 1], json);
        }
    }
    Ok(())
}

fn print_line(raw: &[u8], json: bool) {
    if json {
        println!("{}", String::from_utf8_lossy(raw));
        return;
    }
    if let Ok(line) = serde_json::from_slice::<LogLineDto>(raw) {
        let origin = if line.stream == "system" {
            "pier"
        } else {
            "app"
        };
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(line.at_ms.max(0) as u64);
        println!(
            "{} {origin}[{}]: {}",
            pier_supervisor::logs::rfc3339_millis(at),
            line.source,
            line.text
        );
    }
}

/// Percent-encodes a query value (names are simple, but never trust that).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
