//! The routing table: which service a request goes to (by Host and path prefix), and which of
//! its replicas can take traffic. A table is an immutable snapshot; the router swaps in a new
//! one whenever routes, readiness or maintenance change, so a request sees one consistent view
//! and requests in flight are never disturbed by an update.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::pool::{Endpoint, Pool, Upstream};
use crate::split::KeyLists;
use crate::trace::Label;

/// Router timeouts of one route (Heroku's defaults: 5 s, 30 s, 55 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect to a replica; past it the next replica is tried, then H19.
    pub connect: Duration,
    /// From the request sent to the response head; past it H12.
    pub first_byte: Duration,
    /// Rolling window without a byte in either direction once the response started; past it
    /// H15 (backend idle) or H28 (client idle).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(30),
            idle: Duration::from_secs(55),
        }
    }
}

/// Which hosts a route matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Any host.
    Any,
    /// Exactly this host (lowercase, without port).
    Exact(String),
    /// `*.example.com`: any host ending with `.example.com` (stored with the leading dot).
    Suffix(String),
}

impl HostMatch {
    /// Parses `example.com`, `*.example.com`, or `None` for any host.
    pub fn parse(host: Option<&str>) -> HostMatch {
        match host {
            None => HostMatch::Any,
            Some(h) => match h.strip_prefix('*') {
                Some(suffix) => HostMatch::Suffix(suffix.to_ascii_lowercase()),
                None => HostMatch::Exact(h.to_ascii_lowercase()),
            },
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
            HostMatch::Suffix(s) => {
                let host = host.as_bytes();
                host.len() > s.len()
                    && host[host.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            }
        }
    }
}

/// One routing rule: requests whose host and path match go to one backend, or are split
/// between several by a sticky key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// A short name for logs, metrics and `pier route` (`classroom.localhost`, `*/api`).
    pub name: String,
    pub host: HostMatch,
    /// Path prefix, `/` for everything; matched on segment boundaries.
    pub path_prefix: String,
    /// The backends with their percentages (adding up to 100); the first is the primary.
    pub targets: Vec<SplitTarget>,
    /// Where a split's sticky key comes from; without one, pier's own cookie.
    pub split_key: Option<SplitKey>,
    /// Keys always sent to the rollout target or always kept on the primary.
    pub lists: KeyLists,
    pub timeouts: Timeouts,
}

impl RouteRule {
    /// A rule sending everything matching to one service.
    pub fn to_service(
        name: &str,
        host: HostMatch,
        path_prefix: &str,
        service: &str,
        timeouts: Timeouts,
    ) -> RouteRule {
        RouteRule {
            name: name.to_string(),
            host,
            path_prefix: path_prefix.to_string(),
            targets: vec![SplitTarget {
                backend: Backend::Service(service.to_string()),
                percent: 100,
            }],
            split_key: None,
            lists: KeyLists::default(),
            timeouts,
        }
    }
}

/// One backend of a route and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTarget {
    pub backend: Backend,
    /// Percentage of keys (0–100).
    pub percent: u32,
}

/// Where a route sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The ready replicas of a service of this app.
    Service(String),
    /// An application outside pier (the legacy app during a migration).
    Url(ExternalUrl),
}

impl Backend {
    /// The name used for its pool, metrics (`backend=`) and the log's `dyno=`.
    pub fn name(&self) -> String {
        match self {
            Backend::Service(service) => service.clone(),
            Backend::Url(url) => url.to_string(),
        }
    }
}

/// An `http://` or `https://` origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl ExternalUrl {
    /// Parses `https://legacy.example.com[:port][/]`; paths are not allowed (the request's
    /// path is kept).
    pub fn parse(url: &str) -> Result<ExternalUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{url}` must be a scheme and host only, like https://legacy.example.com"
            ));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse()
                    .map_err(|_| format!("`{url}` has an invalid port"))?;
                (host, port)
            }
            _ => (authority, default_port),
        };
        Ok(ExternalUrl {
            tls,
            host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
            port,
        })
    }

    /// The `Host` header value for requests to it.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for ExternalUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.host_header()
        )
    }
}

/// The request attribute a split hashes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitKey {
    Cookie(String),
    Header(String),
}

impl RouteRule {
    fn matches(&self, host: &str, path: &str) -> bool {
        self.host.matches(host) && path_has_prefix(path, &self.path_prefix)
    }
}

/// `/api` matches `/api`, `/api/x` and `/api?q`, not `/apix`.
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'),
        None => false,
    }
}

/// Where a replica is in its life, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaPhase {
    /// Passing readiness: takes traffic.
    Ready,
    /// Started, not ready yet: requests may wait for it (up to the boot limit).
    Booting,
    /// Crashed, backing off, stopping or stopped.
    Down,
}

/// One replica as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    /// `web.1`, shown in the log's `dyno=`.
    pub name: String,
    pub addr: Option<SocketAddr>,
    pub phase: ReplicaPhase,
    /// The release it runs (`v3`), the `release` label of its requests' metrics.
    pub release: String,
}

/// A canary of a service: a share of the service's clients, chosen by their sticky split key,
/// goes to another pool (the canary release's replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanarySplit {
    /// The pool of the canary's replicas, a key of [`TableSpec::services`]: the service's
    /// name, `@` and the release (`web@v3`). A request routed to it after it left the table
    /// goes to the service's pool.
    pub pool: String,
    /// The canary's release (`v3`), the `release` label of requests it could not serve.
    pub release: String,
    /// Hundredths of a percent of the keys (0–10 000).
    pub basis_points: u32,
    /// Mixed into the key's hash (see [`crate::split::in_canary`]).
    pub salt: String,
}

/// Everything a table is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSpec {
    /// Rules in priority order (first match wins).
    pub routes: Vec<RouteRule>,
    /// Replicas of every routable service, including services with none (scaled to 0).
    pub services: HashMap<String, Vec<ReplicaView>>,
    /// Every request answered with H80.
    pub maintenance: bool,
    /// Canaries by service: public requests routed to the service may go to the canary pool.
    pub canaries: HashMap<String, CanarySplit>,
}

/// A rule with its names ready for the request path.
pub(crate) struct CompiledRoute {
    pub rule: RouteRule,
    pub name: Label,
    /// The pool name of each target, in order.
    pub backends: Vec<Label>,
    /// The targets' percentages, in order.
    pub percents: Vec<u32>,
}

/// A canary with its names ready for the request path.
pub(crate) struct CompiledCanary {
    pub pool: Label,
    pub release: Label,
    pub basis_points: u32,
    pub salt: String,
}

/// A map by service name, looked up on every request: foldhash, not SipHash (the names are
/// the app's own, not an attacker's).
type ByName<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// An immutable routing snapshot.
pub struct Table {
    pub(crate) routes: Vec<CompiledRoute>,
    pub(crate) pools: ByName<Arc<Pool>>,
    pub(crate) maintenance: bool,
    /// By service name.
    pub(crate) canaries: ByName<CompiledCanary>,
}

impl Table {
    /// Builds a table; replicas already known keep their endpoint (in-flight counts, idle
    /// connections, ejection state) through `known`.
    pub(crate) fn build(
        spec: &TableSpec,
        known: &mut HashMap<(String, SocketAddr), Arc<Endpoint>>,
        workers: usize,
    ) -> Table {
        let mut live = HashMap::new();
        let mut pools: ByName<Arc<Pool>> = spec
            .services
            .iter()
            .map(|(service, replicas)| {
                let mut ready = Vec::new();
                let (mut booting, mut down) = (0, 0);
                for replica in replicas {
                    match (replica.phase, replica.addr) {
                        (ReplicaPhase::Ready, Some(addr)) => {
                            let key = (replica.name.clone(), addr);
                            let endpoint = known
                                .get(&key)
                                .filter(|e| *e.release == replica.release)
                                .cloned()
                                .unwrap_or_else(|| {
                                    Arc::new(
                                        Endpoint::new(&replica.name, addr, workers)
                                            .with_release(&replica.release),
                                    )
                                });
                            live.insert(key, endpoint.clone());
                            ready.push(endpoint);
                        }
                        (ReplicaPhase::Ready | ReplicaPhase::Booting, _) => booting += 1,
                        (ReplicaPhase::Down, _) => down += 1,
                    }
                }
                let pool = Pool::new(service, ready, booting, down);
                (service.clone(), Arc::new(pool))
            })
            .collect();
        // External URLs are one always-ready endpoint each; failures show as H-codes.
        for rule in &spec.routes {
            for target in &rule.targets {
                let Backend::Url(url) = &target.backend else {
                    continue;
                };
                let name = url.to_string();
                let key = (name.clone(), SocketAddr::from(([0, 0, 0, 0], url.port)));
                let endpoint = known.get(&key).cloned().unwrap_or_else(|| {
                    Arc::new(Endpoint::with_upstream(
                        &name,
                        key.1,
                        workers,
                        Upstream::External(url.clone()),
                    ))
                });
                live.insert(key, endpoint.clone());
                pools.insert(
                    name.clone(),
                    Arc::new(Pool::new(&name, vec![endpoint], 0, 0)),
                );
            }
        }
        // Endpoints that left the table drop their idle connections with the last reference.
        *known = live;
        let routes = spec
            .routes
            .iter()
            .map(|rule| CompiledRoute {
                rule: rule.clone(),
                name: Arc::new(rule.name.clone()),
                backends: rule
                    .targets
                    .iter()
                    .map(|t| Arc::new(t.backend.name()))
                    .collect(),
                percents: rule.targets.iter().map(|t| t.percent).collect(),
            })
            .collect();
        let canaries = spec
            .canaries
            .iter()
            .map(|(service, canary)| {
                let compiled = CompiledCanary {
                    pool: Arc::new(canary.pool.clone()),
                    release: Arc::new(canary.release.clone()),
                    basis_points: canary.basis_points,
                    salt: canary.salt.clone(),
                };
                (service.clone(), compiled)
            })
            .collect();
        Table {
            routes,
            pools,
            maintenance: spec.maintenance,
            canaries,
        }
    }

    /// The first rule matching `host` (without port, any case) and `path`.
    pub(crate) fn route(&self, host: &str, path: &str) -> Option<&CompiledRoute> {
        self.routes.iter().find(|r| r.rule.matches(host, path))
    }

    /// The canary of `service`, if it has one.
    pub(crate) fn canary(&self, service: &str) -> Option<&CompiledCanary> {
        self.canaries.get(service)
    }

    pub(crate) fn pool(&self, service: &str) -> Option<&Arc<Pool>> {
        self.pools.get(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_on_segments() {
        assert!(path_has_prefix("/api", "/api"));
        assert!(path_has_prefix("/api/x", "/api/"));
        assert!(path_has_prefix("/api?q=1", "/api"));
        assert!(!path_has_prefix("/apix", "/api"));
        assert!(path_has_prefix("/anything", "/"));
    }

    #[test]
    fn external_urls() {
        let url = ExternalUrl::parse("https://Legacy.example.com/").unwrap();
        assert_eq!(
            (url.tls, url.host.as_str(), url.port),
            (true, "legacy.example.com", 443)
        );
        assert_eq!(url.to_string(), "https://legacy.example.com");
        let url = ExternalUrl::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!(url.host_header(), "127.0.0.1:8081");
        assert!(ExternalUrl::parse("ftp://x").is_err());
        assert!(ExternalUrl::parse("https://x/path").is_err());
    }

    #[test]
    fn hosts() {
        assert!(HostMatch::parse(Some("*.example.com")).matches("a.example.com"));
        assert!(!HostMatch::parse(Some("*.example.com")).matches("example.com"));
        assert!(HostMatch::parse(Some("App.localhost")).matches("app.localhost"));
        assert!(HostMatch::parse(Some("app.localhost")).matches("APP.localhost"));
        assert!(HostMatch::parse(Some("*.example.com")).matches("A.Example.COM"));
        assert!(HostMatch::parse(None).matches("whatever"));
    }
}
