//! The bodies that cross the router. [`RequestBody`] streams the client's body to the backend
//! and ends it with H28 when the client goes quiet for the idle window. [`ResponseBody`] is
//! either a router-made page or the backend's body streamed to the client, which it ends with
//! H15 when the backend goes quiet and H18 when the backend's connection breaks — by failing
//! the stream, so hyper aborts the client connection instead of ever sending a second status
//! line. When the backend's body ends cleanly, its connection goes back to the replica's
//! keep-alive pool.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::client::UpstreamBody;
use crate::errors::ErrorKind;
use crate::pool::{Endpoint, InFlight};
use crate::trace::Trace;

/// A rolling idle deadline that costs nothing while data flows: a frame only notes the time,
/// and the timer is armed (or moved) when the stream actually has to wait.
struct IdleTimer {
    window: Duration,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    fn new(window: Duration) -> IdleTimer {
        IdleTimer {
            window,
            last: Instant::now(),
            sleep: None,
        }
    }

    fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Ready once the window has passed since the last frame.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.last + self.window;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

/// Why a body stream ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("no data for {0:?}")]
    Idle(Duration),
    #[error("request body larger than {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    #[error("{0}")]
    Backend(String),
}

pin_project! {
    /// The client's request body on its way to a replica.
    pub struct RequestBody {
        inner: Option<Incoming>,
        idle: IdleTimer,
        read: u64,
        limit: u64,
        trace: Option<Arc<Trace>>,
        done: Option<Arc<Notify>>,
    }
}

impl RequestBody {
    /// Wraps the client's body; `done` is notified once it has been read to the end (at
    /// once for a request without a body), which is when the first-byte timeout starts.
    pub(crate) fn new(
        inner: Incoming,
        idle_for: Duration,
        limit: u64,
        trace: Arc<Trace>,
        done: Option<Arc<Notify>>,
    ) -> Self {
        let ended = inner.is_end_stream();
        let mut body = RequestBody {
            inner: Some(inner),
            idle: IdleTimer::new(idle_for),
            read: 0,
            limit,
            trace: Some(trace),
            done,
        };
        if ended {
            signal(&mut body.done);
        }
        body
    }
}

impl RequestBody {
    /// A request without a body (a retried idempotent request).
    pub(crate) fn empty() -> Self {
        RequestBody {
            inner: None,
            idle: IdleTimer::new(Duration::ZERO),
            read: 0,
            limit: 0,
            trace: None,
            done: None,
        }
    }
}

fn signal(done: &mut Option<Arc<Notify>>) {
    if let Some(done) = done.take() {
        done.notify_one();
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.read += data.len() as u64;
                    if *this.read > *this.limit {
                        if let Some(trace) = this.trace.take() {
                            trace.fail(ErrorKind::BodyTooLarge);
                        }
                        *this.inner = None;
                        return Poll::Ready(Some(Err(BodyError::TooLarge(*this.limit))));
                    }
                }
                if this.inner.as_ref().is_some_and(|b| b.is_end_stream()) {
                    signal(this.done);
                }
                this.idle.touch();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(trace) = this.trace.take() {
                    trace.fail(ErrorKind::ClientInterrupted);
                }
                *this.inner = None;
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                *this.inner = None;
                signal(this.done);
                Poll::Ready(None)
            }
            Poll::Pending => {
                ready!(this.idle.poll_expired(cx));
                if let Some(trace) = this.trace.take() {
                    trace.fail(ErrorKind::ClientIdle);
                }
                *this.inner = None;
                Poll::Ready(Some(Err(BodyError::Idle(this.idle.window))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

pin_project! {
    /// What the router sends to the client.
    pub struct ResponseBody {
        page: Option<Bytes>,
        upstream: Option<UpstreamBody>,
        idle: IdleTimer,
        // The replica whose idle pool gets the connection back when the body ends cleanly.
        endpoint: Option<Arc<Endpoint>>,
        in_flight: Option<InFlight>,
        trace: Option<Arc<Trace>>,
    }
}

impl ResponseBody {
    /// A router-made page; the trace is complete once it is sent.
    pub(crate) fn page(body: Bytes, trace: Option<Arc<Trace>>) -> Self {
        ResponseBody {
            page: Some(body),
            upstream: None,
            idle: IdleTimer::new(Duration::ZERO),
            endpoint: None,
            in_flight: None,
            trace,
        }
    }

    /// No body at all (a `101 Switching Protocols` answer).
    pub(crate) fn empty() -> Self {
        ResponseBody {
            page: None,
            upstream: None,
            idle: IdleTimer::new(Duration::ZERO),
            endpoint: None,
            in_flight: None,
            trace: None,
        }
    }

    /// A backend's body, streamed with the idle window.
    pub(crate) fn upstream(
        body: UpstreamBody,
        idle_for: Duration,
        endpoint: Arc<Endpoint>,
        in_flight: InFlight,
        trace: Arc<Trace>,
    ) -> Self {
        let mut response = ResponseBody {
            page: None,
            upstream: Some(body),
            idle: IdleTimer::new(idle_for),
            endpoint: Some(endpoint),
            in_flight: Some(in_flight),
            trace: Some(trace),
        };
        // Nothing to stream (HEAD, 204, 304, an empty body): hyper will not poll the body, so
        // the exchange is complete now.
        if response
            .upstream
            .as_ref()
            .is_some_and(|b| b.is_end_stream())
        {
            end(
                &mut response.upstream,
                &mut response.endpoint,
                &mut response.in_flight,
                &mut response.trace,
                None,
            );
        }
        response
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        if let Some(page) = this.page.take() {
            if let Some(trace) = this.trace.take() {
                trace.update(|d| {
                    d.bytes = page.len() as u64;
                    d.complete = true;
                });
            }
            return Poll::Ready(Some(Ok(Frame::data(page))));
        }
        let Some(upstream) = this.upstream.as_mut() else {
            return Poll::Ready(None);
        };
        // What the client gets now, and whether (and how) the exchange is over.
        let (frame, ended) = match upstream.poll_data(cx) {
            Poll::Ready(Some(Ok(data))) => {
                if let Some(trace) = this.trace.as_ref() {
                    let len = data.len() as u64;
                    trace.update(|d| d.bytes += len);
                }
                // hyper stops polling once a body says it has ended, so a body that ends with
                // its last frame (a Content-Length body) is finished here, not at `None`.
                let last = upstream.is_end_stream();
                if !last {
                    this.idle.touch();
                }
                (Some(Ok(Frame::data(data))), last.then_some(None))
            }
            Poll::Ready(Some(Err(error))) => (
                Some(Err(BodyError::Backend(error))),
                Some(Some(ErrorKind::BackendInterrupted)),
            ),
            Poll::Ready(None) => (None, Some(None)),
            Poll::Pending => {
                ready!(this.idle.poll_expired(cx));
                (
                    Some(Err(BodyError::Idle(this.idle.window))),
                    Some(Some(ErrorKind::BackendIdle)),
                )
            }
        };
        if let Some(error) = ended {
            end(
                this.upstream,
                this.endpoint,
                this.in_flight,
                this.trace,
                error,
            );
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match (&self.page, &self.upstream) {
            (Some(_), _) => false,
            (None, Some(body)) => body.is_end_stream(),
            (None, None) => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.page, &self.upstream) {
            (Some(page), _) => SizeHint::with_exact(page.len() as u64),
            (None, Some(body)) => body
                .remaining()
                .map_or_else(SizeHint::default, SizeHint::with_exact),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}

/// Finishes a proxied body: a clean end returns the connection to the pool and completes the
/// trace; an error drops the connection and records the error.
fn end(
    upstream: &mut Option<UpstreamBody>,
    endpoint: &mut Option<Arc<Endpoint>>,
    in_flight: &mut Option<InFlight>,
    trace: &mut Option<Arc<Trace>>,
    error: Option<ErrorKind>,
) {
    let body = upstream.take();
    if let (None, Some(endpoint), Some(body)) = (error, endpoint.take(), body)
        && let Some(conn) = body.into_reusable()
    {
        endpoint.put_idle(conn);
    }
    in_flight.take();
    if let Some(trace) = trace.take() {
        match error {
            Some(kind) => trace.fail(kind),
            None => trace.update(|d| d.complete = true),
        }
    }
}
