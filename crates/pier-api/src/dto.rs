//! Wire types of the control API. Domain types never go on the wire directly; these are the
//! JSON shapes documented in `docs/api.md`, shared by the server and the CLI client.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use pier_supervisor::{LogLine, LogStream, ReplicaStatus};
use serde::{Deserialize, Serialize};

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusDto {
    pub app: String,
    pub dir: String,
    pub pid: u32,
    pub pier_version: String,
    pub release: u32,
    pub started_at_ms: i64,
    /// The canary running beside the current release, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::CanaryDto>,
}

/// One row of `GET /v1/ps`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplicaDto {
    pub name: String,
    pub service: String,
    pub index: u32,
    pub release: u32,
    pub state: String,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub ready: bool,
    pub restarts: u32,
    pub started_at_ms: Option<i64>,
    pub uptime_seconds: Option<u64>,
    pub next_restart_in_seconds: Option<u64>,
    pub last_exit: Option<String>,
}

impl ReplicaDto {
    pub fn from_status(status: &ReplicaStatus, now: SystemTime) -> Self {
        let running = status.pid.is_some();
        ReplicaDto {
            name: status.name.clone(),
            service: status.service.clone(),
            index: status.index,
            release: status.release,
            state: status.state.as_str().to_string(),
            pid: status.pid,
            port: status.port,
            ready: status.ready,
            restarts: status.restarts,
            started_at_ms: status.started_at.map(unix_ms),
            uptime_seconds: status
                .started_at
                .filter(|_| running)
                .and_then(|t| now.duration_since(t).ok())
                .map(|d| d.as_secs()),
            next_restart_in_seconds: status.next_restart_at.map(|t| {
                t.duration_since(now)
                    .map_or(0, |d| d.as_secs_f64().ceil() as u64)
            }),
            last_exit: status.last_exit.clone(),
        }
    }
}

/// `GET /v1/ps`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PsDto {
    pub replicas: Vec<ReplicaDto>,
}

/// One line of `GET /v1/logs` (newline-delimited JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLineDto {
    pub seq: u64,
    pub at_ms: i64,
    pub source: String,
    /// `stdout`, `stderr` or `system`.
    pub stream: String,
    pub text: String,
}

impl From<&LogLine> for LogLineDto {
    fn from(line: &LogLine) -> Self {
        LogLineDto {
            seq: line.seq,
            at_ms: unix_ms(line.at),
            source: line.source.clone(),
            stream: match line.stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
                LogStream::System => "system",
            }
            .to_string(),
            text: line.text.clone(),
        }
    }
}

/// `POST /v1/scale` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    pub formation: BTreeMap<String, u32>,
}

/// `POST /v1/scale` and `GET /v1/formation` answer: the whole formation after the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FormationDto {
    pub formation: BTreeMap<String, u32>,
}

/// `POST /v1/restart` body; no target restarts every service.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RestartRequest {
    /// A service (`web`) or a replica (`web.2`).
    pub target: Option<String>,
}

/// `POST /v1/restart` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestartDto {
    pub restarted: usize,
    /// Whether every restarted replica became ready again.
    pub all_ready: bool,
}

/// One row of `GET /v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDto {
    pub id: i64,
    pub at_ms: i64,
    pub kind: String,
    pub subject: String,
    pub message: String,
}

/// `GET /v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsDto {
    pub events: Vec<EventDto>,
}

/// The error envelope of every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`unknown_service`, `bad_request`, …).
    pub code: String,
    /// A sentence for humans saying what is wrong and what to do.
    pub message: String,
}

pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `GET`/`POST /v1/maintenance`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceDto {
    pub enabled: bool,
}

/// One route as `pier route show` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteDto {
    /// The route's name (`classroom.localhost`, `*/api`), used by `pier route split` and co.
    pub name: String,
    /// Backends with their percentages; the first is the primary.
    pub targets: Vec<RouteTargetDto>,
    /// `cookie tenant`, `header X-Tenant`, or none (pier's own sticky cookie).
    pub split_key: Option<String>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteTargetDto {
    pub backend: String,
    pub percent: u32,
}

/// `GET /v1/routes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutesDto {
    pub routes: Vec<RouteDto>,
}

/// `POST /v1/routes/split`: the rollout (second) target's percentage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    pub route: String,
    pub percent: u32,
}

/// `POST /v1/routes/keys`: add keys to (or remove them from) a route's allow or deny list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysRequest {
    pub route: String,
    pub list: KeyListName,
    pub keys: Vec<String>,
    #[serde(default)]
    pub remove: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyListName {
    Allow,
    Deny,
}

/// `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobsDto {
    /// Whether this daemon holds the scheduler lease (runs the schedule).
    pub leader: bool,
    pub jobs: Vec<JobDto>,
}

/// One job of `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobDto {
    pub name: String,
    pub schedule: String,
    pub timezone: String,
    pub command: String,
    /// The current definition version.
    pub version: u32,
    pub enabled: bool,
    /// `manifest` or `cli` when disabled.
    pub disabled_by: Option<String>,
    pub next_run_ms: Option<i64>,
    /// Run ids in progress.
    pub running: Vec<String>,
    /// The newest run that has ended (or did not run), if any.
    pub last: Option<JobRunDto>,
}

/// One ledger row: `GET /v1/jobs/{name}/history`, `POST /v1/jobs/{name}/run`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRunDto {
    pub id: i64,
    pub run_id: String,
    pub job: String,
    /// The slot (Unix ms); absent for a manual run.
    pub slot_ms: Option<i64>,
    /// Slots the row stands for (more than 1 for a summarised stretch of missed slots).
    pub covers: u64,
    pub covers_until_ms: Option<i64>,
    /// `schedule`, `catch-up` or `manual`.
    pub trigger: String,
    pub version: u32,
    pub attempt: u32,
    /// `scheduled`, `running`, `succeeded`, `failed`, `timed_out`, `skipped`, `missed`,
    /// `suspended` or `lost`.
    pub state: String,
    pub reason: Option<String>,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
}

/// `GET /v1/jobs/{name}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobHistoryDto {
    pub job: String,
    /// Newest first.
    pub runs: Vec<JobRunDto>,
}

/// `GET /v1/targets`: what pier scrapes and how each scrape went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetsDto {
    pub targets: Vec<TargetDto>,
}

/// One scrape target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetDto {
    pub job: String,
    pub instance: String,
    pub url: String,
    /// Target labels besides `job` and `instance`.
    pub labels: BTreeMap<String, String>,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    pub last_scrape_ms: Option<i64>,
    pub last_duration_ms: Option<f64>,
    pub last_error: Option<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Samples in the last scrape.
    pub samples: usize,
}

/// `GET /v1/metrics/stats`: the metrics store's size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricsStatsDto {
    /// Series in the in-memory head.
    pub series: u64,
    /// Samples stored, on disk in blocks and in the head.
    pub samples: u64,
    /// Chunks in the head.
    pub chunks: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Approximate memory of the in-memory head.
    pub head_bytes: u64,
    /// Bytes on disk: blocks and the write-ahead log.
    pub disk_bytes: u64,
    /// Disk bytes per stored sample.
    pub bytes_per_sample: Option<f64>,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
    pub out_of_order_total: u64,
    pub duplicate_total: u64,
}

/// `POST /v1/metrics/import`: what was stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportDto {
    pub series: usize,
    pub samples: usize,
    /// Samples the store refused (out of order, or a conflicting duplicate).
    pub rejected: usize,
    /// Samples refused because their time is already in a block (before
    /// `oldest_accepted_ms`).
    #[serde(default)]
    pub too_old: usize,
    #[serde(default)]
    pub oldest_accepted_ms: Option<i64>,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
}
