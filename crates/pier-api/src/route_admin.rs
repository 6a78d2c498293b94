//! What the API needs from whoever owns the routing rules (the daemon): list them and change
//! a split's percentage or its allow/deny lists, durably, before the change takes effect.
//! Implementations block (they write the state store); handlers call them off the async
//! threads.

use crate::dto::{KeyListName, RouteDto};

/// Why a route change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteAdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

/// The routing rules, as the control API sees them.
pub trait RouteAdmin: Send + Sync {
    fn routes(&self) -> Vec<RouteDto>;
    fn set_percent(&self, route: &str, percent: u32) -> Result<RouteDto, RouteAdminError>;
    fn set_keys(
        &self,
        route: &str,
        list: KeyListName,
        keys: &[String],
        remove: bool,
    ) -> Result<RouteDto, RouteAdminError>;
}
