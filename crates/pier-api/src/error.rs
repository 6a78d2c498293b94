//! The one place where failures become HTTP responses with the JSON error envelope.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pier_supervisor::SupervisorError;

use crate::dto::{ErrorBody, ErrorEnvelope};

/// An API failure: a status, a stable code and a message for humans.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    /// The request conflicts with an operation in progress (a deploy); nothing changed.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }
}

impl From<SupervisorError> for ApiError {
    fn from(error: SupervisorError) -> Self {
        let (status, code) = match &error {
            SupervisorError::UnknownService { .. } => (StatusCode::NOT_FOUND, "unknown_service"),
            SupervisorError::UnknownReplica { .. } => (StatusCode::NOT_FOUND, "unknown_replica"),
            SupervisorError::TooManyReplicas { .. } => {
                (StatusCode::BAD_REQUEST, "too_many_replicas")
            }
            SupervisorError::NoFreePort { .. } => (StatusCode::CONFLICT, "no_free_port"),
            SupervisorError::ShutDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
        };
        ApiError {
            status,
            code,
            message: error.to_string(),
        }
    }
}

impl From<pier_state::StateError> for ApiError {
    fn from(error: pier_state::StateError) -> Self {
        match error {
            pier_state::StateError::Conflict(message) => ApiError::conflict(message),
            other => ApiError::internal(format!("state store: {other}")),
        }
    }
}

impl From<crate::RouteAdminError> for ApiError {
    fn from(error: crate::RouteAdminError) -> Self {
        match error {
            crate::RouteAdminError::NotFound(message) => ApiError {
                status: StatusCode::NOT_FOUND,
                code: "unknown_route",
                message,
            },
            crate::RouteAdminError::Invalid(message) => ApiError::bad_request(message),
            crate::RouteAdminError::Failed(message) => ApiError::internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
