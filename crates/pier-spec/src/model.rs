//! The validated, resolved manifest: what every other subsystem consumes.
//!
//! These types are produced only by validation (see the parsing modules), so holding one means
//! the manifest was well formed: durations are positive where they must be, names are valid,
//! references between sections resolve. They are plain data with no knowledge of TOML.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A whole application as declared by `pier.toml` (or imported from a Procfile).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The app name (DNS label: lowercase letters, digits, `-`).
    pub app: String,
    /// Where the manifest came from, for messages and `pier init`.
    pub source: ManifestSource,
    /// Build step run before processes start; `None` when there is nothing to build.
    pub build: Option<Build>,
    /// Release-phase command (database migrations), run once per release.
    pub release: Option<ReleaseCommand>,
    /// Environment shared by every process of the app.
    pub env: BTreeMap<String, String>,
    /// Long-running process types, keyed and ordered by name.
    pub services: BTreeMap<String, Service>,
    /// Scheduled jobs, keyed by name.
    pub jobs: BTreeMap<String, Job>,
    /// Routing rules for the public listener, in declaration order.
    pub routes: Vec<Route>,
    /// Alert rule files and notifiers.
    pub alerts: Alerts,
    /// Default resources for services that declare none.
    pub resources: Resources,
    /// Supervisor-wide settings.
    pub supervisor: SupervisorSettings,
    /// Router-wide settings.
    pub router: RouterSettings,
    /// Scraping and the metrics store.
    pub metrics: MetricsSettings,
    /// `[deploy]`: release retention and the rolling-update defaults of every service.
    pub deploy: DeploySettings,
}

/// `[deploy]`: app-wide settings of `pier deploy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploySettings {
    /// Artifacts of this many newest releases are kept (the current and the previous one
    /// always are); older ones are deleted.
    pub keep_releases: u32,
    /// The rolling update every service uses unless it declares its own.
    pub rollout: Rollout,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            keep_releases: 10,
            rollout: Rollout::default(),
        }
    }
}

/// How a service's replicas are replaced by a new release's (a Kubernetes Deployment's
/// `RollingUpdate` strategy, `minReadySeconds` and `progressDeadlineSeconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Replicas above the desired count that may run during the update (rounded up).
    pub max_surge: Amount,
    /// Replicas below the desired count that may be unavailable (rounded down).
    pub max_unavailable: Amount,
    /// How long a new replica must stay ready before it counts as available.
    pub min_ready: Duration,
    /// The rollout fails when it makes no progress for this long.
    pub progress_deadline: Duration,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            max_surge: Amount::Percent(25),
            max_unavailable: Amount::Percent(25),
            min_ready: Duration::ZERO,
            progress_deadline: Duration::from_secs(600),
        }
    }
}

impl Rollout {
    /// `(max_surge, max_unavailable)` for `replicas`, as Kubernetes resolves them: a surge
    /// percentage rounds up, an unavailable percentage rounds down, and when both come out
    /// as zero one replica may be unavailable.
    pub fn resolve(&self, replicas: u32) -> (u32, u32) {
        let surge = self.max_surge.of(replicas, true);
        let unavailable = self.max_unavailable.of(replicas, false).min(replicas);
        if surge == 0 && unavailable == 0 {
            return (0, 1);
        }
        (surge, unavailable)
    }
}

/// A count of replicas or a percentage of the desired count (Kubernetes' `IntOrString`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(u32),
    Percent(u32),
}

impl Amount {
    /// The amount for `replicas`, rounding a percentage up or down.
    pub fn of(self, replicas: u32, round_up: bool) -> u32 {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => {
                let scaled = u64::from(replicas) * u64::from(p);
                let whole = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                u32::try_from(whole).unwrap_or(u32::MAX)
            }
        }
    }

    /// Whether the amount is zero whatever the replica count.
    pub fn is_zero(self) -> bool {
        matches!(self, Amount::Count(0) | Amount::Percent(0))
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `[metrics]`: how often targets are scraped, how long samples are kept, and targets
/// besides the services that declare `metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Default scrape interval (Prometheus: 15 s here, 1 m upstream; pier uses 15 s).
    pub interval: Duration,
    /// Default scrape timeout (at most the interval).
    pub timeout: Duration,
    /// Samples older than this are deleted (Prometheus: 15 d).
    pub retention: Duration,
    /// The store is kept under this many bytes on disk, oldest data first, if set.
    pub retention_bytes: Option<u64>,
    /// Time range of the blocks the in-memory head is cut into (Prometheus's
    /// `--storage.tsdb.min-block-duration`, 2 h).
    pub block_duration: Duration,
    /// `[[metrics.targets]]`: any exporter.
    pub targets: Vec<StaticTarget>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            retention: Duration::from_secs(15 * 24 * 3600),
            retention_bytes: None,
            block_duration: Duration::from_secs(2 * 3600),
            targets: Vec::new(),
        }
    }
}

/// A scrape target given by URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticTarget {
    /// The `job` label.
    pub job: String,
    /// `http://host:port/path`.
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Extra labels on every series of the target.
    pub labels: BTreeMap<String, String>,
}

/// Where a manifest was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// A `pier.toml` file.
    PierToml(PathBuf),
    /// A Heroku `Procfile`, with `app.json` when it was present.
    Procfile {
        procfile: PathBuf,
        app_json: Option<PathBuf>,
    },
}

/// The build step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Shell command run with `sh -c` in the app folder.
    pub command: String,
}

/// The release-phase command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseCommand {
    /// Shell command run with `sh -c` in the app folder.
    pub command: String,
    /// Upper bound on its run time.
    pub timeout: Duration,
}

/// One process type (`web`, `worker`, …) run as `replicas` identical processes.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The service name (DNS label), also the process type.
    pub name: String,
    /// Shell command run with `sh -c` in the app folder.
    pub command: String,
    /// Desired replica count declared in the manifest (a `pier scale` overrides it).
    pub replicas: u32,
    /// Whether the process listens on `$PORT` (and so gets one, and can be routed to).
    pub port: bool,
    /// Whether the public listener routes to it; non-public services with a port are internal.
    pub public: bool,
    /// HTTP path scraped for Prometheus metrics, if any.
    pub metrics: Option<String>,
    /// Readiness probe: failing replicas get no traffic.
    pub readiness: Option<Probe>,
    /// Liveness probe: failing replicas are restarted.
    pub liveness: Option<Probe>,
    /// Time between SIGTERM and SIGKILL when stopping a replica.
    pub termination_grace: Duration,
    /// Restart backoff after the process exits or fails liveness.
    pub restart_backoff: Backoff,
    /// CPU and memory limits.
    pub resources: Resources,
    /// Horizontal autoscaling bounds and target.
    pub autoscale: Option<Autoscale>,
    /// Extra environment for this service only (overrides the app env).
    pub env: BTreeMap<String, String>,
    /// How a new release replaces this service's replicas.
    pub rollout: Rollout,
}

impl Service {
    /// Whether other services reach this one as `$<NAME>_URL` (internal: has a port, not public).
    pub fn is_internal(&self) -> bool {
        self.port && !self.public
    }
}

/// A Kubernetes-style probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What the probe does.
    pub action: ProbeAction,
    /// Wait before the first probe (Kubernetes `initialDelaySeconds`, default 0).
    pub initial_delay: Duration,
    /// Time between probes (default 10 s).
    pub period: Duration,
    /// Time after which one probe counts as failed (default 1 s).
    pub timeout: Duration,
    /// Consecutive successes to count as passing (default 1; must be 1 for liveness).
    pub success_threshold: u32,
    /// Consecutive failures to count as failing (default 3).
    pub failure_threshold: u32,
}

/// The check a probe performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// HTTP GET of `path` on the replica's `$PORT`; 200–399 is success.
    Http { path: String },
    /// A TCP connect to the replica's `$PORT`.
    Tcp,
    /// A shell command run with the replica's env; exit 0 is success.
    Exec { command: String },
}

/// Exponential restart backoff shaped like Kubernetes' CrashLoopBackOff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the second restart (the first restart is immediate); default 10 s.
    pub initial: Duration,
    /// Upper bound of the delay; default 300 s.
    pub max: Duration,
    /// A replica that ran this long without a problem has its backoff reset; default 10 min.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// CPU and memory limits (Kubernetes quantities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// CPU limit in millicores (`500m` = 500, `2` = 2000).
    pub cpu_millis: Option<u32>,
    /// Memory limit in bytes (`256Mi`, `1G`).
    pub memory_bytes: Option<u64>,
}

/// Autoscaling bounds and target (the HPA algorithm acts on it in a later issue).
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    /// Target CPU utilisation as a fraction of the CPU limit (0 < x ≤ 1).
    pub target_cpu: Option<f64>,
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    /// The schedule exactly as written (5- or 6-field cron, `@hourly`-style macro, `@every 90s`).
    pub schedule: String,
    /// IANA time zone name; `UTC` when not given.
    pub timezone: String,
    /// Shell command run with `sh -c` in the app folder.
    pub command: String,
    pub timeout: Option<Duration>,
    pub concurrency: Concurrency,
    pub catch_up: CatchUp,
    /// Bound on slots caught up after downtime (default 100, as Kubernetes).
    pub max_catch_up: u32,
    pub starting_deadline: Option<Duration>,
    pub retries: u32,
    /// Delay before the first retry; each further retry waits twice as long (capped at 6 min,
    /// as a Kubernetes Job's backoff).
    pub retry_backoff: Duration,
    pub enabled: bool,
}

/// What happens when a slot fires while the previous run is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    Forbid,
    Allow,
    Replace,
}

/// Which slots missed during downtime are run afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    None,
    Latest,
    All,
}

/// A routing rule of the public listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Host to match (exact, or `*.example.com`); `None` matches any host.
    pub host: Option<String>,
    /// Path prefix to match (default `/`).
    pub path: String,
    /// Weighted backends; a single backend has weight 100.
    pub split: Vec<SplitTarget>,
    /// Where the sticky split key comes from.
    pub split_key: Option<SplitKey>,
    pub timeouts: RouteTimeouts,
    /// A PEM file of CA certificates trusted for this route's `https://` backends (relative
    /// to the app folder), besides the public roots.
    pub ca_file: Option<PathBuf>,
}

/// One weighted backend of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTarget {
    pub to: Backend,
    pub weight: u32,
}

/// A route backend: a service of this app, or an external URL (a legacy app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Service(String),
    Url(String),
}

/// The request attribute a split hashes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitKey {
    Cookie(String),
    Header(String),
}

/// Router timeouts (Heroku defaults: connect 5 s, first byte 30 s, idle 55 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTimeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
}

impl Default for RouteTimeouts {
    fn default() -> Self {
        RouteTimeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(30),
            idle: Duration::from_secs(55),
        }
    }
}

/// Alert rule files and notification targets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alerts {
    /// Prometheus rule files, relative to the app folder.
    pub rules: Vec<PathBuf>,
    pub notify: Vec<Notifier>,
}

/// Where alert notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notifier {
    Slack { url: String },
    Webhook { url: String },
}

/// Settings of the supervisor that apply to every service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSettings {
    /// Inclusive range `$PORT` values are drawn from (default 5000–5999, like foreman).
    pub port_range: (u16, u16),
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        SupervisorSettings {
            port_range: (5000, 5999),
        }
    }
}

/// How the router picks a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Two random ready replicas, the one with fewer requests in flight.
    #[default]
    LeastRequests,
    RoundRobin,
}

/// Settings of the router that apply to every route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    pub balance: Balance,
    /// Retry an idempotent request without a body (GET, HEAD, OPTIONS, PUT, DELETE) once on
    /// another replica when the first one closed the connection without answering.
    pub retry_idempotent: bool,
    /// Requests in flight per replica before requests queue (Heroku: 50).
    pub max_in_flight: u32,
    /// How long requests wait for a replica while none is ready yet (Heroku: 75 s; H20).
    pub boot_timeout: Duration,
    /// Bind each of the router's worker threads (one per CPU) to its own CPU.
    pub pin_workers: bool,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            balance: Balance::default(),
            retry_idempotent: false,
            max_in_flight: 50,
            boot_timeout: Duration::from_secs(75),
            pin_workers: true,
        }
    }
}
