//! The proxy core: one client request in, one response out, in phases — admit (limits),
//! resolve (route and split), prepare (Heroku's headers), exchange (a replica from
//! `checkout`, the request sent with the first-byte timeout), respond (the head rewritten, the
//! body handed to [`ResponseBody`] or a tunnel). Every failure leaves through one place,
//! [`error_response`], which maps the [`ErrorKind`] to Heroku's page and status.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use http::{Request, Response, Uri, header};
use hyper::body::{Body, Incoming};
use hyper::upgrade::OnUpgrade;
use tokio::sync::{Notify, watch};

use crate::admit;
use crate::body::{RequestBody, ResponseBody};
use crate::checkout::{Checkout, checkout, note_failure};
use crate::client::{BackendConn, Framing, Head, SendError, UpstreamBody};
use crate::client_io::ClientWindow;
use crate::connect::connect;
use crate::errors::ErrorKind;
use crate::headers::{self, ClientInfo};
use crate::pool::{Endpoint, InFlight, Pool, Upstream};
use crate::split;
use crate::table::{CompiledRoute, SplitKey, Timeouts};
use crate::trace::{Label, Trace, TraceData};
use crate::tunnel;
use crate::{Dest, Shared};

/// Handles one request from a client connection.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    target: Arc<Dest>,
    client: Arc<ClientInfo>,
    idle: Arc<ClientWindow>,
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
    let trace = Trace::on_connection(data, log, shared.metrics.clone(), idle.clone());
    let mut set_cookie = None;
    let mut response = match proxy(&shared, &target, &client, &idle, shutdown, req, &trace).await {
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
    host_name(host)
}

/// `host` (a Host header or URI authority) without its port, IPv6 brackets or trailing dots.
fn host_name(host: &str) -> &str {
    // Byte searches: `str::find(char)` cost a few hundred instructions per request here.
    let bytes = host.as_bytes();
    let name = if bytes.first() == Some(&b'[') {
        let v6 = &host[1..];
        v6.bytes()
            .position(|b| b == b']')
            .map_or(v6, |end| &v6[..end])
    } else {
        bytes
            .iter()
            .position(|&b| b == b':')
            .map_or(host, |end| &host[..end])
    };
    let kept = name
        .bytes()
        .rposition(|b| b != b'.')
        .map_or(0, |last| last + 1);
    &name[..kept]
}

async fn proxy(
    shared: &Arc<Shared>,
    target: &Dest,
    client: &ClientInfo,
    idle: &ClientWindow,
    shutdown: watch::Receiver<bool>,
    req: Request<Incoming>,
    trace: &Arc<Trace>,
) -> Result<Response<ResponseBody>, ErrorKind> {
    let resolved = admit::check(&shared.config, &req, trace)
        .and_then(|()| resolve(shared, target, &req, trace));
    // The client connection's idle window while this response is written: the route's, or
    // the default for a router-made page.
    idle.set_window(
        resolved
            .as_ref()
            .map_or(shared.config.timeouts.idle, |(_, timeouts)| timeouts.idle),
    );
    let (pool, timeouts) = resolved?;
    let prepared = prepare(shared, client, req, timeouts, trace);
    let upgrade = prepared.upgrade;
    let exchanged = exchange(
        shared,
        &pool,
        timeouts,
        prepared.request,
        prepared.body_done,
        &prepared.forwarding,
        trace,
    )
    .await?;
    Ok(respond(
        shared, exchanged, upgrade, timeouts, shutdown, trace,
    ))
}

/// Which pool serves the request (the split's choice on a split route, then the canary's for
/// a service with a canary), and with which timeouts; H80 in maintenance, 404 without a route.
fn resolve(
    shared: &Shared,
    target: &Dest,
    req: &Request<Incoming>,
    trace: &Trace,
) -> Result<(Label, Timeouts), ErrorKind> {
    let table = shared.table.load();
    if table.maintenance {
        return Err(ErrorKind::Maintenance);
    }
    let (route, service, timeouts) = match target {
        Dest::Public => {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let route = table.route(host_of(req), path).ok_or(ErrorKind::NoRoute)?;
            let mut key = SplitKeyOf::new(route, req.headers());
            let index = pick_target(route, &mut key);
            let service = route.backends[index].clone();
            let canary = table
                .canary(&service)
                .filter(|c| split::in_canary(key.get(), &c.salt, c.basis_points));
            if let Some(canary) = canary {
                let (pool, release) = (canary.pool.clone(), canary.release.clone());
                trace.update(|d| {
                    d.route = route.name.clone();
                    d.service = service;
                    d.release = release;
                    d.set_cookie = key.set_cookie;
                });
                return Ok((pool, route.rule.timeouts));
            }
            if key.set_cookie.is_some() {
                trace.update(|d| d.set_cookie = key.set_cookie);
            }
            (route.name.clone(), service, route.rule.timeouts)
        }
        Dest::Service(service) => (service.clone(), service.clone(), shared.config.timeouts),
    };
    trace.update(|d| {
        d.route = route;
        d.service = service.clone();
    });
    Ok((service, timeouts))
}

/// A request ready for a backend.
struct Prepared {
    request: Request<RequestBody>,
    /// Notified when the client's body has been read to the end (`None`: there is none).
    body_done: Option<Arc<Notify>>,
    /// The client side of a protocol switch, when the request asks for one.
    upgrade: Option<OnUpgrade>,
    /// The headers the router adds (written after the request's own).
    forwarding: headers::Forwarding,
}

/// Rewrites the head as Heroku's router does and wraps the body with the idle window and the
/// size limit.
fn prepare(
    shared: &Shared,
    client: &ClientInfo,
    mut req: Request<Incoming>,
    timeouts: Timeouts,
    trace: &Arc<Trace>,
) -> Prepared {
    let upgrade = headers::is_upgrade(req.headers());
    headers::strip_hop_by_hop(req.headers_mut(), upgrade);
    let forwarding =
        headers::Forwarding::new(req.headers(), client, &request_id(trace), SystemTime::now());
    let fwd = forwarding.fwd().clone();
    trace.update(|d| d.fwd = fwd);
    let upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
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
    Prepared {
        request: Request::from_parts(parts, body),
        body_done,
        upgrade,
        forwarding,
    }
}

/// A response head from a replica, with what the response still holds on to.
struct Exchanged {
    head: Head,
    endpoint: Arc<Endpoint>,
    pool: Arc<Pool>,
    in_flight: InFlight,
    backend: BackendConn,
}

/// Checks out a replica and sends the request; an idempotent request without a body is tried
/// once more, on another replica, when the first closed the connection without answering (if
/// the router is configured to).
async fn exchange(
    shared: &Arc<Shared>,
    service: &str,
    timeouts: Timeouts,
    mut request: Request<RequestBody>,
    body_done: Option<Arc<Notify>>,
    forwarding: &headers::Forwarding,
    trace: &Trace,
) -> Result<Exchanged, ErrorKind> {
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
    loop {
        let Checkout {
            endpoint,
            pool,
            in_flight,
            mut backend,
            connect,
            fresh,
        } = checkout(shared, service, timeouts, trace, &avoid).await?;
        trace.update(|d| {
            d.dyno = Some(endpoint.name.clone());
            if !endpoint.release.is_empty() {
                d.release = endpoint.release.clone();
            }
            d.connect = Some(connect);
            d.new_connection = fresh;
            d.service_start = Some(std::time::Instant::now());
        });
        if let Upstream::External(url) = &endpoint.upstream
            && let Ok(host) = http::HeaderValue::from_str(&url.host_header())
        {
            request.headers_mut().insert(header::HOST, host);
        }
        let sent = send(
            shared,
            &mut backend,
            &endpoint,
            request,
            forwarding,
            timeouts,
            trace,
            body_done.as_deref(),
        )
        .await;
        let kind = match sent {
            Ok(head) => {
                return Ok(Exchanged {
                    head,
                    endpoint,
                    pool,
                    in_flight,
                    backend,
                });
            }
            Err(kind) => kind,
        };
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

/// Turns the replica's response into the client's: passive health, the head rewritten, and
/// either the body streamed (its connection back to the pool at the end) or, after `101`, a
/// tunnel that counts as in flight on the replica (so a drain waits for it).
fn respond(
    shared: &Shared,
    exchanged: Exchanged,
    upgrade: Option<OnUpgrade>,
    timeouts: Timeouts,
    shutdown: watch::Receiver<bool>,
    trace: &Arc<Trace>,
) -> Response<ResponseBody> {
    let Exchanged {
        head,
        endpoint,
        pool,
        in_flight,
        backend,
    } = exchanged;
    let framing = head.framing;
    let mut response = Response::new(());
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
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
    if let (true, Some(client_upgrade)) = (switching, upgrade) {
        let backend_upgrade = backend.into_upgraded();
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
        return Response::from_parts(parts, ResponseBody::empty());
    }
    // A `101` the client did not ask for: the connection is no longer HTTP, nothing follows.
    let framing = if framing == Framing::Upgrade {
        Framing::Empty
    } else {
        framing
    };
    let (parts, ()) = response.into_parts();
    let body = UpstreamBody::new(backend, framing);
    Response::from_parts(
        parts,
        ResponseBody::upstream(body, timeouts.idle, endpoint, in_flight, trace.clone()),
    )
}

/// The target of a (possibly split) route for this request, and the sticky cookie to set
/// when the request carried no key at all.
/// The index of the route's target for the request (the first without a split).
fn pick_target(route: &CompiledRoute, key: &mut SplitKeyOf<'_>) -> usize {
    if route.backends.len() < 2 {
        return 0;
    }
    split::choose(&route.percents, key.get(), &route.rule.lists)
}

/// A request's sticky split key, found when a split or a canary first needs it: the route's
/// cookie or header, else pier's cookie, else a new random key given to the client in
/// pier's cookie.
struct SplitKeyOf<'a> {
    route: &'a CompiledRoute,
    headers: &'a http::HeaderMap,
    key: Option<String>,
    set_cookie: Option<http::HeaderValue>,
}

impl<'a> SplitKeyOf<'a> {
    fn new(route: &'a CompiledRoute, headers: &'a http::HeaderMap) -> Self {
        SplitKeyOf {
            route,
            headers,
            key: None,
            set_cookie: None,
        }
    }

    fn get(&mut self) -> &str {
        if self.key.is_none() {
            let (key, set_cookie) = find_key(self.route, self.headers);
            self.key = Some(key);
            self.set_cookie = set_cookie;
        }
        self.key.as_deref().unwrap_or_default()
    }
}

fn find_key(
    route: &CompiledRoute,
    headers: &http::HeaderMap,
) -> (String, Option<http::HeaderValue>) {
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
        return (key.to_string(), None);
    }
    let key = uuid::Uuid::new_v4().simple().to_string();
    let set = format!(
        "{}={key}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
        split::STICKY_COOKIE
    );
    (key, http::HeaderValue::from_str(&set).ok())
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

/// Sends the request on `backend` (on a fresh connection once if the pooled one turns out
/// closed before anything was written) and waits for the response head up to the first-byte
/// timeout.
#[allow(clippy::too_many_arguments)]
async fn send(
    shared: &Shared,
    backend: &mut BackendConn,
    endpoint: &Endpoint,
    request: Request<RequestBody>,
    forwarding: &headers::Forwarding,
    timeouts: Timeouts,
    trace: &Trace,
    body_done: Option<&Notify>,
) -> Result<Head, ErrorKind> {
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
        let sent = tokio::select! {
            sent = backend.send(request, &forwarding.headers) => sent,
            _ = &mut first_byte => return Err(ErrorKind::RequestTimeout),
        };
        match sent {
            Ok(head) => return Ok(head),
            // Nothing was written: safe to try again on a fresh connection.
            Err(SendError::NotSent(unsent, _)) if attempt == 0 => {
                request = *unsent;
                *backend = connect(shared, endpoint, timeouts.connect)
                    .await
                    .map_err(|(kind, _)| kind)?;
            }
            Err(SendError::NotSent(_, cause) | SendError::NoResponse(cause)) => {
                return Err(classify(cause, trace));
            }
            Err(SendError::Body(error)) => {
                return Err(trace.error().unwrap_or_else(|| {
                    trace.update(|d| d.cause = Some(error.to_string()));
                    ErrorKind::ClientInterrupted
                }));
            }
        }
    }
    Err(ErrorKind::ClosedWithoutResponse)
}

/// What a failed exchange means: the client's fault when its body failed (the trace has
/// recorded it), else the backend closed the connection without a response.
fn classify(cause: String, trace: &Trace) -> ErrorKind {
    if let Some(kind) = trace.error() {
        return kind;
    }
    trace.update(|d| d.cause = Some(cause));
    ErrorKind::ClosedWithoutResponse
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_lose_their_port_brackets_and_trailing_dots() {
        for (host, name) in [
            ("Example.com:8080", "Example.com"),
            ("example.com", "example.com"),
            ("a.example.com.", "a.example.com"),
            ("a.example.com..:443", "a.example.com"),
            ("[::1]:8080", "::1"),
            ("[::1]", "::1"),
            ("[::1", "::1"),
            ("127.0.0.1:17191", "127.0.0.1"),
            ("...", ""),
            ("", ""),
        ] {
            assert_eq!(host_name(host), name, "{host}");
        }
    }
}
