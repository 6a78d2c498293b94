//! The daily report job: prints one summary line and exits 0. The scheduler passes the slot it
//! runs for as `$PIER_SCHEDULED_AT`; the tally comes from `$ANSWERS_URL` when it is reachable,
//! and an unreachable service is reported in the line rather than failing the job.

use std::time::SystemTime;

use crate::client::AnswersClient;
use crate::page::plural;
use crate::timefmt::rfc3339;

/// Prints the report line.
pub async fn run() -> anyhow::Result<()> {
    let slot = match std::env::var("PIER_SCHEDULED_AT") {
        Ok(at) if !at.trim().is_empty() => format!("scheduled at {}", at.trim()),
        _ => format!("unscheduled run at {}", rfc3339(SystemTime::now())),
    };
    let summary = match AnswersClient::from_env() {
        None => "ANSWERS_URL is not set, no tally".to_owned(),
        Some(client) => match client.stats().await {
            Ok(stats) => format!(
                "{} from {}",
                plural(stats.count, "answer"),
                plural(stats.students, "student")
            ),
            Err(error) => format!("no tally, answers service {error}"),
        },
    };
    log!("daily report ({slot}): {summary}");
    Ok(())
}
