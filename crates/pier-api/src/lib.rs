//! pier-api owns the control API: the HTTP/JSON interface (versioned under `/v1`) through which
//! the CLI and scripts drive a running daemon — `ps`, `logs`, `scale`, `restart`, `events`,
//! `down`, releases (`deploy`, `rollback`, `config`, one-off `run`), maintenance mode, the router's traffic splits, the scheduler's jobs, scrape targets and
//! the metrics store's size, staging environments (`pier stage`) — pier's own `/metrics`, and the Prometheus HTTP API under
//! `/api/v1` (PromQL queries, series and label metadata, targets), for Grafana.
//! It owns its wire types (DTOs) and the one place where errors become HTTP responses.
//!
//! It orchestrates nothing itself: orders go to the supervisor through its handle, durable
//! changes to the state store, and it never touches processes or files directly.
//!
//! Architecture invariant: a change is written to the state store before it is acted on, and
//! an invalid request changes nothing.

mod dto;
mod error;
mod jobs;
mod metrics;
pub mod prometheus;
mod release_dto;
mod releases;
mod route_admin;
mod routes;
mod selector;
mod server;
mod stages;

pub use dto::*;
pub use error::ApiError;
pub use release_dto::*;
pub use releases::{BoxFuture, Releases, parse_version};
pub use route_admin::{RouteAdmin, RouteAdminError};
pub use server::{ApiContext, router, serve};
pub use stages::{StageDestroyedDto, StageDto, StageRequest, Stages, StagesDto};
