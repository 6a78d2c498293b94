//! Upgraded connections (websockets and other `101 Switching Protocols`): bytes are copied
//! both ways until either side closes, until no byte has crossed in either direction for the
//! idle window, or, once the listener is draining, until the drain time is up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::client::Upgraded;
use crate::pool::InFlight;
use tokio::time::Instant;

/// Joins the client's upgraded connection, once hyper hands it over, with the backend's.
pub(crate) fn spawn(
    client: OnUpgrade,
    backend: Upgraded,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
    in_flight: InFlight,
) {
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let client = match client.await {
            Ok(client) => TokioIo::new(client),
            Err(error) => {
                tracing::debug!(%error, "the client's upgrade failed");
                return;
            }
        };
        let drained = async move {
            let _ = shutdown.wait_for(|s| *s).await;
            tokio::time::sleep(drain).await;
        };
        tokio::select! {
            _ = tunnel(client, backend, idle) => {}
            _ = drained => tracing::debug!("closing an upgraded connection at the end of the drain"),
        }
    });
}

async fn tunnel<A, B>(client: A, backend: B, idle: Duration)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut backend_read, mut backend_write) = tokio::io::split(backend);
    let up = copy(&mut client_read, &mut backend_write, &last, start);
    let down = copy(&mut backend_read, &mut client_write, &last, start);
    let watchdog = async {
        loop {
            let expires = start + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
            if Instant::now() >= expires {
                return;
            }
            tokio::time::sleep_until(expires).await;
        }
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = watchdog => tracing::debug!("upgraded connection idle; closing"),
    }
}

/// Copies one direction, noting the time of the last byte; closes the writer at end-of-file.
async fn copy<R, W>(reader: &mut R, writer: &mut W, last: &AtomicU64, start: Instant)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        if writer.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
