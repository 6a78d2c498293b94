//! The record of one request as it crosses the router, and the Heroku-format log line and
//! metrics emitted from it exactly once, when the last part of the request (handler, request
//! body or response body) lets go of it. A request dropped before it completed is, by that
//! fact, one the client abandoned (H27) — or, when its connection was closed because the client
//! stopped reading the response for the idle window (`client_io`), one where the client went
//! idle (H28).

use std::sync::{Arc, LazyLock, Mutex};

use http::HeaderValue;
use std::time::{Duration, Instant};

use crate::client_io::ClientWindow;
use crate::errors::ErrorKind;
use crate::metrics::RouterMetrics;

/// Where finished request lines go (`pier logs router`); `None` turns the access log off.
pub type LogSink = Arc<dyn Fn(String) + Send + Sync>;

/// A route, service or replica name, shared rather than copied on every request.
pub type Label = Arc<String>;

/// What is known about a request so far.
#[derive(Debug, Clone)]
pub struct TraceData {
    pub method: http::Method,
    /// Path and query; filled only when the access log is on.
    pub path: String,
    /// Host without port; filled only when the access log is on.
    pub host: String,
    pub request_id: HeaderValue,
    /// The `X-Forwarded-For` value sent on.
    pub fwd: HeaderValue,
    pub protocol: &'static str,
    /// Route and service names, for metrics.
    pub route: Label,
    pub service: Label,
    /// The release of the replica that served it, or of the canary it was sent to (`v3`).
    pub release: Label,
    /// The replica that served it (`dyno=`).
    pub dyno: Option<Label>,
    pub connect: Option<Duration>,
    /// A new backend connection was opened for it (its connect time is a real measurement).
    pub new_connection: bool,
    /// When the backend connection was ready (start of `service=`).
    pub service_start: Option<Instant>,
    pub status: Option<u16>,
    pub bytes: u64,
    pub error: Option<ErrorKind>,
    pub cause: Option<String>,
    /// The response was delivered completely.
    pub complete: bool,
    /// A sticky split cookie to give the client with the response.
    pub set_cookie: Option<HeaderValue>,
}

static NO_LABEL: LazyLock<Label> = LazyLock::new(|| Arc::new(String::new()));

impl Default for TraceData {
    fn default() -> Self {
        TraceData {
            method: http::Method::GET,
            path: String::new(),
            host: String::new(),
            request_id: HeaderValue::from_static(""),
            fwd: HeaderValue::from_static(""),
            protocol: "http",
            route: NO_LABEL.clone(),
            service: NO_LABEL.clone(),
            release: NO_LABEL.clone(),
            dyno: None,
            connect: None,
            new_connection: false,
            service_start: None,
            status: None,
            bytes: 0,
            error: None,
            cause: None,
            complete: false,
            set_cookie: None,
        }
    }
}

/// A request's record, shared by the handler and the bodies.
pub struct Trace {
    data: Mutex<TraceData>,
    started: Instant,
    log: Option<LogSink>,
    metrics: Arc<RouterMetrics>,
    /// The idle window of the client connection the request came on.
    client: Option<Arc<ClientWindow>>,
}

impl Trace {
    pub fn new(data: TraceData, log: Option<LogSink>, metrics: Arc<RouterMetrics>) -> Arc<Trace> {
        Trace::build(data, log, metrics, None)
    }

    /// The trace of a request on a client connection: left unfinished when that connection
    /// timed out on a client that stopped reading, it is H28 rather than H27.
    pub(crate) fn on_connection(
        data: TraceData,
        log: Option<LogSink>,
        metrics: Arc<RouterMetrics>,
        client: Arc<ClientWindow>,
    ) -> Arc<Trace> {
        Trace::build(data, log, metrics, Some(client))
    }

    fn build(
        data: TraceData,
        log: Option<LogSink>,
        metrics: Arc<RouterMetrics>,
        client: Option<Arc<ClientWindow>>,
    ) -> Arc<Trace> {
        Arc::new(Trace {
            data: Mutex::new(data),
            started: Instant::now(),
            log,
            metrics,
            client,
        })
    }

    pub fn update(&self, change: impl FnOnce(&mut TraceData)) {
        change(&mut self.data.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Records an error unless one was recorded first (the first cause wins).
    pub fn fail(&self, kind: ErrorKind) {
        self.update(|d| {
            d.error.get_or_insert(kind);
        });
    }

    pub fn error(&self) -> Option<ErrorKind> {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).error
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let data = self.data.get_mut().unwrap_or_else(|e| e.into_inner());
        if !data.complete && data.error.is_none() {
            let idle = self.client.as_ref().is_some_and(|c| c.expired());
            data.error = Some(if idle {
                ErrorKind::ClientIdle
            } else {
                ErrorKind::ClientInterrupted
            });
        }
        let total = self.started.elapsed();
        let service = data.service_start.map(|s| s.elapsed());
        self.metrics.observe(data, total);
        if let Some(log) = &self.log {
            log(format_line(data, service));
        }
    }
}

/// The Heroku router log line:
/// `at=info method=GET path="/" host=… request_id=… fwd="…" dyno=web.1 connect=1ms service=18ms
/// status=200 bytes=13 protocol=http`, with `sock=`, `code=`, `desc=` and `cause=` on errors.
pub fn format_line(data: &TraceData, service: Option<Duration>) -> String {
    use std::fmt::Write;
    let mut line = String::with_capacity(256);
    let info = data.error.map(ErrorKind::info);
    if let Some(sock) = info.and_then(|i| i.sock) {
        let _ = write!(line, "sock={sock} ");
    }
    match info {
        Some(info) => {
            let _ = write!(line, "at={}", info.at);
            if !info.code.is_empty() {
                let _ = write!(line, " code={} desc=\"{}\"", info.code, info.desc);
            }
        }
        None => line.push_str("at=info"),
    }
    let status = match info {
        // What the client got (or, for H27/H28, Heroku's 499) when the router ended it.
        Some(info) if data.status.is_none() || info.status == 499 => Some(info.status),
        _ => data.status,
    };
    // Pieces pushed one by one: a line per request, and `format!` over a dozen arguments
    // (with a String for each optional one) cost several times as much.
    line.push_str(" method=");
    line.push_str(data.method.as_str());
    line.push_str(" path=\"");
    push_escaped(&mut line, &data.path);
    line.push_str("\" host=");
    line.push_str(&data.host);
    line.push_str(" request_id=");
    line.push_str(data.request_id.to_str().unwrap_or(""));
    line.push_str(" fwd=\"");
    line.push_str(data.fwd.to_str().unwrap_or(""));
    line.push_str("\" dyno=");
    line.push_str(data.dyno.as_deref().map_or("", |d| d.as_str()));
    line.push_str(" connect=");
    push_ms(&mut line, data.connect);
    line.push_str(" service=");
    push_ms(&mut line, service);
    line.push_str(" status=");
    if let Some(status) = status {
        push_number(&mut line, status);
    }
    line.push_str(" bytes=");
    push_number(&mut line, data.bytes);
    line.push_str(" protocol=");
    line.push_str(data.protocol);
    if let Some(cause) = &data.cause {
        line.push_str(" cause=\"");
        push_escaped(&mut line, cause);
        line.push('"');
    }
    line
}

fn push_ms(line: &mut String, d: Option<Duration>) {
    if let Some(d) = d {
        // In u64: `as_millis` is a u128, whose decimal digits cost 128-bit divisions.
        let ms = d.as_secs().saturating_mul(1000);
        push_number(line, ms.saturating_add(u64::from(d.subsec_millis())));
        line.push_str("ms");
    }
}

/// Appends a number in decimal (without `fmt`'s machinery: three per line, on every request).
fn push_number(line: &mut String, n: impl itoa::Integer) {
    line.push_str(itoa::Buffer::new().format(n));
}

/// Appends `text` with `\\` and `"` escaped.
fn push_escaped(line: &mut String, text: &str) {
    if !text.contains(['\\', '"']) {
        line.push_str(text);
        return;
    }
    for c in text.chars() {
        if c == '\\' || c == '"' {
            line.push('\\');
        }
        line.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> TraceData {
        TraceData {
            path: "/a?b=\"c\"".into(),
            host: "app.localhost".into(),
            request_id: HeaderValue::from_static("rid"),
            fwd: HeaderValue::from_static("127.0.0.1"),
            dyno: Some(Arc::new("web.1".into())),
            connect: Some(Duration::from_millis(1)),
            status: Some(200),
            bytes: 13,
            complete: true,
            ..TraceData::default()
        }
    }

    #[test]
    fn info_line() {
        let line = format_line(&data(), Some(Duration::from_millis(18)));
        assert_eq!(
            line,
            "at=info method=GET path=\"/a?b=\\\"c\\\"\" host=app.localhost request_id=rid fwd=\"127.0.0.1\" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=http"
        );
    }

    #[test]
    fn error_lines() {
        let mut d = data();
        d.status = None;
        d.bytes = 0;
        d.error = Some(ErrorKind::RequestTimeout);
        let line = format_line(&d, Some(Duration::from_millis(30000)));
        assert!(
            line.starts_with("at=error code=H12 desc=\"Request timeout\" method=GET"),
            "{line}"
        );
        assert!(
            line.contains("service=30000ms status=503 bytes=0"),
            "{line}"
        );
        d.error = Some(ErrorKind::ClientInterrupted);
        let line = format_line(&d, None);
        assert!(
            line.starts_with("sock=client at=warning code=H27"),
            "{line}"
        );
        assert!(line.contains("status=499"), "{line}");
        d.error = Some(ErrorKind::BackendInterrupted);
        d.status = Some(200);
        let line = format_line(&d, None);
        assert!(line.starts_with("sock=backend at=error code=H18"), "{line}");
        assert!(line.contains("status=200"), "{line}");
    }
}
