//! `pier events [NAME]`: the platform's event log as a table or JSON.

use pier_api::EventsDto;

use crate::client::Client;
use crate::commands::logs::encode;
use crate::table::Table;

pub async fn run(
    client: &Client,
    name: Option<String>,
    lines: usize,
    json: bool,
) -> anyhow::Result<()> {
    let mut path = format!("/v1/events?limit={lines}");
    if let Some(name) = name {
        path.push_str(&format!("&subject={}", encode(&name)));
    }
    let events: EventsDto = client.get(&path).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    let mut table = Table::new(&["TIME", "SUBJECT", "EVENT", "MESSAGE"]);
    for e in &events.events {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.at_ms.max(0) as u64);
        table.row(vec![
            pier_supervisor::logs::rfc3339_millis(at),
            e.subject.clone(),
            e.kind.clone(),
            e.message.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
