//! Server plumbing shared by the listening subcommands: reading a port from the environment,
//! binding on loopback, catching SIGTERM/SIGINT and draining with axum's graceful shutdown.
//! It knows nothing of the routes it serves.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::ConfigError;

/// Reads a required port variable (`PORT`): missing or invalid is a configuration error.
pub fn required_port(var: &str) -> Result<u16, ConfigError> {
    match std::env::var(var) {
        Ok(value) => parse_port(var, &value),
        Err(_) => Err(ConfigError(format!(
            "{var} is not set: pier sets it for services that listen; \
             to run by hand, set it (e.g. {var}=5000)"
        ))),
    }
}

/// Reads an optional port variable (`METRICS_PORT`): unset or empty is `None`, invalid is an error.
pub fn optional_port(var: &str) -> Result<Option<u16>, ConfigError> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => parse_port(var, &value).map(Some),
        _ => Ok(None),
    }
}

fn parse_port(var: &str, value: &str) -> Result<u16, ConfigError> {
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(ConfigError(format!(
            "{var}={value:?} is not a valid port number (expected 1-65535)"
        ))),
    }
}

/// SIGTERM and SIGINT handlers, installed before the server starts so that a signal arriving
/// early is never handled by the default action (which would exit with a non-zero status).
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<Self> {
        let term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
        let int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
        Ok(Signals { term, int })
    }

    /// Waits for the first of SIGTERM or SIGINT and returns its name.
    pub async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Binds 127.0.0.1:`port`, logging "`name` listening on ADDR" once the socket is bound.
pub async fn bind(name: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("{name}: cannot listen on {addr}"))?;
    log!("{name} listening on {addr}");
    Ok(listener)
}

/// Serves `app` on 127.0.0.1:`port` until a signal arrives, then drains in-flight requests.
pub async fn run(name: &str, port: u16, app: Router, signals: Signals) -> anyhow::Result<()> {
    let listener = bind(name, port).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let signal = signals.recv().await;
            log!("received {signal}, draining");
        })
        .await
        .with_context(|| format!("{name}: server error"))?;
    log!("{name} stopped");
    Ok(())
}
