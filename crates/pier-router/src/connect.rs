//! Opening a connection to an endpoint: a replica on loopback directly, or an external origin
//! through DNS and, for `https://`, TLS with SNI and certificate verification.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::Shared;
use crate::client::{BackendConn, BackendIo};
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
) -> Result<BackendConn, ConnectError> {
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
    let io = match external {
        Some(url) if url.tls => {
            let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| refused(&e))?;
            let tls = tokio::time::timeout_at(deadline, shared.tls.connect(name, stream))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| refused(&format!("TLS: {e}")))?;
            BackendIo::Tls(Box::new(tls))
        }
        _ => BackendIo::Tcp(stream),
    };
    Ok(BackendConn::new(io))
}
