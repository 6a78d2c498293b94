//! The proxy core: one client request in, one response out. It picks the route and a replica,
//! connects (retrying other replicas when a connect fails, since nothing was sent yet), sends
//! the request with the first-byte timeout, and hands the response body to [`ResponseBody`]
//! for streaming. Every failure leaves through one place, [`error_response`], which maps the
//! [`ErrorKind`] to Heroku's page and status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use http::{Request, Response, Uri, header};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::body::{Lease, RequestBody, ResponseBody};
use crate::errors::ErrorKind;
use crate::headers::{self, ClientInfo};
use crate::pool::{Endpoint, InFlight, NoPick, Pool, Upstream};
use crate::split;
use crate::table::Timeouts;
use crate::table::{CompiledRoute, SplitKey};
use crate::trace::{Trace, TraceData};
use crate::tunnel;
use crate::{Dest, Shared};

/// Handles one request from a client connection.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    target: Arc<Dest>,
    client: Arc<ClientInfo>,
    shutdown: watch::Receiver<bool>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let log = shared
        .config
        .access_log
        .then(|| shared.log.clone())
        .flatten();
    let mut data = TraceData {
        method: req.method().clone(),
        request_id: headers::request_id(req.headers()),
        fwd: client.ip_value().clone(),
        protocol: client.proto,
        ..TraceData::default()
    };
    // Only the access log needs these as owned strings.
    if log.is_some() {
        data.path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        data.host = host_of(&req).to_ascii_lowercase();
    }
    let trace = Trace::new(data, log, shared.metrics.clone());
    let mut set_cookie = None;
    let mut response = match proxy(&shared, &target, &client, shutdown, req, &trace).await {
        Ok(response) => {
            trace.update(|d| set_cookie = d.set_cookie.take());
            response
        }
        Err(kind) => {
            trace.update(|d| set_cookie = d.set_cookie.take());
            error_response(kind, trace)
        }
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The router-made response for `kind` (or for the error already recorded, which wins).
pub(crate) fn error_response(kind: ErrorKind, trace: Arc<Trace>) -> Response<ResponseBody> {
    trace.fail(kind);
    let kind = trace.error().unwrap_or(kind);
    let request_id = request_id(&trace);
    let page = kind.page(request_id.to_str().unwrap_or(""));
    trace.update(|d| d.status = Some(page.status().as_u16()));
    let (mut parts, body) = page.into_parts();
    headers::append_via(&mut parts.headers);
    Response::from_parts(parts, ResponseBody::page(body, Some(trace)))
}

/// The request's host without a port (as sent: matching ignores case).
fn host_of(req: &Request<Incoming>) -> &str {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.trim_end_matches('.')
}

async fn proxy(
    shared: &Arc<Shared>,
    target: &Dest,
    client: &ClientInfo,
    shutdown: watch::Receiver<bool>,
    mut req: Request<Incoming>,
    trace: &Arc<Trace>,
) -> Result<Response<ResponseBody>, ErrorKind> {
    if let Some(expect) = req.headers().get(header::EXPECT)
        && !expect.as_bytes().eq_ignore_ascii_case(b"100-continue")
    {
        trace.update(|d| d.cause = Some("unsupported expect header value".into()));
        return Err(ErrorKind::UnsupportedExpect);
    }
    if let Some(length) = declared_length(&req)
        && length > shared.config.max_body_bytes
    {
        trace.update(|d| d.cause = Some(format!("body of {length} bytes is over the limit")));
        return Err(ErrorKind::BodyTooLarge);
    }
    // hyper enforces hard limits a little above these (with bare answers); these give the page.
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > shared.config.max_uri_bytes {
        trace.update(|d| d.cause = Some(format!("URL of {uri_len} bytes is over the limit")));
        return Err(ErrorKind::UriTooLong);
    }
    // The head's size as sent in canonical form: `METHOD SP target SP HTTP/1.1 CRLF`, then
    // `name: value CRLF` per header, then `CRLF`.
    let head_len = req.method().as_str().len()
        + uri_len
        + 12
        + req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>()
        + 2;
    if head_len > shared.config.max_header_bytes {
        trace.update(|d| {
            d.cause = Some(format!("head of about {head_len} bytes is over the limit"))
        });
        return Err(ErrorKind::HeadTooLarge);
    }
    let table = shared.table.load();
    if table.maintenance {
        return Err(ErrorKind::Maintenance);
    }
    let (route, service, timeouts) = match target {
        Dest::Public => {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let route = table.route(host_of(&req), path).ok_or(ErrorKind::NoRoute)?;
            let (index, sticky) = pick_target(route, req.headers());
            if sticky.is_some() {
                trace.update(|d| d.set_cookie = sticky);
            }
            (
                route.name.clone(),
                route.backends[index].clone(),
                route.rule.timeouts,
            )
        }
        Dest::Service(service) => (service.clone(), service.clone(), shared.config.timeouts),
    };
    drop(table);
    trace.update(|d| {
        d.route = route;
        d.service = service.clone();
    });

    let upgrade = headers::is_upgrade(req.headers());
    headers::strip_hop_by_hop(req.headers_mut(), upgrade);
    let fwd = headers::add_forwarding(
        req.headers_mut(),
        client,
        &request_id(trace),
        SystemTime::now(),
    );
    trace.update(|d| d.fwd = fwd);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.uri = origin_form(&parts.uri);
    // Requests without a body start the first-byte window at once; others when it is sent.
    let body_done = (!body.is_end_stream()).then(|| Arc::new(Notify::new()));
    let body = RequestBody::new(
        body,
        timeouts.idle,
        shared.config.max_body_bytes,
        trace.clone(),
        body_done.clone(),
    );
    let mut request = Request::from_parts(parts, body);

    // An idempotent request without a body may be tried once more, on another replica, when
    // the first closed the connection without answering (if the router is configured to).
    let mut retry =
        (shared.config.retry_idempotent && body_done.is_none() && is_idempotent(request.method()))
            .then(|| {
                (
                    request.method().clone(),
                    request.uri().clone(),
                    request.headers().clone(),
                )
            });
    let mut avoid = Vec::new();
    let (mut response, endpoint, pool, in_flight, sender) = loop {
        let checkout = checkout(shared, &service, timeouts, trace, &avoid).await?;
        trace.update(|d| {
            d.dyno = Some(checkout.endpoint.name.clone());
            d.connect = Some(checkout.connect);
            d.new_connection = checkout.fresh;
            d.service_start = Some(std::time::Instant::now());
        });
        if let Upstream::External(url) = &checkout.endpoint.upstream
            && let Ok(host) = http::HeaderValue::from_str(&url.host_header())
        {
            request.headers_mut().insert(header::HOST, host);
        }
        let Checkout {
            endpoint,
            pool,
            in_flight,
            mut sender,
            ..
        } = checkout;
        let sent = send(
            shared,
            &mut sender,
            &endpoint,
            request,
            timeouts,
            trace,
            body_done.as_deref(),
        )
        .await;
        match sent {
            Ok(response) => break (response, endpoint, pool, in_flight, sender),
            Err(kind) => {
                if matches!(
                    kind,
                    ErrorKind::RequestTimeout | ErrorKind::ClosedWithoutResponse
                ) {
                    note_failure(shared, &pool, &endpoint);
                }
                match (kind, retry.take()) {
                    (ErrorKind::ClosedWithoutResponse, Some((method, uri, headers))) => {
                        avoid.push(endpoint.addr);
                        let mut again = Request::new(RequestBody::empty());
                        *again.method_mut() = method;
                        *again.uri_mut() = uri;
                        *again.headers_mut() = headers;
                        request = again;
                    }
                    _ => return Err(kind),
                }
            }
        }
    };
    if response.status().is_server_error() {
        note_failure(shared, &pool, &endpoint);
    } else {
        endpoint.record_success();
    }
    let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    headers::strip_hop_by_hop(response.headers_mut(), switching);
    headers::append_via(response.headers_mut());
    trace.update(|d| d.status = Some(response.status().as_u16()));
    // The client talks HTTP/1.1 with the router, whatever the backend spoke.
    *response.version_mut() = http::Version::HTTP_11;
    if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
        // The exchange is done; the tunnel counts as in flight on the replica (so a drain
        // waits for it) and its connection is never reused.
        let backend_upgrade = hyper::upgrade::on(&mut response);
        let drain = shared.config.drain_timeout;
        tunnel::spawn(
            client_upgrade,
            backend_upgrade,
            timeouts.idle,
            shutdown,
            drain,
            in_flight,
        );
        trace.update(|d| d.complete = true);
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, ResponseBody::empty()));
    }
    let (parts, body) = response.into_parts();
    let lease = Lease {
        endpoint,
        sender,
        reusable: true,
    };
    let body = ResponseBody::upstream(body, timeouts.idle, lease, in_flight, trace.clone());
    Ok(Response::from_parts(parts, body))
}

/// The target of a (possibly split) route for this request, and the sticky cookie to set
/// when the request carried no key at all.
fn pick_target(
    route: &CompiledRoute,
    headers: &http::HeaderMap,
) -> (usize, Option<http::HeaderValue>) {
    if route.backends.len() < 2 {
        return (0, None);
    }
    let cookie = |name: &str| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| split::cookie(v, name))
    };
    let from_app = match &route.rule.split_key {
        Some(SplitKey::Cookie(name)) => cookie(name),
        Some(SplitKey::Header(name)) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty()),
        None => None,
    };
    if let Some(key) = from_app.or_else(|| cookie(split::STICKY_COOKIE)) {
        return (split::choose(&route.percents, key, &route.rule.lists), None);
    }
    let key = uuid::Uuid::new_v4().simple().to_string();
    let set = format!(
        "{}={key}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        split::STICKY_COOKIE
    );
    let index = split::choose(&route.percents, &key, &route.rule.lists);
    (index, http::HeaderValue::from_str(&set).ok())
}

fn request_id(trace: &Trace) -> http::HeaderValue {
    let mut id = http::HeaderValue::from_static("");
    trace.update(|d| id = d.request_id.clone());
    id
}

/// Methods that may be sent twice without changing the outcome (RFC 9110, 9.2.2).
fn is_idempotent(method: &http::Method) -> bool {
    use http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::TRACE,
    ]
    .contains(method)
}

fn declared_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The request target as a backend expects it: path and query only.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) if uri.scheme().is_none() => {
            if uri.authority().is_none() {
                uri.clone()
            } else {
                Uri::from(pq.clone())
            }
        }
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    }
}

fn note_failure(shared: &Shared, pool: &Pool, endpoint: &Endpoint) {
    if pool
        .record_failure(endpoint, shared.config.ejection)
        .is_some()
    {
        shared
            .metrics
            .ejections
            .get_or_create(&crate::metrics::BackendLabels {
                backend: endpoint.name.clone(),
            })
            .inc();
        tracing::info!(replica = %endpoint.name, "replica ejected after consecutive failures");
    }
}

/// Sends the request on `sender` (reconnecting once if a pooled connection turns out closed
/// before anything was written) and waits for the response head up to the first-byte timeout.
async fn send(
    shared: &Shared,
    sender: &mut SendRequest<RequestBody>,
    endpoint: &Endpoint,
    request: Request<RequestBody>,
    timeouts: Timeouts,
    trace: &Trace,
    body_done: Option<&Notify>,
) -> Result<Response<Incoming>, ErrorKind> {
    // The first-byte window opens once the whole request has reached the backend; before
    // that, the client's idle window (H28) is what bounds a slow upload.
    let first_byte = async {
        if let Some(done) = body_done {
            done.notified().await;
        }
        tokio::time::sleep(timeouts.first_byte).await;
    };
    tokio::pin!(first_byte);
    let mut request = request;
    for attempt in 0..2 {
        if sender.ready().await.is_err() {
            *sender = connect(shared, endpoint, timeouts.connect)
                .await
                .map_err(|(kind, _)| kind)?;
        }
        let sent = tokio::select! {
            sent = sender.try_send_request(request) => sent,
            _ = &mut first_byte => return Err(ErrorKind::RequestTimeout),
        };
        match sent {
            Ok(response) => return Ok(response),
            Err(mut error) => match error.take_message() {
                // Nothing was written: safe to try again on a fresh connection.
                Some(unsent) if attempt == 0 => {
                    request = unsent;
                    *sender = connect(shared, endpoint, timeouts.connect)
                        .await
                        .map_err(|(kind, _)| kind)?;
                }
                _ => return Err(classify(error.error(), trace)),
            },
        }
    }
    Err(ErrorKind::ClosedWithoutResponse)
}

/// What a failed exchange means: the client's fault when its body failed, else the backend
/// closed the connection without a response.
fn classify(error: &hyper::Error, trace: &Trace) -> ErrorKind {
    if let Some(kind) = trace.error() {
        return kind;
    }
    if error.is_user() || error.is_body_write_aborted() {
        return ErrorKind::ClientInterrupted;
    }
    trace.update(|d| d.cause = Some(error.to_string()));
    ErrorKind::ClosedWithoutResponse
}

/// A replica and a connection to it, with the request counted against it.
struct Checkout {
    endpoint: Arc<Endpoint>,
    pool: Arc<Pool>,
    in_flight: InFlight,
    sender: SendRequest<RequestBody>,
    connect: Duration,
    /// The connection was opened for this request (not taken from the idle pool).
    fresh: bool,
}

/// Finds a replica that can take the request: waits while replicas boot (H20 past the boot
/// limit), queues while all are at their in-flight limit (H11), and tries the next replica
/// when a connect fails (H21/H19 once none is left).
async fn checkout(
    shared: &Arc<Shared>,
    service: &str,
    timeouts: Timeouts,
    trace: &Trace,
    avoid: &[SocketAddr],
) -> Result<Checkout, ErrorKind> {
    let config = &shared.config;
    let boot_deadline = Instant::now() + config.boot_timeout;
    let mut queue_deadline = None;
    let mut tried: Vec<SocketAddr> = avoid.to_vec();
    let mut last_error = None;
    let mut versions = shared.version.subscribe();
    loop {
        let table = shared.table.load_full();
        let pool = table.pool(service).cloned().ok_or(ErrorKind::NoReplicas)?;
        drop(table);
        if pool.ready().is_empty() {
            if let Some(error) = last_error {
                return Err(error);
            }
            if pool.booting > 0 {
                tokio::time::timeout_at(boot_deadline, versions.changed())
                    .await
                    .map_err(|_| ErrorKind::BootTimeout)?
                    .map_err(|_| ErrorKind::BootTimeout)?;
                continue;
            }
            return Err(if pool.down > 0 {
                ErrorKind::AppCrashed
            } else {
                ErrorKind::NoReplicas
            });
        }
        let endpoint = match pool.pick(config.balance, &tried, config.max_in_flight) {
            Ok(endpoint) => endpoint,
            Err(NoPick::NoneReady) => return Err(last_error.unwrap_or(ErrorKind::AppCrashed)),
            Err(NoPick::AllBusy) => {
                let deadline = *queue_deadline.get_or_insert(Instant::now() + config.queue_timeout);
                wait_in_queue(shared, deadline).await?;
                continue;
            }
        };
        let in_flight = endpoint.begin(&shared.freed);
        if let Some(sender) = endpoint.take_idle() {
            return Ok(Checkout {
                endpoint,
                pool,
                in_flight,
                sender,
                connect: Duration::ZERO,
                fresh: false,
            });
        }
        let started = Instant::now();
        match connect(shared, &endpoint, timeouts.connect).await {
            Ok(sender) => {
                let connect = started.elapsed();
                return Ok(Checkout {
                    endpoint,
                    pool,
                    in_flight,
                    sender,
                    connect,
                    fresh: true,
                });
            }
            Err((kind, cause)) => {
                trace.update(|d| d.cause = Some(cause));
                note_failure(shared, &pool, &endpoint);
                tried.push(endpoint.addr);
                last_error = Some(kind);
            }
        }
    }
}

/// Waits for an in-flight slot to free up; H11 when the queue is full or the wait too long.
async fn wait_in_queue(shared: &Shared, deadline: Instant) -> Result<(), ErrorKind> {
    let queued = shared.queued.fetch_add(1, Ordering::AcqRel);
    let _leave = QueueSlot(shared);
    if queued >= shared.config.max_queue {
        return Err(ErrorKind::BacklogTooDeep);
    }
    shared.metrics.queued.inc();
    let waited = tokio::time::timeout_at(deadline, shared.freed.notified()).await;
    shared.metrics.queued.dec();
    waited.map_err(|_| ErrorKind::BacklogTooDeep)
}

struct QueueSlot<'a>(&'a Shared);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Opens a connection to a replica: H19 past the timeout, H21 when refused.
/// Why a connection could not be made: the H-code and a cause for the log.
type ConnectError = (ErrorKind, String);

/// Opens a connection to an endpoint: a replica directly, or an external origin through DNS
/// (and TLS for `https://`). H19 past the timeout, H21 when refused or the handshake fails.
async fn connect(
    shared: &Shared,
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<SendRequest<RequestBody>, ConnectError> {
    let deadline = Instant::now() + timeout;
    let timed_out = || {
        (
            ErrorKind::ConnectTimeout,
            format!("no connection to {} within {timeout:?}", endpoint.name),
        )
    };
    let refused =
        |e: &dyn std::fmt::Display| (ErrorKind::ConnectRefused, format!("{}: {e}", endpoint.name));
    let (addr, external) = match &endpoint.upstream {
        Upstream::Direct => (endpoint.addr, None),
        Upstream::External(url) => {
            let mut addrs = tokio::time::timeout_at(
                deadline,
                tokio::net::lookup_host((url.host.as_str(), url.port)),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| refused(&e))?;
            let addr = addrs
                .next()
                .ok_or_else(|| refused(&"no address for the host"))?;
            (addr, Some(url))
        }
    };
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| refused(&e))?;
    let _ = stream.set_nodelay(true);
    let mut builder = hyper::client::conn::http1::Builder::new();
    builder.writev(false);
    let sender = match external {
        Some(url) if url.tls => {
            let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| refused(&e))?;
            let tls = tokio::time::timeout_at(deadline, shared.tls.connect(name, stream))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| refused(&format!("TLS: {e}")))?;
            let (sender, connection) = builder
                .handshake(TokioIo::new(tls))
                .await
                .map_err(|e| refused(&e))?;
            spawn_connection(connection.with_upgrades());
            sender
        }
        _ => {
            let (sender, connection) = builder
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| refused(&e))?;
            spawn_connection(connection.with_upgrades());
            sender
        }
    };
    Ok(sender)
}

fn spawn_connection<F: Future<Output = hyper::Result<()>> + Send + 'static>(connection: F) {
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "backend connection ended");
        }
    });
}
