//! A small JSON-over-HTTP/1 client of the internal answers service, found at `$ANSWERS_URL`
//! (pier injects it as `http://127.0.0.1:PORT`). Every call has a deadline, and failures are
//! reduced to two cases callers act on: the service said no, or it could not be reached.

use std::fmt;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::answers::{Answer, ErrorBody, NewAnswer, Stats};

/// Upper bound on one call, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call to the answers service failed.
#[derive(Debug)]
pub enum CallError {
    /// The service refused the request (4xx) and said why.
    Rejected(String),
    /// The service is down, slow, or answered something unexpected.
    Unavailable(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(reason) => write!(f, "rejected: {reason}"),
            CallError::Unavailable(reason) => write!(f, "unavailable: {reason}"),
        }
    }
}

/// A handle on the answers service; cheap to clone.
#[derive(Clone)]
pub struct AnswersClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AnswersClient {
    /// The client of `$ANSWERS_URL`, or `None` when it is unset or empty.
    pub fn from_env() -> Option<Self> {
        let base = std::env::var("ANSWERS_URL").ok()?;
        let base = base.trim().trim_end_matches('/');
        if base.is_empty() {
            return None;
        }
        let http = Client::builder(TokioExecutor::new()).build_http();
        Some(AnswersClient {
            base: base.to_owned(),
            http,
        })
    }

    /// The `limit` most recent answers, newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<Answer>, CallError> {
        self.call(Method::GET, &format!("/answers?limit={limit}"), None::<&()>)
            .await
    }

    /// Stores an answer and returns the stored record.
    pub async fn submit(&self, new: &NewAnswer) -> Result<Answer, CallError> {
        self.call(Method::POST, "/answers", Some(new)).await
    }

    /// The tally of stored answers.
    pub async fn stats(&self) -> Result<Stats, CallError> {
        self.call(Method::GET, "/stats", None::<&()>).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let request = self.request(method, path, body)?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(unavailable)?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(unavailable)?;
            Ok::<_, CallError>((status, bytes.to_bytes()))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| CallError::Unavailable(format!("no answer within {CALL_TIMEOUT:?}")))??;
        decode(status, &bytes)
    }

    fn request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Request<Full<Bytes>>, CallError> {
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|_| CallError::Unavailable(format!("invalid ANSWERS_URL {:?}", self.base)))?;
        let body = match body {
            Some(body) => serde_json::to_vec(body).map_err(unavailable)?,
            None => Vec::new(),
        };
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(unavailable)
    }
}

fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, CallError> {
    if status.is_success() {
        return serde_json::from_slice(bytes).map_err(unavailable);
    }
    if status.is_client_error() {
        let reason = serde_json::from_slice::<ErrorBody>(bytes)
            .map_or_else(|_| status.to_string(), |body| body.error);
        return Err(CallError::Rejected(reason));
    }
    Err(CallError::Unavailable(format!("answered {status}")))
}

/// Keeps the whole cause chain: hyper's own message ("client error (Connect)") says little.
fn unavailable(error: impl std::error::Error) -> CallError {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    CallError::Unavailable(message)
}
