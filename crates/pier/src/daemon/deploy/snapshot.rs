//! The source of a deploy, copied into the release's own folder: the git HEAD by default
//! (`git archive` of the repository's tree at HEAD), or with `--dirty` the working tree — the
//! files git tracks or would track (`git ls-files -co --exclude-standard`) in a git
//! repository, every file but `.pier` and `.git` elsewhere.
//!
//! An app folder that is a subfolder of a bigger git repository (a monorepo, a Cargo
//! workspace member) gets the whole repository, so that its build can use what the rest of
//! the repository holds (the workspace's manifest and lock file, shared libraries) at the
//! same commit: the repository goes to `repo` beside the snapshot's folder, and that folder
//! is a relative symlink to the app folder inside it (`src -> repo/examples/classroom`).
//! Processes and builds run in it, so `..` in their paths stays inside the snapshot.
//! Blocking: run it off the async threads.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use pier_state::ReleaseSource;

/// The folder beside a snapshot that holds the whole repository of an app in a subfolder.
pub const REPO_DIR: &str = "repo";

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

/// Copies the app in `app_dir` into `dest`, which becomes the app folder of the snapshot
/// (created; it must not exist). For an app in a subfolder of a bigger git repository,
/// `dest`'s parent also gets the repository in [`REPO_DIR`], so `dest`'s parent must be the
/// snapshot's own folder.
pub fn take(app_dir: &Path, dest: &Path, dirty: bool) -> Result<Snapshot, SnapshotError> {
    let repo = git(app_dir, &["rev-parse", "--show-toplevel", "--show-prefix"]).ok();
    let Some(repo) = repo else {
        std::fs::create_dir_all(dest).map_err(|e| io_error(dest, &e))?;
        if !dirty {
            return Err(SnapshotError(format!(
                "{} is not in a git repository, so there is no commit to deploy; deploy the \
                 working tree as it is with `pier deploy --dirty`",
                app_dir.display()
            )));
        }
        let files = walk(app_dir).map_err(|e| io_error(app_dir, &e))?;
        copy_files(app_dir, dest, files.into_iter())?;
        return Ok(Snapshot {
            source: ReleaseSource::WorkingTree,
            commit: None,
            uncommitted: false,
        });
    };
    let mut lines = repo.lines();
    let top = PathBuf::from(lines.next().unwrap_or_default());
    let prefix = lines.next().unwrap_or_default().trim_end_matches('/');
    // The repository's files go to `dest` itself, or beside it when the app is a subfolder.
    let root = match dest.parent() {
        Some(parent) if !prefix.is_empty() => parent.join(REPO_DIR),
        _ => dest.to_path_buf(),
    };
    std::fs::create_dir_all(&root).map_err(|e| io_error(&root, &e))?;
    let snapshot = if dirty {
        let files = git(&top, &["ls-files", "-z", "-co", "--exclude-standard"])?;
        let files = files
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        copy_files(&top, &root, files)?;
        Snapshot {
            source: ReleaseSource::WorkingTree,
            commit: git(&top, &["rev-parse", "--verify", "HEAD"])
                .ok()
                .map(|c| c.trim().to_string()),
            uncommitted: false,
        }
    } else {
        from_git(&top, &root)?
    };
    if !prefix.is_empty() {
        if !root.join(prefix).is_dir() {
            return Err(SnapshotError(format!(
                "{prefix} is not in the repository's {}; commit it, or deploy the working tree \
                 with `pier deploy --dirty`",
                if dirty { "working tree" } else { "HEAD" }
            )));
        }
        std::os::unix::fs::symlink(Path::new(REPO_DIR).join(prefix), dest)
            .map_err(|e| io_error(dest, &e))?;
    }
    Ok(snapshot)
}

/// The tree at HEAD of the repository whose top folder is `top`, into `dest`.
fn from_git(top: &Path, dest: &Path) -> Result<Snapshot, SnapshotError> {
    let commit = git(top, &["rev-parse", "--verify", "HEAD"]).map_err(|_| {
        SnapshotError(format!(
            "the git repository of {} has no commit yet; commit, or deploy the working tree \
             with `pier deploy --dirty`",
            top.display()
        ))
    })?;
    let archive = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["archive", "--format=tar", "HEAD"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SnapshotError(format!("cannot run git: {e}")))?;
    let stdout = archive
        .stdout
        .ok_or_else(|| SnapshotError("git archive: no output".into()))?;
    // `-m`: the files' times are the extraction's, not the commit's, so a build cache shared
    // across releases (`$PIER_CACHE_DIR`) never takes an older commit's sources for up to date
    // (make, cargo and co. compare times); copies of the working tree get new times too.
    let tar = Command::new("tar")
        .args(["-x", "-m"])
        .arg("-C")
        .arg(dest)
        .stdin(stdout)
        .output()
        .map_err(|e| SnapshotError(format!("cannot run tar: {e}")))?;
    if !tar.status.success() {
        return Err(SnapshotError(format!(
            "extracting `git archive HEAD` of {} failed: {}",
            top.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        )));
    }
    let status = git(top, &["status", "--porcelain"]).unwrap_or_default();
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
        // pier's own folder (of this app or another one in the repository) and git's.
        let private = file.components().any(|c| {
            c == Component::Normal(".pier".as_ref()) || c == Component::Normal(".git".as_ref())
        });
        if private {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let out = Command::new("sh")
            .args(["-c", script])
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            // An old commit: a snapshot's files must not carry its time (see `from_git`).
            .env("GIT_COMMITTER_DATE", "2001-01-01T00:00:00Z")
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A repository with `lib/shared.txt` beside the app folder `apps/web`, committed; the
    /// app's `.pier` and `target/` ignored.
    fn monorepo() -> tempfile::TempDir {
        let repo = tempfile::tempdir().expect("temp dir");
        sh(
            repo.path(),
            "mkdir -p lib apps/web/.pier && echo one > lib/shared.txt \
             && echo 'app = \"web\"' > apps/web/pier.toml && echo state > apps/web/.pier/x \
             && printf '.pier/\\ntarget/\\n' > .gitignore \
             && git init -q && git add -A && git commit -qm first",
        );
        repo
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn an_app_in_a_subfolder_gets_the_whole_repository_at_head() {
        let repo = monorepo();
        sh(repo.path(), "echo two > lib/shared.txt");
        let release = tempfile::tempdir().expect("temp dir");
        let dest = release.path().join("src");
        let app = repo.path().join("apps/web");
        let before = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let snap = take(&app, &dest, false).expect("snapshot");
        assert_eq!(snap.source, ReleaseSource::Git);
        let modified = std::fs::metadata(dest.join("pier.toml"))
            .and_then(|m| m.modified())
            .expect("mtime");
        assert!(
            modified > before,
            "the extraction's time, not the 2001 commit's"
        );
        assert!(snap.uncommitted, "the change in lib/ is left out and noted");
        assert_eq!(
            std::fs::read_link(&dest).expect("a symlink"),
            Path::new("repo/apps/web")
        );
        // Through the app folder, `..` reaches the repository at HEAD.
        assert_eq!(read(&dest.join("../../lib/shared.txt")), "one\n");
        assert_eq!(read(&release.path().join("repo/lib/shared.txt")), "one\n");
        assert!(dest.join("pier.toml").is_file());
        assert!(!dest.join(".pier").exists());
    }

    #[test]
    fn dirty_takes_the_whole_working_tree_without_pier_state() {
        let repo = monorepo();
        sh(
            repo.path(),
            "echo two > lib/shared.txt && echo new > lib/untracked.txt \
             && mkdir -p target && echo junk > target/out",
        );
        let release = tempfile::tempdir().expect("temp dir");
        let dest = release.path().join("src");
        let snap = take(&repo.path().join("apps/web"), &dest, true).expect("snapshot");
        assert_eq!(snap.source, ReleaseSource::WorkingTree);
        let root = release.path().join("repo");
        assert_eq!(read(&root.join("lib/shared.txt")), "two\n");
        assert_eq!(read(&root.join("lib/untracked.txt")), "new\n");
        assert!(!root.join("target").exists(), "ignored files stay out");
        assert!(!root.join("apps/web/.pier").exists());
        assert!(dest.join("pier.toml").is_file());
    }

    #[test]
    fn an_app_at_the_top_of_its_repository_is_copied_as_before() {
        let repo = monorepo();
        let release = tempfile::tempdir().expect("temp dir");
        let dest = release.path().join("src");
        take(repo.path(), &dest, false).expect("snapshot");
        assert!(dest.is_dir() && !dest.is_symlink());
        assert_eq!(read(&dest.join("lib/shared.txt")), "one\n");
        assert!(!release.path().join(REPO_DIR).exists());
    }

    #[test]
    fn a_subfolder_missing_from_head_is_refused() {
        let repo = monorepo();
        sh(
            repo.path(),
            "mkdir -p apps/new && echo 'app = \"new\"' > apps/new/pier.toml",
        );
        let release = tempfile::tempdir().expect("temp dir");
        let error = take(
            &repo.path().join("apps/new"),
            &release.path().join("src"),
            false,
        )
        .expect_err("not committed");
        assert!(
            error.0.contains("apps/new is not in the repository's HEAD"),
            "{}",
            error.0
        );
    }
}
