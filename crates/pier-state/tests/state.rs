//! The integration tests of pier-state: the schema, each store (formation, releases, events)
//! through the public API, durability across reopening, and the daemon lock, including a
//! holder killed with SIGKILL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use pier_state::{
    Clock, DaemonInfo, DaemonLock, EventQuery, LATEST_SCHEMA_VERSION, LockError, NewEvent,
    NewRelease, ReleaseStatus, State, StateError, StateOptions, read_daemon_info,
};
use tempfile::TempDir;

// ---- harness ---------------------------------------------------------------------------

/// A clock that reads 1000, 2000, 3000, … so timestamps are predictable.
#[derive(Default)]
struct TickingClock(AtomicI64);

impl Clock for TickingClock {
    fn now_ms(&self) -> i64 {
        self.0.fetch_add(1000, Ordering::SeqCst) + 1000
    }
}

struct Harness {
    dir: TempDir,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The app's `.pier` directory, not created yet.
    fn state_dir(&self) -> PathBuf {
        self.dir.path().join(".pier")
    }

    fn open(&self) -> State {
        State::open(&self.state_dir()).expect("open state")
    }

    fn open_with(&self, options: StateOptions) -> State {
        State::open_with(&self.state_dir(), options).expect("open state")
    }

    /// A raw connection to the database, to inspect or damage it behind pier's back.
    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state_dir().join("state.db")).expect("raw open")
    }
}

fn formation(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn release(source: &str, env: &[(&str, &str)], manifest: &str) -> NewRelease {
    NewRelease {
        description: format!("deploy of {source}"),
        source_dir: PathBuf::from(source),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        manifest: manifest.to_owned(),
        ..NewRelease::default()
    }
}

fn event(at_ms: i64, kind: &str, subject: &str) -> NewEvent {
    NewEvent {
        at_ms,
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        message: format!("{kind} {subject}"),
    }
}

fn ids(events: &[pier_state::Event]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

fn info(pid: u32) -> DaemonInfo {
    DaemonInfo {
        pid,
        api: "127.0.0.1:7070".to_owned(),
        listen: Some("127.0.0.1:8080".to_owned()),
        started_at_ms: 1_700_000_000_000,
        app: "classroom".to_owned(),
    }
}

/// Polls `condition` until it holds, failing the test after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

// ---- schema ----------------------------------------------------------------------------

#[test]
fn migrates_an_empty_directory() {
    let h = Harness::new();
    let state = h.open();
    assert_eq!(state.path(), h.state_dir().join("state.db"));
    let raw = h.raw();
    let versions: Vec<i64> = raw
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        (1..=i64::from(LATEST_SCHEMA_VERSION)).collect::<Vec<_>>()
    );
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(state.formation().unwrap().is_empty());
    assert_eq!(state.current_release().unwrap(), None);
    assert!(state.events(&EventQuery::last(10)).unwrap().is_empty());
}

#[test]
fn refuses_a_database_from_a_newer_pier() {
    let h = Harness::new();
    drop(h.open());
    let newer = i64::from(LATEST_SCHEMA_VERSION) + 99;
    h.raw()
        .execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, 0)",
            [newer],
        )
        .unwrap();
    let error = State::open(&h.state_dir()).unwrap_err();
    assert!(matches!(error, StateError::NewerSchema { found, .. } if found == newer));
    let message = error.to_string();
    let expected = format!(
        "was written by a newer pier (schema {newer} > {LATEST_SCHEMA_VERSION}); upgrade pier"
    );
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains("state.db"), "{message}");
}

#[test]
fn refuses_a_file_that_is_not_a_database() {
    let h = Harness::new();
    std::fs::create_dir_all(h.state_dir()).unwrap();
    std::fs::write(h.state_dir().join("state.db"), vec![b'x'; 4096]).unwrap();
    let message = State::open(&h.state_dir()).unwrap_err().to_string();
    assert!(
        message.starts_with("cannot open state database"),
        "{message}"
    );
    assert!(message.contains("move it aside"), "{message}");
}

#[test]
fn reopening_keeps_everything_written() {
    let h = Harness::new();
    let state = h.open();
    state.set_formation(&formation(&[("web", 3)])).unwrap();
    let (v1, _) = state
        .ensure_release(&release("/src/a", &[("K", "v")], "app = 'a'"))
        .unwrap();
    let appended = state
        .append_events(&[
            event(1, "daemon.started", "pier"),
            event(2, "replica.ready", "web.1"),
        ])
        .unwrap();
    drop(state);

    let state = h.open();
    assert_eq!(state.formation().unwrap(), formation(&[("web", 3)]));
    assert_eq!(state.current_release().unwrap(), Some(v1.clone()));
    assert_eq!(state.releases().unwrap(), vec![v1]);
    assert_eq!(state.events(&EventQuery::last(10)).unwrap(), appended);
}

// ---- formation -------------------------------------------------------------------------

#[test]
fn set_formation_merges_overrides() {
    let state = State::open_in_memory().unwrap();
    state
        .set_formation(&formation(&[("web", 2), ("worker", 1)]))
        .unwrap();
    state
        .set_formation(&formation(&[("web", 5), ("clock", 0)]))
        .unwrap();
    assert_eq!(
        state.formation().unwrap(),
        formation(&[("clock", 0), ("web", 5), ("worker", 1)])
    );
    state.reset_formation(&["clock".to_owned()]).unwrap();
    assert_eq!(
        state.formation().unwrap(),
        formation(&[("web", 5), ("worker", 1)])
    );
}

#[test]
fn set_formation_is_all_or_nothing() {
    let h = Harness::new();
    let state = h.open();
    state.set_formation(&formation(&[("web", 2)])).unwrap();
    // Make the last row of the next change fail inside the transaction.
    h.raw()
        .execute_batch(
            "CREATE TRIGGER refuse_zzz BEFORE INSERT ON formation WHEN NEW.process = 'zzz'
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .unwrap();
    let error = state
        .set_formation(&formation(&[("api", 4), ("web", 9), ("zzz", 1)]))
        .unwrap_err();
    assert!(error.to_string().contains("refused by test"), "{error}");
    assert_eq!(state.formation().unwrap(), formation(&[("web", 2)]));

    let error = state
        .set_formation(&formation(&[("", 1), ("web", 7)]))
        .unwrap_err();
    assert!(matches!(error, StateError::Invalid(_)), "{error}");
    assert_eq!(state.formation().unwrap(), formation(&[("web", 2)]));
}

// ---- releases --------------------------------------------------------------------------

#[test]
fn ensure_release_dedupes_and_versions() {
    let options = StateOptions {
        clock: Arc::new(TickingClock::default()),
        ..StateOptions::default()
    };
    let state = State::open_in_memory_with(options).unwrap();
    let base = release("/src/a", &[("K", "1")], "app = 'a'");

    let (v1, created) = state.ensure_release(&base).unwrap();
    assert!(created);
    assert_eq!((v1.version, v1.status), (1, ReleaseStatus::Current));

    let (again, created) = state.ensure_release(&base).unwrap();
    assert!(!created);
    assert_eq!(again, v1);

    let changes = [
        release("/src/a", &[("K", "2")], "app = 'a'"),
        release("/src/a", &[("K", "2")], "app = 'b'"),
        release("/src/b", &[("K", "2")], "app = 'b'"),
        base.clone(), // identical to v1, but v1 is no longer current
    ];
    for (i, new) in changes.iter().enumerate() {
        let (made, created) = state.ensure_release(new).unwrap();
        assert!(created, "change {i}");
        assert_eq!(made.version, i as u32 + 2);
        assert_eq!(made.env, new.env);
    }

    let all = state.releases().unwrap();
    let summary: Vec<(u32, ReleaseStatus)> = all.iter().map(|r| (r.version, r.status)).collect();
    use ReleaseStatus::{Current, Superseded};
    assert_eq!(
        summary,
        [
            (5, Current),
            (4, Superseded),
            (3, Superseded),
            (2, Superseded),
            (1, Superseded)
        ]
    );
    let times: Vec<i64> = all.iter().map(|r| r.created_at_ms).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    assert_eq!(state.current_release().unwrap().map(|r| r.version), Some(5));
    assert_eq!(
        state.release(2).unwrap().map(|r| r.manifest),
        Some("app = 'a'".to_owned())
    );
    assert_eq!(state.release(99).unwrap(), None);
}

#[test]
fn a_corrupt_release_is_an_error_naming_it() {
    let h = Harness::new();
    let state = h.open();
    state.ensure_release(&release("/src/a", &[], "")).unwrap();
    h.raw()
        .execute(
            "UPDATE releases SET env = '{not json' WHERE version = 1",
            [],
        )
        .unwrap();
    for error in [
        state.current_release().unwrap_err(),
        state.releases().unwrap_err(),
        state
            .ensure_release(&release("/src/b", &[], ""))
            .unwrap_err(),
    ] {
        let message = error.to_string();
        assert!(
            message.starts_with("release v1 in the state database is corrupt"),
            "{message}"
        );
    }
}

#[test]
fn release_status_round_trips_as_text() {
    use ReleaseStatus::*;
    for status in [Current, Superseded, Failed, RolledBack] {
        assert_eq!(status.as_str().parse::<ReleaseStatus>(), Ok(status));
        assert_eq!(status.to_string(), status.as_str());
    }
    let error = "live".parse::<ReleaseStatus>().unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("unknown release status \"live\"")
    );
}

// ---- events ----------------------------------------------------------------------------

#[test]
fn event_queries() {
    let state = State::open_in_memory().unwrap();
    let subjects = [
        "pier",
        "web",
        "web.1",
        "webhook",
        "web.2",
        "worker.1",
        "webhook.1",
    ];
    let batch: Vec<NewEvent> = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| event(i as i64, "replica.started", s))
        .collect();
    let stored = state.append_events(&batch).unwrap();
    assert_eq!(ids(&stored), [1, 2, 3, 4, 5, 6, 7]);
    let subjects_of = |query: EventQuery| -> Vec<String> {
        let events = state.events(&query).unwrap();
        assert!(events.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        events.into_iter().map(|e| e.subject).collect()
    };

    assert_eq!(subjects_of(EventQuery::last(100)), subjects);
    assert_eq!(subjects_of(EventQuery::last(2)), ["worker.1", "webhook.1"]);
    assert_eq!(subjects_of(EventQuery::last(0)), Vec::<String>::new());
    assert_eq!(
        subjects_of(EventQuery::last(100).after(5)),
        ["worker.1", "webhook.1"]
    );
    assert_eq!(subjects_of(EventQuery::last(1).after(3)), ["webhook.1"]);
    assert_eq!(
        subjects_of(EventQuery::last(100).subject("web")),
        ["web", "web.1", "web.2"]
    );
    assert_eq!(
        subjects_of(EventQuery::last(2).subject("web")),
        ["web.1", "web.2"]
    );
    assert_eq!(
        subjects_of(EventQuery::last(100).subject("web").after(3)),
        ["web.2"]
    );
    assert_eq!(
        subjects_of(EventQuery::last(100).subject("web.1")),
        ["web.1"]
    );
    assert_eq!(
        subjects_of(EventQuery::last(100).subject("webhook")),
        ["webhook", "webhook.1"]
    );
    assert_eq!(
        subjects_of(EventQuery::last(100).subject("we")),
        Vec::<String>::new()
    );
    assert_eq!(
        subjects_of(EventQuery::last(usize::MAX).subject("pier")),
        ["pier"]
    );

    let single = state
        .append_event(&event(9, "daemon.stopped", "pier"))
        .unwrap();
    assert_eq!(single.id, 8);
    assert_eq!(state.events(&EventQuery::last(1)).unwrap(), [single]);
}

#[test]
fn a_bad_event_batch_records_nothing() {
    let state = State::open_in_memory().unwrap();
    let error = state
        .append_events(&[event(1, "replica.ready", "web.1"), event(2, "", "web.2")])
        .unwrap_err();
    assert!(error.to_string().contains("empty kind"), "{error}");
    assert!(state.events(&EventQuery::last(10)).unwrap().is_empty());
    assert!(state.append_events(&[]).unwrap().is_empty());
}

#[test]
fn the_event_log_is_bounded() {
    let h = Harness::new();
    let options = StateOptions {
        max_events: 10,
        ..StateOptions::default()
    };
    let state = h.open_with(options.clone());
    for i in 0..20 {
        state.append_event(&event(i, "tick", "pier")).unwrap();
    }
    let batch: Vec<NewEvent> = (20..25).map(|i| event(i, "tick", "pier")).collect();
    state.append_events(&batch).unwrap();
    let kept = state.events(&EventQuery::last(1000)).unwrap();
    assert_eq!(ids(&kept), (16..=25).collect::<Vec<_>>());

    // Ids are never reused after pruning, so cursors stay valid across restarts.
    drop(state);
    let state = h.open_with(options);
    assert_eq!(
        state.append_event(&event(99, "tick", "pier")).unwrap().id,
        26
    );

    // With a larger bound pruning is batched: never more than bound + interval - 1 rows.
    let state = State::open_in_memory_with(StateOptions {
        max_events: 500,
        ..StateOptions::default()
    })
    .unwrap();
    for chunk in 0..40 {
        let batch: Vec<NewEvent> = (0..37).map(|i| event(chunk * 37 + i, "t", "s")).collect();
        state.append_events(&batch).unwrap();
        let count = state.events(&EventQuery::last(10_000)).unwrap().len();
        assert!(
            count <= 500 + 5 - 1 + 37,
            "{count} rows after chunk {chunk}"
        );
    }
    let kept = state.events(&EventQuery::last(10_000)).unwrap();
    assert!(kept.len() >= 500, "the newest 500 are kept");
    assert_eq!(kept.last().unwrap().id, 40 * 37);
}

#[test]
fn handles_are_shared_across_threads_and_processes() {
    let h = Harness::new();
    let first = h.open();
    let second = h.open(); // a second connection to the same file, as another process would
    let writers: Vec<_> = [first.clone(), first.clone(), second.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, state)| {
            std::thread::spawn(move || {
                for i in 0..50 {
                    state
                        .append_event(&event(i, "tick", &format!("w.{n}")))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let all = second.events(&EventQuery::last(1000)).unwrap();
    assert_eq!(ids(&all), (1..=150).collect::<Vec<_>>());
}

// ---- daemon lock -----------------------------------------------------------------------

#[test]
fn the_lock_excludes_a_second_daemon_until_dropped() {
    let h = Harness::new();
    let dir = h.state_dir();
    assert_eq!(read_daemon_info(&dir), None);

    let lock = DaemonLock::acquire(&dir).unwrap();
    assert_eq!(read_daemon_info(&dir), None, "held but not yet published");
    lock.publish(&info(4242)).unwrap();
    assert_eq!(read_daemon_info(&dir), Some(info(4242)));

    // A second acquire opens its own file description, so flock conflicts even in-process.
    match DaemonLock::acquire(&dir) {
        Err(LockError::Held(Some(holder))) => assert_eq!(holder, info(4242)),
        other => panic!("expected Held with info, got {other:?}"),
    }
    let message = DaemonLock::acquire(&dir).unwrap_err().to_string();
    assert!(
        message.contains("pid 4242, api 127.0.0.1:7070"),
        "{message}"
    );

    drop(lock);
    assert!(!dir.join("daemon.json").exists());
    assert_eq!(read_daemon_info(&dir), None);
    let again = DaemonLock::acquire(&dir).unwrap();
    again.publish(&info(7)).unwrap();
    assert_eq!(read_daemon_info(&dir), Some(info(7)));
}

#[test]
fn a_stale_daemon_json_is_not_believed() {
    let h = Harness::new();
    let dir = h.state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("daemon.lock"), "").unwrap();
    std::fs::write(
        dir.join("daemon.json"),
        serde_json::to_vec(&info(1)).unwrap(),
    )
    .unwrap();
    assert_eq!(read_daemon_info(&dir), None);
    let lock = DaemonLock::acquire(&dir).unwrap();
    assert_eq!(
        read_daemon_info(&dir),
        None,
        "acquire discards the stale file"
    );
    drop(lock);
}

/// A process that holds the lock the way a daemon would: `sh` opens the lock file, `flock`
/// locks the shared file description, then the shell becomes `sleep` keeping the fd open.
struct LockHolder(std::process::Child);

impl LockHolder {
    fn spawn(lock_path: &Path) -> LockHolder {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec 9>>"$1" && flock -x 9 && echo locked && exec sleep 30"#)
            .arg("sh")
            .arg(lock_path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        assert_eq!(
            line.trim(),
            "locked",
            "the flock(1) helper did not take the lock"
        );
        LockHolder(child)
    }

    fn kill_9(mut self) {
        self.0.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on unix.
        self.0.wait().expect("reap");
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_holder_releases_the_lock() {
    let h = Harness::new();
    let dir = h.state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let holder = LockHolder::spawn(&dir.join("daemon.lock"));

    match DaemonLock::acquire(&dir) {
        Err(LockError::Held(None)) => {}
        other => panic!("expected Held without info, got {other:?}"),
    }
    std::fs::write(
        dir.join("daemon.json"),
        serde_json::to_vec(&info(99)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        read_daemon_info(&dir),
        Some(info(99)),
        "believed while the lock is held"
    );

    holder.kill_9();
    assert_eq!(
        read_daemon_info(&dir),
        None,
        "not believed once its holder is dead"
    );
    let mut lock = None;
    wait_until("the lock is free", Duration::from_secs(10), || {
        lock = DaemonLock::acquire(&dir).ok();
        lock.is_some()
    });
    assert_eq!(read_daemon_info(&dir), None);
}

#[test]
fn settings_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = pier_state::State::open(dir.path()).unwrap();
        assert_eq!(state.setting("router.maintenance").unwrap(), None);
        state.set_setting("router.maintenance", "on").unwrap();
        state.set_setting("router.maintenance", "off").unwrap();
        assert!(state.set_setting("", "x").is_err());
    }
    let state = pier_state::State::open(dir.path()).unwrap();
    assert_eq!(
        state.setting("router.maintenance").unwrap().as_deref(),
        Some("off")
    );
}

#[test]
fn a_deploy_is_pending_then_current_and_only_one_runs_at_a_time() {
    let h = Harness::new();
    let state = h.open();
    let (v1, _) = state.ensure_release(&release("/src/a", &[], "m")).unwrap();
    let deploy = NewRelease {
        source: pier_state::ReleaseSource::Git,
        commit: Some("abc1234".into()),
        artifact: pier_state::NewArtifact::Own,
        config: BTreeMap::from([("FOO".to_string(), "bar".to_string())]),
        ..release("/src/a", &[], "m")
    };
    let v2 = state.begin_release(&deploy).unwrap();
    assert_eq!(v2.status, ReleaseStatus::Pending);
    assert_eq!(v2.artifact, Some(2));
    // A second deploy while one is pending changes nothing.
    let conflict = state.begin_release(&deploy).unwrap_err();
    assert!(matches!(conflict, StateError::Conflict(_)), "{conflict}");
    assert_eq!(state.releases().unwrap().len(), 2);
    assert_eq!(
        state.current_release().unwrap().unwrap().version,
        v1.version
    );

    let v2 = state
        .complete_release(2, ReleaseStatus::Superseded)
        .unwrap();
    assert_eq!(v2.status, ReleaseStatus::Current);
    assert_eq!(v2.config["FOO"], "bar");
    assert_eq!(
        state.release(1).unwrap().unwrap().status,
        ReleaseStatus::Superseded
    );
    assert_eq!(state.previous_release().unwrap().unwrap().version, 1);

    // A failed release leaves the current one; a rollback marks the one it replaces.
    let v3 = state.begin_release(&deploy).unwrap();
    state
        .fail_release(v3.version, "readiness never passed")
        .unwrap();
    let failed = state.release(3).unwrap().unwrap();
    assert_eq!(failed.status, ReleaseStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("readiness never passed"));
    assert_eq!(state.current_release().unwrap().unwrap().version, 2);
    let rollback = NewRelease {
        artifact: pier_state::NewArtifact::Of(1),
        ..deploy.clone()
    };
    let v4 = state.begin_release(&rollback).unwrap();
    state
        .complete_release(v4.version, ReleaseStatus::RolledBack)
        .unwrap();
    assert_eq!(
        state.release(2).unwrap().unwrap().status,
        ReleaseStatus::RolledBack
    );
    assert_eq!(state.previous_release().unwrap().unwrap().version, 2);
}

#[test]
fn an_interrupted_deploy_fails_and_its_release_phase_never_runs_again() {
    let h = Harness::new();
    let state = h.open();
    state.ensure_release(&release("/src/a", &[], "m")).unwrap();
    let v2 = state.begin_release(&release("/src/b", &[], "m")).unwrap();
    state.begin_release_phase(v2.version).unwrap();
    drop(state);
    let state = h.open();
    assert_eq!(
        state.fail_interrupted_releases("interrupted").unwrap(),
        vec![2]
    );
    assert_eq!(
        state.release(2).unwrap().unwrap().status,
        ReleaseStatus::Failed
    );
    assert_eq!(
        state.release_phase(2).unwrap().unwrap().state,
        "interrupted"
    );
    assert!(matches!(
        state.begin_release_phase(2).unwrap_err(),
        StateError::Conflict(_)
    ));
    state.begin_release_phase(1).unwrap();
    state.finish_release_phase(1, true, "exit code 0").unwrap();
    assert_eq!(state.release_phase(1).unwrap().unwrap().state, "succeeded");
}

#[test]
fn a_canary_is_recorded_then_promoted_or_aborted_and_one_runs_at_a_time() {
    let h = Harness::new();
    let state = h.open();
    state.ensure_release(&release("/src/a", &[], "m")).unwrap();
    assert_eq!(state.canary().unwrap(), None);
    let v2 = state.begin_release(&release("/src/b", &[], "m")).unwrap();
    // Only a pending release becomes a canary, with a share strictly between 0 and 100.
    assert!(state.start_canary(1, 10.0, "s").is_err());
    assert!(state.start_canary(v2.version, 0.0, "s").is_err());
    assert!(state.start_canary(v2.version, 100.0, "s").is_err());
    state.start_canary(v2.version, 12.5, "salt-2").unwrap();
    let canary = state.canary().unwrap().unwrap();
    assert_eq!(
        (canary.version, canary.percent, canary.salt.as_str()),
        (2, 12.5, "salt-2")
    );
    assert_eq!(
        state.release(2).unwrap().unwrap().status,
        ReleaseStatus::Canary
    );
    assert_eq!(state.current_release().unwrap().unwrap().version, 1);
    // A second canary is a conflict and changes nothing.
    let v3 = state.begin_release(&release("/src/c", &[], "m")).unwrap();
    let conflict = state.start_canary(v3.version, 5.0, "s").unwrap_err();
    assert!(matches!(conflict, StateError::Conflict(_)), "{conflict}");
    state.fail_release(v3.version, "refused").unwrap();
    assert_eq!(state.canary().unwrap().unwrap().version, 2);

    // Promoted: pending again, then current through the normal completion.
    state.promote_canary(2).unwrap();
    assert_eq!(state.canary().unwrap(), None);
    assert_eq!(
        state.release(2).unwrap().unwrap().status,
        ReleaseStatus::Pending
    );
    state
        .complete_release(2, ReleaseStatus::Superseded)
        .unwrap();
    assert_eq!(state.current_release().unwrap().unwrap().version, 2);

    // Aborted, by hand or by a daemon restart.
    let v4 = state.begin_release(&release("/src/d", &[], "m")).unwrap();
    state.start_canary(v4.version, 50.0, "s4").unwrap();
    assert!(state.abort_canary(3, "no").is_err());
    state.abort_canary(v4.version, "aborted by hand").unwrap();
    let aborted = state.release(4).unwrap().unwrap();
    assert_eq!(aborted.status, ReleaseStatus::Aborted);
    assert_eq!(aborted.failure.as_deref(), Some("aborted by hand"));
    let v5 = state.begin_release(&release("/src/e", &[], "m")).unwrap();
    state.start_canary(v5.version, 1.0, "s5").unwrap();
    drop(state);
    let state = h.open();
    assert_eq!(state.abort_interrupted_canary("restart").unwrap(), Some(5));
    assert_eq!(state.abort_interrupted_canary("restart").unwrap(), None);
    assert_eq!(
        state.release(5).unwrap().unwrap().status,
        ReleaseStatus::Aborted
    );
    assert_eq!(state.current_release().unwrap().unwrap().version, 2);
}
