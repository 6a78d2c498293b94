//! `pier down`: asks the daemon to stop and waits until it has (every process exited).

use std::time::{Duration, Instant};

use pier_api::StatusDto;

use crate::client::Client;
use crate::exit::Exit;

/// Longest wait for the daemon to finish stopping (grace periods included).
const STOP_DEADLINE: Duration = Duration::from_secs(600);

pub async fn run(client: &Client) -> anyhow::Result<()> {
    let status: StatusDto = client.get("/v1/status").await?;
    let _: serde_json::Value = client.post("/v1/down", &serde_json::json!({})).await?;
    eprintln!("Stopping {} (pid {})...", status.app, status.pid);
    let deadline = Instant::now() + STOP_DEADLINE;
    while pid_alive(status.pid) || client.is_up().await {
        if Instant::now() > deadline {
            return Err(Exit::failed(format!(
                "pier (pid {}) is still stopping after {STOP_DEADLINE:?}",
                status.pid
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("Stopped {}.", status.app);
    Ok(())
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}
