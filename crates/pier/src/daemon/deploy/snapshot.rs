//! The source of a deploy, copied into the release's own folder: the git HEAD by default
//! (`git archive` of the app folder's tree at HEAD), or with `--dirty` the working tree —
//! the files git tracks or would track (`git ls-files -co --exclude-standard`) in a git
//! repository, every file but `.pier` and `.git` elsewhere. Blocking: run it off the async
//! threads.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pier_state::ReleaseSource;

/// What a snapshot was taken of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub source: ReleaseSource,
    pub commit: Option<String>,
    /// Uncommitted changes left out of a git snapshot, for a note to the user.
    pub uncommitted: bool,
}

/// Why no snapshot could be taken; the message is meant for the user as it is.
#[derive(Debug)]
pub struct SnapshotError(pub String);

/// Copies the app in `app_dir` into `dest` (created).
pub fn take(app_dir: &Path, dest: &Path, dirty: bool) -> Result<Snapshot, SnapshotError> {
    std::fs::create_dir_all(dest).map_err(|e| io_error(dest, &e))?;
    let repo = git(app_dir, &["rev-parse", "--show-prefix"]).ok();
    match (dirty, repo) {
        (false, None) => Err(SnapshotError(format!(
            "{} is not in a git repository, so there is no commit to deploy; deploy the \
             working tree as it is with `pier deploy --dirty`",
            app_dir.display()
        ))),
        (false, Some(prefix)) => from_git(app_dir, dest, prefix.trim()),
        (true, Some(_)) => {
            let files = git(app_dir, &["ls-files", "-z", "-co", "--exclude-standard"])?;
            let files = files
                .split('\0')
                .filter(|f| !f.is_empty())
                .map(PathBuf::from);
            copy_files(app_dir, dest, files)?;
            Ok(Snapshot {
                source: ReleaseSource::WorkingTree,
                commit: git(app_dir, &["rev-parse", "--verify", "HEAD"])
                    .ok()
                    .map(|c| c.trim().to_string()),
                uncommitted: false,
            })
        }
        (true, None) => {
            let files = walk(app_dir).map_err(|e| io_error(app_dir, &e))?;
            copy_files(app_dir, dest, files.into_iter())?;
            Ok(Snapshot {
                source: ReleaseSource::WorkingTree,
                commit: None,
                uncommitted: false,
            })
        }
    }
}

fn from_git(app_dir: &Path, dest: &Path, prefix: &str) -> Result<Snapshot, SnapshotError> {
    let commit = git(app_dir, &["rev-parse", "--verify", "HEAD"]).map_err(|_| {
        SnapshotError(format!(
            "the git repository of {} has no commit yet; commit, or deploy the working tree \
             with `pier deploy --dirty`",
            app_dir.display()
        ))
    })?;
    let tree = format!("HEAD:{prefix}");
    let archive = Command::new("git")
        .arg("-C")
        .arg(app_dir)
        .args(["archive", "--format=tar", &tree])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SnapshotError(format!("cannot run git: {e}")))?;
    let stdout = archive
        .stdout
        .ok_or_else(|| SnapshotError("git archive: no output".into()))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(stdout)
        .output()
        .map_err(|e| SnapshotError(format!("cannot run tar: {e}")))?;
    if !tar.status.success() {
        return Err(SnapshotError(format!(
            "extracting `git archive {tree}` failed: {}; is {prefix:?} committed?",
            String::from_utf8_lossy(&tar.stderr).trim()
        )));
    }
    let status = git(app_dir, &["status", "--porcelain", "--", "."]).unwrap_or_default();
    Ok(Snapshot {
        source: ReleaseSource::Git,
        commit: Some(commit.trim().to_string()),
        uncommitted: status.lines().any(|l| !l.contains(".pier/")),
    })
}

/// Runs git in `dir`; its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, SnapshotError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => SnapshotError(
                "git is not installed; install it, or deploy with `pier deploy --dirty`".into(),
            ),
            _ => SnapshotError(format!("cannot run git: {e}")),
        })?;
    if !output.status.success() {
        return Err(SnapshotError(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Every file under `root` (relative paths), skipping `.pier` and `.git` folders.
fn walk(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let name = entry.file_name();
            if name == ".pier" || name == ".git" {
                continue;
            }
            let path = relative.join(&name);
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// Copies `files` (relative to `from`) into `to`, keeping permissions and symlinks.
fn copy_files(
    from: &Path,
    to: &Path,
    files: impl Iterator<Item = PathBuf>,
) -> Result<(), SnapshotError> {
    for file in files {
        if file.starts_with(".pier") || file.starts_with(".git") {
            continue;
        }
        let source = from.join(&file);
        let target = to.join(&file);
        let Ok(meta) = std::fs::symlink_metadata(&source) else {
            continue; // tracked but deleted in the working tree
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, &e))?;
        }
        let copied = if meta.file_type().is_symlink() {
            std::fs::read_link(&source).and_then(|link| std::os::unix::fs::symlink(link, &target))
        } else if meta.is_file() {
            std::fs::copy(&source, &target).map(|_| ())
        } else {
            Ok(())
        };
        copied.map_err(|e| io_error(&source, &e))?;
    }
    Ok(())
}

fn io_error(path: &Path, error: &std::io::Error) -> SnapshotError {
    SnapshotError(format!("cannot copy {}: {error}", path.display()))
}
