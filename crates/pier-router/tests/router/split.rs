//! Traffic splits through a real router: sticky by key, percentages over many keys, allow and
//! deny lists, pier's own cookie when the request has no key, a canary's share of a service's
//! keys (with the `release` label in metrics), and external URL backends over plain HTTP and
//! over TLS with certificate verification.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pier_router::{
    Backend, CanarySplit, ExternalUrl, HostMatch, KeyLists, RouteRule, RouterConfig, SplitKey,
    SplitTarget, TableSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::backends::{self, Behaviour};
use crate::harness::*;

fn split_rule(targets: Vec<(Backend, u32)>, key: Option<SplitKey>, lists: KeyLists) -> RouteRule {
    RouteRule {
        targets: targets
            .into_iter()
            .map(|(backend, percent)| SplitTarget { backend, percent })
            .collect(),
        split_key: key,
        lists,
        ..RouteRule::to_service("app", HostMatch::Any, "/", "a", fast_timeouts())
    }
}

/// Services `a` and `b`, one replica each, split by the `tenant` cookie.
async fn two_services(percent_b: u32, lists: KeyLists) -> TestRouter {
    let router = TestRouter::start(RouterConfig::default()).await;
    let (a, b) = (
        backends::start(Behaviour::Echo).await,
        backends::start(Behaviour::Echo).await,
    );
    router.set_spec(TableSpec {
        routes: vec![split_rule(
            vec![
                (Backend::Service("a".into()), 100 - percent_b),
                (Backend::Service("b".into()), percent_b),
            ],
            Some(SplitKey::Cookie("tenant".into())),
            lists,
        )],
        services: HashMap::from([
            ("a".to_string(), vec![ready("a.1", a)]),
            ("b".to_string(), vec![ready("b.1", b)]),
        ]),
        maintenance: false,
        canaries: HashMap::new(),
    });
    router
}

async fn served_by(router: &TestRouter, tenant: &str) -> String {
    let raw = format!(
        "GET /{tenant} HTTP/1.1\r\nHost: x\r\nCookie: theme=dark; tenant={tenant}\r\nConnection: close\r\n\r\n"
    );
    let reply = send_raw(router.addr, raw.as_bytes()).await;
    assert_eq!(reply.status, Some(200), "{reply:?}");
    let line = router.log_line(&[&format!("path=\"/{tenant}\"")]).await;
    line.split(" dyno=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_split_is_sticky_per_key_and_close_to_its_percentage() {
    let router = two_services(20, KeyLists::default()).await;
    let mut to_b = 0;
    for i in 0..400 {
        let tenant = format!("t{i}");
        let first = served_by(&router, &tenant).await;
        if first == "b.1" {
            to_b += 1;
        }
        if i % 40 == 0 {
            // The same key lands on the same backend every time (the path differs only to find
            // the log line).
            let raw = format!(
                "GET /again-{i} HTTP/1.1\r\nHost: x\r\nCookie: tenant={tenant}\r\nConnection: close\r\n\r\n"
            );
            send_raw(router.addr, raw.as_bytes()).await;
            let again = router.log_line(&[&format!("path=\"/again-{i}\"")]).await;
            assert!(again.contains(&format!("dyno={first} ")), "{again}");
        }
    }
    // 20 % of 400 keys, within what chance allows for 400 draws (±3 standard deviations).
    assert!((56..=104).contains(&to_b), "{to_b} of 400 keys went to b");
}

#[tokio::test]
async fn a_canary_takes_its_share_of_keys_stickily_and_metrics_tell_releases_apart() {
    let router = TestRouter::start(RouterConfig::default()).await;
    let (current, canary) = (
        backends::start(Behaviour::Echo).await,
        backends::start(Behaviour::Echo).await,
    );
    let mut rule = RouteRule::to_service("app", HostMatch::Any, "/", "a", fast_timeouts());
    rule.split_key = Some(SplitKey::Cookie("tenant".into()));
    let release = |mut view: pier_router::ReplicaView, r: &str| {
        view.release = r.to_string();
        view
    };
    router.set_spec(TableSpec {
        routes: vec![rule],
        services: HashMap::from([
            ("a".to_string(), vec![release(ready("a.1", current), "v1")]),
            (
                "a@v2".to_string(),
                vec![release(ready("a.2", canary), "v2")],
            ),
        ]),
        maintenance: false,
        canaries: HashMap::from([(
            "a".to_string(),
            CanarySplit {
                pool: "a@v2".into(),
                release: "v2".into(),
                basis_points: 2_000,
                salt: "salt-1".into(),
            },
        )]),
    });
    let mut to_canary = 0;
    for i in 0..300 {
        let tenant = format!("c{i}");
        let first = served_by(&router, &tenant).await;
        if first == "a.2" {
            to_canary += 1;
        }
        if i % 30 == 0 {
            assert_eq!(served_by(&router, &tenant).await, first, "sticky");
        }
    }
    // 20 % of 300 keys, within ±3 standard deviations.
    assert!((39..=81).contains(&to_canary), "{to_canary} of 300 keys");
    let mut text = String::new();
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("requests", "", router.metrics.requests.clone());
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for release in ["v1", "v2"] {
        let series = format!(r#"route="app",backend="a",release="{release}",status="200""#);
        assert!(text.contains(&series), "{series} in\n{text}");
    }
}

#[tokio::test]
async fn a_request_waiting_for_a_canary_that_goes_away_is_served_by_the_service() {
    let router = TestRouter::start(RouterConfig::default()).await;
    let current = backends::start(Behaviour::Echo).await;
    let spec = |canary: bool| {
        let mut services = HashMap::from([("a".to_string(), vec![ready("a.1", current)])]);
        let mut canaries = HashMap::new();
        if canary {
            // Its replica is stopping: requests routed to it wait.
            let stopping = replica("a.2", pier_router::ReplicaPhase::Booting);
            services.insert("a@v2".to_string(), vec![stopping]);
            let split = CanarySplit {
                pool: "a@v2".into(),
                release: "v2".into(),
                basis_points: 10_000,
                salt: "s".into(),
            };
            canaries.insert("a".to_string(), split);
        }
        TableSpec {
            routes: vec![RouteRule::to_service(
                "app",
                HostMatch::Any,
                "/",
                "a",
                fast_timeouts(),
            )],
            services,
            maintenance: false,
            canaries,
        }
    };
    router.set_spec(spec(true));
    let addr = router.addr;
    let waiting = tokio::spawn(async move { get(addr, "/waiting").await });
    wait_for(Duration::from_secs(5), || {
        (router.metrics.queued.get() > 0).then_some(())
    })
    .await
    .expect("the request waits for the canary");
    router.set_spec(spec(false));
    let reply = waiting.await.unwrap();
    assert_eq!(reply.status, Some(200), "{reply:?}");
    let line = router.log_line(&["path=\"/waiting\""]).await;
    assert!(line.contains("dyno=a.1 "), "{line}");
}

#[tokio::test]
async fn deny_beats_allow_beats_percentage() {
    let lists = KeyLists {
        allow: vec!["early".into(), "both".into()],
        deny: vec!["never".into(), "both".into()],
    };
    let router = two_services(0, lists.clone()).await;
    assert_eq!(served_by(&router, "early").await, "b.1", "allowed at 0 %");
    assert_eq!(served_by(&router, "both").await, "a.1", "deny beats allow");
    let router = two_services(100, lists).await;
    assert_eq!(served_by(&router, "never").await, "a.1", "denied at 100 %");
    assert_eq!(served_by(&router, "anyone").await, "b.1");
}

#[tokio::test]
async fn without_a_key_pier_sets_its_own_sticky_cookie() {
    let router = two_services(50, KeyLists::default()).await;
    let reply = get(router.addr, "/first").await;
    let cookie = reply.header("set-cookie").expect("a sticky cookie");
    assert!(
        cookie.starts_with("pier_split=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let first = router.log_line(&["path=\"/first\""]).await;
    let dyno = first
        .split(" dyno=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let value = cookie.split(';').next().unwrap();
    for i in 0..10 {
        let raw = format!(
            "GET /next-{i} HTTP/1.1\r\nHost: x\r\nCookie: {value}\r\nConnection: close\r\n\r\n"
        );
        let reply = send_raw(router.addr, raw.as_bytes()).await;
        assert!(reply.header("set-cookie").is_none(), "set once");
        let line = router.log_line(&[&format!("path=\"/next-{i}\"")]).await;
        assert!(line.contains(&format!("dyno={dyno} ")), "{line}");
    }
}

#[tokio::test]
async fn an_external_http_backend_gets_its_own_host_header() {
    let router = TestRouter::start(RouterConfig::default()).await;
    let legacy = backends::start(Behaviour::Echo).await;
    let url = ExternalUrl::parse(&format!("http://127.0.0.1:{}", legacy.port())).unwrap();
    router.set_spec(TableSpec {
        routes: vec![split_rule(
            vec![(Backend::Url(url.clone()), 100)],
            None,
            KeyLists::default(),
        )],
        services: HashMap::new(),
        maintenance: false,
        canaries: HashMap::new(),
    });
    let reply = send_raw(
        router.addr,
        b"GET /old HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, Some(200));
    let seen = reply.body.to_ascii_lowercase();
    assert!(
        seen.contains(&format!("host: 127.0.0.1:{}", legacy.port())),
        "{seen}"
    );
    assert!(
        seen.contains("x-forwarded-for: 127.0.0.1") && seen.contains("x-request-id: "),
        "{seen}"
    );
    router
        .log_line(&[&format!("dyno={url} "), "status=200"])
        .await;
}

/// A TLS origin for `localhost` whose certificate is signed by a fresh CA; returns its port
/// and the CA's PEM.
async fn tls_origin() -> (u16, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let body = format!(
                    "tls ok; {}",
                    head.lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("host:"))
                        .unwrap_or("")
                );
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca.pem())
}

#[tokio::test]
async fn an_external_https_backend_is_verified_against_the_configured_ca() {
    let (port, ca_pem) = tls_origin().await;
    let dir = tempfile_dir();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let url = ExternalUrl::parse(&format!("https://localhost:{port}")).unwrap();
    let spec = TableSpec {
        routes: vec![split_rule(
            vec![(Backend::Url(url), 100)],
            None,
            KeyLists::default(),
        )],
        services: HashMap::new(),
        maintenance: false,
        canaries: HashMap::new(),
    };
    let trusted = TestRouter::start(RouterConfig {
        extra_ca_files: vec![ca_file],
        ..RouterConfig::default()
    })
    .await;
    trusted.set_spec(spec.clone());
    let reply = get(trusted.addr, "/").await;
    assert_eq!(reply.status, Some(200), "{reply:?}");
    assert_eq!(reply.body, format!("tls ok; host: localhost:{port}"));

    // Without the CA the certificate is refused: a router error, never the origin's page.
    let untrusted = TestRouter::start(RouterConfig::default()).await;
    untrusted.set_spec(spec);
    let reply = get(untrusted.addr, "/").await;
    assert_eq!(reply.status, Some(503));
    assert!(reply.body.contains("(H21)"), "{}", reply.body);
    untrusted.log_line(&["code=H21", "TLS"]).await;
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pier-router-tls-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_websocket_goes_through_a_split_to_the_keys_backend() {
    let router = TestRouter::start(RouterConfig::default()).await;
    let (a, b) = (
        backends::start(Behaviour::Upgrade).await,
        backends::start(Behaviour::Upgrade).await,
    );
    router.set_spec(TableSpec {
        routes: vec![split_rule(
            vec![
                (Backend::Service("a".into()), 0),
                (Backend::Service("b".into()), 100),
            ],
            Some(SplitKey::Header("X-Tenant".into())),
            KeyLists {
                allow: vec![],
                deny: vec!["old-tenant".into()],
            },
        )],
        services: HashMap::from([
            ("a".to_string(), vec![ready("a.1", a)]),
            ("b".to_string(), vec![ready("b.1", b)]),
        ]),
        maintenance: false,
        canaries: HashMap::new(),
    });
    for (tenant, dyno) in [("new-tenant", "b.1"), ("old-tenant", "a.1")] {
        let mut stream = tokio::net::TcpStream::connect(router.addr).await.unwrap();
        let raw = format!(
            "GET /ws-{tenant} HTTP/1.1\r\nHost: a\r\nX-Tenant: {tenant}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        );
        stream.write_all(raw.as_bytes()).await.unwrap();
        assert!(read_head(&mut stream).await.starts_with("HTTP/1.1 101"));
        stream.write_all(b"hello").await.unwrap();
        let mut echo = [0u8; 5];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"hello");
        drop(stream);
        router
            .log_line(&[
                &format!("path=\"/ws-{tenant}\""),
                &format!("dyno={dyno} "),
                "status=101",
            ])
            .await;
    }
}
