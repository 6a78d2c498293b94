//! One keep-alive HTTP/1.1 connection to a backend, used by one request at a time in that
//! request's own task: the request head and body are written straight to the socket, the
//! response head read from it, and the body then streamed from it by [`UpstreamBody`] as the
//! client takes it. No task, channel or wake-up stands between the client and the backend.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::decode::{self, Chunked, Decoded, Framing, Head};
use super::encode;
use super::io::{BackendIo, Upgraded};
use crate::body::{BodyError, RequestBody};

/// Read buffer size for a connection.
const READ_CHUNK: usize = 16 * 1024;

/// A connection to a backend, idle or lent to one request.
pub(crate) struct BackendConn {
    io: BackendIo,
    /// Bytes read from the backend and not used yet.
    read: BytesMut,
    /// The request head being written (kept for its capacity).
    write: Vec<u8>,
    /// False once the connection must not carry another request.
    reusable: bool,
}

/// Why a request got no response head.
pub(crate) enum SendError {
    /// The connection was closed before the request could be written: nothing reached the
    /// backend, so it can be sent again on another connection.
    NotSent(Box<Request<RequestBody>>, String),
    /// The client's body failed (idle, too large, interrupted; the trace says which).
    Body(BodyError),
    /// The backend closed or broke the connection, or answered something that is not HTTP,
    /// before a whole response head.
    NoResponse(String),
}

impl BackendConn {
    pub(crate) fn new(io: BackendIo) -> BackendConn {
        BackendConn {
            io,
            read: BytesMut::new(),
            write: Vec::new(),
            reusable: true,
        }
    }

    /// Whether an idle connection can carry a request: nothing (a close, stray bytes, an
    /// error) has arrived on it since its last response. Checked without waiting, and
    /// without a system call unless the socket has something to report.
    pub(crate) fn is_open(&mut self) -> bool {
        if !self.reusable || !self.read.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut buf),
            Poll::Pending
        )
    }

    /// Writes the request (head, then body) and reads the response head; informational
    /// responses other than `101` are skipped.
    /// `extra`: headers written after the request's own, replacing those of the same names.
    pub(crate) async fn send(
        &mut self,
        request: Request<RequestBody>,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Head, SendError> {
        let (parts, mut body) = request.into_parts();
        let has_body = !body.is_end_stream();
        let chunked = has_body && !parts.headers.contains_key(http::header::CONTENT_LENGTH);
        self.write.clear();
        encode::head(&parts, extra, chunked, &mut self.write);
        if let Err(error) = self.io.write_all(&self.write).await {
            self.reusable = false;
            return Err(SendError::NotSent(
                Box::new(Request::from_parts(parts, body)),
                error.to_string(),
            ));
        }
        let head_request = parts.method == Method::HEAD;
        if has_body {
            self.send_body(&mut body, chunked).await?;
        }
        self.read_head(head_request).await
    }

    /// Streams the client's body to the backend. A backend that stops reading (it may have
    /// answered early, with a 413 say) ends the upload; its answer is still read.
    async fn send_body(&mut self, body: &mut RequestBody, chunked: bool) -> Result<(), SendError> {
        loop {
            let frame = match poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
                None => break,
                Some(Err(error)) => {
                    self.reusable = false;
                    return Err(SendError::Body(error));
                }
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers are not forwarded
            };
            if data.is_empty() {
                continue;
            }
            let written = if chunked {
                let mut framed = encode::chunk_size(data.len());
                framed.extend_from_slice(&data);
                framed.extend_from_slice(b"\r\n");
                self.io.write_all(&framed).await
            } else {
                self.io.write_all(&data).await
            };
            if written.is_err() {
                self.reusable = false;
                return Ok(());
            }
        }
        if chunked && self.io.write_all(encode::LAST_CHUNK).await.is_err() {
            self.reusable = false;
        }
        Ok(())
    }

    async fn read_head(&mut self, head_request: bool) -> Result<Head, SendError> {
        loop {
            if !self.read.is_empty() {
                match decode::head(&self.read, head_request) {
                    Ok(Some((head, used))) => {
                        let _ = self.read.split_to(used);
                        if head.status.is_informational()
                            && head.status != http::StatusCode::SWITCHING_PROTOCOLS
                        {
                            continue;
                        }
                        if !head.keep_alive {
                            self.reusable = false;
                        }
                        return Ok(head);
                    }
                    Ok(None) => {}
                    Err(cause) => {
                        self.reusable = false;
                        return Err(SendError::NoResponse(cause));
                    }
                }
            }
            match poll_fn(|cx| self.poll_fill(cx)).await {
                Ok(0) => {
                    self.reusable = false;
                    let cause = if self.read.is_empty() {
                        "the backend closed the connection without a response"
                    } else {
                        "the backend closed the connection in the middle of the response head"
                    };
                    return Err(SendError::NoResponse(cause.to_string()));
                }
                Ok(_) => {}
                Err(error) => {
                    self.reusable = false;
                    return Err(SendError::NoResponse(error.to_string()));
                }
            }
        }
    }

    /// Reads more bytes from the backend into the buffer; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Once everything read before has been handed on and released, read at the start of
        // the buffer again: each connection then reuses one small, cache-warm region instead
        // of walking through its whole buffer a response at a time.
        if self.read.is_empty() && self.read.capacity() < READ_CHUNK {
            let _ = self.read.try_reclaim(READ_CHUNK);
        }
        if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
            self.read.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
    }

    /// The connection after a `101`: the tunnel's backend side.
    pub(crate) fn into_upgraded(self) -> Upgraded {
        Upgraded {
            prefix: self.read.freeze(),
            io: self.io,
        }
    }
}

/// A response body read from the backend connection, which it holds until the body ends.
pub(crate) struct UpstreamBody {
    conn: Option<BackendConn>,
    framing: Framing,
    /// Bytes left of a `Content-Length` body.
    left: u64,
    chunked: Chunked,
    done: bool,
    /// A failure seen but not reported yet (see [`UpstreamBody::fail`]).
    failed: Option<String>,
}

impl UpstreamBody {
    pub(crate) fn new(conn: BackendConn, framing: Framing) -> UpstreamBody {
        UpstreamBody {
            conn: Some(conn),
            framing,
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunked: Chunked::default(),
            done: matches!(
                framing,
                Framing::Empty | Framing::Upgrade | Framing::Length(0)
            ),
            failed: None,
        }
    }

    /// Reports a broken-off body one poll late: hyper aborts the client connection when a
    /// body fails, and what it has buffered (the head, the body so far) would go with it. A
    /// `Pending` first lets it flush that to the client, so the client sees the response
    /// cut short, as the backend sent it, rather than nothing.
    fn fail(&mut self, cause: String, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        self.failed = Some(cause);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The body has been read to its end.
    pub(crate) fn is_end_stream(&self) -> bool {
        self.done
    }

    /// The exact length still to come, when the backend declared it.
    pub(crate) fn remaining(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(_) => Some(self.left),
            Framing::Empty | Framing::Upgrade => Some(0),
            _ => None,
        }
    }

    /// The connection, once the body has ended cleanly and it can carry another request.
    pub(crate) fn into_reusable(mut self) -> Option<BackendConn> {
        let conn = self.conn.take()?;
        (self.done && conn.reusable && conn.read.is_empty()).then_some(conn)
    }

    /// The next piece of the body; `None` at its end; an error when the backend breaks off.
    pub(crate) fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, String>>> {
        if let Some(cause) = self.failed.take() {
            return Poll::Ready(Some(Err(cause)));
        }
        if self.done {
            return Poll::Ready(None);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            if !conn.read.is_empty() {
                match self.framing {
                    Framing::Length(_) => {
                        let take = (conn.read.len() as u64).min(self.left) as usize;
                        let data = conn.read.split_to(take).freeze();
                        self.left -= take as u64;
                        self.done = self.left == 0;
                        return Poll::Ready(Some(Ok(data)));
                    }
                    Framing::Chunked => match self.chunked.decode(&mut conn.read) {
                        Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(data))),
                        Ok(Decoded::End) => {
                            self.done = true;
                            return Poll::Ready(None);
                        }
                        Ok(Decoded::NeedMore) => {}
                        Err(cause) => {
                            conn.reusable = false;
                            return self.fail(cause, cx);
                        }
                    },
                    _ => {
                        let data = conn.read.split().freeze();
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            } else if self.framing == Framing::Chunked {
                // A chunked body may end without more bytes (its last line already read).
                if let Ok(Decoded::End) = self.chunked.decode(&mut conn.read) {
                    self.done = true;
                    return Poll::Ready(None);
                }
            }
            match std::task::ready!(conn.poll_fill(cx)) {
                Ok(0) if self.framing == Framing::UntilClose => {
                    self.done = true;
                    conn.reusable = false;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    conn.reusable = false;
                    let cause = "the backend closed the connection in the middle of the body";
                    return self.fail(cause.to_string(), cx);
                }
                Ok(_) => {}
                Err(error) => {
                    conn.reusable = false;
                    return self.fail(error.to_string(), cx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    #[tokio::test]
    async fn reads_start_at_the_front_of_the_buffer_once_what_was_read_is_released() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut conn = BackendConn::new(BackendIo::Tcp(ours));

        peer.write_all(b"first response").await.unwrap();
        std::future::poll_fn(|cx| conn.poll_fill(cx)).await.unwrap();
        let front = conn.read.as_ptr();
        let held = conn.read.split().freeze();
        assert_eq!(&held[..], b"first response");

        // Still held (by hyper, say): the next read goes after it.
        peer.write_all(b"second").await.unwrap();
        std::future::poll_fn(|cx| conn.poll_fill(cx)).await.unwrap();
        assert_ne!(conn.read.as_ptr(), front);
        drop(conn.read.split());
        drop(held);

        // Everything released: back to the front.
        peer.write_all(b"third").await.unwrap();
        std::future::poll_fn(|cx| conn.poll_fill(cx)).await.unwrap();
        assert_eq!(conn.read.as_ptr(), front);
        assert_eq!(&conn.read[..], b"third");
    }
}
