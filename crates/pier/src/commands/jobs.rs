//! `pier jobs`: the cron jobs with their next and last runs, a job's history (the ledger),
//! manual runs, and disabling/enabling. Times are shown in the job's own time zone.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use pier_api::{JobHistoryDto, JobRunDto, JobsDto};

use crate::cli::JobsCommand;
use crate::client::Client;
use crate::commands::logs::encode;
use crate::table::{Table, short_duration};

pub async fn run(client: &Client, command: Option<JobsCommand>, json: bool) -> anyhow::Result<()> {
    match command {
        None => {
            let jobs: JobsDto = client.get("/v1/jobs").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                print_jobs(&jobs);
            }
        }
        Some(JobsCommand::History { name, limit, json }) => {
            let path = format!("/v1/jobs/{}/history?limit={limit}", encode(&name));
            let history: JobHistoryDto = client.get(&path).await?;
            let jobs: JobsDto = client.get("/v1/jobs").await?;
            let zone = jobs
                .jobs
                .iter()
                .find(|j| j.name == name)
                .map(|j| j.timezone.clone())
                .unwrap_or_else(|| "UTC".into());
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                print_history(&history, &zone);
            }
        }
        Some(JobsCommand::Run { name, json }) => {
            let path = format!("/v1/jobs/{}/run", encode(&name));
            let run: JobRunDto = client.post(&path, &()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else if run.state == "failed" {
                anyhow::bail!(
                    "run {} could not start: {}",
                    run.run_id,
                    run.reason.unwrap_or_default()
                );
            } else {
                println!(
                    "started run {} of {name}; follow it with `pier logs -f job.{name}`, see it in `pier jobs history {name}`",
                    run.run_id
                );
            }
        }
        Some(JobsCommand::Disable { name }) => {
            let path = format!("/v1/jobs/{}/disable", encode(&name));
            let jobs: JobsDto = client.post(&path, &()).await?;
            println!(
                "disabled {name}: its slots are recorded as suspended until `pier jobs enable {name}`"
            );
            print_jobs(&jobs);
        }
        Some(JobsCommand::Enable { name }) => {
            let path = format!("/v1/jobs/{}/enable", encode(&name));
            let jobs: JobsDto = client.post(&path, &()).await?;
            println!("enabled {name}: it runs again from its next slot");
            print_jobs(&jobs);
        }
    }
    Ok(())
}

fn print_jobs(jobs: &JobsDto) {
    if jobs.jobs.is_empty() {
        println!("no jobs; define them in pier.toml as [jobs.NAME] with schedule and command");
        return;
    }
    let mut table = Table::new(&[
        "NAME",
        "SCHEDULE",
        "TIMEZONE",
        "NEXT RUN",
        "LAST RESULT",
        "ENABLED",
    ]);
    let now = now_ms();
    for job in &jobs.jobs {
        let next = match (job.enabled, job.next_run_ms) {
            (_, None) => "never".to_string(),
            (false, Some(_)) => "-".to_string(),
            (true, Some(ms)) => format!(
                "{} (in {})",
                local(ms, &job.timezone),
                short_duration(ms.saturating_sub(now).max(0) as u64 / 1000)
            ),
        };
        let last = if !job.running.is_empty() {
            "running".to_string()
        } else {
            match &job.last {
                None => "-".to_string(),
                Some(run) => {
                    let at = run.finished_at_ms.or(run.slot_ms).unwrap_or(now);
                    format!(
                        "{} {} ago",
                        run.state,
                        short_duration(now.saturating_sub(at).max(0) as u64 / 1000)
                    )
                }
            }
        };
        let enabled = match job.disabled_by.as_deref() {
            None => "yes".to_string(),
            Some("cli") => "no (pier jobs disable)".to_string(),
            Some(_) => "no (manifest)".to_string(),
        };
        table.row(vec![
            job.name.clone(),
            job.schedule.clone(),
            job.timezone.clone(),
            next,
            last,
            enabled,
        ]);
    }
    print!("{}", table.render());
    if !jobs.leader {
        println!(
            "note: another pier daemon holds the scheduler lease for this state; it runs the schedule"
        );
    }
}

fn print_history(history: &JobHistoryDto, zone: &str) {
    if history.runs.is_empty() {
        println!("{} has no runs yet", history.job);
        return;
    }
    let mut table = Table::new(&[
        "SLOT", "RUN", "VERSION", "STARTED", "DURATION", "RESULT", "REASON",
    ]);
    for run in &history.runs {
        let slot = match (run.slot_ms, run.covers_until_ms) {
            (None, _) => "manual".to_string(),
            (Some(from), Some(until)) => format!(
                "{} … {} ({} slots)",
                local(from, zone),
                local(until, zone),
                run.covers
            ),
            (Some(ms), None) => local(ms, zone),
        };
        let duration = match (run.started_at_ms, run.finished_at_ms) {
            (Some(s), Some(f)) => format!("{:.1}s", (f - s).max(0) as f64 / 1000.0),
            (Some(_), None) => "…".to_string(),
            _ => "-".to_string(),
        };
        let result = if run.attempt > 1 {
            format!("{} (attempt {})", run.state, run.attempt)
        } else {
            run.state.clone()
        };
        table.row(vec![
            slot,
            run.run_id.clone(),
            format!("v{}", run.version),
            run.started_at_ms
                .map(|ms| local(ms, zone))
                .unwrap_or_else(|| "-".into()),
            duration,
            result,
            run.reason.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table.render());
}

/// `2026-11-24 06:00:00 CST` in the job's zone.
fn local(ms: i64, zone: &str) -> String {
    let Ok(ts) = Timestamp::from_millisecond(ms) else {
        return ms.to_string();
    };
    let tz = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
    ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
