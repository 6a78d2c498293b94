//! `pier ps`: one row per replica, aligned, or JSON; a canary is named below the table.

use pier_api::{PsDto, ReplicaDto, StatusDto};

use crate::client::Client;
use crate::table::{Table, short_duration};

pub async fn run(client: &Client, json: bool) -> anyhow::Result<()> {
    let ps: PsDto = client.get("/v1/ps").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&ps)?);
        return Ok(());
    }
    if ps.replicas.is_empty() {
        println!(
            "No replicas are running (every service is scaled to 0). Scale with `pier scale web=1`."
        );
        return Ok(());
    }
    print!("{}", render(&ps.replicas));
    let status: StatusDto = client.get("/v1/status").await?;
    if let Some(canary) = status.canary {
        println!(
            "v{} is a canary with {}% of the clients (`pier promote` rolls it out, `pier deploy --abort` removes it)",
            canary.version, canary.percent
        );
    }
    Ok(())
}

/// The table `pier ps` prints.
pub fn render(replicas: &[ReplicaDto]) -> String {
    let mut table = Table::new(&[
        "NAME", "STATE", "READY", "PID", "PORT", "RESTARTS", "UPTIME", "RELEASE", "NOTE",
    ]);
    for r in replicas {
        let dash = || "-".to_string();
        table.row(vec![
            r.name.clone(),
            r.state.clone(),
            if r.ready { "yes" } else { "no" }.to_string(),
            r.pid.map_or_else(dash, |p| p.to_string()),
            r.port.map_or_else(dash, |p| p.to_string()),
            r.restarts.to_string(),
            r.uptime_seconds.map_or_else(dash, short_duration),
            format!("v{}", r.release),
            note(r),
        ]);
    }
    table.render()
}

fn note(r: &ReplicaDto) -> String {
    let last = r.last_exit.as_deref().map(|e| format!("last: {e}"));
    match (r.next_restart_in_seconds, last) {
        (Some(s), Some(last)) => format!("back-off, restarting in {s}s; {last}"),
        (Some(s), None) => format!("back-off, restarting in {s}s"),
        (None, Some(last)) if r.restarts > 0 => last,
        _ => String::new(),
    }
}
