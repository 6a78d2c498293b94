//! The daemon's side of the router: binds the public listener and one stable loopback
//! listener per internal service (its port is kept in the state store so `<NAME>_URL` stays
//! the same across restarts), turns the manifest's routes into routing rules, and feeds the
//! router a new table whenever the supervisor's replicas, the maintenance flag, the canary or
//! the staging environments change. A canary's replicas go to a pool of their own (`web@v3`)
//! and, while its split is on, get their share of the service's clients; a stage's too
//! (`web@review`, see `daemon/stage/routing.rs`).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pier_router::{
    Backend as RouterBackend, Balance, CanarySplit, ExternalUrl, HostMatch, KeyLists, LogSink,
    ReplicaPhase, ReplicaView, RouteRule, Router, RouterConfig, RouterMetrics, SplitKey,
    SplitTarget, TableSpec, Target, Timeouts,
};
use pier_spec::{Backend, Manifest};
use pier_state::State;
use pier_supervisor::{LogBus, LogStream, ReplicaState, ReplicaStatus};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::exit::Exit;

/// The settings key of the maintenance flag.
pub const MAINTENANCE_KEY: &str = "router.maintenance";

/// A canary as the router needs it: the replicas of release `version` of `services` are kept
/// out of their service's pool, in a pool of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRoute {
    pub version: u32,
    pub services: Vec<String>,
    /// Hundredths of a percent of the clients and the hash salt; `None`: no traffic (the
    /// canary is starting or being removed).
    pub split: Option<(u32, String)>,
}

impl CanaryRoute {
    /// The pool of the canary's replicas of `service`.
    pub fn pool(&self, service: &str) -> String {
        format!("{service}@v{}", self.version)
    }
}

/// The bound listeners and the router serving them.
pub struct Edge {
    pub router: Router,
    pub public_addr: SocketAddr,
    /// `<service> → http://127.0.0.1:PORT` for every internal service.
    pub internal_urls: BTreeMap<String, String>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// What `pier up` asked of the public listener.
pub struct PublicListener {
    pub addr: SocketAddr,
    /// One log line per request (`--no-access-log` turns it off).
    pub access_log: bool,
}

/// Binds every listener (before any process starts, so a port conflict starts nothing) and
/// starts serving; requests get 404s until the first table arrives. The rules come from
/// [`routes`], computed (and checked) by the caller before this.
pub async fn bind(
    app_dir: &Path,
    manifest: &Manifest,
    state: &State,
    public: PublicListener,
    logs: &LogBus,
    metrics: Arc<RouterMetrics>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<Edge> {
    let PublicListener {
        addr: listen,
        access_log,
    } = public;
    let public = TcpListener::bind(listen).await.map_err(|error| {
        Exit::failed(format!(
            "cannot listen on {listen} for public traffic: {error}; pass --listen 127.0.0.1:PORT"
        ))
    })?;
    let public_addr = public.local_addr()?;
    let sink: LogSink = {
        let logs = logs.clone();
        Arc::new(move |line: String| logs.push("router", LogStream::Stdout, line))
    };
    let extra_ca_files = manifest
        .routes
        .iter()
        .filter_map(|r| r.ca_file.as_ref())
        .map(|file| app_dir.join(file))
        .collect();
    let settings = &manifest.router;
    let config = RouterConfig {
        access_log,
        extra_ca_files,
        balance: match settings.balance {
            pier_spec::Balance::LeastRequests => Balance::PowerOfTwoChoices,
            pier_spec::Balance::RoundRobin => Balance::RoundRobin,
        },
        retry_idempotent: settings.retry_idempotent,
        max_in_flight: settings.max_in_flight as usize,
        boot_timeout: settings.boot_timeout,
        pin_workers: settings.pin_workers,
        ..RouterConfig::default()
    };
    let router = Router::new(config, Some(sink), metrics).map_err(|error| match error.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::NotFound => Exit::invalid(format!(
            "pier.toml routes: {error}; fix the file or `ca_file`"
        )),
        _ => anyhow::Error::new(error).context("cannot start the router's worker threads"),
    })?;
    let mut tasks = vec![tokio::spawn(router.serve(
        public,
        Target::Public,
        shutdown.clone(),
    ))];
    let mut internal_urls = BTreeMap::new();
    for service in manifest.services.values().filter(|s| s.is_internal()) {
        let listener = bind_internal(state, &service.name).await?;
        let addr = listener.local_addr()?;
        internal_urls.insert(service.name.clone(), format!("http://{addr}"));
        let target = Target::Service(service.name.clone());
        tasks.push(tokio::spawn(router.serve(
            listener,
            target,
            shutdown.clone(),
        )));
    }
    Ok(Edge {
        router,
        public_addr,
        internal_urls,
        tasks,
    })
}

/// Binds the port this service had last time if it is free, else a new one, and records it.
pub async fn bind_internal(state: &State, service: &str) -> anyhow::Result<TcpListener> {
    let key = format!("router.port.{service}");
    let stored = {
        let (state, key) = (state.clone(), key.clone());
        tokio::task::spawn_blocking(move || state.setting(&key)).await??
    };
    if let Some(port) = stored.and_then(|p| p.parse::<u16>().ok())
        && let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await
    {
        return Ok(listener);
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .with_context(|| format!("cannot listen on loopback for the internal service {service}"))?;
    let port = listener.local_addr()?.port().to_string();
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.set_setting(&key, &port)).await??;
    Ok(listener)
}

/// The public services with a port: the ones the default routes reach.
pub fn public_services(manifest: &Manifest) -> Vec<&str> {
    manifest
        .services
        .values()
        .filter(|s| s.public && s.port)
        .map(|s| s.name.as_str())
        .collect()
}

/// The main one of `public`, which the app's own host (and any other) routes to: `web`, else
/// the first.
pub fn main_service<'a>(public: &[&'a str]) -> Option<&'a str> {
    public
        .iter()
        .find(|s| **s == "web")
        .or(public.first())
        .copied()
}

/// The routing rules of the manifest, or the defaults: each public service at
/// `<service>.<app>.localhost`, and the main one (`web`, else the first public service) at
/// `<app>.localhost` and for any other host. Names are unique: the host (`*` for any) and the
/// path when it is not `/`.
pub fn routes(manifest: &Manifest) -> anyhow::Result<Vec<RouteRule>> {
    if !manifest.routes.is_empty() {
        return manifest
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| manifest_route(i, route))
            .collect();
    }
    let public = public_services(manifest);
    let Some(main) = main_service(&public) else {
        return Ok(Vec::new());
    };
    let app = &manifest.app;
    let rule = |host: HostMatch, service: &str| {
        RouteRule::to_service(
            &route_name(&host, "/"),
            host,
            "/",
            service,
            Timeouts::default(),
        )
    };
    let mut rules: Vec<RouteRule> = public
        .iter()
        .map(|s| rule(HostMatch::Exact(format!("{s}.{app}.localhost")), s))
        .collect();
    rules.push(rule(HostMatch::Exact(format!("{app}.localhost")), main));
    rules.push(rule(HostMatch::Any, main));
    Ok(rules)
}

fn manifest_route(index: usize, route: &pier_spec::Route) -> anyhow::Result<RouteRule> {
    let targets = route
        .split
        .iter()
        .map(|target| {
            let backend = match &target.to {
                Backend::Service(service) => RouterBackend::Service(service.clone()),
                Backend::Url(url) => RouterBackend::Url(
                    ExternalUrl::parse(url)
                        .map_err(|e| Exit::invalid(format!("routes[{index}]: {e}")))?,
                ),
            };
            Ok(SplitTarget {
                backend,
                percent: target.weight,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let host = HostMatch::parse(route.host.as_deref());
    Ok(RouteRule {
        name: route_name(&host, &route.path),
        host,
        path_prefix: route.path.clone(),
        targets,
        split_key: route.split_key.as_ref().map(|key| match key {
            pier_spec::SplitKey::Cookie(name) => SplitKey::Cookie(name.clone()),
            pier_spec::SplitKey::Header(name) => SplitKey::Header(name.clone()),
        }),
        lists: KeyLists::default(),
        timeouts: Timeouts {
            connect: route.timeouts.connect,
            first_byte: route.timeouts.first_byte,
            idle: route.timeouts.idle,
        },
    })
}

/// `classroom.localhost`, `*.example.com/api`, `*`.
fn route_name(host: &HostMatch, path: &str) -> String {
    let host = match host {
        HostMatch::Any => "*".to_string(),
        HostMatch::Exact(h) => h.clone(),
        HostMatch::Suffix(s) => format!("*{s}"),
    };
    if path == "/" {
        host
    } else {
        format!("{host}{path}")
    }
}

/// Keeps the routing table in step with the supervisor, the maintenance flag and the
/// staging environments (`stages`: their rules, first, and their services' replicas).
pub fn follow(
    router: Router,
    mut rules: watch::Receiver<Vec<RouteRule>>,
    manifest: Arc<Manifest>,
    mut replicas: watch::Receiver<Vec<ReplicaStatus>>,
    mut maintenance: watch::Receiver<bool>,
    mut canary: watch::Receiver<Option<CanaryRoute>>,
    mut stages: watch::Receiver<TableSpec>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut spec = table_spec(
                &rules.borrow_and_update(),
                &manifest,
                &replicas.borrow_and_update(),
                *maintenance.borrow_and_update(),
            );
            if let Some(canary) = canary.borrow_and_update().as_ref() {
                set_canary(&mut spec, canary);
            }
            {
                let stages = stages.borrow_and_update();
                spec.routes.splice(0..0, stages.routes.iter().cloned());
                spec.services.extend(stages.services.clone());
            }
            router.update(&spec);
            tokio::select! {
                changed = replicas.changed() => if changed.is_err() { return },
                changed = maintenance.changed() => if changed.is_err() { return },
                changed = rules.changed() => if changed.is_err() { return },
                changed = canary.changed() => if changed.is_err() { return },
                changed = stages.changed() => if changed.is_err() { return },
            }
        }
    })
}

fn table_spec(
    rules: &[RouteRule],
    manifest: &Manifest,
    replicas: &[ReplicaStatus],
    maintenance: bool,
) -> TableSpec {
    let mut services: HashMap<String, Vec<ReplicaView>> = manifest
        .services
        .values()
        .filter(|s| s.port)
        .map(|s| (s.name.clone(), Vec::new()))
        .collect();
    for replica in replicas {
        if let (Some(views), Some(view)) =
            (services.get_mut(&replica.service), replica_view(replica))
        {
            views.push(view);
        }
    }
    TableSpec {
        routes: rules.to_vec(),
        services,
        maintenance,
        canaries: HashMap::new(),
    }
}

/// Moves the canary's replicas into their own pools and, while its split is on, sends each
/// service's share of clients there.
fn set_canary(spec: &mut TableSpec, canary: &CanaryRoute) {
    let release = format!("v{}", canary.version);
    for service in &canary.services {
        let Some(views) = spec.services.get_mut(service) else {
            continue;
        };
        let (ours, theirs): (Vec<ReplicaView>, Vec<ReplicaView>) =
            views.drain(..).partition(|v| v.release == release);
        *views = theirs;
        let pool = canary.pool(service);
        spec.services.insert(pool.clone(), ours);
        if let Some((basis_points, salt)) = &canary.split {
            spec.canaries.insert(
                service.clone(),
                CanarySplit {
                    pool,
                    release: release.clone(),
                    basis_points: *basis_points,
                    salt: salt.clone(),
                },
            );
        }
    }
}

/// How the router sees a replica; `None` once it has stopped.
pub fn replica_view(replica: &ReplicaStatus) -> Option<ReplicaView> {
    let phase = match replica.state {
        ReplicaState::Running if replica.ready => ReplicaPhase::Ready,
        ReplicaState::Starting | ReplicaState::Running => ReplicaPhase::Booting,
        ReplicaState::CrashLoopBackOff => ReplicaPhase::Down,
        // Being stopped on purpose (restart, scale down): requests wait for a replica
        // rather than fail while its successor starts.
        ReplicaState::Stopping => ReplicaPhase::Booting,
        ReplicaState::Stopped => return None,
    };
    Some(ReplicaView {
        name: replica.name.clone(),
        addr: replica.port.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
        phase,
        release: format!("v{}", replica.release),
    })
}
