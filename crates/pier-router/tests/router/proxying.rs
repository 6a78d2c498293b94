//! What a healthy request looks like through the router: Heroku's headers, keep-alive,
//! retries of connect failures, readiness changes, ejection and upgrades.

use std::time::Duration;

use pier_router::RouterConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backends::{self, Behaviour};
use crate::harness::*;

#[tokio::test]
async fn heroku_headers_are_added_and_hop_by_hop_stripped() {
    let router = TestRouter::with_backend(RouterConfig::default(), Behaviour::Echo).await;
    let reply = send_raw(
        router.addr,
        b"GET /a?b=1 HTTP/1.1\r\nHost: app.localhost\r\nX-Forwarded-For: 10.1.2.3\r\nX-Request-Id: keep-this-request-id-0001\r\nKeep-Alive: timeout=5\r\nConnection: close, X-Private\r\nX-Private: secret\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, Some(200));
    let seen = reply.body.to_ascii_lowercase();
    assert!(seen.starts_with("get /a?b=1 http/1.1"), "{seen}");
    assert!(
        seen.contains("x-forwarded-for: 10.1.2.3, 127.0.0.1"),
        "{seen}"
    );
    assert!(
        seen.contains("x-request-id: keep-this-request-id-0001"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: http"));
    assert!(seen.contains(&format!("x-forwarded-port: {}", router.addr.port())));
    assert!(seen.contains("x-request-start: 1"));
    assert!(seen.contains("via: 1.1 pier"));
    assert!(seen.contains("host: app.localhost"));
    assert!(
        !seen.contains("x-private") && !seen.contains("keep-alive"),
        "{seen}"
    );
    assert_eq!(reply.header("via").as_deref(), Some("1.1 pier"));
    let line = router
        .log_line(&["at=info method=GET path=\"/a?b=1\" host=app.localhost request_id=keep-this-request-id-0001"])
        .await;
    assert!(
        line.contains("fwd=\"10.1.2.3, 127.0.0.1\" dyno=web.1"),
        "{line}"
    );
    assert!(
        line.contains("status=200") && line.contains("protocol=http"),
        "{line}"
    );

    // An invalid incoming id is replaced by a generated one.
    let reply = send_raw(
        router.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id\r\nConnection: close\r\n\r\n",
    )
    .await;
    let id = reply
        .body
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "{id}");
}

#[tokio::test]
async fn keep_alive_on_both_sides() {
    let router = TestRouter::with_backend(RouterConfig::default(), Behaviour::Echo).await;
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    for i in 0..20 {
        stream
            .write_all(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = parse_reply(head.as_bytes())
            .header("content-length")
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        assert!(String::from_utf8_lossy(&body).starts_with(&format!("GET /{i} ")));
    }
    // Twenty requests on one client connection were served over pooled backend connections.
    let lines = router.logs.lock().unwrap().len();
    assert!(lines >= 19, "{lines}");
}

#[tokio::test]
async fn connect_failures_on_one_of_three_replicas_cause_no_client_error() {
    let router = TestRouter::start(RouterConfig::default()).await;
    router.set_web(vec![
        ready("web.1", backends::start(Behaviour::Echo).await),
        ready("web.2", backends::closed_port().await),
        ready("web.3", backends::start(Behaviour::Echo).await),
    ]);
    for i in 0..300 {
        let method = if i % 2 == 0 { "GET" } else { "POST" };
        let raw = format!(
            "{method} /{i} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        let reply = send_raw(router.addr, raw.as_bytes()).await;
        assert_eq!(reply.status, Some(200), "request {i}: {reply:?}");
    }
    let logs = router.logs.lock().unwrap();
    assert!(
        logs.iter().all(|l| !l.contains("dyno=web.2 ")),
        "web.2 never served"
    );
}

#[tokio::test]
async fn replicas_returning_5xx_are_ejected_but_never_more_than_half() {
    let config = RouterConfig {
        ejection: pier_router::Ejection {
            consecutive_failures: 3,
            base_time: Duration::from_secs(30),
        },
        ..RouterConfig::default()
    };
    let router = TestRouter::start(config).await;
    router.set_web(vec![
        ready("web.1", backends::start(Behaviour::Echo).await),
        ready("web.2", backends::start(Behaviour::Fail).await),
    ]);
    let mut failures = 0;
    for i in 0..100 {
        if get(router.addr, &format!("/{i}")).await.status == Some(500) {
            failures += 1;
        }
    }
    assert_eq!(failures, 3, "web.2 is ejected after 3 consecutive 5xx");
    // With both failing, only one can be ejected: the other still gets traffic.
    router.set_web(vec![
        ready("web.3", backends::start(Behaviour::Fail).await),
        ready("web.4", backends::start(Behaviour::Fail).await),
    ]);
    for i in 0..20 {
        assert_eq!(get(router.addr, &format!("/x{i}")).await.status, Some(500));
    }
}

#[tokio::test]
async fn readiness_changes_move_traffic_without_dropping_requests() {
    let router = TestRouter::start(RouterConfig::default()).await;
    let a = backends::start(Behaviour::Echo).await;
    let b = backends::start(Behaviour::Echo).await;
    router.set_web(vec![ready("web.1", a)]);
    assert_eq!(get(router.addr, "/").await.status, Some(200));
    router.set_web(vec![ready("web.2", b)]);
    assert_eq!(get(router.addr, "/").await.status, Some(200));
    router.log_line(&["dyno=web.2"]).await;
}

#[tokio::test]
async fn upgraded_connections_are_tunnelled_both_ways() {
    let router = TestRouter::start(RouterConfig::default()).await;
    router.set_web(vec![ready(
        "web.1",
        backends::start(Behaviour::Upgrade).await,
    )]);
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for message in ["ping", "pong", "a longer message"] {
        stream.write_all(message.as_bytes()).await.unwrap();
        let mut echo = vec![0u8; message.len()];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, message.as_bytes());
    }
    // Silence for longer than the idle window closes the tunnel.
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
}

#[tokio::test]
async fn draining_closes_upgraded_connections_after_the_drain_time() {
    let config = RouterConfig {
        drain_timeout: Duration::from_millis(300),
        ..RouterConfig::default()
    };
    let router = TestRouter::start(config).await;
    router.set_web(vec![ready(
        "web.1",
        backends::start(Behaviour::Upgrade).await,
    )]);
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    assert!(read_head(&mut stream).await.starts_with("HTTP/1.1 101"));
    router.shutdown();
    // Still open during the drain: messages keep flowing.
    stream.write_all(b"still here").await.unwrap();
    let mut echo = [0u8; 10];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"still here");
    // Closed once the drain time is up (well before the 400 ms idle window could matter,
    // since the client keeps talking).
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            let mut buf = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the tunnel outlived the drain");
}

#[tokio::test]
async fn idempotent_requests_are_retried_once_when_enabled() {
    for (retry, method, expect) in [
        (true, "GET", 200),
        (true, "DELETE", 200),
        (true, "POST", 503),
        (false, "GET", 503),
    ] {
        let config = RouterConfig {
            retry_idempotent: retry,
            balance: pier_router::Balance::RoundRobin,
            ..RouterConfig::default()
        };
        let router = TestRouter::start(config).await;
        // web.1 closes every connection without answering; web.2 answers.
        router.set_web(vec![
            ready("web.1", backends::start(Behaviour::Close).await),
            ready("web.2", backends::start(Behaviour::Echo).await),
        ]);
        // Round robin starts at web.1 for the first request.
        let raw = format!("{method} / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let reply = send_raw(router.addr, raw.as_bytes()).await;
        assert_eq!(
            reply.status,
            Some(expect),
            "retry={retry} {method}: {reply:?}"
        );
    }
}

#[tokio::test]
async fn head_requests_and_empty_bodies_complete_and_reuse_the_connection() {
    let router = TestRouter::with_backend(RouterConfig::default(), Behaviour::Echo).await;
    let reply = send_raw(
        router.addr,
        b"HEAD /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, Some(200));
    let line = router.log_line(&["path=\"/h\""]).await;
    assert!(line.starts_with("at=info method=HEAD"), "{line}");
    assert!(line.contains("status=200"), "{line}");
}
