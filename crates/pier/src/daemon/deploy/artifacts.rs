//! Where releases live on disk and what a stored release runs: `.pier/releases/vN/src` is the
//! snapshot of release N (built in place; a symlink into `vN/repo`, the whole repository, for
//! an app in a subfolder of one), `.pier/releases/logs/vN.log` its deploy log,
//! `.pier/cache` the build cache (`$PIER_CACHE_DIR`). Old snapshots are collected beyond
//! `[deploy] keep_releases`, never the current or the previous release's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use pier_spec::Manifest;
use pier_state::{Release, State};
use pier_supervisor::RunRelease;

/// Deploy logs kept, newest first, whatever `keep_releases` says (they are small).
const KEEP_LOGS: usize = 100;

/// The paths of an app's releases.
#[derive(Debug, Clone)]
pub struct Paths {
    state_dir: PathBuf,
}

/// How the folder of a snapshot not yet placed as a release's is named (then a unique number).
const INCOMING: &str = "incoming-";

impl Paths {
    pub fn new(state_dir: &Path) -> Self {
        Paths {
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn releases(&self) -> PathBuf {
        self.state_dir.join("releases")
    }

    /// The snapshot release `version` built and runs.
    pub fn src(&self, version: u32) -> PathBuf {
        self.releases().join(format!("v{version}")).join("src")
    }

    pub fn log(&self, version: u32) -> PathBuf {
        self.releases().join("logs").join(format!("v{version}.log"))
    }

    /// The build cache kept across deploys, exported as `$PIER_CACHE_DIR`.
    pub fn cache(&self) -> PathBuf {
        self.state_dir.join("cache")
    }

    /// Where a snapshot is made before its release number is known: the `src` of a release
    /// folder of its own, which [`Paths::place`] moves into place as a whole.
    pub fn incoming(&self) -> PathBuf {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.releases()
            .join(format!("{INCOMING}{unique}"))
            .join("src")
    }

    /// Moves the release folder of the snapshot made in `incoming` into place as release
    /// `version`'s; returns its `src`.
    pub fn place(&self, incoming: &Path, version: u32) -> std::io::Result<PathBuf> {
        let target = self.src(version);
        if let (Some(from), Some(to)) = (incoming.parent(), target.parent()) {
            std::fs::rename(from, to)?;
        }
        Ok(target)
    }

    /// Deletes the release folder of a snapshot made in `incoming` that was not placed.
    pub fn discard(&self, incoming: &Path) {
        if let Some(folder) = incoming.parent() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }

    /// Deletes the release folders of snapshots that were never placed (a daemon that stopped
    /// while taking one); returns them. Only when no deploy of this environment can run.
    pub fn discard_unplaced(&self) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        for entry in std::fs::read_dir(self.releases())
            .into_iter()
            .flatten()
            .flatten()
        {
            let unplaced = entry.file_name().to_string_lossy().starts_with(INCOMING);
            if unplaced && std::fs::remove_dir_all(entry.path()).is_ok() {
                gone.push(entry.path());
            }
        }
        gone
    }

    /// The folder a release's processes run in.
    pub fn code_dir(&self, release: &Release) -> PathBuf {
        match release.artifact {
            Some(artifact) => self.src(artifact),
            None => release.source_dir.clone(),
        }
    }
}

/// The manifest a stored release runs: its snapshot's, or for a release of the app folder,
/// the manifest text recorded with it.
pub fn manifest_of(paths: &Paths, release: &Release) -> anyhow::Result<Manifest> {
    let dir = paths.code_dir(release);
    if release.artifact.is_some() || release.manifest.starts_with("# Procfile") {
        if !dir.is_dir() {
            anyhow::bail!(
                "the snapshot of v{} ({}) is gone; it was collected or deleted",
                release.artifact.unwrap_or(release.version),
                dir.display()
            );
        }
        return pier_spec::load_dir(&dir).map_err(|e| anyhow::anyhow!("{e}"));
    }
    pier_spec::parse_pier_toml(&release.manifest, &dir.join("pier.toml"))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// What the supervisor runs for `release`: its folder, its manifest's env with the config vars
/// over it, and its manifest.
pub fn run_release(paths: &Paths, release: &Release, manifest: Manifest) -> RunRelease {
    RunRelease {
        version: release.version,
        dir: paths.code_dir(release),
        env: release_env(&manifest, &release.config),
        manifest: Arc::new(manifest),
    }
}

/// The manifest's `[env]` with the config vars over it.
pub fn release_env(
    manifest: &Manifest,
    config: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = manifest.env.clone();
    env.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Deletes the snapshots no release among the newest `keep` (and the current and previous
/// ones) runs, and deploy logs beyond [`KEEP_LOGS`]. Returns the versions collected.
pub fn collect(paths: &Paths, state: &State, keep: usize) -> anyhow::Result<Vec<u32>> {
    let releases = state.releases()?;
    let mut wanted: BTreeSet<u32> = releases
        .iter()
        .take(keep)
        .filter_map(|r| r.artifact)
        .collect();
    let current = state.current_release()?;
    let previous = state.previous_release()?;
    wanted.extend(
        current
            .iter()
            .chain(previous.iter())
            .filter_map(|r| r.artifact),
    );
    // A release being deployed right now, or running as a canary, keeps its snapshot too.
    wanted.extend(
        releases
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    pier_state::ReleaseStatus::Pending | pier_state::ReleaseStatus::Canary
                )
            })
            .filter_map(|r| r.artifact),
    );
    let mut collected = Vec::new();
    for entry in std::fs::read_dir(paths.releases())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(version) = name.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()) else {
            continue;
        };
        if !wanted.contains(&version) {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("cannot delete {}", entry.path().display()))?;
            collected.push(version);
        }
    }
    let logs: BTreeSet<u32> = releases.iter().take(KEEP_LOGS).map(|r| r.version).collect();
    for release in releases.iter().skip(KEEP_LOGS) {
        if !logs.contains(&release.version) {
            let _ = std::fs::remove_file(paths.log(release.version));
        }
    }
    collected.sort_unstable();
    Ok(collected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unplaced_snapshots_are_discarded_and_releases_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        let incoming = paths.incoming();
        std::fs::create_dir_all(&incoming).expect("incoming");
        std::fs::write(incoming.join("pier.toml"), "app = \"x\"\n").expect("file");
        let placed = paths.incoming();
        std::fs::create_dir_all(&placed).expect("incoming");
        let v1 = paths.place(&placed, 1).expect("placed");
        let gone = paths.discard_unplaced();
        assert_eq!(gone, vec![incoming.parent().expect("folder").to_path_buf()]);
        assert!(!incoming.exists());
        assert!(v1.is_dir(), "release v1's snapshot stays");
        assert!(paths.discard_unplaced().is_empty());
    }
}
