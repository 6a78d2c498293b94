//! Backends that behave, and backends that misbehave in exactly one way each.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers 200 with the request head it received as the body; keeps connections alive.
    Echo,
    /// Reads the request and never answers (H12).
    Silent,
    /// Reads the request and closes the connection (H13).
    Close,
    /// Sends headers and part of the body, then closes (H18).
    Partial,
    /// Sends headers and part of the body, then goes quiet (H15).
    Stall,
    /// Answers 500 (for ejection).
    Fail,
    /// Answers 101 and then echoes bytes (an upgraded protocol).
    Upgrade,
}

/// Starts a backend with `behaviour` on an ephemeral port.
pub async fn start(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, behaviour));
        }
    });
    addr
}

/// A port nothing listens on (connections are refused).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A listener whose accept queue is full, so new connections hang in SYN-SENT (H19).
/// The returned values must be kept alive for the duration of the test.
pub async fn blackhole() -> (SocketAddr, tokio::net::TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    (addr, listener, fillers)
}

/// What a [`large`] backend has seen.
#[derive(Debug, Default)]
pub struct Sent {
    /// Body bytes written, over all responses.
    pub bytes: AtomicU64,
    /// Responses written completely.
    pub complete: AtomicUsize,
    /// Connections that ended, whether in the middle of a response or between requests.
    pub closed: AtomicUsize,
}

impl Sent {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    pub fn complete(&self) -> usize {
        self.complete.load(Ordering::Relaxed)
    }
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::Relaxed)
    }
}

/// A backend answering every request with a body of `size` bytes, written as fast as the
/// router takes it; keeps connections alive and counts what it sent.
pub async fn large(size: u64) -> (SocketAddr, Arc<Sent>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(Sent::default());
    let counts = sent.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sent = counts.clone();
            tokio::spawn(async move {
                serve_large(stream, size, &sent).await;
                sent.closed.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    (addr, sent)
}

async fn serve_large(mut stream: TcpStream, size: u64, sent: &Sent) {
    let chunk = vec![b'x'; 64 * 1024];
    while read_request(&mut stream).await.is_some() {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if stream.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            sent.bytes.fetch_add(n as u64, Ordering::Relaxed);
            left -= n as u64;
        }
        sent.complete.fetch_add(1, Ordering::Relaxed);
    }
}

async fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    loop {
        let Some(head) = read_request(&mut stream).await else {
            return;
        };
        let reply: Vec<u8> = match behaviour {
            Behaviour::Echo => response(200, &head),
            Behaviour::Fail => response(500, "failed"),
            Behaviour::Silent => {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                return;
            }
            Behaviour::Close => return,
            Behaviour::Partial => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
                    .await;
                return;
            }
            Behaviour::Stall => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
                    .await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Behaviour::Upgrade => {
                let _ = stream
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
                    .await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                return;
            }
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn response(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one request head (and a Content-Length body); `None` at end of stream.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = data.len() - head_end;
    while body < length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(head)
}
