//! Listeners: the accept loop, one hyper HTTP/1.1 connection per client (keep-alive, upgrades,
//! header size and count limits), and the graceful drain on shutdown — stop accepting, let
//! each connection finish the request it is on, then close what is left after the drain time.
//! Each socket is wrapped in a [`ClientIo`], which closes the connection of a client that stops
//! reading its response for the idle window (see `client_io`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::sync::watch;

use crate::client_io::{ClientIo, ClientWindow};
use crate::errors::ErrorKind;
use crate::headers::ClientInfo;
use crate::proxy;
use crate::trace::{Trace, TraceData};
use crate::{Dest, Shared, Target};

/// Serves `listener` until `shutdown` turns true, then drains: accepted connections are
/// handed to the worker threads in turn.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    target: Target,
    shutdown: watch::Receiver<bool>,
) {
    let target = Arc::new(match target {
        Target::Public => Dest::Public,
        Target::Service(service) => Dest::Service(Arc::new(service)),
    });
    let port = listener.local_addr().map_or(0, |a| a.port());
    let open = Arc::new(OpenConnections::default());
    let (kill, killed) = watch::channel(false);
    let stopped = stopped(shutdown.clone());
    tokio::pin!(stopped);
    let mut next = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted.and_then(|(s, peer)| Ok((s.into_std()?, peer))) {
                Ok((stream, peer)) => {
                    let guard = open.enter();
                    let job = connection(shared.clone(), target.clone(), stream, peer, port, shutdown.clone(), killed.clone(), guard);
                    shared.workers.run(next, Box::pin(job));
                    next = next.wrapping_add(1);
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(shared.config.drain_timeout, open.all_closed())
        .await
        .is_err()
    {
        kill.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(1), open.all_closed()).await;
    }
}

/// Counts the connections of one listener, for the drain.
#[derive(Default)]
struct OpenConnections {
    count: AtomicUsize,
    closed: Notify,
}

impl OpenConnections {
    fn enter(self: &Arc<Self>) -> ConnectionGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        ConnectionGuard(self.clone())
    }

    async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct ConnectionGuard(Arc<OpenConnections>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Serves one client connection on the worker that runs it.
#[allow(clippy::too_many_arguments)]
async fn connection(
    shared: Arc<Shared>,
    target: Arc<Dest>,
    stream: std::net::TcpStream,
    peer: SocketAddr,
    port: u16,
    shutdown: watch::Receiver<bool>,
    killed: watch::Receiver<bool>,
    _open: ConnectionGuard,
) {
    let Ok(stream) = TcpStream::from_std(stream) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    shared.metrics.connections.inc();
    let client = Arc::new(ClientInfo::new(peer.ip(), port, "http"));
    let idle = ClientWindow::new(shared.config.timeouts.idle);
    let io = ClientIo::new(stream, idle.clone());
    let handler = {
        let shared = shared.clone();
        let client = client.clone();
        let shutdown = shutdown.clone();
        service_fn(move |req| {
            proxy::handle(
                shared.clone(),
                target.clone(),
                client.clone(),
                idle.clone(),
                shutdown.clone(),
                req,
            )
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .writev(false)
        .header_read_timeout(shared.config.timeouts.idle)
        // Slack above the router's own limits, so that requests just over them get the
        // router's page (checked in `proxy`), and hyper's bare 431 only far beyond.
        .max_buf_size(shared.config.max_header_bytes.max(8192) + 16 * 1024)
        .max_header_size(shared.config.max_header_bytes.max(8192) + 16 * 1024);
    // hyper parses into a stack array at its default of 100 headers and into a heap
    // allocation per request for any other limit.
    if shared.config.max_headers != 100 {
        builder.max_headers(shared.config.max_headers);
    }
    let conn = builder
        .serve_connection(TokioIo::new(io), handler)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        biased;
        result = conn.as_mut() => Some(result),
        _ = stopped(shutdown) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                result = conn.as_mut() => Some(result),
                _ = stopped(killed) => None,
            }
        }
    };
    if let Some(Err(error)) = result
        && (error.is_parse() || error.is_parse_too_large())
    {
        log_bad_request(&shared, &client, &error);
    }
    shared.metrics.connections.dec();
}

/// hyper has already answered a malformed request (400, or 431 for oversized heads); this
/// records it as Heroku's H26.
fn log_bad_request(shared: &Arc<Shared>, client: &ClientInfo, error: &hyper::Error) {
    let status = if error.is_parse_too_large() { 431 } else { 400 };
    let data = TraceData {
        fwd: client.ip_value().clone(),
        protocol: client.proto,
        status: Some(status),
        error: Some(ErrorKind::BadRequest),
        cause: Some(error.to_string()),
        complete: true,
        ..TraceData::default()
    };
    let log = shared
        .config
        .access_log
        .then(|| shared.log.clone())
        .flatten();
    drop(Trace::new(data, log, shared.metrics.clone()));
}
