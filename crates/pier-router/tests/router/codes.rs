//! Each Heroku error code, produced by a backend (or client) misbehaving in that one way, and
//! asserted on status, page and log line.

use std::time::Duration;

use pier_router::{ReplicaPhase, RouterConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::backends::{self, Behaviour};
use crate::harness::*;

async fn router_with(behaviour: Behaviour) -> TestRouter {
    TestRouter::with_backend(RouterConfig::default(), behaviour).await
}

#[tokio::test]
async fn h12_no_response_within_the_first_byte_timeout() {
    let router = router_with(Behaviour::Silent).await;
    let reply = get(router.addr, "/slow").await;
    assert_eq!(reply.status, Some(503));
    assert!(
        reply.body.contains("Request timeout (H12)"),
        "{}",
        reply.body
    );
    let line = router.log_line(&["code=H12"]).await;
    assert!(
        line.starts_with("at=error code=H12 desc=\"Request timeout\" method=GET path=\"/slow\""),
        "{line}"
    );
    assert!(
        line.contains("dyno=web.1") && line.contains("status=503"),
        "{line}"
    );
}

#[tokio::test]
async fn h13_closed_without_response() {
    let router = router_with(Behaviour::Close).await;
    let reply = get(router.addr, "/").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("(H13)"));
    router
        .log_line(&[
            "code=H13",
            "desc=\"Connection closed without response\"",
            "status=503",
        ])
        .await;
}

#[tokio::test]
async fn h18_backend_dies_mid_response_aborts_the_client() {
    let router = router_with(Behaviour::Partial).await;
    let reply = get(router.addr, "/").await;
    // The head went out as the backend sent it; the body is cut short; no second status line.
    assert_eq!(reply.status, Some(200));
    assert!(reply.truncated, "{reply:?}");
    assert_eq!(
        reply.head.matches("HTTP/1.1").count() + reply.body.matches("HTTP/1.1").count(),
        1
    );
    router
        .log_line(&["sock=backend at=error code=H18", "status=200", "bytes=5"])
        .await;
}

#[tokio::test]
async fn h15_backend_idle_mid_response() {
    let router = router_with(Behaviour::Stall).await;
    let reply = get(router.addr, "/").await;
    assert_eq!(reply.status, Some(200));
    assert!(reply.truncated);
    router
        .log_line(&["code=H15", "desc=\"Idle connection\""])
        .await;
}

#[tokio::test]
async fn h21_refused_everywhere_and_h19_connect_timeout() {
    let router = TestRouter::start(RouterConfig::default()).await;
    router.set_web(vec![
        ready("web.1", backends::closed_port().await),
        ready("web.2", backends::closed_port().await),
    ]);
    let reply = get(router.addr, "/").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("(H21)"));
    router
        .log_line(&["code=H21", "desc=\"Backend connection refused\""])
        .await;

    let (hole, _listener, _fillers) = backends::blackhole().await;
    router.set_web(vec![ready("web.1", hole)]);
    let reply = get(router.addr, "/").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("(H19)"), "{}", reply.body);
    router.log_line(&["code=H19"]).await;
}

#[tokio::test]
async fn h14_h10_h20_without_ready_replicas() {
    let router = TestRouter::start(RouterConfig {
        boot_timeout: Duration::from_millis(300),
        ..RouterConfig::default()
    })
    .await;
    router.set_web(vec![]);
    assert!(get(router.addr, "/").await.body.contains("(H14)"));
    router.set_web(vec![replica("web.1", ReplicaPhase::Down)]);
    assert!(get(router.addr, "/").await.body.contains("(H10)"));
    router.set_web(vec![replica("web.1", ReplicaPhase::Booting)]);
    let reply = get(router.addr, "/").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("(H20)"));
    router.log_line(&["code=H14"]).await;
    router.log_line(&["code=H10", "desc=\"App crashed\""]).await;
    router
        .log_line(&["code=H20", "desc=\"App boot timeout\""])
        .await;
}

#[tokio::test]
async fn a_booting_replica_that_becomes_ready_gets_the_waiting_request() {
    let router = TestRouter::start(RouterConfig::default()).await;
    router.set_web(vec![replica("web.1", ReplicaPhase::Booting)]);
    let addr = router.addr;
    let waiting = tokio::spawn(async move { get(addr, "/").await });
    let backend = backends::start(Behaviour::Echo).await;
    // The request is waiting for a replica before one becomes ready.
    wait_for(Duration::from_secs(5), || {
        (router.metrics.queued.get() == 1).then_some(())
    })
    .await
    .expect("the request waits for the booting replica");
    router.set_web(vec![ready("web.1", backend)]);
    let reply = waiting.await.unwrap();
    assert_eq!(reply.status, Some(200));
}

#[tokio::test]
async fn h80_maintenance() {
    let router = TestRouter::start(RouterConfig::default()).await;
    router.set(
        vec![ready("web.1", backends::start(Behaviour::Echo).await)],
        true,
    );
    let reply = get(router.addr, "/").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("Maintenance mode (H80)"));
    router.log_line(&["at=info code=H80"]).await;
}

#[tokio::test]
async fn h11_backlog_too_deep() {
    let config = RouterConfig {
        max_in_flight: 1,
        max_queue: 0,
        ..RouterConfig::default()
    };
    let router = TestRouter::start(config).await;
    router.set_web(vec![ready(
        "web.1",
        backends::start(Behaviour::Silent).await,
    )]);
    let addr = router.addr;
    let first = tokio::spawn(async move { get(addr, "/first").await });
    wait_for(Duration::from_secs(5), || {
        (router.router.in_flight("web")[0].1 == 1).then_some(())
    })
    .await
    .unwrap();
    let reply = get(router.addr, "/second").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("(H11)"));
    router.log_line(&["code=H11", "path=\"/second\""]).await;
    assert!(first.await.unwrap().body.contains("(H12)"));
}

#[tokio::test]
async fn queued_requests_are_served_when_a_slot_frees() {
    let config = RouterConfig {
        max_in_flight: 1,
        max_queue: 10,
        ..RouterConfig::default()
    };
    let router = TestRouter::with_backend(config, Behaviour::Echo).await;
    let replies = futures_join(router.addr, 8).await;
    assert!(replies.iter().all(|r| r.status == Some(200)), "{replies:?}");
}

async fn futures_join(addr: std::net::SocketAddr, n: usize) -> Vec<Reply> {
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(async move { get(addr, &format!("/{i}")).await }))
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test]
async fn h26_malformed_request_and_unsupported_expect() {
    let router = router_with(Behaviour::Echo).await;
    let reply = send_raw(router.addr, b"GARBAGE\r\n\r\n").await;
    assert_eq!(reply.status, Some(400));
    router.log_line(&["code=H26", "status=400"]).await;
    let reply = send_raw(
        router.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    )
    .await;
    assert_eq!(reply.status, Some(417));
    assert!(reply.body.contains("(H26)"));
    router
        .log_line(&[
            "code=H26",
            "status=417",
            "cause=\"unsupported expect header value\"",
        ])
        .await;
}

#[tokio::test]
async fn h27_client_closes_before_the_response() {
    let router = router_with(Behaviour::Silent).await;
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream
        .write_all(b"GET /gone HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    wait_for(Duration::from_secs(5), || {
        (router.router.in_flight("web")[0].1 == 1).then_some(())
    })
    .await
    .unwrap();
    drop(stream);
    let line = router.log_line(&["code=H27"]).await;
    assert!(
        line.starts_with("sock=client at=warning code=H27 desc=\"Client Request Interrupted\""),
        "{line}"
    );
    assert!(line.contains("status=499"), "{line}");
}

#[tokio::test]
async fn h28_client_idle_while_sending_its_body() {
    let router = router_with(Behaviour::Echo).await;
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly fifty bytes .................................")
        .await
        .unwrap();
    let line = router.log_line(&["code=H28"]).await;
    assert!(
        line.starts_with("sock=client at=warning code=H28 desc=\"Client Connection Idle\""),
        "{line}"
    );
    assert!(line.contains("status=499"), "{line}");
}

#[tokio::test]
async fn limits_answer_413_414_and_431_with_a_page() {
    let config = RouterConfig {
        max_body_bytes: 1000,
        max_header_bytes: 8192,
        ..RouterConfig::default()
    };
    let router = TestRouter::with_backend(config, Behaviour::Echo).await;
    let reply = send_raw(
        router.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, Some(413));
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(20_000)
    );
    let reply = send_raw(router.addr, big.as_bytes()).await;
    assert_eq!(reply.status, Some(431));
    assert!(reply.body.contains("Request Error (H26)"), "{}", reply.body);
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "p".repeat(9000)
    );
    let reply = send_raw(router.addr, long.as_bytes()).await;
    assert_eq!(reply.status, Some(414));
    assert!(
        reply.body.contains("longer than the router accepts"),
        "{}",
        reply.body
    );
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = send_raw(
        router.addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(reply.status, Some(431));
}
