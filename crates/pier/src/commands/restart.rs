//! `pier restart [SERVICE|REPLICA]`: a rolling restart, waited on until the new processes are
//! ready.

use pier_api::{RestartDto, RestartRequest};

use crate::client::Client;
use crate::exit::Exit;

pub async fn run(client: &Client, target: Option<String>) -> anyhow::Result<()> {
    let what = target
        .clone()
        .unwrap_or_else(|| "every service".to_string());
    eprintln!("Restarting {what}, one replica at a time...");
    let result: RestartDto = client
        .post("/v1/restart", &RestartRequest { target })
        .await?;
    if !result.all_ready {
        return Err(Exit::failed(format!(
            "restarted {} replica(s) of {what}, but not all became ready; see `pier ps` and `pier logs`",
            result.restarted
        )));
    }
    println!(
        "Restarted {} replica(s) of {what}; all ready.",
        result.restarted
    );
    Ok(())
}
