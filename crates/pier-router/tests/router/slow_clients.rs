//! Clients that read a large response slowly or not at all: the idle window also runs on the
//! client's side of a response. A client that stops reading is cut off after the route's idle
//! window (H28, 499) and the backend connection and the replica's slot are freed; a client
//! that reads slowly but steadily is served to the end, since the window is a rolling one.

use std::time::Duration;

use pier_router::RouterConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::backends;
use crate::harness::*;

const MIB: u64 = 1024 * 1024;

/// The route's idle window in the harness (`fast_timeouts`); the router-wide default stays
/// at 55 s, so a cut-off within the test's deadlines shows the route's window is the one used.
const IDLE: Duration = Duration::from_millis(400);

#[tokio::test]
async fn h28_client_stops_reading_the_response() {
    let router = TestRouter::start(RouterConfig::default()).await;
    assert_eq!(fast_timeouts().idle, IDLE);
    let (backend, sent) = backends::large(64 * MIB).await;
    router.set_web(vec![ready("web.1", backend)]);

    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // From here on the client reads nothing, and keeps its socket open.
    let stopped = Instant::now();

    let line = router.log_line(&["code=H28"]).await;
    let waited = stopped.elapsed();
    assert!(
        line.starts_with("sock=client at=warning code=H28 desc=\"Client Connection Idle\""),
        "{line}"
    );
    assert!(
        line.contains("path=\"/big\"") && line.contains("dyno=web.1"),
        "{line}"
    );
    // The head went out with 200, yet the outcome logged is Heroku's 499.
    assert!(line.contains("status=499"), "{line}");
    assert!(
        waited >= IDLE,
        "cut off after {waited:?}, before the window"
    );

    // The backend connection is closed, not pooled half read, and the slot is free again.
    wait_for(Duration::from_secs(5), || {
        (sent.closed() == 1).then_some(())
    })
    .await
    .expect("the backend connection is closed");
    assert_eq!(sent.complete(), 0);
    assert!(sent.bytes() < 64 * MIB);
    wait_for(Duration::from_secs(5), || {
        (router.router.in_flight("web") == [("web.1".to_string(), 0)]).then_some(())
    })
    .await
    .expect("the replica's in-flight count is back to 0");
    wait_for(Duration::from_secs(5), || {
        (router.metrics.connections.get() == 0).then_some(())
    })
    .await
    .expect("the client connection is closed");

    // What was already in the socket's buffers can still be read; then the connection ends.
    let mut received = 0u64;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n as u64,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the router keeps the client connection open");
    assert!(received < 64 * MIB, "{received}");
}

#[tokio::test]
async fn a_slow_but_steady_reader_is_served_to_the_end() {
    const SIZE: u64 = 16 * MIB;
    const PER_TICK: u64 = MIB;
    const TICK: Duration = Duration::from_millis(100);
    let router = TestRouter::start(RouterConfig::default()).await;
    let (backend, sent) = backends::large(SIZE).await;
    router.set_web(vec![ready("web.1", backend)]);

    // A small, fixed receive buffer, so that the router's writes wait for every read.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(router.addr).await.unwrap();
    stream
        .write_all(b"GET /slow-download HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();

    // The client's pace, not a synchronisation: 1 MiB every 100 ms, well within the window.
    let mut ticks = tokio::time::interval(TICK);
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    while received < SIZE {
        ticks.tick().await;
        let mut this_tick = 0u64;
        while this_tick < PER_TICK && received < SIZE {
            let want = (PER_TICK - this_tick).min(buf.len() as u64) as usize;
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf[..want]))
                .await
                .expect("the router keeps sending")
                .unwrap();
            assert!(n > 0, "cut off after {received} bytes of {SIZE}");
            this_tick += n as u64;
            received += n as u64;
        }
    }
    let took = started.elapsed();
    assert_eq!(received, SIZE);
    // Far longer than one window: a fixed deadline would have cut it off.
    assert!(took > 3 * IDLE, "{took:?}");

    let line = router
        .log_line(&["path=\"/slow-download\"", "status=200"])
        .await;
    assert!(line.starts_with("at=info method=GET"), "{line}");
    assert!(line.contains(&format!("bytes={SIZE}")), "{line}");
    assert_eq!(sent.complete(), 1);
    assert_eq!(sent.closed(), 0, "the backend connection is kept alive");
    wait_for(Duration::from_secs(5), || {
        (router.router.in_flight("web") == [("web.1".to_string(), 0)]).then_some(())
    })
    .await
    .expect("the replica's in-flight count is back to 0");
}
