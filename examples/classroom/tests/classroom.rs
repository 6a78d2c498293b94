//! End-to-end tests of the `classroom` binary: every test starts the real processes on
//! ephemeral loopback ports, waits for conditions with deadlines (never fixed sleeps), talks
//! HTTP to them, and kills whatever it started when it ends, even on failure.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, Request, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout_at};

/// Upper bound on any single wait (a process starting, a line appearing, a process exiting).
const DEADLINE: Duration = Duration::from_secs(15);
/// Pause between two polls of a condition.
const POLL: Duration = Duration::from_millis(20);

#[tokio::test]
async fn answers_api_validates_stores_and_lists() {
    let answers = Server::start("answers", &[]).await;

    let created = post(
        &answers.url("/answers"),
        JSON,
        r#"{"student":" ada ","answer":"56"}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let record: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!(record["id"], 1);
    assert_eq!(record["student"], "ada");
    assert_eq!(record["answer"], "56");
    assert!(record["at"].as_str().unwrap().ends_with('Z'), "{record}");
    post(
        &answers.url("/answers"),
        JSON,
        r#"{"student":"bob","answer":"54"}"#,
    )
    .await;

    for bad in [
        r#"{"student":"","answer":"56"}"#,
        r#"{"student":"ada"}"#,
        "not json",
    ] {
        let rejected = post(&answers.url("/answers"), JSON, bad).await;
        assert_eq!(rejected.status, 400, "{bad}: {}", rejected.body);
        let error: serde_json::Value = serde_json::from_str(&rejected.body).unwrap();
        assert!(error["error"].is_string(), "{bad}: {error}");
    }

    let latest: serde_json::Value = json(&get(&answers.url("/answers?limit=1")).await);
    assert_eq!(latest.as_array().unwrap().len(), 1);
    assert_eq!(latest[0]["student"], "bob", "newest first");
    let all = json(&get(&answers.url("/answers")).await);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(get(&answers.url("/answers?limit=lots")).await.status, 400);

    let stats = json(&get(&answers.url("/stats")).await);
    assert_eq!(
        (stats["count"].as_u64(), stats["students"].as_u64()),
        (Some(2), Some(2))
    );

    let metrics = get(&answers.url("/metrics")).await.body;
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "classroom_answers_stored 2",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn an_answer_sent_through_web_is_listed_on_the_page_and_by_the_api() {
    let answers = Server::start("answers", &[]).await;
    let web = Server::start("web", &[("ANSWERS_URL", &answers.url(""))]).await;

    let sent = post(
        &web.url("/answer"),
        FORM,
        "student=Grace&answer=Saturn+%3Cb%3E",
    )
    .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(sent.location.as_deref(), Some("/"));

    let page = get(&web.url("/")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Grace"), "{}", page.body);
    assert!(
        page.body.contains("Saturn &lt;b&gt;"),
        "answers are escaped: {}",
        page.body
    );
    assert!(!page.body.contains("answers service unavailable"));

    let stored = json(&get(&answers.url("/answers")).await);
    assert_eq!(stored[0]["student"], "Grace");
    assert_eq!(stored[0]["answer"], "Saturn <b>");

    let refused = post(&web.url("/answer"), FORM, "student=+&answer=42").await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("student must not be empty"),
        "{}",
        refused.body
    );

    let metrics = get(&web.url("/metrics")).await.body;
    for name in [
        r#"http_requests_total{route="/answer",method="POST",status="303"} 1"#,
        r#"http_request_duration_seconds_count{route="/"}"#,
        "classroom_connected_students 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn web_degrades_when_the_answers_service_is_down_or_unset() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let down = Server::start("web", &[("ANSWERS_URL", &closed)]).await;
    let unset = Server::start("web", &[]).await;
    for web in [&down, &unset] {
        let page = get(&web.url("/")).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("answers service unavailable"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<form"), "the form is still shown");
        let sent = post(&web.url("/answer"), FORM, "student=ada&answer=56").await;
        assert_eq!(sent.status, 502, "{}", sent.body);
    }
}

#[tokio::test]
async fn servers_drain_and_exit_zero_on_sigterm() {
    for service in ["web", "answers"] {
        let mut server = Server::start(service, &[]).await;
        server
            .process
            .wait_for_line(&format!("{service} listening on 127.0.0.1:"))
            .await;
        server.process.signal(Signal::SIGTERM);
        let status = server.process.wait_exit().await;
        assert!(status.success(), "{service} exited with {status}");
        server
            .process
            .wait_for_line("received SIGTERM, draining")
            .await;
    }
}

#[test]
fn a_missing_or_invalid_port_exits_with_status_2() {
    for (service, port) in [("web", None), ("answers", Some("http")), ("web", Some("0"))] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_classroom"));
        command.arg(service).env_clear();
        if let Some(port) = port {
            command.env("PORT", port);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{service} PORT={port:?}: {stderr}"
        );
        assert!(stderr.contains("PORT"), "{stderr}");
    }
}

#[tokio::test]
async fn worker_tallies_serves_metrics_and_finishes_on_sigterm() {
    let answers = Server::start("answers", &[]).await;
    post(
        &answers.url("/answers"),
        JSON,
        r#"{"student":"ada","answer":"56"}"#,
    )
    .await;
    let metrics_port = free_port().to_string();
    let mut worker = Process::start(
        "worker",
        &[
            ("ANSWERS_URL", &answers.url("")),
            ("WORKER_INTERVAL", "0.05"),
            ("METRICS_PORT", &metrics_port),
        ],
    );
    worker
        .wait_for_line("tallied 1 answer from 1 student")
        .await;
    let metrics_url = format!("http://127.0.0.1:{metrics_port}");
    wait_healthy(&mut worker, &metrics_url).await;
    let metrics = get(&format!("{metrics_url}/metrics")).await.body;
    for name in [
        "classroom_worker_ticks_total",
        "classroom_worker_errors_total 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }

    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit().await;
    assert!(status.success(), "worker exited with {status}");
    worker
        .wait_for_line("worker: SIGTERM received, finishing")
        .await;
}

#[test]
fn report_prints_the_scheduled_slot_and_exits_zero() {
    let output = Command::new(env!("CARGO_BIN_EXE_classroom"))
        .arg("report")
        .env_clear()
        .env("PIER_SCHEDULED_AT", "2025-03-04T06:00:00-06:00")
        .env("ANSWERS_URL", format!("http://127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("daily report"), "{stdout}");
    assert!(stdout.contains("2025-03-04T06:00:00-06:00"), "{stdout}");
}

// ---- harness ----

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// A free loopback port: bound to learn a number the kernel is not using, then released.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `classroom` subcommand listening on `$PORT`, started and healthy.
struct Server {
    process: Process,
    base: String,
}

impl Server {
    async fn start(service: &str, env: &[(&str, &str)]) -> Server {
        let port = free_port().to_string();
        let mut env = env.to_vec();
        env.push(("PORT", &port));
        let mut process = Process::start(service, &env);
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&mut process, &base).await;
        Server { process, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Polls `base/healthz` until it answers 200, failing early if the process exits.
async fn wait_healthy(process: &mut Process, base: &str) {
    let deadline = Instant::now() + DEADLINE;
    let url = format!("{base}/healthz");
    loop {
        if let Ok(reply) = request(Method::GET, &url, None).await
            && reply.status == 200
        {
            return;
        }
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!(
                "{} exited with {status} before it was healthy",
                process.name
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} not healthy in {DEADLINE:?}",
            process.name
        );
        sleep(POLL).await;
    }
}

/// A running `classroom` subcommand whose output lines are collected; killed on drop.
struct Process {
    name: String,
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Process {
    /// Starts `classroom SUBCOMMAND` with only `env` in its environment.
    fn start(subcommand: &str, env: &[(&str, &str)]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_classroom"))
            .arg(subcommand)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        forward_lines(child.stdout.take().unwrap(), tx.clone());
        forward_lines(child.stderr.take().unwrap(), tx);
        Process {
            name: subcommand.to_owned(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until a line containing `needle` has been printed, and returns it.
    async fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self.seen.iter().find(|line| line.contains(needle)) {
                return line.clone();
            }
            match timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => self.seen.push(line),
                Ok(None) => panic!(
                    "{} closed its output without {needle:?}: {:#?}",
                    self.name, self.seen
                ),
                Err(_) => panic!(
                    "{} printed no {needle:?} in {DEADLINE:?}: {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, signal).unwrap();
    }

    /// Waits for the process to exit on its own.
    async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {DEADLINE:?}",
                self.name
            );
            sleep(POLL).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends each line of `stream` to `tx` from a thread, until the stream closes.
fn forward_lines(stream: impl Read + Send + 'static, tx: mpsc::UnboundedSender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// What the tests look at in a response.
struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
}

async fn get(url: &str) -> Reply {
    request(Method::GET, url, None).await.unwrap()
}

async fn post(url: &str, content_type: &str, body: &str) -> Reply {
    request(Method::POST, url, Some((content_type, body)))
        .await
        .unwrap()
}

fn json(reply: &Reply) -> serde_json::Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

async fn request(method: Method, url: &str, body: Option<(&str, &str)>) -> Result<Reply, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = Request::builder().method(method).uri(url);
    if let Some((content_type, _)) = body {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    let payload = body.map_or_else(Bytes::new, |(_, text)| Bytes::from(text.to_owned()));
    let request = builder
        .body(Full::new(payload))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        let body = String::from_utf8_lossy(&bytes.to_bytes()).into_owned();
        Ok(Reply {
            status,
            location,
            body,
        })
    };
    timeout_at(Instant::now() + DEADLINE, exchange)
        .await
        .map_err(|_| format!("no response from {url} in {DEADLINE:?}"))?
}
