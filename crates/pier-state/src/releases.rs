//! Releases: immutable, numbered records of what runs (a code folder or a snapshot, the
//! environment, the config vars and the manifest text), and which one is current. Knows
//! nothing of how a release is built or rolled out; the manifest snapshot is opaque text here.
//! The lifecycle of a deployed release (pending, then current or failed) is in `deploys.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Row};

use crate::db::State;
use crate::error::{DbContext, StateError};

/// What a new release is made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewRelease {
    pub description: String,
    /// The app folder it was made from.
    pub source_dir: PathBuf,
    /// The manifest's `[env]`.
    pub env: BTreeMap<String, String>,
    /// The manifest text the release was made from, kept verbatim.
    pub manifest: String,
    pub source: ReleaseSource,
    /// The git commit of a `git` snapshot.
    pub commit: Option<String>,
    pub artifact: NewArtifact,
    /// Config vars (`pier config set`).
    pub config: BTreeMap<String, String>,
}

/// Which snapshot a new release runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewArtifact {
    /// None: the release runs its source folder in place (`pier up`).
    #[default]
    None,
    /// Its own snapshot, made after the release is recorded (`pier deploy`).
    Own,
    /// Another release's snapshot (`pier rollback`, `pier config set`).
    Of(u32),
}

/// Where a release's code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReleaseSource {
    /// The app folder, run in place (`pier up`).
    #[default]
    Folder,
    /// A snapshot of a git commit.
    Git,
    /// A snapshot of the working tree (`pier deploy --dirty`).
    WorkingTree,
}

impl ReleaseSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseSource::Folder => "folder",
            ReleaseSource::Git => "git",
            ReleaseSource::WorkingTree => "working-tree",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "folder" => Some(ReleaseSource::Folder),
            "git" => Some(ReleaseSource::Git),
            "working-tree" => Some(ReleaseSource::WorkingTree),
            _ => None,
        }
    }
}

/// A stored release. Everything but `status`, `failure` and `finished_at_ms` is immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: u32,
    pub created_at_ms: i64,
    pub description: String,
    pub source_dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub manifest: String,
    pub status: ReleaseStatus,
    pub source: ReleaseSource,
    pub commit: Option<String>,
    /// The release whose snapshot this one runs; `None`: it runs `source_dir` in place.
    pub artifact: Option<u32>,
    pub config: BTreeMap<String, String>,
    /// Why it failed, for a failed release.
    pub failure: Option<String>,
    /// When it became current or failed.
    pub finished_at_ms: Option<i64>,
}

/// Where a release stands; stored as the text of [`ReleaseStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseStatus {
    /// Being built, released or rolled out; at most one at a time.
    Pending,
    /// The release that should run; at most one at a time.
    Current,
    /// Replaced by a newer release.
    Superseded,
    /// Its rollout failed.
    Failed,
    /// Replaced by rolling back to an older release.
    RolledBack,
    /// Running beside the current release with a share of the traffic; at most one.
    Canary,
    /// A canary that was removed (`pier deploy --abort`, or a daemon restart).
    Aborted,
}

/// A status text that is none of [`ReleaseStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown release status {0:?} (expected pending, current, superseded, failed, rolled-back, canary or aborted)"
)]
pub struct ParseReleaseStatusError(pub String);

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Current => "current",
            ReleaseStatus::Superseded => "superseded",
            ReleaseStatus::Failed => "failed",
            ReleaseStatus::RolledBack => "rolled-back",
            ReleaseStatus::Canary => "canary",
            ReleaseStatus::Aborted => "aborted",
        }
    }
}

impl FromStr for ReleaseStatus {
    type Err = ParseReleaseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(ReleaseStatus::Pending),
            "current" => Ok(ReleaseStatus::Current),
            "superseded" => Ok(ReleaseStatus::Superseded),
            "failed" => Ok(ReleaseStatus::Failed),
            "rolled-back" => Ok(ReleaseStatus::RolledBack),
            "canary" => Ok(ReleaseStatus::Canary),
            "aborted" => Ok(ReleaseStatus::Aborted),
            other => Err(ParseReleaseStatusError(other.to_owned())),
        }
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const COLUMNS: &str = "version, created_at_ms, description, source_dir, env, manifest, \
     status, source, commit_sha, artifact, config, failure, finished_at_ms";

impl State {
    /// Returns the current release if it runs the same source folder in place with the same
    /// env, manifest and config as `new` (with `false`); otherwise records `new` as the next
    /// version, makes it current and marks the previous current release superseded (with
    /// `true`). One transaction.
    pub fn ensure_release(&self, new: &NewRelease) -> Result<(Release, bool), StateError> {
        const OP: &str = "recording a release";
        self.write(OP, |tx| {
            if let Some(current) = current(tx)?
                && current.source == ReleaseSource::Folder
                && current.source_dir == new.source_dir
                && current.env == new.env
                && current.manifest == new.manifest
                && current.config == new.config
            {
                return Ok((current, false));
            }
            tx.execute(
                "UPDATE releases SET status = 'superseded' WHERE status = 'current'",
                [],
            )
            .during(OP)?;
            let version = insert(tx, new, ReleaseStatus::Current, self.now_ms())?;
            let release = by_version(tx, version)?.ok_or_else(|| StateError::Corrupt {
                detail: format!("release v{version} vanished while being recorded"),
            })?;
            Ok((release, true))
        })
    }

    /// The release that should run, if any release was ever made.
    pub fn current_release(&self) -> Result<Option<Release>, StateError> {
        self.read(current)
    }

    /// One release by version.
    pub fn release(&self, version: u32) -> Result<Option<Release>, StateError> {
        self.read(|conn| by_version(conn, version))
    }

    /// Every release, newest first.
    pub fn releases(&self) -> Result<Vec<Release>, StateError> {
        const OP: &str = "listing releases";
        self.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM releases ORDER BY version DESC");
            let mut stmt = conn.prepare_cached(&sql).during(OP)?;
            let rows = stmt.query_map([], RawRelease::from_row).during(OP)?;
            rows.map(|raw| raw.during(OP).and_then(RawRelease::decode))
                .collect()
        })
    }
}

/// Inserts `new` with `status` as the next version; returns the version.
pub(crate) fn insert(
    conn: &Connection,
    new: &NewRelease,
    status: ReleaseStatus,
    now_ms: i64,
) -> Result<u32, StateError> {
    const OP: &str = "recording a release";
    let source_dir = source_dir_text(new)?;
    let encode = |map: &BTreeMap<String, String>| {
        serde_json::to_string(map)
            .map_err(|e| StateError::Invalid(format!("release vars cannot be encoded: {e}")))
    };
    let version: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM releases",
            [],
            |r| r.get(0),
        )
        .during(OP)?;
    let version = u32::try_from(version).map_err(|_| StateError::Corrupt {
        detail: format!("the next release version {version} is out of range"),
    })?;
    let artifact = match new.artifact {
        NewArtifact::None => None,
        NewArtifact::Own => Some(version),
        NewArtifact::Of(v) => Some(v),
    };
    let finished = (status != ReleaseStatus::Pending).then_some(now_ms);
    conn.execute(
        &format!(
            "INSERT INTO releases ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, ?12)"
        ),
        rusqlite::params![
            version,
            now_ms,
            &new.description,
            source_dir,
            encode(&new.env)?,
            &new.manifest,
            status.as_str(),
            new.source.as_str(),
            &new.commit,
            artifact,
            encode(&new.config)?,
            finished,
        ],
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StateError::Conflict(
            "another release is being deployed; wait for it to finish".to_string(),
        ),
        _ => StateError::Db { op: OP, source: e },
    })?;
    Ok(version)
}

pub(crate) fn by_version(conn: &Connection, version: u32) -> Result<Option<Release>, StateError> {
    const OP: &str = "reading a release";
    let sql = format!("SELECT {COLUMNS} FROM releases WHERE version = ?1");
    let raw = conn
        .query_row(&sql, [version], RawRelease::from_row)
        .optional()
        .during(OP)?;
    raw.map(RawRelease::decode).transpose()
}

pub(crate) fn current(conn: &Connection) -> Result<Option<Release>, StateError> {
    const OP: &str = "reading the current release";
    let sql = format!("SELECT {COLUMNS} FROM releases WHERE status = 'current'");
    let raw = conn
        .query_row(&sql, [], RawRelease::from_row)
        .optional()
        .during(OP)?;
    raw.map(RawRelease::decode).transpose()
}

fn source_dir_text(new: &NewRelease) -> Result<&str, StateError> {
    new.source_dir.to_str().ok_or_else(|| {
        StateError::Invalid(format!(
            "release source folder {} is not valid UTF-8; move the app to a UTF-8 path",
            new.source_dir.display()
        ))
    })
}

/// A row as stored, before the checks that turn it into a [`Release`].
pub(crate) struct RawRelease {
    version: i64,
    created_at_ms: i64,
    description: String,
    source_dir: String,
    env: String,
    manifest: String,
    status: String,
    source: String,
    commit: Option<String>,
    artifact: Option<i64>,
    config: String,
    failure: Option<String>,
    finished_at_ms: Option<i64>,
}

impl RawRelease {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRelease> {
        Ok(RawRelease {
            version: row.get(0)?,
            created_at_ms: row.get(1)?,
            description: row.get(2)?,
            source_dir: row.get(3)?,
            env: row.get(4)?,
            manifest: row.get(5)?,
            status: row.get(6)?,
            source: row.get(7)?,
            commit: row.get(8)?,
            artifact: row.get(9)?,
            config: row.get(10)?,
            failure: row.get(11)?,
            finished_at_ms: row.get(12)?,
        })
    }

    pub(crate) fn decode(self) -> Result<Release, StateError> {
        let corrupt = |detail: String| StateError::CorruptRelease {
            version: self.version,
            detail,
        };
        let version = u32::try_from(self.version)
            .map_err(|_| corrupt("its version is out of range".to_owned()))?;
        let env = serde_json::from_str(&self.env)
            .map_err(|e| corrupt(format!("its env is not a JSON object of strings ({e})")))?;
        let config = serde_json::from_str(&self.config)
            .map_err(|e| corrupt(format!("its config is not a JSON object of strings ({e})")))?;
        let status = self.status.parse().map_err(|e| corrupt(format!("{e}")))?;
        let source = ReleaseSource::parse(&self.source)
            .ok_or_else(|| corrupt(format!("unknown source {:?}", self.source)))?;
        let artifact = self
            .artifact
            .map(|a| u32::try_from(a).map_err(|_| corrupt("its artifact is out of range".into())))
            .transpose()?;
        Ok(Release {
            version,
            created_at_ms: self.created_at_ms,
            description: self.description,
            source_dir: PathBuf::from(self.source_dir),
            env,
            manifest: self.manifest,
            status,
            source,
            commit: self.commit,
            artifact,
            config,
            failure: self.failure,
            finished_at_ms: self.finished_at_ms,
        })
    }
}
