//! The on-disk shape of `pier.toml`: serde structs mirroring the TOML one to one, with
//! `deny_unknown_fields`. Every field is optional and spanned so that validation can report a
//! missing key or a bad value at its exact place. No defaults and no rules live here.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// A table of named entries (`[services.NAME]`), keyed by the spanned name.
pub(crate) type Named<T> = BTreeMap<Spanned<String>, Spanned<T>>;

/// An `env` table: variable names to string values.
pub(crate) type Env = BTreeMap<Spanned<String>, Spanned<String>>;

/// An optional spanned value.
pub(crate) type Opt<T> = Option<Spanned<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    pub app: Opt<String>,
    pub build: Opt<RawBuild>,
    pub release: Opt<RawRelease>,
    pub env: Option<Env>,
    pub services: Opt<Named<RawService>>,
    pub jobs: Option<Named<RawJob>>,
    pub routes: Option<Vec<Spanned<RawRoute>>>,
    pub alerts: Option<RawAlerts>,
    pub resources: Opt<RawResources>,
    pub supervisor: Option<RawSupervisor>,
    pub router: Option<RawRouter>,
    pub metrics: Option<RawMetrics>,
    pub deploy: Opt<RawDeploy>,
}

/// `[deploy]`, and `deploy` of a service (where `keep_releases` is refused).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeploy {
    pub keep_releases: Opt<u32>,
    pub max_surge: Opt<RawAmount>,
    pub max_unavailable: Opt<RawAmount>,
    pub min_ready: Opt<RawDuration>,
    pub progress_deadline: Opt<RawDuration>,
}

/// A count (`1`) or a percentage (`"25%"`) as written; checked in validation.
#[derive(Debug)]
pub(crate) enum RawAmount {
    Count(i64),
    Text(String),
}

/// What [`RawAmount`] expects.
pub(crate) const EXPECTING_AMOUNT: &str = "a count such as 1 or a percentage such as \"25%\"";

impl<'de> Deserialize<'de> for RawAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl Visitor<'_> for AmountVisitor {
            type Value = RawAmount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTING_AMOUNT)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAmount, E> {
                Ok(RawAmount::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawAmount, E> {
                Ok(RawAmount::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawAmount, E> {
                Ok(RawAmount::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_any(AmountVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub interval: Opt<RawDuration>,
    pub timeout: Opt<RawDuration>,
    pub retention: Opt<RawDuration>,
    pub retention_size: Opt<String>,
    pub block_duration: Opt<RawDuration>,
    pub targets: Option<Vec<Spanned<RawStaticTarget>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStaticTarget {
    pub job: Opt<String>,
    pub url: Opt<String>,
    pub interval: Opt<RawDuration>,
    pub timeout: Opt<RawDuration>,
    pub labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouter {
    pub balance: Opt<String>,
    pub retry_idempotent: Opt<bool>,
    pub max_in_flight: Opt<u32>,
    pub pin_workers: Opt<bool>,
    pub boot_timeout: Opt<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuild {
    pub command: Opt<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelease {
    pub command: Opt<String>,
    pub timeout: Opt<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub command: Opt<String>,
    pub replicas: Opt<u32>,
    pub port: Opt<bool>,
    pub public: Opt<bool>,
    pub metrics: Opt<String>,
    pub readiness: Opt<RawProbe>,
    pub liveness: Opt<RawProbe>,
    pub termination_grace: Opt<RawDuration>,
    pub restart_backoff: Opt<RawBackoff>,
    pub resources: Opt<RawResources>,
    pub autoscale: Opt<RawAutoscale>,
    pub env: Option<Env>,
    pub deploy: Opt<RawDeploy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbe {
    pub http: Opt<String>,
    pub tcp: Opt<bool>,
    pub exec: Opt<String>,
    pub initial_delay: Opt<RawDuration>,
    pub period: Opt<RawDuration>,
    pub timeout: Opt<RawDuration>,
    pub success_threshold: Opt<u32>,
    pub failure_threshold: Opt<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackoff {
    pub initial: Opt<RawDuration>,
    pub max: Opt<RawDuration>,
    pub reset_after: Opt<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResources {
    pub cpu: Opt<RawQuantity>,
    pub memory: Opt<RawQuantity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAutoscale {
    pub min: Opt<u32>,
    pub max: Opt<u32>,
    pub target_cpu: Opt<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJob {
    pub schedule: Opt<String>,
    pub timezone: Opt<String>,
    pub command: Opt<String>,
    pub timeout: Opt<RawDuration>,
    pub concurrency: Opt<String>,
    pub catch_up: Opt<String>,
    pub max_catch_up: Opt<u32>,
    pub starting_deadline: Opt<RawDuration>,
    pub retries: Opt<u32>,
    pub retry_backoff: Opt<RawDuration>,
    pub enabled: Opt<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub host: Opt<String>,
    pub path: Opt<String>,
    pub to: Opt<String>,
    pub split: Opt<Vec<Spanned<RawSplitTarget>>>,
    pub split_key: Opt<RawSplitKey>,
    pub timeouts: Opt<RawTimeouts>,
    pub ca_file: Opt<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSplitTarget {
    pub to: Opt<String>,
    pub weight: Opt<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSplitKey {
    pub cookie: Opt<String>,
    pub header: Opt<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeouts {
    pub connect: Opt<RawDuration>,
    pub first_byte: Opt<RawDuration>,
    pub idle: Opt<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub rules: Option<Vec<Spanned<String>>>,
    pub notify: Option<Vec<Spanned<RawNotifier>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifier {
    pub slack: Opt<String>,
    pub webhook: Opt<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSupervisor {
    pub port_range: Opt<String>,
    pub restart_backoff: Opt<RawBackoff>,
}

/// A duration as written (`"30s"`); only strings are accepted, parsing happens in validation.
#[derive(Debug)]
pub(crate) struct RawDuration(pub String);

/// What [`RawDuration`] expects, also recognised when rewriting serde's messages.
pub(crate) const EXPECTING_DURATION: &str = "a duration such as \"30s\"";

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTING_DURATION)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_string()))
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

/// A Kubernetes quantity as written: a string (`"500m"`, `"256Mi"`) or a bare number (`2`,
/// `0.5`), kept as text for validation.
#[derive(Debug)]
pub(crate) struct RawQuantity(pub String);

/// What [`RawQuantity`] expects.
pub(crate) const EXPECTING_QUANTITY: &str = "a quantity such as \"500m\" or \"256Mi\"";

impl<'de> Deserialize<'de> for RawQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = RawQuantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTING_QUANTITY)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
        }
        deserializer.deserialize_any(QuantityVisitor)
    }
}
