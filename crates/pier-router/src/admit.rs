//! The checks a request passes before it is routed, each answered with the router's own page:
//! an `Expect` other than `100-continue` (417), a declared body over the limit (413), a URL
//! (414) or a head (431) over the limit. hyper enforces hard limits a little above these with
//! bare answers; these give the Heroku-style page and log line.

use http::{Request, header};
use hyper::body::Incoming;

use crate::RouterConfig;
use crate::errors::ErrorKind;
use crate::trace::Trace;

/// Checks `req` against the router's limits; the error names the cause in the trace.
pub(crate) fn check(
    config: &RouterConfig,
    req: &Request<Incoming>,
    trace: &Trace,
) -> Result<(), ErrorKind> {
    let refuse = |kind: ErrorKind, cause: String| {
        trace.update(|d| d.cause = Some(cause));
        Err(kind)
    };
    if let Some(expect) = req.headers().get(header::EXPECT)
        && !expect.as_bytes().eq_ignore_ascii_case(b"100-continue")
    {
        return refuse(
            ErrorKind::UnsupportedExpect,
            "unsupported expect header value".into(),
        );
    }
    if let Some(length) = declared_length(req)
        && length > config.max_body_bytes
    {
        return refuse(
            ErrorKind::BodyTooLarge,
            format!("body of {length} bytes is over the limit"),
        );
    }
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > config.max_uri_bytes {
        return refuse(
            ErrorKind::UriTooLong,
            format!("URL of {uri_len} bytes is over the limit"),
        );
    }
    let head_len = head_len(req, uri_len);
    if head_len > config.max_header_bytes {
        return refuse(
            ErrorKind::HeadTooLarge,
            format!("head of about {head_len} bytes is over the limit"),
        );
    }
    Ok(())
}

/// The head's size as sent in canonical form: `METHOD SP target SP HTTP/1.1 CRLF`, then
/// `name: value CRLF` per header, then `CRLF`.
fn head_len(req: &Request<Incoming>, uri_len: usize) -> usize {
    let headers: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    req.method().as_str().len() + uri_len + 12 + headers + 2
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
