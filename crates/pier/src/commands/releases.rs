//! `pier deploy` (with `--canary` and `--abort`), `pier promote`, `pier releases`,
//! `pier rollback` and `pier config`: thin clients of the release routes. The long ones follow the daemon's newline-delimited progress, print it as it comes
//! (steps as `----->`, output indented, Heroku-style) and exit non-zero with the reason and
//! the failing part's last log lines when the release failed.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt;
use pier_api::{
    ConfigDto, ConfigRequest, DeployRequest, ProgressDto, ReleasesDto, RollbackRequest,
};
use reqwest::Method;
use serde::Serialize;

use crate::client::Client;
use crate::exit::Exit;
use crate::table::Table;

pub async fn deploy(
    client: &Client,
    dir: Option<&Path>,
    dirty: bool,
    description: Option<String>,
    canary: Option<f64>,
) -> anyhow::Result<()> {
    let dir = dir
        .map(|d| {
            d.canonicalize()
                .map_err(|e| Exit::invalid(format!("app folder {}: {e}", d.display())))
        })
        .transpose()?;
    let request = DeployRequest {
        dirty,
        description,
        dir: dir.map(|d| d.display().to_string()),
        canary,
    };
    follow(client, "/v1/deploy", &request).await
}

/// `--canary 10`, `--canary 2.5` or `--canary 10%`; the daemon checks the range.
pub fn parse_percent(text: &str) -> anyhow::Result<f64> {
    let number = text.trim().trim_end_matches('%').trim();
    number
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite())
        .ok_or_else(|| {
            Exit::invalid(format!(
                "--canary takes a percentage from 1 to 99 (like 10 or 2.5), not {text:?}; \
                 nothing was deployed"
            ))
        })
}

pub async fn promote(client: &Client) -> anyhow::Result<()> {
    follow(client, "/v1/canary/promote", &serde_json::json!({})).await
}

pub async fn abort(client: &Client) -> anyhow::Result<()> {
    follow(client, "/v1/canary/abort", &serde_json::json!({})).await
}

pub async fn rollback(client: &Client, version: Option<String>) -> anyhow::Result<()> {
    let version = version
        .map(|v| pier_api::parse_version(&v).map_err(|e| Exit::invalid(e.message)))
        .transpose()?;
    follow(client, "/v1/rollback", &RollbackRequest { version }).await
}

pub async fn releases(client: &Client, log: Option<String>, json: bool) -> anyhow::Result<()> {
    if let Some(version) = log {
        let version = pier_api::parse_version(&version).map_err(|e| Exit::invalid(e.message))?;
        print!(
            "{}",
            client
                .get_text(&format!("/v1/releases/{version}/log"))
                .await?
        );
        return Ok(());
    }
    let list: ReleasesDto = client.get("/v1/releases").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let mut table = Table::new(&["VERSION", "CREATED", "SOURCE", "STATUS", "DESCRIPTION"]);
    for r in &list.releases {
        let mut description = r.description.clone();
        if let Some(failure) = &r.failure {
            description.push_str(&format!(" — {failure}"));
        }
        let status = match &list.canary {
            Some(canary) if canary.version == r.version => {
                format!("canary {}%", canary.percent)
            }
            _ => r.status.clone(),
        };
        table.row(vec![
            format!("v{}", r.version),
            local_time(r.created_at_ms),
            r.source.clone(),
            status,
            description,
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn config(
    client: &Client,
    command: Option<crate::cli::ConfigCommand>,
    json: bool,
) -> anyhow::Result<()> {
    use crate::cli::ConfigCommand;
    let request = match command {
        None => return show_config(client, json).await,
        Some(ConfigCommand::Set { pairs }) => ConfigRequest {
            set: parse_pairs(&pairs)?,
            unset: Vec::new(),
        },
        Some(ConfigCommand::Unset { keys }) => ConfigRequest {
            set: BTreeMap::new(),
            unset: keys,
        },
    };
    follow(client, "/v1/config", &request).await
}

async fn show_config(client: &Client, json: bool) -> anyhow::Result<()> {
    let config: ConfigDto = client.get("/v1/config").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    if config.vars.is_empty() {
        eprintln!(
            "No config vars in v{}; set one with `pier config set KEY=VALUE`.",
            config.release
        );
    }
    let width = config.vars.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in &config.vars {
        println!("{:<width$}  {value}", format!("{key}:"), width = width + 1);
    }
    Ok(())
}

/// `KEY=VALUE` arguments; checked here so that a typo never reaches the daemon.
pub fn parse_pairs(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    if pairs.is_empty() {
        return Err(Exit::invalid(
            "give at least one KEY=VALUE, like `pier config set FOO=bar`",
        ));
    }
    let mut set = BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Exit::invalid(format!(
                "{pair:?} is not KEY=VALUE; write `pier config set {pair}=VALUE` (nothing was changed)"
            )));
        };
        if key.is_empty() {
            return Err(Exit::invalid(format!(
                "{pair:?} has no name before `=` (nothing was changed)"
            )));
        }
        if set.insert(key.to_string(), value.to_string()).is_some() {
            return Err(Exit::invalid(format!(
                "{key} is given twice (nothing was changed)"
            )));
        }
    }
    Ok(set)
}

/// Posts `request` and prints the progress stream until its end.
pub(crate) async fn follow<B: Serialize>(
    client: &Client,
    path: &str,
    request: &B,
) -> anyhow::Result<()> {
    let response = client.send(Method::POST, path, Some(request)).await?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Exit::failed(format!("the daemon stopped answering: {e}")))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(item) = serde_json::from_slice::<ProgressDto>(&line) else {
                continue;
            };
            match item {
                ProgressDto::Step { text } => eprintln!("-----> {text}"),
                ProgressDto::Output { text } => eprintln!("       {text}"),
                ProgressDto::Done(outcome) if outcome.ok => {
                    println!("{}", outcome.message);
                    return Ok(());
                }
                ProgressDto::Done(outcome) => {
                    let mut message = outcome.message;
                    for line in &outcome.log_tail {
                        message.push_str(&format!("\n  {line}"));
                    }
                    return Err(Exit::failed(message));
                }
            }
        }
    }
    Err(Exit::failed(
        "the daemon ended the stream before the outcome; see `pier releases` and `pier logs release`",
    ))
}

/// `2026-11-22 07:41:20` in the local time zone.
pub(crate) fn local_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}
