//! Reading what a backend answers: the response head (parsed with httparse into `http`
//! types), how its body is delimited (RFC 9112 section 6.3: none, a length, chunks, or the
//! end of the connection), whether the connection can carry another request, and the chunked
//! decoding of a body.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

/// At most this many headers in a response head (hyper's default too).
const MAX_HEADERS: usize = 100;
/// A response head larger than this is refused.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE_BYTES: usize = 4 * 1024;

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the backend closes the connection.
    UntilClose,
    /// `101 Switching Protocols`: the connection is no longer HTTP.
    Upgrade,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request once this response's body has been read.
    pub keep_alive: bool,
}

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the head and the bytes it took. `head_request`: the request was `HEAD` (no body
/// whatever the headers say).
pub(crate) fn head(buf: &[u8], head_request: bool) -> Result<Option<(Head, usize)>, String> {
    // Uninitialised slots: zeroing a hundred of them would cost more than most heads.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut slots,
    );
    let used = match parsed {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(format!("response head larger than {MAX_HEAD_BYTES} bytes"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("malformed response head: {error}")),
    };
    let status = StatusCode::from_u16(response.code.unwrap_or(0))
        .map_err(|_| "malformed response status".to_string())?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Room for what the router adds on the way out (Via, a sticky Set-Cookie): growing the
    // map would reallocate and rehash it on every response.
    let mut headers = HeaderMap::with_capacity(response.headers.len() + 2);
    // What framing and keep-alive depend on, noted in the same pass.
    let mut delimiting = Delimiting::default();
    for h in response.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("malformed response header name {:?}", h.name))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("malformed value of the response header {}", h.name))?;
        delimiting.note(&name, &value)?;
        headers.append(name, value);
    }
    let framing = delimiting.framing(status, head_request);
    let keep_alive = framing != Framing::UntilClose
        && framing != Framing::Upgrade
        && match version {
            Version::HTTP_10 => delimiting.keep_alive,
            _ => !delimiting.close,
        }
        // A length and chunks both: the chunks win, but such a backend is not trusted twice.
        && !(delimiting.transfer_encoding.is_some() && delimiting.length.is_some());
    Ok(Some((
        Head {
            status,
            headers,
            framing,
            keep_alive,
        },
        used,
    )))
}

/// The headers that delimit a response body and decide keep-alive, as they were seen.
#[derive(Default)]
struct Delimiting {
    /// `Some(chunked)`: a `Transfer-Encoding` was present; whether its last coding is chunked.
    transfer_encoding: Option<bool>,
    length: Option<u64>,
    /// `Connection` tokens.
    close: bool,
    keep_alive: bool,
}

impl Delimiting {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), String> {
        if name == header::CONTENT_LENGTH {
            for part in value.to_str().unwrap_or("x").split(',') {
                let n: u64 = part
                    .trim()
                    .parse()
                    .map_err(|_| format!("malformed Content-Length {value:?}"))?;
                if self.length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length values".to_string());
                }
                self.length = Some(n);
            }
        } else if name == header::TRANSFER_ENCODING {
            let chunked = value
                .to_str()
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
            self.transfer_encoding = Some(chunked);
        } else if name == header::CONNECTION {
            for token in value.to_str().unwrap_or("").split(',') {
                let token = token.trim();
                self.close |= token.eq_ignore_ascii_case("close");
                self.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
        Ok(())
    }

    fn framing(&self, status: StatusCode, head_request: bool) -> Framing {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Framing::Upgrade;
        }
        if head_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Framing::Empty;
        }
        match (self.transfer_encoding, self.length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    }
}

/// Where a chunked body's decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Chunked {
    /// Before a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one (trailers are dropped).
    Trailers,
    /// The body has ended.
    Done,
}

/// What decoding the buffered bytes gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Data(Bytes),
    /// More bytes are needed.
    NeedMore,
    End,
}

impl Chunked {
    /// Decodes from the front of `buf`, consuming what it uses.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, String> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    *self = if size == 0 {
                        Chunked::Trailers
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = (buf.len() as u64).min(left) as usize;
                    let data = buf.split_to(take).freeze();
                    *self = match left - take as u64 {
                        0 => Chunked::DataEnd,
                        left => Chunked::Data(left),
                    };
                    return Ok(Decoded::Data(data));
                }
                Chunked::DataEnd => match buf.first() {
                    None => return Ok(Decoded::NeedMore),
                    Some(b'\n') => {
                        buf.advance(1);
                        *self = Chunked::Size;
                    }
                    Some(b'\r') if buf.len() < 2 => return Ok(Decoded::NeedMore),
                    Some(b'\r') if buf[1] == b'\n' => {
                        buf.advance(2);
                        *self = Chunked::Size;
                    }
                    Some(_) => return Err("chunk data longer than its size".to_string()),
                },
                Chunked::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        *self = Chunked::Done;
                    }
                }
                Chunked::Done => return Ok(Decoded::End),
            }
        }
    }
}

/// The next line (without its line ending), consumed from `buf`; `None` until it is complete.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, String> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE_BYTES => Err("chunk line too long".to_string()),
        None => Ok(None),
    }
}

/// A chunk-size line's size (hex digits, then optional extensions after `;`).
fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() {
        return Err("empty chunk size".to_string());
    }
    digits.iter().try_fold(0u64, |size, &b| {
        let digit = (b as char)
            .to_digit(16)
            .ok_or_else(|| format!("malformed chunk size {:?}", String::from_utf8_lossy(line)))?;
        size.checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or_else(|| "chunk size too large".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, head_request: bool) -> Head {
        let (head, used) = head(text.as_bytes(), head_request).unwrap().unwrap();
        assert_eq!(used, text.find("\r\n\r\n").unwrap() + 4);
        head
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = parse("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nhello", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(12), true));
        let h = parse("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n", true);
        assert_eq!(h.framing, Framing::Empty);
        let h = parse("HTTP/1.1 204 No Content\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        let h = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Framing::Chunked);
        let h = parse("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = parse("HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = parse(
            "HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 1\r\n\r\n",
            false,
        );
        assert!(!h.keep_alive);
        let h = parse("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false);
        assert!(!h.keep_alive);
        let h = parse(
            "HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 1\r\n\r\n",
            false,
        );
        assert!(h.keep_alive);
        let h = parse(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            false,
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Upgrade, false));
        let h = parse(
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
    }

    #[test]
    fn bad_heads_are_errors_and_partial_ones_wait() {
        assert!(
            head(b"HTTP/1.1 200 OK\r\ncontent-le", false)
                .unwrap()
                .is_none()
        );
        assert!(head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", false).is_err());
        assert!(
            head(
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                false
            )
            .is_err()
        );
        assert!(head(b"garbage\r\n\r\n", false).is_err());
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
        assert!(head(huge.as_bytes(), false).is_err());
    }

    fn decode_all(input: &[u8], step: usize) -> Result<Vec<u8>, String> {
        let mut state = Chunked::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match state.decode(&mut buf)? {
                Decoded::Data(d) => out.extend_from_slice(&d),
                Decoded::End => return Ok(out),
                Decoded::NeedMore if fed >= input.len() => return Err("truncated".into()),
                Decoded::NeedMore => {
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_sizes() {
        let body = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in [1, 2, 3, 7, 100] {
            assert_eq!(
                decode_all(body, step).unwrap(),
                b"hello, world",
                "step {step}"
            );
        }
        assert_eq!(
            decode_all(b"A\n0123456789\n0\n\n", 4).unwrap(),
            b"0123456789"
        );
        assert!(decode_all(b"zz\r\n", 10).is_err());
        assert!(decode_all(b"2\r\nabc\r\n0\r\n\r\n", 10).is_err());
        assert!(decode_all(b"ffffffffffffffffff\r\n", 100).is_err());
        assert!(decode_all(b"5\r\nhel", 100).is_err());
    }
}
