//! Opening a connection to an endpoint: a replica on loopback directly, or an external origin
//! through DNS and, for `https://`, TLS with SNI and certificate verification. The connection
//! runs as a task of its own; requests talk to it through the returned sender.

use std::future::Future;
use std::time::Duration;

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::Shared;
use crate::body::RequestBody;
use crate::errors::ErrorKind;
use crate::pool::{Endpoint, Upstream};

/// Why a connection could not be made: the H-code and a cause for the log.
pub(crate) type ConnectError = (ErrorKind, String);

/// Opens a connection to an endpoint: a replica directly, or an external origin through DNS
/// (and TLS for `https://`). H19 past the timeout, H21 when refused or the handshake fails.
pub(crate) async fn connect(
    shared: &Shared,
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<SendRequest<RequestBody>, ConnectError> {
    let deadline = Instant::now() + timeout;
    let timed_out = || {
        (
            ErrorKind::ConnectTimeout,
            format!("no connection to {} within {timeout:?}", endpoint.name),
        )
    };
    let refused =
        |e: &dyn std::fmt::Display| (ErrorKind::ConnectRefused, format!("{}: {e}", endpoint.name));
    let (addr, external) = match &endpoint.upstream {
        Upstream::Direct => (endpoint.addr, None),
        Upstream::External(url) => {
            let mut addrs = tokio::time::timeout_at(
                deadline,
                tokio::net::lookup_host((url.host.as_str(), url.port)),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| refused(&e))?;
            let addr = addrs
                .next()
                .ok_or_else(|| refused(&"no address for the host"))?;
            (addr, Some(url))
        }
    };
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| refused(&e))?;
    let _ = stream.set_nodelay(true);
    let mut builder = hyper::client::conn::http1::Builder::new();
    builder.writev(false);
    let sender = match external {
        Some(url) if url.tls => {
            let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| refused(&e))?;
            let tls = tokio::time::timeout_at(deadline, shared.tls.connect(name, stream))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| refused(&format!("TLS: {e}")))?;
            let (sender, connection) = builder
                .handshake(TokioIo::new(tls))
                .await
                .map_err(|e| refused(&e))?;
            spawn_connection(connection.with_upgrades());
            sender
        }
        _ => {
            let (sender, connection) = builder
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| refused(&e))?;
            spawn_connection(connection.with_upgrades());
            sender
        }
    };
    Ok(sender)
}

fn spawn_connection<F: Future<Output = hyper::Result<()>> + Send + 'static>(connection: F) {
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "backend connection ended");
        }
    });
}
