//! `pier targets` (what is scraped and how it went), `pier metrics stats` (the metrics
//! store's size) and `pier metrics import|export` (history in and out as OpenMetrics).

use std::time::{SystemTime, UNIX_EPOCH};

use std::io::Read;

use pier_api::{ImportDto, MetricsStatsDto, TargetsDto};

use crate::cli::MetricsCommand;
use crate::client::Client;
use crate::exit::Exit;
use crate::table::{Table, short_duration};

pub async fn targets(client: &Client, json: bool) -> anyhow::Result<()> {
    let targets: TargetsDto = client.get("/v1/targets").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&targets)?);
        return Ok(());
    }
    let now = now_ms();
    let mut table = Table::new(&[
        "JOB",
        "INSTANCE",
        "HEALTH",
        "LAST SCRAPE",
        "DURATION",
        "SAMPLES",
        "ERROR",
    ]);
    for t in &targets.targets {
        table.row(vec![
            t.job.clone(),
            t.instance.clone(),
            t.health.clone(),
            t.last_scrape_ms
                .map(|ms| format!("{} ago", short_duration((now - ms).max(0) as u64 / 1000)))
                .unwrap_or_else(|| "-".into()),
            t.last_duration_ms
                .map(|ms| format!("{ms:.1}ms"))
                .unwrap_or_else(|| "-".into()),
            t.samples.to_string(),
            t.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn run(client: &Client, command: MetricsCommand) -> anyhow::Result<()> {
    match command {
        MetricsCommand::Import { file } => {
            let body = if file.as_os_str() == "-" {
                let mut body = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut body)
                    .map_err(|e| Exit::invalid(format!("cannot read standard input: {e}")))?;
                body
            } else {
                std::fs::read(&file)
                    .map_err(|e| Exit::invalid(format!("cannot read {}: {e}", file.display())))?
            };
            eprintln!(
                "importing {} ({})...",
                file.display(),
                bytes(body.len() as u64)
            );
            let report: ImportDto = client.post_bytes("/v1/metrics/import", body).await?;
            let range = match (report.min_time_ms, report.max_time_ms) {
                (Some(min), Some(max)) => format!(" from {} to {}", rfc3339(min), rfc3339(max)),
                _ => String::new(),
            };
            let mut refused = String::new();
            if report.rejected > 0 {
                refused.push_str(&format!(
                    "; {} refused (out of order or conflicting duplicates)",
                    report.rejected
                ));
            }
            if let (n @ 1.., Some(oldest)) = (report.too_old, report.oldest_accepted_ms) {
                refused.push_str(&format!(
                    "; {n} refused as older than {}, which the store already holds in blocks \
                     (history can be added only after them: import into a new store)",
                    rfc3339(oldest)
                ));
            }
            println!(
                "imported {} samples of {} series{range}{refused}",
                report.samples, report.series,
            );
        }
        MetricsCommand::Export {
            matches,
            start,
            end,
        } => {
            let mut query: Vec<(&str, String)> =
                matches.into_iter().map(|m| ("match[]", m)).collect();
            query.extend(start.map(|s| ("start", s)));
            query.extend(end.map(|e| ("end", e)));
            let encoded: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            let text = client
                .get_text(&format!("/v1/metrics/export?{encoded}"))
                .await?;
            print!("{text}");
        }
        MetricsCommand::Stats { json } => {
            let stats: MetricsStatsDto = client.get("/v1/metrics/stats").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
                return Ok(());
            }
            let mut table = Table::new(&["", ""]);
            let rows = [
                ("series (head)", stats.series.to_string()),
                ("samples", stats.samples.to_string()),
                ("blocks on disk", stats.blocks.to_string()),
                ("bytes on disk", bytes(stats.disk_bytes)),
                (
                    "bytes per sample",
                    stats
                        .bytes_per_sample
                        .map_or("-".into(), |b| format!("{b:.2}")),
                ),
                ("head memory", bytes(stats.head_bytes)),
                (
                    "time range",
                    match (stats.min_time_ms, stats.max_time_ms) {
                        (Some(min), Some(max)) => format!(
                            "{} ({} of data)",
                            rfc3339(min),
                            short_duration((max - min).max(0) as u64 / 1000)
                        ),
                        _ => "-".into(),
                    },
                ),
                ("out-of-order samples", stats.out_of_order_total.to_string()),
                ("duplicate samples", stats.duplicate_total.to_string()),
            ];
            for (name, value) in rows {
                table.row(vec![name.to_string(), value]);
            }
            // The header row is blank: skip it.
            print!(
                "{}",
                table
                    .render()
                    .lines()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            );
        }
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
