//! Releases: immutable, numbered records of what runs (a code folder, the config vars and a
//! snapshot of the manifest text), and which one is current. Knows nothing of how a release is
//! built or rolled out; the manifest snapshot is opaque text here.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Row};

use crate::db::State;
use crate::error::{DbContext, StateError};

/// What a new release is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    pub description: String,
    pub source_dir: PathBuf,
    pub env: BTreeMap<String, String>,
    /// The manifest text the release was made from, kept verbatim.
    pub manifest: String,
}

/// A stored release. Everything but `status` is immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub version: u32,
    pub created_at_ms: i64,
    pub description: String,
    pub source_dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub manifest: String,
    pub status: ReleaseStatus,
}

/// Where a release stands; stored as the text of [`ReleaseStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseStatus {
    /// The release that should run; at most one at a time.
    Current,
    /// Replaced by a newer release.
    Superseded,
    /// Its rollout failed.
    Failed,
    /// Replaced by rolling back to an older release.
    RolledBack,
}

/// A status text that is none of [`ReleaseStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown release status {0:?} (expected current, superseded, failed or rolled-back)")]
pub struct ParseReleaseStatusError(pub String);

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Current => "current",
            ReleaseStatus::Superseded => "superseded",
            ReleaseStatus::Failed => "failed",
            ReleaseStatus::RolledBack => "rolled-back",
        }
    }
}

impl FromStr for ReleaseStatus {
    type Err = ParseReleaseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "current" => Ok(ReleaseStatus::Current),
            "superseded" => Ok(ReleaseStatus::Superseded),
            "failed" => Ok(ReleaseStatus::Failed),
            "rolled-back" => Ok(ReleaseStatus::RolledBack),
            other => Err(ParseReleaseStatusError(other.to_owned())),
        }
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const COLUMNS: &str = "version, created_at_ms, description, source_dir, env, manifest, status";

impl State {
    /// Returns the current release if it has the same source folder, env and manifest as
    /// `new` (with `false`); otherwise records `new` as the next version, makes it current and
    /// marks the previous current release superseded (with `true`). One transaction.
    pub fn ensure_release(&self, new: &NewRelease) -> Result<(Release, bool), StateError> {
        const OP: &str = "recording a release";
        let source_dir = source_dir_text(new)?;
        let env = serde_json::to_string(&new.env)
            .map_err(|e| StateError::Invalid(format!("release env cannot be encoded: {e}")))?;
        let created_at_ms = self.now_ms();
        self.write(OP, |tx| {
            if let Some(current) = current(tx)?
                && current.source_dir == new.source_dir
                && current.env == new.env
                && current.manifest == new.manifest
            {
                return Ok((current, false));
            }
            let version: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM releases",
                    [],
                    |r| r.get(0),
                )
                .during(OP)?;
            let version = u32::try_from(version).map_err(|_| StateError::Corrupt {
                detail: format!("the next release version {version} is out of range"),
            })?;
            tx.execute(
                "UPDATE releases SET status = 'superseded' WHERE status = 'current'",
                [],
            )
            .during(OP)?;
            tx.execute(
                &format!("INSERT INTO releases ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                (
                    version,
                    created_at_ms,
                    &new.description,
                    source_dir,
                    &env,
                    &new.manifest,
                    ReleaseStatus::Current.as_str(),
                ),
            )
            .during(OP)?;
            let release = Release {
                version,
                created_at_ms,
                description: new.description.clone(),
                source_dir: new.source_dir.clone(),
                env: new.env.clone(),
                manifest: new.manifest.clone(),
                status: ReleaseStatus::Current,
            };
            Ok((release, true))
        })
    }

    /// The release that should run, if any release was ever made.
    pub fn current_release(&self) -> Result<Option<Release>, StateError> {
        self.read(current)
    }

    /// One release by version.
    pub fn release(&self, version: u32) -> Result<Option<Release>, StateError> {
        const OP: &str = "reading a release";
        self.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM releases WHERE version = ?1");
            let raw = conn
                .query_row(&sql, [version], RawRelease::from_row)
                .optional()
                .during(OP)?;
            raw.map(RawRelease::decode).transpose()
        })
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

fn current(conn: &Connection) -> Result<Option<Release>, StateError> {
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
struct RawRelease {
    version: i64,
    created_at_ms: i64,
    description: String,
    source_dir: String,
    env: String,
    manifest: String,
    status: String,
}

impl RawRelease {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRelease> {
        Ok(RawRelease {
            version: row.get(0)?,
            created_at_ms: row.get(1)?,
            description: row.get(2)?,
            source_dir: row.get(3)?,
            env: row.get(4)?,
            manifest: row.get(5)?,
            status: row.get(6)?,
        })
    }

    fn decode(self) -> Result<Release, StateError> {
        let corrupt = |detail: String| StateError::CorruptRelease {
            version: self.version,
            detail,
        };
        let version = u32::try_from(self.version)
            .map_err(|_| corrupt("its version is out of range".to_owned()))?;
        let env = serde_json::from_str(&self.env)
            .map_err(|e| corrupt(format!("its env is not a JSON object of strings ({e})")))?;
        let status = self.status.parse().map_err(|e| corrupt(format!("{e}")))?;
        Ok(Release {
            version,
            created_at_ms: self.created_at_ms,
            description: self.description,
            source_dir: PathBuf::from(self.source_dir),
            env,
            manifest: self.manifest,
            status,
        })
    }
}
