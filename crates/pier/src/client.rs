//! The CLI's client of the daemon's control API: finds the daemon, sends requests, and turns
//! transport failures and the API's error envelope into exit codes.

use std::path::Path;

use anyhow::Context;
use pier_api::ErrorEnvelope;
use reqwest::{Method, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::Exit;

/// Where the API listens by default.
pub const DEFAULT_API: &str = "127.0.0.1:7070";

pub struct Client {
    base: String,
    http: reqwest::Client,
    /// `--stage NAME`: `/v1/…` paths go to the stage's `/v1/stages/NAME/…`.
    stage: Option<String>,
}

impl Client {
    /// `--api`/`PIER_API` if given; else the daemon running for the app in the current
    /// directory; else the default address.
    pub fn new(api: Option<&str>) -> anyhow::Result<Client> {
        let address = match api {
            Some(api) => api.to_string(),
            None => pier_state::read_daemon_info(&Path::new(".").join(".pier"))
                .map_or_else(|| DEFAULT_API.to_string(), |info| info.api),
        };
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("http://{address}")
        };
        let http = reqwest::Client::builder()
            .build()
            .context("cannot create an HTTP client")?;
        Ok(Client {
            base,
            http,
            stage: None,
        })
    }

    /// The same daemon, acting on the staging environment `stage` (`--stage NAME`).
    pub fn with_stage(mut self, stage: Option<String>) -> Client {
        self.stage = stage;
        self
    }

    /// The URL of `path`, under the stage's prefix with `--stage`.
    fn url(&self, path: &str) -> String {
        match (&self.stage, path.strip_prefix("/v1/")) {
            (Some(stage), Some(rest)) => format!("{}/v1/stages/{stage}/{rest}", self.base),
            _ => format!("{}{path}", self.base),
        }
    }

    /// The daemon running for the app in `dir`, else the default address.
    pub fn for_dir(dir: &Path) -> anyhow::Result<Client> {
        match pier_state::read_daemon_info(&dir.join(".pier")) {
            Some(info) => Client::new(Some(&info.api)),
            None => Client::new(None),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self.send(Method::GET, path, None::<&()>).await?;
        decode(response).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let response = self.send(Method::POST, path, Some(body)).await?;
        decode(response).await
    }

    /// Sends a request and returns the raw (successful) response, for streaming.
    pub async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<Response> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(api_error(response).await)
    }

    /// POSTs raw bytes (a file) and decodes the JSON answer.
    pub async fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<T> {
        let response = self
            .http
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        if !response.status().is_success() {
            return Err(api_error(response).await);
        }
        decode(response).await
    }

    /// GETs a text answer (an export).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let response = self.send(Method::GET, path, None::<&()>).await?;
        let url = response.url().clone();
        response
            .text()
            .await
            .with_context(|| format!("unexpected answer from {url}"))
    }

    /// POSTs a form (`application/x-www-form-urlencoded`) and returns the status and body
    /// whatever the status, for APIs with an envelope of their own (the Prometheus API).
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, String)],
    ) -> anyhow::Result<(u16, String)> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(self.url(path))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        let status = response.status().as_u16();
        let url = response.url().clone();
        let text = response
            .text()
            .await
            .with_context(|| format!("unexpected answer from {url}"))?;
        Ok((status, text))
    }

    /// True if a daemon answers at all.
    pub async fn is_up(&self) -> bool {
        self.http
            .get(format!("{}/v1/status", self.base))
            .send()
            .await
            .is_ok()
    }

    fn unreachable(&self, error: reqwest::Error) -> anyhow::Error {
        let mut cause = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(&error);
        while let Some(e) = source {
            cause = e.to_string();
            source = e.source();
        }
        Exit::unreachable(format!(
            "no pier daemon answers at {} ({cause}); start one with `pier up DIR`, or point at it with --api ADDR",
            self.base
        ))
    }
}

async fn decode<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
    let url = response.url().clone();
    response
        .json()
        .await
        .with_context(|| format!("unexpected answer from {url}"))
}

async fn api_error(response: Response) -> anyhow::Error {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorEnvelope>(&text)
        .map(|e| e.error.message)
        .unwrap_or_else(|_| format!("the daemon answered {status}: {text}"));
    if status.is_client_error() {
        Exit::invalid(message)
    } else {
        Exit::failed(message)
    }
}
