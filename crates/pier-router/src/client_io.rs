//! The client's side of the idle window: a client that stops *reading* a response.
//!
//! hyper writes a response as the client's socket takes it. When the client stops reading,
//! the socket's buffers fill, the write returns `Pending`, and hyper stops polling the
//! response body — so the body's own idle timer (`body.rs`, H15) is never polled again and
//! nothing would ever end the request: the backend connection and the replica's in-flight slot
//! would stay taken until the client left. [`ClientIo`] wraps the accepted socket and times
//! the stall itself, where it happens: when a write returns `Pending` it also polls a timer
//! with the *same* context, so the task that waits for the socket is the task the timer wakes;
//! once the writes have made no progress for the idle window it fails the write with
//! `TimedOut`. hyper then tears the connection down, which drops the response body: the
//! backend connection is closed (never returned to the pool half read) and the in-flight slot
//! is freed. The request is logged as Heroku's H28 (status 499), through the trace, which looks
//! at [`ClientWindow::expired`] when it is dropped unfinished.
//!
//! Progress in either direction counts, as in Heroku's rolling window: a write that took any
//! bytes, or a read that brought any. The window starts when a write first has to wait (the
//! time before that, waiting for the backend, is the body's H15 window), and the timer costs
//! nothing while data flows: a write that succeeds only clears a field; the one timer of the
//! connection is allocated at its first stall and moved only when a new stall begins.
//!
//! The window is the route's `idle` timeout, but the socket belongs to the connection and a
//! route is only known per request. So each connection has one shared [`ClientWindow`] cell: it
//! starts with the listener's default (`RouterConfig::timeouts.idle`), and the proxy stores the
//! route's window in it as it routes each request (the default again for a request that gets a
//! router-made page before it is routed). HTTP/1.1 serves one request at a time on a
//! connection, so the window in the cell is the window of the response being written. After a
//! `101 Switching Protocols` the same socket carries the tunnel, with the window of the route
//! that upgraded it (the tunnel's own watchdog covers both directions anyway).
//!
//! A client that stops reading only once hyper has taken the response's last bytes from the
//! backend is no H28: the request was logged as delivered at that point (just as a client
//! leaving then is no H27) and the backend connection went back to the pool; only the client
//! connection is closed, after the window.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Longest window kept (a deadline further away would overflow `Instant`).
const MAX_WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);

/// A client connection's idle window, shared by its socket and the requests on it.
#[derive(Debug)]
pub(crate) struct ClientWindow {
    /// The window, in nanoseconds.
    window: AtomicU64,
    /// The connection was closed because its writes stalled for the window.
    expired: AtomicBool,
}

impl ClientWindow {
    pub(crate) fn new(window: Duration) -> Arc<ClientWindow> {
        let idle = Arc::new(ClientWindow {
            window: AtomicU64::new(0),
            expired: AtomicBool::new(false),
        });
        idle.set_window(window);
        idle
    }

    /// Sets the window of the request being served.
    pub(crate) fn set_window(&self, window: Duration) {
        let nanos = window.min(MAX_WINDOW).as_nanos() as u64;
        self.window.store(nanos, Ordering::Relaxed);
    }

    pub(crate) fn window(&self) -> Duration {
        Duration::from_nanos(self.window.load(Ordering::Relaxed))
    }

    /// Whether the connection timed out because the client stopped reading.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }
}

/// The accepted client socket, failing writes that stall for the idle window.
pub(crate) struct ClientIo<T> {
    inner: T,
    idle: Arc<ClientWindow>,
    /// When the current stall began; `None` while writes make progress.
    stalled_since: Option<Instant>,
    /// The connection's one timer, created at its first stall.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> ClientIo<T> {
    pub(crate) fn new(inner: T, idle: Arc<ClientWindow>) -> ClientIo<T> {
        ClientIo {
            inner,
            idle,
            stalled_since: None,
            timer: None,
        }
    }

    /// A write is waiting for the socket: `Pending` (with the timer's wake-up registered for
    /// this task) until the stall has lasted the idle window, then the `TimedOut` error.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.idle.expired() {
            return Poll::Ready(Err(timed_out(self.idle.window())));
        }
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        let deadline = since + self.idle.window();
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.idle.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Err(timed_out(self.idle.window())))
            }
        }
    }

    /// The outcome of a write: any progress ends the stall (the timer is left as it is).
    fn written(
        &mut self,
        result: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    self.stalled_since = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_stall(cx),
        }
    }
}

fn timed_out(window: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the client read nothing for {window:?}"),
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for ClientIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.stalled_since = None;
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ClientIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A socket whose peer never reads: every write waits.
    struct Full;

    impl AsyncWrite for Full {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_stalled_write_fails_after_the_window_it_was_given() {
        let idle = ClientWindow::new(Duration::from_secs(55));
        idle.set_window(Duration::from_millis(100));
        let mut io = ClientIo::new(Full, idle.clone());
        let start = Instant::now();
        // Nothing else wakes the task: only the timer's wake-up can end this write.
        let error = tokio::time::timeout(Duration::from_secs(10), io.write(b"x"))
            .await
            .expect("the stalled write ends")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(idle.expired());
        assert!(io.write(b"x").await.is_err());
    }

    /// A socket whose peer reads a byte every `every`.
    struct Trickle {
        every: Duration,
        next: Pin<Box<Sleep>>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            std::task::ready!(self.next.as_mut().poll(cx));
            let next = Instant::now() + self.every;
            self.next.as_mut().reset(next);
            Poll::Ready(Ok(1))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn the_window_rolls_with_every_write_that_progresses() {
        let every = Duration::from_millis(20);
        let trickle = Trickle {
            every,
            next: Box::pin(tokio::time::sleep(every)),
        };
        let idle = ClientWindow::new(Duration::from_millis(300));
        let mut io = ClientIo::new(trickle, idle.clone());
        let start = Instant::now();
        // 40 bytes at one per 20 ms: 800 ms, far past one window, each wait well within it.
        io.write_all(&[0; 40]).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(800));
        assert!(!idle.expired());
    }

    #[test]
    fn huge_windows_do_not_overflow() {
        let idle = ClientWindow::new(Duration::MAX);
        assert_eq!(idle.window(), MAX_WINDOW);
    }
}
