//! The router's own HTTP/1.1 client towards backends: every way a response body can be
//! delimited (length, chunks, end of connection, none), informational responses, chunked
//! uploads, keep-alive reuse, and a backend that closes its idle keep-alive connections (noticed
//! by the next request, and without one by the workers' sweep) — each through a real router to
//! a scripted backend on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pier_router::RouterConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{TestRouter, get, ready, send_raw, wait_for};

/// What the scripted backend has seen.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    closed_idle: AtomicUsize,
    /// Tells `/then-half-close` to end its side of the connection.
    half_close: tokio::sync::Notify,
    /// Half-closed connections the router then closed on its side.
    released: AtomicUsize,
}

/// A backend answering by path (see `answer`); counts connections.
async fn scripted() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, counts.clone()));
        }
    });
    (addr, seen)
}

async fn serve(mut stream: TcpStream, seen: Arc<Seen>) {
    let mut data = Vec::new();
    loop {
        let Some((head, body)) = read_request(&mut stream, &mut data).await else {
            return;
        };
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let reply: Vec<u8> = match path.as_str() {
            "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
                .to_vec(),
            "/until-close" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
                    .await;
                return;
            }
            "/early-hints" => b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n\
                HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                .to_vec(),
            "/no-content" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            "/upload" => format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
            "/then-close-idle" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
                    .await;
                // As a backend whose keep-alive timeout has passed: no `Connection: close`,
                // the connection simply ends.
                drop(stream);
                seen.closed_idle.fetch_add(1, Ordering::SeqCst);
                return;
            }
            "/then-half-close" => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
                    .await;
                // Once the router holds the connection idle: done writing, still reading, so
                // the end of the stream shows when the router closes its side.
                seen.half_close.notified().await;
                let _ = stream.shutdown().await;
                let mut rest = [0u8; 64];
                while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
                seen.released.fetch_add(1, Ordering::SeqCst);
                return;
            }
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nlength".to_vec(),
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// Reads one request: its head and its body (by Content-Length, or decoded from chunks).
async fn read_request(stream: &mut TcpStream, data: &mut Vec<u8>) -> Option<(String, String)> {
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(stream, data).await?;
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    data.drain(..head_end);
    let mut body = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let line_end = loop {
                if let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(stream, data).await?;
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?, 16).ok()?;
            while data.len() < line_end + 2 + size + 2 {
                fill(stream, data).await?;
            }
            body.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
            data.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        while data.len() < length {
            fill(stream, data).await?;
        }
        body = data.drain(..length).collect();
    }
    Some((head, String::from_utf8_lossy(&body).into_owned()))
}

async fn fill(stream: &mut TcpStream, data: &mut Vec<u8>) -> Option<()> {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            data.extend_from_slice(&buf[..n]);
            Some(())
        }
    }
}

/// Decodes a chunked body as the client received it.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

/// A router with one worker thread: idle backend connections are kept per worker, so with
/// one, every request can reuse the same connection.
async fn router() -> (TestRouter, Arc<Seen>) {
    let config = RouterConfig {
        workers: Some(1),
        ..RouterConfig::default()
    };
    let router = TestRouter::start(config).await;
    let (addr, seen) = scripted().await;
    router.set_web(vec![ready("web.1", addr)]);
    (router, seen)
}

#[tokio::test]
async fn every_body_framing_reaches_the_client_whole() {
    let (router, _) = router().await;
    let reply = get(router.addr, "/chunked").await;
    assert_eq!(reply.status, Some(200), "{reply:?}");
    assert_eq!(dechunk(&reply.body), "hello world", "{reply:?}");
    assert!(reply.header("x-trailer").is_none());

    let reply = get(router.addr, "/until-close").await;
    assert_eq!(reply.status, Some(200), "{reply:?}");
    let body = if reply.header("transfer-encoding").is_some() {
        dechunk(&reply.body)
    } else {
        reply.body.clone()
    };
    assert_eq!(body, "until the end", "{reply:?}");

    let reply = get(router.addr, "/early-hints").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (Some(200), "ok"),
        "{reply:?}"
    );

    let reply = get(router.addr, "/no-content").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (Some(204), ""),
        "{reply:?}"
    );

    let line = router.log_line(&["path=\"/chunked\""]).await;
    assert!(
        line.contains("status=200") && line.contains("bytes=11"),
        "{line}"
    );
    let line = router.log_line(&["path=\"/until-close\""]).await;
    assert!(
        line.contains("bytes=13") && !line.contains("code="),
        "{line}"
    );
}

#[tokio::test]
async fn a_chunked_upload_arrives_whole_and_connections_are_reused() {
    let (router, seen) = router().await;
    let body = "x".repeat(3000);
    let mut raw =
        b"POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in body.as_bytes().chunks(1000) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let reply = send_raw(router.addr, &raw).await;
    assert_eq!(reply.status, Some(200), "{reply:?}");
    assert_eq!(reply.body, body);

    // Sequential requests of every reusable framing share one backend connection.
    for path in [
        "/length",
        "/chunked",
        "/no-content",
        "/early-hints",
        "/length",
    ] {
        let reply = get(router.addr, path).await;
        assert!(matches!(reply.status, Some(200 | 204)), "{path}: {reply:?}");
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_backend_closing_its_idle_connections_costs_no_request() {
    let (router, seen) = router().await;
    // A client keeping its connection to the router open across the requests.
    let mut client = TcpStream::connect(router.addr).await.unwrap();
    for round in 1..=5 {
        client
            .write_all(b"GET /then-close-idle HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            client.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let mut body = [0u8; 5];
        client.read_exact(&mut body).await.unwrap();
        assert!(
            String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200"),
            "round {round}"
        );
        assert_eq!(&body, b"first");
        // The backend has closed the connection the router keeps idle; the next request
        // must not be sent on it.
        let closed = wait_for(Duration::from_secs(5), || {
            (seen.closed_idle.load(Ordering::SeqCst) >= round).then_some(())
        })
        .await;
        assert!(closed.is_some());
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 5);
    drop(client);
    let logs = router.logs.lock().unwrap().clone();
    assert!(logs.iter().all(|l| !l.contains("code=")), "{logs:#?}");
}

#[tokio::test]
async fn idle_connections_the_backend_closed_are_released_without_traffic() {
    let (router, seen) = router().await;
    let reply = get(router.addr, "/then-half-close").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (Some(200), "first"),
        "{reply:?}"
    );
    // The exchange is over (its log line is written after the connection went back to the
    // pool); now the backend ends its side, and with no further request only the
    // once-a-second sweep can close the router's.
    router.log_line(&["path=\"/then-half-close\""]).await;
    seen.half_close.notify_one();
    let released = wait_for(Duration::from_secs(10), || {
        (seen.released.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "the router kept a connection the backend closed"
    );
}
