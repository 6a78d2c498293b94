//! Every failure the router can answer with, in one table: `ErrorKind → (H-code, HTTP status,
//! description)`, as the Heroku router documents them, and the plain error page sent with it.
//! Nothing else in the crate decides a status or a code for a router-made response.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

/// Why the router, not the app, ended a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No replica of the service is alive (all crashed or backing off).
    AppCrashed,
    /// Every ready replica is at its in-flight limit and the queue is full or timed out.
    BacklogTooDeep,
    /// The backend sent no response head within the first-byte timeout.
    RequestTimeout,
    /// The backend closed the connection without sending a response.
    ClosedWithoutResponse,
    /// The service is scaled to zero.
    NoReplicas,
    /// The backend stopped sending in the middle of a response for longer than the idle window.
    BackendIdle,
    /// The backend's connection broke in the middle of a response.
    BackendInterrupted,
    /// No TCP connection to the backend within the connect timeout.
    ConnectTimeout,
    /// Replicas exist but none became ready within the boot limit.
    BootTimeout,
    /// The backend refused the connection (on every replica tried).
    ConnectRefused,
    /// The request itself is malformed.
    BadRequest,
    /// The request carries an `Expect` other than `100-continue`.
    UnsupportedExpect,
    /// The client closed its connection before the response was complete.
    ClientInterrupted,
    /// The client stopped sending its request, or reading the response, for longer than the
    /// idle window.
    ClientIdle,
    /// The app is in maintenance mode.
    Maintenance,
    /// No route matches the request's host and path.
    NoRoute,
    /// The request body is over the router's limit.
    BodyTooLarge,
    /// The request target is over the router's limit.
    UriTooLong,
    /// The request head is over the router's limit.
    HeadTooLarge,
}

/// What the router reports for an [`ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Heroku's code, `H12`; empty for errors Heroku has no code for.
    pub code: &'static str,
    /// The HTTP status sent to the client (or logged, when nothing can be sent).
    pub status: u16,
    /// Heroku's description, used in the log line and the page.
    pub desc: &'static str,
    /// Whose socket failed, for the log's `sock=` field.
    pub sock: Option<&'static str>,
    /// Log level: `error`, or `warning`/`info` where Heroku uses them.
    pub at: &'static str,
}

impl ErrorKind {
    /// The one table of codes, statuses and descriptions.
    pub fn info(self) -> ErrorInfo {
        use ErrorKind::*;
        let (code, status, desc, sock, at) = match self {
            AppCrashed => ("H10", 503, "App crashed", None, "error"),
            BacklogTooDeep => ("H11", 503, "Backlog too deep", None, "error"),
            RequestTimeout => ("H12", 503, "Request timeout", None, "error"),
            ClosedWithoutResponse => (
                "H13",
                503,
                "Connection closed without response",
                None,
                "error",
            ),
            NoReplicas => ("H14", 503, "No web processes running", None, "error"),
            BackendIdle => ("H15", 503, "Idle connection", Some("backend"), "error"),
            BackendInterrupted => (
                "H18",
                503,
                "Server Request Interrupted",
                Some("backend"),
                "error",
            ),
            ConnectTimeout => ("H19", 503, "Backend connection timeout", None, "error"),
            BootTimeout => ("H20", 503, "App boot timeout", None, "error"),
            ConnectRefused => ("H21", 503, "Backend connection refused", None, "error"),
            BadRequest => ("H26", 400, "Request Error", None, "error"),
            UnsupportedExpect => ("H26", 417, "Request Error", None, "error"),
            ClientInterrupted => (
                "H27",
                499,
                "Client Request Interrupted",
                Some("client"),
                "warning",
            ),
            ClientIdle => (
                "H28",
                499,
                "Client Connection Idle",
                Some("client"),
                "warning",
            ),
            Maintenance => ("H80", 503, "Maintenance mode", None, "info"),
            NoRoute => ("", 404, "No such app", None, "info"),
            BodyTooLarge => ("H26", 413, "Request Error", None, "error"),
            UriTooLong => ("H26", 414, "Request Error", None, "error"),
            HeadTooLarge => ("H26", 431, "Request Error", None, "error"),
        };
        ErrorInfo {
            code,
            status,
            desc,
            sock,
            at,
        }
    }

    /// The plain HTML page sent to the client with this error's status.
    pub fn page(self, request_id: &str) -> Response<Bytes> {
        let info = self.info();
        let advice = match self {
            ErrorKind::Maintenance => "The app is down for maintenance and will be back shortly.",
            ErrorKind::NoRoute => "No app is configured for this host name and path.",
            ErrorKind::BodyTooLarge => "The request body is larger than the router accepts.",
            ErrorKind::UriTooLong => "The request's URL is longer than the router accepts.",
            ErrorKind::HeadTooLarge => "The request's headers are larger than the router accepts.",
            ErrorKind::BadRequest | ErrorKind::UnsupportedExpect => {
                "The request could not be understood by the router."
            }
            _ => "An error occurred in the application and your page could not be served.",
        };
        let code = if info.code.is_empty() {
            String::new()
        } else {
            format!(" ({})", info.code)
        };
        let body = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{desc}</title></head>\n\
             <body style=\"font-family: sans-serif; margin: 4em auto; max-width: 40em\">\n\
             <h1>{desc}{code}</h1>\n<p>{advice}</p>\n\
             <p style=\"color: #666\">Request id: <code>{request_id}</code></p>\n</body></html>\n",
            desc = info.desc,
        );
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() =
            StatusCode::from_u16(info.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store"),
        );
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert("x-request-id", value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind::*;

    #[test]
    fn heroku_statuses() {
        assert_eq!(RequestTimeout.info().code, "H12");
        assert_eq!(RequestTimeout.info().status, 503);
        assert_eq!(ClientInterrupted.info().status, 499);
        assert_eq!(UnsupportedExpect.info().status, 417);
        assert_eq!(BadRequest.info().status, 400);
        assert_eq!(Maintenance.info().at, "info");
    }

    #[test]
    fn page_names_code_and_request_id() {
        let page = ConnectRefused.page("abc-123");
        assert_eq!(page.status(), 503);
        let body = String::from_utf8_lossy(page.body()).into_owned();
        assert!(body.contains("Backend connection refused (H21)"), "{body}");
        assert!(body.contains("abc-123"));
    }
}
