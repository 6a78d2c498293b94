//! Readiness and liveness probes with Kubernetes semantics: an HTTP GET (status 200–399 is
//! success), a TCP connect, or a command (exit 0 is success), each bounded by the probe's
//! timeout; and the threshold logic that turns single results into a passing/failing verdict.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use pier_spec::{Probe, ProbeAction};
use tokio::net::TcpStream;

use crate::logs::LogBus;
use crate::spawn::{SpawnSpec, run_to_completion};

/// Runs one probe. `Err` carries a short reason for the event log.
pub async fn run_once(
    probe: &Probe,
    port: Option<u16>,
    exec: &SpawnSpec,
    logs: &LogBus,
    source: &str,
) -> Result<(), String> {
    match &probe.action {
        ProbeAction::Http { path } => {
            let port = port.ok_or("http probe needs a port")?;
            http_get(port, path, probe.timeout).await
        }
        ProbeAction::Tcp => {
            let port = port.ok_or("tcp probe needs a port")?;
            tcp_connect(port, probe.timeout).await
        }
        ProbeAction::Exec { command } => {
            let spec = SpawnSpec {
                command: command.clone(),
                ..exec.clone()
            };
            match run_to_completion(&spec, logs, source, probe.timeout).await {
                Ok(Some(status)) if status.success() => Ok(()),
                Ok(Some(status)) => Err(format!(
                    "command failed: {}",
                    crate::spawn::describe_exit(&status)
                )),
                Ok(None) => Err(format!("command timed out after {:?}", probe.timeout)),
                Err(error) => Err(format!("command could not start: {error}")),
            }
        }
    }
}

async fn tcp_connect(port: u16, timeout: Duration) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("tcp connect to {addr}: {error}")),
        Err(_) => Err(format!("tcp connect to {addr} timed out after {timeout:?}")),
    }
}

async fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let attempt = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("GET {path}: connect to {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        tokio::spawn(conn);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
            .header(hyper::header::USER_AGENT, "pier-probe")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("GET {path}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status().as_u16();
        if (200..400).contains(&status) {
            Ok(())
        } else {
            Err(format!("GET {path}: status {status}"))
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("GET {path}: timed out after {timeout:?}")))
}

/// Counts consecutive results against the probe's thresholds.
#[derive(Debug, Clone)]
pub struct Verdict {
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    passing: bool,
}

impl Verdict {
    /// Starts failing, as a Kubernetes readiness probe does before its first success.
    pub fn new(probe: &Probe, initially_passing: bool) -> Self {
        Verdict {
            success_threshold: probe.success_threshold.max(1),
            failure_threshold: probe.failure_threshold.max(1),
            successes: 0,
            failures: 0,
            passing: initially_passing,
        }
    }

    /// Records a result; returns `Some(new verdict)` when the verdict flips.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if !self.passing && self.successes >= self.success_threshold {
                self.passing = true;
                return Some(true);
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.passing && self.failures >= self.failure_threshold {
                self.passing = false;
                return Some(false);
            }
        }
        None
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: u32, failure: u32) -> Probe {
        Probe {
            action: ProbeAction::Tcp,
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn thresholds_follow_kubernetes() {
        let mut v = Verdict::new(&probe(2, 3), false);
        assert_eq!(v.record(true), None);
        assert_eq!(v.record(true), Some(true));
        assert_eq!(v.record(false), None);
        assert_eq!(v.record(true), None, "a success resets the failure count");
        assert_eq!(v.record(false), None);
        assert_eq!(v.record(false), None);
        assert_eq!(v.record(false), Some(false));
    }

    #[tokio::test]
    async fn http_probe_sees_status_and_refusal() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let ok = String::from_utf8_lossy(&buf[..n]).starts_with("GET /ok ");
                let reply: &[u8] = if ok {
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
                } else {
                    b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n"
                };
                let _ = s.write_all(reply).await;
            }
        });
        let t = Duration::from_secs(2);
        assert_eq!(http_get(port, "/ok", t).await, Ok(()));
        assert!(
            http_get(port, "/bad", t)
                .await
                .unwrap_err()
                .contains("status 500")
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(tcp_connect(closed, t).await.is_err());
    }
}
