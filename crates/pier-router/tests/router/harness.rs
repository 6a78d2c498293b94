//! A router on an ephemeral port with a captured access log, and a raw HTTP/1.1 client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pier_router::{
    HostMatch, ReplicaPhase, ReplicaView, RouteRule, Router, RouterConfig, RouterMetrics,
    TableSpec, Target, Timeouts,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::backends::{self, Behaviour};

/// Short timeouts so that every timeout test finishes in well under a second.
pub fn fast_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(300),
        first_byte: Duration::from_millis(400),
        idle: Duration::from_millis(400),
    }
}

pub struct TestRouter {
    pub router: Router,
    pub addr: SocketAddr,
    /// The router's access log, one line per finished request.
    pub logs: Arc<Mutex<Vec<String>>>,
    pub metrics: Arc<RouterMetrics>,
    stop: watch::Sender<bool>,
}

impl TestRouter {
    /// A router whose one route sends everything to service `web`.
    pub async fn start(config: RouterConfig) -> TestRouter {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let logs = logs.clone();
            Arc::new(move |line: String| logs.lock().unwrap().push(line)) as pier_router::LogSink
        };
        let metrics = Arc::new(RouterMetrics::unregistered());
        let router = Router::new(config, Some(sink), metrics.clone()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(router.serve(listener, Target::Public, shutdown));
        TestRouter {
            router,
            addr,
            logs,
            metrics,
            stop,
        }
    }

    /// A router whose `web` is one replica behaving as `behaviour`.
    pub async fn with_backend(config: RouterConfig, behaviour: Behaviour) -> TestRouter {
        let router = TestRouter::start(config).await;
        router.set_web(vec![ready("web.1", backends::start(behaviour).await)]);
        router
    }

    /// Sets the replicas of `web` (all routes go to it).
    pub fn set_web(&self, replicas: Vec<ReplicaView>) {
        self.set(replicas, false);
    }

    pub fn set(&self, replicas: Vec<ReplicaView>, maintenance: bool) {
        let spec = TableSpec {
            routes: vec![RouteRule::to_service(
                "web",
                HostMatch::Any,
                "/",
                "web",
                fast_timeouts(),
            )],
            services: [("web".to_string(), replicas)].into_iter().collect(),
            maintenance,
            canaries: Default::default(),
        };
        self.router.update(&spec);
    }

    /// Starts the listener's drain (as on `pier down`).
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Sets a whole table.
    pub fn set_spec(&self, spec: TableSpec) {
        self.router.update(&spec);
    }

    /// Waits for a log line containing every one of `parts`.
    pub async fn log_line(&self, parts: &[&str]) -> String {
        let found = wait_for(Duration::from_secs(5), || {
            self.logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .cloned()
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no log line with {parts:?}; log: {:#?}",
                self.logs.lock().unwrap()
            )
        })
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

pub fn ready(name: &str, addr: SocketAddr) -> ReplicaView {
    ReplicaView {
        name: name.into(),
        addr: Some(addr),
        phase: ReplicaPhase::Ready,
        release: String::new(),
    }
}

pub fn replica(name: &str, phase: ReplicaPhase) -> ReplicaView {
    ReplicaView {
        name: name.into(),
        addr: None,
        phase,
        release: String::new(),
    }
}

/// Polls `check` every 10 ms until it returns `Some` or `timeout` passes.
pub async fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a raw client saw.
#[derive(Debug)]
pub struct Reply {
    pub status: Option<u16>,
    pub head: String,
    pub body: String,
    /// The connection ended before the declared body was complete.
    pub truncated: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Sends `raw` bytes and reads until the server closes (requests should say
/// `Connection: close`), failing the test after 10 s.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    read_reply(&mut stream).await
}

pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut data = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no end of reply within 10 s; got {:?}",
        String::from_utf8_lossy(&data)
    );
    parse_reply(&data)
}

pub fn parse_reply(data: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(data).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    let mut reply = Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
        truncated: false,
    };
    if let Some(length) = reply
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        reply.truncated = reply.body.len() < length;
    }
    reply
}

/// A plain GET with `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n");
    send_raw(addr, raw.as_bytes()).await
}

/// Reads a response head (through the blank line) from a connection kept open.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}
