//! The Prometheus HTTP API under `/api/v1`, so that Grafana's Prometheus data source and
//! other Prometheus clients work against pier unchanged: queries (`query`, `query_range`,
//! `format_query`), metadata (`series`, `labels`, `label/{name}/values`, `metadata`),
//! `targets` and `status/buildinfo`. GET and form-encoded POST everywhere.
//!
//! Owns Prometheus's envelope — `{"status":"success","data":…,"warnings"?,"infos"?}` and
//! `{"status":"error","errorType":…,"error":…}` with Prometheus's HTTP statuses — in one
//! place, [`PromError`] and [`PromData`]; the `/v1` control API's envelope is
//! [`crate::ApiError`]'s and never appears here. Queries are evaluated by `pier-promql` on a
//! blocking thread; this module only parses parameters and writes JSON.
//!
//! Modules: `params` (parameters as Prometheus parses them), `json` (number formatting and
//! result shapes), `position` (where a parse error is), `query` and `meta` (the handlers).

mod json;
mod meta;
pub mod params;
mod position;
mod query;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::server::ApiContext;

/// The `/api/v1` routes.
pub(crate) fn routes() -> Router<Arc<ApiContext>> {
    Router::new()
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route("/api/v1/series", get(meta::series).post(meta::series))
        .route("/api/v1/labels", get(meta::labels).post(meta::labels))
        .route(
            "/api/v1/label/{name}/values",
            get(meta::label_values).post(meta::label_values),
        )
        .route("/api/v1/metadata", get(meta::metadata).post(meta::metadata))
        .route("/api/v1/targets", get(meta::targets).post(meta::targets))
        .route("/api/v1/status/buildinfo", get(meta::buildinfo))
        .route("/api/v1", any(not_found))
        .route("/api/v1/", any(not_found))
        .route("/api/v1/{*rest}", any(not_found))
}

async fn not_found() -> PromError {
    PromError {
        status: StatusCode::NOT_FOUND,
        error_type: "not_found",
        message: "unknown API endpoint; pier serves query, query_range, format_query, series, \
                  labels, label/<name>/values, metadata, targets and status/buildinfo under /api/v1"
            .into(),
    }
}

/// A failed Prometheus API call: `{"status":"error","errorType":…,"error":…}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromError {
    pub status: StatusCode,
    /// `bad_data`, `execution`, `timeout`, `canceled`, `internal`, `not_found`…
    pub error_type: &'static str,
    pub message: String,
}

impl PromError {
    /// `bad_data`, 400.
    pub fn bad_data(message: impl Into<String>) -> PromError {
        PromError {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// Prometheus's `invalidParamError`: `invalid parameter "NAME": …`, `bad_data`.
    pub fn invalid_param(name: &str, message: impl std::fmt::Display) -> PromError {
        PromError::bad_data(format!("invalid parameter {name:?}: {message}"))
    }

    /// `internal`, 500.
    pub fn internal(message: impl Into<String>) -> PromError {
        PromError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error_type: "internal",
            message: message.into(),
        }
    }
}

impl From<pier_promql::QueryError> for PromError {
    fn from(error: pier_promql::QueryError) -> PromError {
        PromError {
            status: StatusCode::from_u16(error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error_type: error.error_type(),
            message: error.to_string(),
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let mut body = String::from("{\"status\":\"error\",\"errorType\":");
        json::write_str(&mut body, self.error_type);
        body.push_str(",\"error\":");
        json::write_str(&mut body, &self.message);
        body.push('}');
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// A successful call: the `data` as JSON text, and the query's annotations.
#[derive(Debug, Clone, Default)]
pub struct PromData {
    pub data: String,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl PromData {
    /// `data` already written as JSON.
    pub fn raw(data: String) -> PromData {
        PromData {
            data,
            ..PromData::default()
        }
    }

    /// `data` serialised with serde.
    pub fn json(data: &impl serde::Serialize) -> Result<PromData, PromError> {
        serde_json::to_string(data)
            .map(PromData::raw)
            .map_err(|e| PromError::internal(format!("cannot write JSON: {e}")))
    }

    /// The whole envelope.
    pub fn envelope(&self) -> String {
        let mut body = String::with_capacity(self.data.len() + 64);
        body.push_str("{\"status\":\"success\",\"data\":");
        body.push_str(&self.data);
        for (key, list) in [("warnings", &self.warnings), ("infos", &self.infos)] {
            if list.is_empty() {
                continue;
            }
            body.push_str(",\"");
            body.push_str(key);
            body.push_str("\":[");
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                json::write_str(&mut body, item);
            }
            body.push(']');
        }
        body.push('}');
        body
    }
}

impl IntoResponse for PromData {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            self.envelope(),
        )
            .into_response()
    }
}

/// Runs CPU or store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PromError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PromError::internal(format!("query task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_prometheus_ones() {
        let data = PromData {
            data: "[]".into(),
            warnings: vec!["PromQL warning: w".into()],
            infos: vec![],
        };
        assert_eq!(
            data.envelope(),
            r#"{"status":"success","data":[],"warnings":["PromQL warning: w"]}"#
        );
        assert_eq!(
            PromData::raw("2".into()).envelope(),
            r#"{"status":"success","data":2}"#
        );
        let error: PromError = pier_promql::QueryError::Execution("many-to-many".into()).into();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.error_type, "execution");
        assert_eq!(
            PromError::invalid_param("step", "bad").message,
            r#"invalid parameter "step": bad"#
        );
    }
}
