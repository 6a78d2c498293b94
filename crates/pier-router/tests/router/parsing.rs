//! Property tests of the router's request parsing, every case on real sockets against a real
//! router: whatever bytes a client sends, the router answers with a well-formed status (or
//! just closes) within a deadline and keeps serving; heads over the limit get 431 (414 only
//! when the head limit is larger than hyper's URI limit); declared bodies over the limit get
//! 413 (chunked ones too) and bodies within it reach the backend intact; slow clients are
//! served, as long as their whole head arrives within the idle window (a deadline for the
//! head, as hyper's `header_read_timeout` implements it, which also defeats slowloris).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pier_router::{RouterConfig, Timeouts};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::backends::Behaviour;
use crate::harness::*;

/// How long a connection may stay open before the case fails as a hang.
const DEADLINE: Duration = Duration::from_secs(10);

/// The default head limit (`RouterConfig::max_header_bytes`).
const HEAD_LIMIT: usize = 64 * 1024;

/// hyper's limit on the request target (`MAX_URI_LEN` in hyper's h1 parser: `u16::MAX - 1`).
const HYPER_MAX_URI: usize = 65_534;

/// The router's default limit on the request target (`RouterConfig::max_uri_bytes`).
const URI_LIMIT: usize = 8 * 1024;

const ALIVE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// 1. Arbitrary bytes.

/// Garbage, request-shaped garbage and mutated valid requests never crash or hang the router,
/// get either nothing or one of the statuses a parse failure or the proxied path can produce,
/// and leave the router serving.
#[tokio::test(flavor = "multi_thread")]
async fn arbitrary_bytes_never_crash_or_hang_the_router() {
    count_router_panics();
    let panics_before = ROUTER_PANICS.load(Ordering::SeqCst);
    // The listener's idle window is hyper's head read timeout: a head that never completes on
    // a connection the client keeps open is closed after it.
    let router = TestRouter::with_backend(
        RouterConfig {
            timeouts: Timeouts {
                idle: Duration::from_millis(300),
                ..fast_timeouts()
            },
            ..RouterConfig::default()
        },
        Behaviour::Echo,
    )
    .await;
    let router = &router;
    // Half the clients shut down their write side after the bytes (the router sees end of
    // stream, and hyper, serving with `half_close(false)`, then drops a request still in
    // flight without an answer: a FIN cannot be told from a client that left, and Heroku's
    // H27 says a client that left is not answered); the others keep the connection open and
    // wait for the router to end it.
    let strategy = (arbitrary_request(), any::<bool>());
    check(64, strategy, |(input, half_close)| async move {
        let reply = exchange(router.addr, &input.0, half_close).await?;
        match final_status(&reply) {
            Ok(None) => {}
            Ok(Some(status)) => prop_assert!(
                acceptable(status),
                "status {status} for {input:?}; reply {:?}",
                Shown(&reply)
            ),
            Err(malformed) => {
                return Err(TestCaseError::fail(format!(
                    "malformed reply ({malformed}) for {input:?}: {:?}",
                    Shown(&reply)
                )));
            }
        }
        still_serving(router).await
    })
    .await;
    assert_eq!(
        ROUTER_PANICS.load(Ordering::SeqCst),
        panics_before,
        "a router worker thread panicked"
    );
}

/// The statuses a client may see for arbitrary bytes: hyper's answers to parse failures (400;
/// 431; 414 for a target over hyper's URI limit in a head that fits hyper's buffer, see the
/// head-limit tests), the router's 413 and 417, whatever the Echo backend or the router's
/// error pages give on the proxied path (2xx, 5xx), and 499 (sent as `499 <none>`): the
/// router's H27/H28 page, sent when a well-formed head declares a body that never arrives (the
/// client shut down its write side, or stopped sending for the idle window).
fn acceptable(status: u16) -> bool {
    matches!(status, 400 | 413 | 414 | 417 | 431 | 499 | 200..=299 | 500..=599)
}

/// Heads that never complete, on connections the client keeps open, are closed by the router
/// after its idle window with no reply (hyper's head read timeout sends nothing) — and the
/// router keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn unfinished_heads_are_closed_after_the_idle_window() {
    let idle = Duration::from_millis(200);
    let router = TestRouter::with_backend(
        RouterConfig {
            timeouts: Timeouts {
                idle,
                ..fast_timeouts()
            },
            ..RouterConfig::default()
        },
        Behaviour::Echo,
    )
    .await;
    let router = &router;
    let full = b"POST /upload?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-A: b\r\n\r\n";
    // Any prefix that does not reach the blank line.
    let strategy = 0..full.len() - 2;
    check(8, strategy, |cut| async move {
        let started = tokio::time::Instant::now();
        let reply = exchange(router.addr, &full[..cut], false).await?;
        let took = started.elapsed();
        prop_assert!(reply.is_empty(), "{:?}", Shown(&reply));
        prop_assert!(
            took >= idle - Duration::from_millis(20),
            "closed after {took:?}"
        );
        prop_assert!(took < idle * 10, "closed after {took:?}");
        still_serving(router).await
    })
    .await;
}

/// Inputs for the arbitrary-bytes property.
fn arbitrary_request() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..2048),
        1 => "[ -~\t\r\n]{0,512}".prop_map(String::into_bytes),
        4 => request_shaped(),
        3 => mutated_request(),
    ]
    .prop_map(Input)
}

// The pieces of request-shaped input: for each part, values that are valid there and values
// that are not (or are suspicious: conflicting lengths, bare CR, NUL, obsolete folding...).
const METHODS: &[&str] = &[
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get",
];
const BAD_METHODS: &[&str] = &["G ET", "GE\0T", "", "\u{e9}", "GET\r", "PRI", "(GET)"];
const TARGETS: &[&str] = &[
    "/",
    "/a?b=c",
    "*",
    "http://a/x",
    "//",
    "/%00",
    "/a#f",
    "http://[::1]:0/",
];
const BAD_TARGETS: &[&str] = &["a:80", "/\u{7f}", "/a b", "/\0", "?", "", "/\r"];
const VERSIONS: &[&str] = &["HTTP/1.1", "HTTP/1.0"];
const BAD_VERSIONS: &[&str] = &[
    "HTTP/2.0",
    "HTTP/0.9",
    "HTTP/1.1 ",
    "http/1.1",
    "HTTP/1.",
    "HTTP/11",
    "HTTP/1.1\0",
    "",
];
const SPACES: &[&str] = &[" "];
const BAD_SPACES: &[&str] = &["  ", "\t", "", "\0"];
const LINE_ENDS: &[&str] = &["\r\n", "\n"];
const BAD_LINE_ENDS: &[&str] = &["\r", "\r\r\n", "\n\r", "", "\r\n "];
const NAMES: &[&str] = &[
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Expect",
    "Connection",
    "Upgrade",
    "X-A",
    "Content-Type",
];
const BAD_NAMES: &[&str] = &[
    "Host ",
    " Host",
    "Ho st",
    "Ho\0st",
    "H\u{f6}st",
    "",
    ":",
    "X-(a)",
];
const SEPARATORS: &[&str] = &[": ", ":", ":\t"];
const BAD_SEPARATORS: &[&str] = &[" : ", "", "\0"];
const VALUES: &[&str] = &[
    "a",
    "",
    "0",
    "5",
    "1001",
    "5, 5",
    "chunked",
    "gzip, chunked",
    "100-continue",
    "close",
    "keep-alive",
    "upgrade",
    "websocket",
    " \t",
];
const BAD_VALUES: &[&str] = &[
    "-1",
    "+5",
    "5, 6",
    "18446744073709551615",
    "18446744073709551616",
    "chunked, gzip",
    "\0",
    "a\rb",
    "a\nb",
    "\u{7f}",
];

/// One part of a request: mostly one of `valid`, sometimes one of `invalid`, random bytes or
/// a huge token.
fn piece(
    valid: &'static [&'static str],
    invalid: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        80 => select(valid).prop_map(|s| s.as_bytes().to_vec()),
        3 => select(invalid).prop_map(|s| s.as_bytes().to_vec()),
        1 => vec(any::<u8>(), 0..12),
        1 => huge_token(),
    ]
}

/// A run of one byte up to 100 KiB long (past the 64 KiB head limit at times).
fn huge_token() -> impl Strategy<Value = Vec<u8>> {
    (select(b"a/%\0 \t:x".to_vec()), 1usize..100_000).prop_map(|(b, n)| vec![b; n])
}

/// A request line, headers and a body assembled from valid and invalid pieces, sometimes cut
/// short.
fn request_shaped() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        piece(METHODS, BAD_METHODS),
        piece(SPACES, BAD_SPACES),
        piece(TARGETS, BAD_TARGETS),
        piece(SPACES, BAD_SPACES),
        piece(VERSIONS, BAD_VERSIONS),
        piece(LINE_ENDS, BAD_LINE_ENDS),
    );
    let header = (
        piece(NAMES, BAD_NAMES),
        piece(SEPARATORS, BAD_SEPARATORS),
        piece(VALUES, BAD_VALUES),
        piece(LINE_ENDS, BAD_LINE_ENDS),
    );
    (
        line,
        vec(header, 0..6),
        piece(LINE_ENDS, BAD_LINE_ENDS),
        vec(any::<u8>(), 0..64),
        prop_oneof![3 => Just(None), 1 => (0.0f64..1.0).prop_map(Some)],
    )
        .prop_map(|(line, headers, end, body, cut)| {
            let (method, sp1, target, sp2, version, eol) = line;
            let mut bytes = [method, sp1, target, sp2, version, eol].concat();
            for (name, sep, value, eol) in headers {
                bytes.extend([name, sep, value, eol].concat());
            }
            bytes.extend(end);
            bytes.extend(body);
            if let Some(cut) = cut {
                bytes.truncate((bytes.len() as f64 * cut) as usize);
            }
            bytes
        })
}

const VALID: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    "GET /h HTTP/1.0\r\n\r\n",
    "HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
];

/// A valid request with a few bytes replaced, inserted or removed, or cut short (or none).
fn mutated_request() -> impl Strategy<Value = Vec<u8>> {
    (
        select(VALID),
        vec((any::<Index>(), 0..4u8, any::<u8>()), 0..6),
    )
        .prop_map(|(valid, mutations)| {
            let mut bytes = valid.as_bytes().to_vec();
            for (at, kind, byte) in mutations {
                let i = at.index(bytes.len() + 1);
                match kind {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    2 if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    3 => bytes.truncate(i),
                    _ => {}
                }
            }
            bytes
        })
}

// ---------------------------------------------------------------------------------------------
// 2. Oversized heads.

/// A header value of 70–300 KiB gets 431 and an H26 log line; the limit is exact: a head of
/// 64 KiB passes, one byte more does not. Just over the limit the router answers with its
/// page; far over it (past hyper's hard limit, 16 KiB above the router's) hyper answers 431
/// itself.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_header_values_get_431() {
    let router = echo_router(RouterConfig::default()).await;
    let router = &router;
    check(16, 70 * 1024..=300 * 1024usize, |length| async move {
        let request = with_header_value(length);
        let reply = exchange(router.addr, &request, false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(431)), "{:?}", Shown(&reply));
        still_serving(router).await
    })
    .await;
    router.log_line(&["code=H26", "status=431"]).await;

    let base = with_header_value(0).len();
    let at_limit = with_header_value(HEAD_LIMIT - base);
    assert_eq!(at_limit.len(), HEAD_LIMIT);
    let reply = exchange(router.addr, &at_limit, false).await.unwrap();
    assert_eq!(final_status(&reply), Ok(Some(200)), "{:?}", Shown(&reply));
    let over = with_header_value(HEAD_LIMIT + 1 - base);
    let reply = exchange(router.addr, &over, false).await.unwrap();
    assert_eq!(final_status(&reply), Ok(Some(431)), "{:?}", Shown(&reply));
}

/// A path over the router's URL limit (8 KiB, as Heroku's router) gets the router's 414 page
/// (H26), and one of exactly 8 KiB is proxied.
#[tokio::test(flavor = "multi_thread")]
async fn paths_over_the_url_limit_get_414_with_a_page() {
    let router = echo_router(RouterConfig::default()).await;
    let router = &router;
    check(16, URI_LIMIT + 1..=60 * 1024, |length| async move {
        let reply = exchange(router.addr, &with_path(length), false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(414)), "{:?}", Shown(&reply));
        prop_assert!(
            find(&reply, b"Request Error (H26)").is_some(),
            "{:?}",
            Shown(&reply)
        );
        still_serving(router).await
    })
    .await;
    let reply = exchange(router.addr, &with_path(URI_LIMIT), false)
        .await
        .unwrap();
    assert_eq!(final_status(&reply), Ok(Some(200)), "{:?}", Shown(&reply));
    router.log_line(&["code=H26", "status=414"]).await;
}

/// Heads past the most hyper's read buffer can hold under the default limit (its capacity
/// stays below twice `max_header_bytes`: 128 KiB) get 431, whether the header values or the
/// path are long, and the router logs them as H26.
#[tokio::test(flavor = "multi_thread")]
async fn heads_past_hypers_read_buffer_get_431() {
    let router = echo_router(RouterConfig::default()).await;
    let router = &router;
    let strategy = (2 * HEAD_LIMIT + 1..=300 * 1024, any::<bool>());
    check(24, strategy, |(length, in_path)| async move {
        let request = if in_path {
            with_path(length)
        } else {
            with_header_value(length)
        };
        let reply = exchange(router.addr, &request, false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(431)), "{:?}", Shown(&reply));
        still_serving(router).await
    })
    .await;
    router.log_line(&["code=H26", "status=431"]).await;
}

/// A GET whose `X-Big` value is `length` bytes long.
fn with_header_value(length: usize) -> Vec<u8> {
    let mut request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Big: ".to_vec();
    request.resize(request.len() + length, b'x');
    request.extend_from_slice(b"\r\n\r\n");
    request
}

/// A GET whose path is `length` bytes long (a `/` and then letters).
fn with_path(length: usize) -> Vec<u8> {
    let mut request = b"GET /".to_vec();
    request.resize(request.len() + length - 1, b'p');
    request.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    request
}

/// With a head limit larger than hyper's URI limit, a path over 65,534 bytes gets 414, and
/// one of exactly 65,534 bytes is proxied.
#[tokio::test(flavor = "multi_thread")]
async fn paths_over_hypers_uri_limit_get_414_under_a_larger_head_limit() {
    let router = echo_router(RouterConfig {
        max_header_bytes: 512 * 1024,
        max_uri_bytes: 1024 * 1024,
        ..RouterConfig::default()
    })
    .await;
    let router = &router;
    check(8, HYPER_MAX_URI + 1..=400 * 1024, |length| async move {
        let reply = exchange(router.addr, &with_path(length), false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(414)), "{:?}", Shown(&reply));
        still_serving(router).await
    })
    .await;
    let reply = exchange(router.addr, &with_path(HYPER_MAX_URI), false)
        .await
        .unwrap();
    assert_eq!(final_status(&reply), Ok(Some(200)), "{:?}", Shown(&reply));
}

// ---------------------------------------------------------------------------------------------
// 3. Body limits.

/// Any Content-Length over `max_body_bytes` gets 413, decided from the head alone and logged
/// with the declared length, whether the client sends none of the body, some of it, or all of
/// it (which the router leaves unread: the client sees its answer, then a reset).
#[tokio::test(flavor = "multi_thread")]
async fn declared_bodies_over_the_limit_get_413() {
    let router = echo_router(RouterConfig {
        max_body_bytes: 1000,
        ..RouterConfig::default()
    })
    .await;
    let router = &router;
    let declared = prop_oneof![
        Just(1001u64),
        Just(u64::MAX / 2),
        1001..=u64::MAX / 2,
        1001..100_000u64,
    ];
    let strategy = (declared, 0..3000usize);
    check(48, strategy, |(declared, sent)| async move {
        let mut request = format!(
            "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: {declared}\r\n\r\n"
        )
        .into_bytes();
        request.resize(request.len() + sent, b'b');
        let reply = exchange(router.addr, &request, false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(413)), "{:?}", Shown(&reply));
        router
            .log_line(&[&format!("cause=\"body of {declared} bytes is over the limit\"")])
            .await;
        still_serving(router).await
    })
    .await;
}

/// Bodies within the limit (up to exactly `max_body_bytes`), sent with a Content-Length or
/// chunked, reach the backend byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn bodies_within_the_limit_arrive_intact() {
    let router = TestRouter::start(RouterConfig {
        max_body_bytes: 1000,
        ..RouterConfig::default()
    })
    .await;
    router.set_web(vec![ready("web.1", body_echo().await)]);
    let router = &router;
    let body = prop_oneof![vec(any::<u8>(), 0..=1000), vec(any::<u8>(), 1000..=1000)];
    let strategy = (body, proptest::option::of(vec(1usize..400, 1..8)));
    check(48, strategy, |(body, chunks)| async move {
        let request = upload(&body, chunks.as_deref());
        let reply = exchange(router.addr, &request, false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(200)), "{:?}", Shown(&reply));
        let received = reply_body(&reply);
        prop_assert!(
            received == body.as_slice(),
            "sent {:?}, the backend got {:?}",
            Shown(&body),
            Shown(received)
        );
        still_serving(router).await
    })
    .await;
}

/// A chunked body that grows past `max_body_bytes` gets 413, like a declared one.
///
/// BUG: it gets 499 "Client Request Interrupted (H27)", logged as `code=H27 status=499`. The
/// router's request body ends its stream with `BodyError::TooLarge` once past the limit; the
/// exchange with the backend then fails with a user (body) error, which `proxy::classify`
/// takes for the client going away, although the client is still there waiting for an answer.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_bodies_over_the_limit_get_413() {
    let router = TestRouter::start(RouterConfig {
        max_body_bytes: 1000,
        ..RouterConfig::default()
    })
    .await;
    router.set_web(vec![ready("web.1", body_echo().await)]);
    let router = &router;
    let strategy = (1001..4000usize, vec(1usize..600, 1..8));
    check(16, strategy, |(length, chunks)| async move {
        let request = upload(&vec![b'c'; length], Some(&chunks));
        let reply = exchange(router.addr, &request, false).await?;
        prop_assert_eq!(final_status(&reply), Ok(Some(413)), "{:?}", Shown(&reply));
        still_serving(router).await
    })
    .await;
}

/// A POST of `body`, with a Content-Length or chunked in pieces of the sizes in `chunks`
/// (repeated as needed).
fn upload(body: &[u8], chunks: Option<&[usize]>) -> Vec<u8> {
    let mut request = b"POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\n".to_vec();
    match chunks {
        None => {
            request.extend(format!("Content-Length: {}\r\n\r\n", body.len()).bytes());
            request.extend_from_slice(body);
        }
        Some(sizes) => {
            request.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body;
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, after) = rest.split_at((*size).min(rest.len()));
                request.extend(format!("{:x}\r\n", chunk.len()).bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
                rest = after;
            }
            request.extend_from_slice(b"0\r\n\r\n");
        }
    }
    request
}

/// A backend that answers 200 with the request body it received (by Content-Length or
/// chunked) as its body; keeps connections alive.
async fn body_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                while let Some(body) = read_body(&mut stream).await {
                    let mut reply =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                            .into_bytes();
                    reply.extend(body);
                    if stream.get_mut().write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Reads one request and returns its body; `None` at end of stream or on bad framing.
async fn read_body(stream: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0;
    let mut chunked = false;
    loop {
        let line = read_line(stream).await?;
        if line.is_empty() {
            break;
        }
        let line = line.to_ascii_lowercase();
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        } else if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if !chunked {
        body.resize(length, 0);
        stream.read_exact(&mut body).await.ok()?;
        return Some(body);
    }
    loop {
        let size = read_line(stream).await?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !read_line(stream).await?.is_empty() {}
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size + 2, 0);
        stream.read_exact(&mut body[start..]).await.ok()?;
        body.truncate(start + size);
    }
}

/// One line without its CRLF; `None` at end of stream.
async fn read_line(stream: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = Vec::new();
    if stream.read_until(b'\n', &mut line).await.ok()? == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&line);
    Some(text.trim_end_matches(['\r', '\n']).to_string())
}

// ---------------------------------------------------------------------------------------------
// 4. Slow clients.

/// A client that sends its head one byte at a time, with pauses far below the idle window
/// (55 s by default), gets its 200 and the backend sees the whole head.
#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_served() {
    let router = echo_router(RouterConfig::default()).await;
    let router = &router;
    let strategy = (0..1000u32, vec(0..10u64, 48));
    check(5, strategy, |(n, pauses)| async move {
        let path = format!("/slow/{n}");
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let reply = trickle(router.addr, request.as_bytes(), &pauses).await?;
        prop_assert_eq!(reply.status, Some(200), "{:?}", reply);
        let seen = format!("GET {path} HTTP/1.1\r\n");
        prop_assert!(reply.body.starts_with(&seen), "{}", reply.body);
        Ok(())
    })
    .await;
}

/// Sends `request` one byte at a time, pausing `pauses[i % len]` ms after byte `i`, then reads
/// the reply until the router closes.
async fn trickle(addr: SocketAddr, request: &[u8], pauses: &[u64]) -> Result<Reply, TestCaseError> {
    let mut stream = TcpStream::connect(addr).await.map_err(fail)?;
    stream.set_nodelay(true).map_err(fail)?;
    for (i, byte) in request.iter().enumerate() {
        if stream.write_all(&[*byte]).await.is_err() {
            // The router gave up on the request; the reply (if any) says why.
            break;
        }
        tokio::time::sleep(Duration::from_millis(pauses[i % pauses.len()])).await;
    }
    let mut reply = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut reply)).await;
    prop_assert!(read.is_ok(), "no end of reply within {DEADLINE:?}");
    Ok(parse_reply(&reply))
}

// ---------------------------------------------------------------------------------------------
// The machinery.

/// Runs `test` on `cases` inputs drawn from `strategy` (a fresh random seed each run), each
/// case driven to completion on the test's runtime; fails the test with the smallest failing
/// input proptest finds. proptest's runner is synchronous, so it runs in `block_in_place`:
/// tests using it need the multi-threaded runtime.
async fn check<S, F, Fut>(cases: u32, strategy: S, test: F)
where
    S: Strategy,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let mut config = Config::with_cases(cases);
    config.failure_persistence = None;
    // The same cases on every run, so CI is repeatable; `PROPTEST_RNG_SEED=random` (or any
    // number) explores others.
    config.rng_seed = match std::env::var("PROPTEST_RNG_SEED").ok().as_deref() {
        Some("random") => proptest::test_runner::RngSeed::Random,
        Some(seed) => seed.parse().map_or(
            proptest::test_runner::RngSeed::Fixed(0x5eed),
            proptest::test_runner::RngSeed::Fixed,
        ),
        None => proptest::test_runner::RngSeed::Fixed(0x5eed),
    };
    config.max_shrink_iters = 200;
    config.max_shrink_time = 10_000;
    let mut runner = TestRunner::new(config);
    let handle = tokio::runtime::Handle::current();
    let result =
        tokio::task::block_in_place(|| runner.run(&strategy, |value| handle.block_on(test(value))));
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A router in front of one Echo backend.
async fn echo_router(config: RouterConfig) -> TestRouter {
    TestRouter::with_backend(config, Behaviour::Echo).await
}

/// The router still answers a plain GET with 200, and no request is left in flight on the
/// replica.
async fn still_serving(router: &TestRouter) -> Result<(), TestCaseError> {
    let reply = exchange(router.addr, ALIVE, false).await?;
    prop_assert_eq!(
        final_status(&reply),
        Ok(Some(200)),
        "the router stopped serving: {:?}",
        Shown(&reply)
    );
    let idle = wait_for(Duration::from_secs(5), || {
        router
            .router
            .in_flight("web")
            .iter()
            .all(|(_, n)| *n == 0)
            .then_some(())
    })
    .await;
    prop_assert!(
        idle.is_some(),
        "requests left in flight: {:?}",
        router.router.in_flight("web")
    );
    Ok(())
}

/// Sends `request` while reading the reply (a router that answers before reading everything
/// must not make the write fail the case), shuts down the write side after it when
/// `half_close`, and reads until the router closes the connection or resets it. Fails the
/// case when the connection is still open after [`DEADLINE`].
async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    half_close: bool,
) -> Result<Vec<u8>, TestCaseError> {
    let mut stream = TcpStream::connect(addr).await.map_err(fail)?;
    stream.set_nodelay(true).map_err(fail)?;
    let (mut reader, mut writer) = stream.split();
    let write = async {
        if writer.write_all(request).await.is_ok() && half_close {
            let _ = writer.shutdown().await;
        }
    };
    let read = async {
        let mut reply = Vec::new();
        // A reset ends the reply; what arrived before it is kept.
        let _ = reader.read_to_end(&mut reply).await;
        reply
    };
    match tokio::time::timeout(DEADLINE, async { tokio::join!(write, read).1 }).await {
        Ok(reply) => Ok(reply),
        Err(_) => Err(TestCaseError::fail(format!(
            "the connection was still open after {DEADLINE:?}"
        ))),
    }
}

fn fail(error: std::io::Error) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// The status of the first final response in `reply` (after any `100 Continue`), checking
/// that each head up to it is a well-formed HTTP/1.x head; `None` for an empty reply. hyper
/// answers an HTTP/1.0 request with an HTTP/1.0 status line.
fn final_status(reply: &[u8]) -> Result<Option<u16>, String> {
    if reply.is_empty() {
        return Ok(None);
    }
    let mut rest = reply;
    loop {
        let end = find(rest, b"\r\n\r\n").ok_or("the head never ends")?;
        // The head with the line end of its last line, without that line end's LF.
        let head = &rest[..end + 1];
        let mut lines = head.split(|&b| b == b'\n');
        let line = lines.next().unwrap_or_default();
        let line = line
            .strip_suffix(b"\r")
            .ok_or("a status line without CRLF")?;
        let after = line
            .strip_prefix(b"HTTP/1.1 ")
            .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
            .ok_or("no HTTP/1.x status line")?;
        let digits = after.get(..3).ok_or("a short status line")?;
        if !digits.iter().all(u8::is_ascii_digit) || after.get(3).is_some_and(|&b| b != b' ') {
            return Err("a malformed status code".into());
        }
        for header in lines {
            let header = header
                .strip_suffix(b"\r")
                .ok_or("a header line without CRLF")?;
            if !header.contains(&b':') {
                return Err("a header line without a colon".into());
            }
        }
        let status: u16 = std::str::from_utf8(digits).unwrap().parse().unwrap();
        if status != 100 {
            return Ok(Some(status));
        }
        rest = &rest[end + 4..];
        // Only the interim `100 Continue`, then the end: a half-closed client counts as gone
        // (H27) once the router has asked it for its body.
        if rest.is_empty() {
            return Ok(None);
        }
    }
}

/// The body of the first response in `reply`, as sent (bytes, not text).
fn reply_body(reply: &[u8]) -> &[u8] {
    find(reply, b"\r\n\r\n").map_or(&[], |end| &reply[end + 4..])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes sent as a request, shown escaped and shortened in failure messages.
#[derive(Clone)]
struct Input(Vec<u8>);

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Shown(&self.0).fmt(f)
    }
}

/// Shows bytes escaped, at most 600 of them, with their length.
struct Shown<'a>(&'a [u8]);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(600)];
        write!(f, "{} bytes: b\"{}\"", self.0.len(), shown.escape_ascii())?;
        if shown.len() < self.0.len() {
            write!(f, "…")?;
        }
        Ok(())
    }
}

/// Panics on the router's worker threads (which serve the client connections) since the
/// first call; other threads' panics are only passed on.
static ROUTER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on threads named `pier-router-*` in [`ROUTER_PANICS`], then hands every
/// panic to the hook that was there before.
fn count_router_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_router = std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with("pier-router-"));
            if on_router {
                ROUTER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}
