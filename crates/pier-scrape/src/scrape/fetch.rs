//! Owns the HTTP side of one scrape: the GET with Prometheus's request headers, the bound on the
//! whole exchange (`timeout`) and on the body size, and turning every failure into one plain
//! English sentence for `last_error`. Knows nothing of parsing or of series.

use std::error::Error as _;
use std::time::Duration;

use crate::exposition::SCRAPE_ACCEPT;

/// The User-Agent pier scrapes with (Prometheus sends `Prometheus/<version>`).
pub(crate) const USER_AGENT: &str = concat!("pier/", env!("CARGO_PKG_VERSION"));

/// A successful response's `Content-Type` (its body is in the caller's buffer).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub content_type: Option<String>,
}

/// The client all scrapes share. No proxy, no redirects policy beyond reqwest's default, no
/// connection pooling across scrapes of different targets beyond what keep-alive gives.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .no_proxy()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The `X-Prometheus-Scrape-Timeout-Seconds` value: seconds, shortest decimal spelling, as Go's
/// `strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)` writes it (`10`, `0.5`).
pub(crate) fn timeout_header(timeout: Duration) -> String {
    format!("{}", timeout.as_secs_f64())
}

/// GETs `url` into `body`, which is cleared first: the caller keeps one buffer per target
/// and passes it to every scrape, so a scrape reuses the previous one's memory instead of
/// allocating (and, a second later, freeing) a buffer the size of the whole exposition.
/// Fails unless the status is 200 (as Prometheus requires), the whole exchange ends within
/// `timeout`, and the body is at most `max_body_bytes` (`0` = unlimited); `body` then holds
/// nothing meaningful. The buffer is grown to the `Content-Length` at once when there is one,
/// so that it is not grown by doubling.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_body_bytes: usize,
    body: &mut Vec<u8>,
) -> Result<Fetched, String> {
    body.clear();
    match tokio::time::timeout(
        timeout,
        fetch_unbounded(client, url, timeout, max_body_bytes, body),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(format!(
            "timed out: {url} did not answer in full within the scrape timeout of {}",
            human_duration(timeout)
        )),
    }
}

async fn fetch_unbounded(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    max_body_bytes: usize,
    body: &mut Vec<u8>,
) -> Result<Fetched, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("invalid scrape URL {url:?}: {e}"))?;
    let mut response = client
        .get(parsed)
        .header(reqwest::header::ACCEPT, SCRAPE_ACCEPT)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            timeout_header(timeout),
        )
        .send()
        .await
        .map_err(|e| describe(&e, url))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "server returned HTTP status {} {}",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_string());
    }
    let over = |n: usize| max_body_bytes != 0 && n > max_body_bytes;
    let too_large =
        || format!("response body exceeds the limit max_body_bytes = {max_body_bytes} bytes");
    if let Some(len) = response.content_length()
        && over(usize::try_from(len).unwrap_or(usize::MAX))
    {
        return Err(too_large());
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(expected) = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
    {
        body.reserve_exact(expected.min(64 << 20));
    }
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the response body failed: {}", chain(&e)))?
    {
        if over(body.len() + chunk.len()) {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { content_type })
}

/// Gives back most of a reused body buffer that is far larger than the latest body (a target
/// whose exposition shrank for good), keeping an eighth of slack for the next one.
pub(crate) fn trim_body_buffer(body: &mut Vec<u8>) {
    let len = body.len();
    if body.capacity() > 2 * len + (64 << 10) {
        body.shrink_to(len + len / 8);
    }
}

/// One sentence for a request error: connection failures name the address and the OS error,
/// anything else gives the error's cause chain.
fn describe(err: &reqwest::Error, url: &str) -> String {
    if err.is_connect() {
        let mut source = err.source();
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return format!(
                    "cannot connect to {}: {io}",
                    super::target::instance_of(url)
                );
            }
            source = e.source();
        }
        return format!(
            "cannot connect to {}: {}",
            super::target::instance_of(url),
            chain(err)
        );
    }
    format!("request to {url} failed: {}", chain(err))
}

/// The sources of `err` joined by `": "` (reqwest's own message only repeats the URL), or
/// `err` itself when it has none.
fn chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = err.source();
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// `150ms`, `2s`, `1.5s`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_header_is_go_float_seconds() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10");
        assert_eq!(timeout_header(Duration::from_millis(500)), "0.5");
        assert_eq!(timeout_header(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(150)), "150ms");
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn a_body_buffer_is_kept_unless_far_larger_than_the_body() {
        let mut body = Vec::with_capacity(1 << 20);
        body.extend_from_slice(&[b'x'; 900 << 10]);
        trim_body_buffer(&mut body);
        assert_eq!(body.capacity(), 1 << 20);
        body.truncate(10 << 10);
        trim_body_buffer(&mut body);
        assert!(body.capacity() < 16 << 10, "{}", body.capacity());
        assert_eq!(body, vec![b'x'; 10 << 10]);
    }

    #[test]
    fn the_user_agent_names_pier() {
        assert!(USER_AGENT.starts_with("pier/"));
    }
}
