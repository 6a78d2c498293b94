//! Wire types of the release routes: `pier deploy`, `pier releases`, `pier rollback`,
//! `pier config` and `pier run`. Long operations answer with newline-delimited JSON: progress
//! lines, then one final line with the outcome.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/deploy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Take the working tree (uncommitted changes included) instead of the git HEAD.
    #[serde(default)]
    pub dirty: bool,
    /// Replaces the default description (`Deploy abc1234`).
    pub description: Option<String>,
    /// The app folder the client means; refused if it is not the daemon's.
    pub dir: Option<String>,
    /// Start the release as a canary with this percentage of the clients (above 0, below
    /// 100) instead of rolling it out.
    #[serde(default)]
    pub canary: Option<f64>,
}

/// The active canary (`GET /v1/status`, `GET /v1/releases`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryDto {
    pub version: u32,
    /// Share of the clients it gets.
    pub percent: f64,
    pub started_at_ms: i64,
}

/// `POST /v1/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The release to return to [default: the previous one].
    pub version: Option<u32>,
}

/// `POST /v1/config`: set and unset config vars in one new release.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRequest {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub unset: Vec<String>,
}

/// `GET /v1/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigDto {
    /// The current release, whose config this is.
    pub release: u32,
    pub vars: BTreeMap<String, String>,
}

/// One release of `GET /v1/releases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseDto {
    pub version: u32,
    pub created_at_ms: i64,
    pub description: String,
    /// `abc1234` (a commit), `working tree`, or `app folder` (run in place by `pier up`).
    pub source: String,
    pub commit: Option<String>,
    /// `pending`, `current`, `superseded`, `failed`, `rolled back`, `canary` or `aborted`.
    pub status: String,
    /// The release whose snapshot it runs.
    pub artifact: Option<u32>,
    pub failure: Option<String>,
    /// The names of its config vars (values: `GET /v1/config`).
    pub config_keys: Vec<String>,
}

/// `GET /v1/releases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleasesDto {
    pub releases: Vec<ReleaseDto>,
    /// The active canary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryDto>,
}

/// One line of a deploy, rollback or config stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProgressDto {
    /// What pier does next.
    Step { text: String },
    /// A line of the build's or the release command's output.
    Output { text: String },
    /// The end: nothing follows.
    Done(OutcomeDto),
}

/// How a deploy, rollback or config change ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeDto {
    pub ok: bool,
    pub release: Option<u32>,
    pub message: String,
    /// The last log lines of what failed (the build, the release command, a replica).
    pub log_tail: Vec<String>,
}

/// `POST /v1/run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Whose env (and definition) the process gets [default: `web`, else the first service].
    pub service: Option<String>,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// One line of a `POST /v1/run` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEventDto {
    Started {
        name: String,
        release: u32,
    },
    /// `stream`: `stdout` or `stderr`.
    Output {
        stream: String,
        text: String,
    },
    /// The end: the exit code (128 + N for a signal).
    Exit {
        code: i32,
        message: String,
    },
}
