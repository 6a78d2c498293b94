//! Header rewriting, as the Heroku router does it: hop-by-hop headers are stripped in both
//! directions (upgrades keep `Connection: upgrade` and `Upgrade`), and requests get
//! `X-Request-Id` (a valid incoming one is kept), `X-Request-Start` (unix ms),
//! `X-Forwarded-For` (appended), `X-Forwarded-Proto`, `X-Forwarded-Port` and `Via`.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The `Via` value pier adds (`1.1 pier`).
pub const VIA: &str = "1.1 pier";

const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether a request asks to switch protocols (a websocket handshake, say).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers, including those the `Connection` header names. With `upgrade`,
/// `Connection: upgrade` and `Upgrade` stay, since they are what the backend must see.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of them: one pass over the names (comparisons, no hashing)
    // spares them a lookup per hop-by-hop name.
    if !upgrade
        && !headers
            .keys()
            .any(|name| name == header::UPGRADE || HOP_BY_HOP.contains(name))
    {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|name| !(upgrade && name == header::UPGRADE))
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Heroku's rule for an incoming request id: 20 to 200 characters of `[A-Za-z0-9+/=-]`.
pub fn valid_request_id(id: &str) -> bool {
    (20..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-'))
}

/// The request id to use: the client's when valid, else a new UUID.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(X_REQUEST_ID)
        && id.to_str().is_ok_and(valid_request_id)
    {
        return id.clone();
    }
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// What the router knows about the client connection, with the header values derived from it
/// made once per connection rather than once per request.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// `http` or `https`.
    pub proto: &'static str,
    /// The client address as a header value.
    ip_value: HeaderValue,
    /// The listener's port (`X-Forwarded-Port`).
    port_value: HeaderValue,
}

impl ClientInfo {
    pub fn new(ip: IpAddr, port: u16, proto: &'static str) -> ClientInfo {
        let ip_value =
            HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""));
        ClientInfo {
            ip,
            proto,
            ip_value,
            port_value: HeaderValue::from(port),
        }
    }

    /// The client address as text (the log's `fwd=` when no proxy came before).
    pub fn ip_value(&self) -> &HeaderValue {
        &self.ip_value
    }
}

/// The headers the router sets on a request on its way to a replica (`X-Forwarded-For`,
/// `-Proto`, `-Port`, `X-Request-Id`, `X-Request-Start`, `Via`), each replacing whatever the
/// client sent under that name. The backend client writes them after the request's own
/// headers, skipping the ones they replace, so the request's header map is never grown for
/// them.
pub struct Forwarding {
    pub headers: [(HeaderName, HeaderValue); 6],
}

impl Forwarding {
    pub fn new(
        headers: &HeaderMap,
        client: &ClientInfo,
        request_id: &HeaderValue,
        at: SystemTime,
    ) -> Forwarding {
        let fwd = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prior) if !prior.trim().is_empty() => {
                HeaderValue::from_str(&format!("{prior}, {}", client.ip))
                    .unwrap_or_else(|_| client.ip_value.clone())
            }
            _ => client.ip_value.clone(),
        };
        let start_ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Forwarding {
            headers: [
                (X_FORWARDED_FOR, fwd),
                (X_FORWARDED_PROTO, HeaderValue::from_static(client.proto)),
                (X_FORWARDED_PORT, client.port_value.clone()),
                (X_REQUEST_ID, request_id.clone()),
                (X_REQUEST_START, HeaderValue::from(start_ms)),
                (header::VIA, via(headers)),
            ],
        }
    }

    /// The `X-Forwarded-For` value (the log's `fwd=`).
    pub fn fwd(&self) -> &HeaderValue {
        &self.headers[0].1
    }
}

/// The `Via` value with pier appended to what came before.
fn via(headers: &HeaderMap) -> HeaderValue {
    match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(prior) => HeaderValue::from_str(&format!("{prior}, {VIA}"))
            .unwrap_or_else(|_| HeaderValue::from_static(VIA)),
        None => HeaderValue::from_static(VIA),
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");

/// Appends pier to `Via` (requests and responses).
pub fn append_via(headers: &mut HeaderMap) {
    let via = via(headers);
    headers.insert(header::VIA, via);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id("abcdefghij0123456789"));
        assert!(!valid_request_id("short"));
        assert!(!valid_request_id("has spaces in it, twenty+"));
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("bad"));
        let id = request_id(&headers);
        assert_eq!(id.len(), 36);
    }

    #[test]
    fn hop_by_hop_and_connection_tokens_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers, false);
        let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn messages_without_hop_by_hop_headers_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("3"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        let before = headers.clone();
        strip_hop_by_hop(&mut headers, false);
        assert_eq!(headers, before);
        // Any one of them is enough to strip them all, `Upgrade` outside an upgrade too.
        headers.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        strip_hop_by_hop(&mut headers, false);
        assert_eq!(headers, before);
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&headers));
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers[header::UPGRADE], "websocket");
        assert_eq!(headers[header::CONNECTION], "upgrade");
    }

    #[test]
    fn forwarding_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        let client = ClientInfo::new("127.0.0.1".parse().unwrap(), 8080, "http");
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let forwarding = Forwarding::new(&headers, &client, &HeaderValue::from_static("rid"), at);
        assert_eq!(forwarding.fwd(), "10.0.0.1, 127.0.0.1");
        let value = |name: &str| {
            let (_, v) = forwarding.headers.iter().find(|(n, _)| n == name).unwrap();
            v.to_str().unwrap().to_string()
        };
        assert_eq!(value("x-forwarded-for"), "10.0.0.1, 127.0.0.1");
        assert_eq!(value("x-forwarded-proto"), "http");
        assert_eq!(value("x-request-id"), "rid");
        assert_eq!(value("x-request-start"), "1700000000123");
        assert_eq!(value("x-forwarded-port"), "8080");
        assert_eq!(value("via"), "1.1 pier");
        headers.insert(header::VIA, HeaderValue::from_static("1.0 cdn"));
        let forwarding = Forwarding::new(&headers, &client, &HeaderValue::from_static("rid"), at);
        assert_eq!(forwarding.headers[5].1, "1.0 cdn, 1.1 pier");
    }
}
