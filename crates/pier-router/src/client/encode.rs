//! Writing a request head for a backend: `METHOD target HTTP/1.1`, the request's headers
//! (already stripped of hop-by-hop ones by the proxy), the router's own headers in place of
//! any of the same names, and `Transfer-Encoding: chunked` when the body's length is not known
//! (the client sent it chunked); and the chunk framing itself.

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;

/// Appends the request head to `out`: `extra` replaces the request's headers of the same
/// names; `chunked` adds `Transfer-Encoding: chunked`.
pub(crate) fn head(
    parts: &Parts,
    extra: &[(HeaderName, HeaderValue)],
    chunked: bool,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let replaced = |name: &HeaderName| extra.iter().any(|(n, _)| n == name);
    let own = parts.headers.iter().filter(|(name, _)| !replaced(name));
    for (name, value) in own.chain(extra.iter().map(|(n, v)| (n, v))) {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The line that opens a chunk of `len` bytes.
pub(crate) fn chunk_size(len: usize) -> Vec<u8> {
    format!("{len:x}\r\n").into_bytes()
}

/// The last chunk and the end of the (empty) trailer section.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_written_as_http_1_1_with_their_headers() {
        let request = http::Request::post("/a?b=1")
            .header("host", "example.test")
            .header("x-two", "1")
            .header("via", "1.0 someone")
            .header("x-two", "2")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let mut out = Vec::new();
        let extra = [(
            http::header::VIA,
            HeaderValue::from_static("1.0 someone, 1.1 pier"),
        )];
        head(&parts, &extra, true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: example.test\r\nx-two: 1\r\nx-two: 2\r\n\
             via: 1.0 someone, 1.1 pier\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!(chunk_size(255), b"ff\r\n");
    }
}
