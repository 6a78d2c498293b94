//! `pier maintenance [on|off]`: shows or switches the router's maintenance mode, in which every
//! public request gets Heroku's H80 page (503) while the processes keep running.

use pier_api::MaintenanceDto;

use crate::cli::Switch;
use crate::client::Client;

pub async fn run(client: &Client, switch: Option<Switch>) -> anyhow::Result<()> {
    let state: MaintenanceDto = match switch {
        None => client.get("/v1/maintenance").await?,
        Some(switch) => {
            let enabled = switch == Switch::On;
            client
                .post("/v1/maintenance", &MaintenanceDto { enabled })
                .await?
        }
    };
    println!(
        "Maintenance mode is {}.",
        if state.enabled {
            "on: public requests get H80 (503)"
        } else {
            "off"
        }
    );
    Ok(())
}
