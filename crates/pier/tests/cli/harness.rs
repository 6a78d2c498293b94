//! The shared harness of pier's integration tests: an app folder in a temp dir, the real `pier`
//! binary started on it with ephemeral ports, CLI invocations against it, polling with
//! deadlines, and cleanup of everything started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PIER: &str = env!("CARGO_BIN_EXE_pier");

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// An app folder with a manifest.
pub struct App {
    pub dir: tempfile::TempDir,
}

impl App {
    /// An app whose pier.toml is `manifest`.
    pub fn with_manifest(manifest: &str) -> App {
        let app = App::empty();
        app.write("pier.toml", manifest);
        app
    }

    pub fn empty() -> App {
        App {
            dir: tempfile::Builder::new()
                .prefix("pier-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write app file");
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.path().join(name));
    }

    /// Starts `pier up` on this app.
    pub fn up(&self) -> Daemon {
        Daemon::start(self.path(), &[])
    }
}

/// A running `pier up`, stopped (and, failing that, killed) on drop.
pub struct Daemon {
    pub child: Option<Child>,
    pub api: String,
    /// The public router's address.
    pub listen: String,
    pub dir: PathBuf,
    pub output: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
        // Outside the app folder: the demo's folder is part of the repository.
        let output = std::env::temp_dir().join(format!("pier-up-{}.out", unique()));
        let log = std::fs::File::create(&output).expect("output file");
        let port_range = random_port_range();
        let child = Command::new(PIER)
            .arg("up")
            .arg(dir)
            .args([
                "--api-listen",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                "--port-range",
                &port_range,
                "--no-color",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("start pier up");
        let mut daemon = Daemon {
            child: Some(child),
            api: String::new(),
            listen: String::new(),
            dir: dir.to_path_buf(),
            output,
        };
        let info = dir.join(".pier/daemon.json");
        (daemon.api, daemon.listen) = wait_for(
            "pier up to publish its API address",
            Duration::from_secs(60),
            || {
                if let Some(status) = daemon
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    panic!("pier up exited early ({status}):\n{}", daemon.output_text());
                }
                let text = std::fs::read_to_string(&info).ok()?;
                let value: Value = serde_json::from_str(&text).ok()?;
                Some((
                    value["api"].as_str()?.to_string(),
                    value["listen"].as_str()?.to_string(),
                ))
            },
        );
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Runs a CLI command against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(PIER)
            .args(["--api", &self.api])
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run pier")
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "pier {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `pier ps --json` replicas.
    pub fn ps(&self) -> Vec<Value> {
        let value: Value = serde_json::from_str(&self.ok(&["ps", "--json"])).expect("ps json");
        value["replicas"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `service` has exactly `count` replicas, all running and ready.
    pub fn wait_ready(&self, service: &str, count: usize) -> Vec<Value> {
        wait_for(
            &format!("{count} ready replica(s) of {service}"),
            Duration::from_secs(30),
            || {
                let replicas: Vec<Value> = self
                    .ps()
                    .into_iter()
                    .filter(|r| r["service"] == service)
                    .collect();
                let ready = replicas.len() == count
                    && replicas
                        .iter()
                        .all(|r| r["ready"] == true && r["state"] == "running");
                ready.then_some(replicas)
            },
        )
    }

    pub fn output_text(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Every process descended from the daemon, found through /proc.
    pub fn descendants(&self) -> Vec<u32> {
        descendants_of(self.pid())
    }

    /// Sends `signal` to the daemon and waits for it to exit; returns its exit code.
    pub fn signal_and_wait(&mut self, signal: nix::sys::signal::Signal) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
        let status = wait_for("pier to exit", Duration::from_secs(60), || {
            child.try_wait().ok().flatten()
        });
        status.code()
    }

    /// Waits for the daemon to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        wait_for("pier to exit", Duration::from_secs(60), || {
            child.try_wait().ok().flatten()
        })
        .code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.output);
        } else {
            eprintln!("pier up's output is kept in {}", self.output.display());
        }
    }
}

impl Daemon {
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every live process whose ancestry includes `root`.
pub fn descendants_of(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// True if `pid` is a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat[stat.rfind(')')? + 2..].chars().next())
        .is_some_and(|state| state != 'Z')
}

/// A port range of 200 ports at a random place in 20000–32599, so parallel tests rarely meet.
/// It stays below Linux's ephemeral range (32768–60999): a port there can be taken at any
/// moment as the local port of some process's outgoing connection, and a replica that finds
/// its `$PORT` taken crash-loops on it.
fn random_port_range() -> String {
    let lo = 20_000 + (unique() % 63) * 200;
    format!("{lo}-{}", lo + 199)
}

fn unique() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(13)
}

/// A minimal HTTP GET over a fresh connection; returns (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

/// A GET through the router at `addr` with a Host header; returns (status, head, body).
pub fn http_via(addr: &str, host: &str, path: &str) -> Option<(u16, String, String)> {
    http_via_with(addr, host, path, "")
}

/// [`http_via`] with extra header lines (each ending in `\r\n`).
pub fn http_via_with(
    addr: &str,
    host: &str,
    path: &str,
    headers: &str,
) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}
