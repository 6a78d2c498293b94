//! `pier stage NAME [DIR]`, `pier stage list` and `pier stage destroy NAME`: thin clients of
//! the stage routes. Staging follows the daemon's progress like `pier deploy`.

use std::path::Path;

use pier_api::{StageDestroyedDto, StageRequest, StagesDto};
use reqwest::Method;

use crate::cli::StageCommand;
use crate::client::Client;
use crate::commands::releases::{follow, local_time};
use crate::exit::Exit;
use crate::table::Table;

/// Checks what can be checked before the network: a name is lowercase letters, digits and
/// `-` (the daemon checks the rest).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(Exit::invalid(format!(
            "invalid stage name {name:?}: use a DNS label of lowercase letters, digits and -, \
             such as `review-42` (nothing was changed)"
        )));
    }
    Ok(())
}

pub async fn run(
    client: &Client,
    command: Option<StageCommand>,
    name: Option<String>,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    match command {
        Some(StageCommand::List { json }) => list(client, json).await,
        Some(StageCommand::Destroy { name }) => destroy(client, &name).await,
        None => {
            let name = name.ok_or_else(|| {
                Exit::invalid(
                    "give the stage a name: `pier stage NAME [DIR]`, or use `pier stage list`",
                )
            })?;
            stage(client, &name, dir).await
        }
    }
}

async fn stage(client: &Client, name: &str, dir: Option<&Path>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .map_err(|e| Exit::invalid(format!("working tree {}: {e}", dir.display())))?;
    let request = StageRequest {
        name: name.to_string(),
        dir: dir.display().to_string(),
    };
    follow(client, "/v1/stages", &request).await
}

async fn list(client: &Client, json: bool) -> anyhow::Result<()> {
    let list: StagesDto = client.get("/v1/stages").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.stages.is_empty() {
        println!("No stages. Stage the working tree with `pier stage NAME`.");
        return Ok(());
    }
    let mut table = Table::new(&["NAME", "RELEASE", "URL", "READY", "CREATED", "WORKING TREE"]);
    for s in &list.stages {
        let release = match (&s.release, &s.busy) {
            _ if !s.running => "not running (destroy it)".to_string(),
            (_, Some(_)) => "deploying".to_string(),
            (Some(v), None) => format!("v{v}"),
            (None, None) => "-".to_string(),
        };
        table.row(vec![
            s.name.clone(),
            release,
            s.url.clone(),
            format!("{}/{}", s.ready, s.replicas),
            local_time(s.created_at_ms),
            s.dir.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

async fn destroy(client: &Client, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let response = client
        .send(Method::DELETE, &format!("/v1/stages/{name}"), None::<&()>)
        .await?;
    let done: StageDestroyedDto = response
        .json()
        .await
        .map_err(|e| Exit::failed(format!("unexpected answer from the daemon: {e}")))?;
    println!(
        "stage {} destroyed: {} process(es) stopped, its state and files deleted",
        done.name, done.stopped
    );
    Ok(())
}
