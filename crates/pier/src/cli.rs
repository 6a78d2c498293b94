//! Command-line arguments (clap). Help texts teach: each says what the command does and shows
//! an example.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pier",
    version,
    about = "Run your app's services, workers and jobs on one machine, the way Heroku does",
    long_about = "pier runs the services declared in pier.toml (or a Heroku Procfile) as supervised \
processes with health probes, restarts and logs.\n\nStart an app with `pier up DIR`; in another \
terminal, `pier ps`, `pier logs -f`, `pier scale web=3` and `pier down` talk to it.",
    after_help = "Examples:\n  pier up examples/classroom     build and run the demo\n  pier ps                        list replicas\n  pier logs -f web               follow the web service's output\n  pier scale web=3 worker=0      change the formation"
)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

/// Which daemon a client command talks to.
#[derive(Debug, Args)]
pub struct Target {
    /// Control API of the daemon to talk to [default: the daemon of the app in the current
    /// directory, else 127.0.0.1:7070]
    #[arg(long, global = true, env = "PIER_API", value_name = "ADDR")]
    pub api: Option<String>,
    /// Act on the staging environment NAME instead of the main one (ps, logs, scale, restart,
    /// events, releases, rollback, config, run)
    #[arg(long, global = true, value_name = "NAME")]
    pub stage: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build and run the app in DIR in the foreground; Ctrl-C stops everything
    #[command(
        after_help = "Examples:\n  pier up                      the app in the current directory\n  pier up examples/classroom   the demo app\n  pier up --api-listen 127.0.0.1:7071 ../other-app"
    )]
    Up(UpArgs),
    /// Check DIR's pier.toml (or Procfile) and print what would run, without starting anything
    Check {
        /// App folder [default: .]
        dir: Option<PathBuf>,
    },
    /// Write a commented pier.toml from the Procfile (and app.json) in DIR
    Init {
        /// App folder [default: .]
        dir: Option<PathBuf>,
        /// Overwrite an existing pier.toml
        #[arg(long)]
        force: bool,
    },
    /// List replicas with state, pid, port, readiness, restarts and uptime
    Ps {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Show the output of the app's processes (and pier's notes about them)
    #[command(
        after_help = "Examples:\n  pier logs              the last 100 lines of everything\n  pier logs -f web       follow every web replica\n  pier logs -n 500 web.2 the last 500 lines of one replica"
    )]
    Logs {
        /// A service (`web`) or a replica (`web.2`) [default: everything]
        name: Option<String>,
        /// Keep printing new lines until interrupted
        #[arg(short, long)]
        follow: bool,
        /// Lines of history to print first
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        /// Print newline-delimited JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Set how many replicas of each service run; with no argument, print the formation
    #[command(
        after_help = "Examples:\n  pier scale               print the formation (web=2 worker=1)\n  pier scale web=3 worker=0"
    )]
    Scale {
        /// SERVICE=COUNT pairs
        changes: Vec<String>,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Restart every service, one service, or one replica — one replica at a time, each new
    /// process ready before the next one stops
    Restart {
        /// A service (`web`) or a replica (`web.2`) [default: everything]
        target: Option<String>,
    },
    /// Show the platform's event log (starts, exits, restarts, readiness, scaling)
    Events {
        /// Only events about this service or replica
        name: Option<String>,
        /// How many of the latest events to show
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Stop the daemon and every process it runs (gracefully)
    Down,
    /// Make a release of the app's code (git HEAD, or the working tree with --dirty), build it,
    /// run its release command, and roll it out with zero downtime
    #[command(
        after_help = "The build runs in the release's own snapshot (.pier/releases/vN/src) with $PIER_CACHE_DIR, a folder kept across deploys, for caches (e.g. CARGO_TARGET_DIR).

Examples:
  pier deploy                          the git HEAD of the app in the current folder
  pier deploy --dirty                  the working tree, uncommitted changes included
  pier deploy examples/classroom --description 'New question page'
  pier deploy --canary 10              start it beside the current release for 10 % of clients
  pier promote                         then roll the canary out fully
  pier deploy --abort                  or remove it"
    )]
    Deploy {
        /// App folder [default: .]
        dir: Option<PathBuf>,
        /// Deploy the working tree (uncommitted changes included) instead of the git HEAD
        #[arg(long)]
        dirty: bool,
        /// Describe the release in `pier releases` [default: `Deploy <commit>`]
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Start the release as a canary beside the current one, for PCT % of the clients
        /// (1 to 99, decimals allowed; sticky per client)
        #[arg(long, value_name = "PCT", conflicts_with = "abort")]
        canary: Option<String>,
        /// Remove the running canary: its traffic returns to the current release
        #[arg(long, conflicts_with_all = ["dir", "dirty", "description"])]
        abort: bool,
    },
    /// Run the working tree (uncommitted changes included) as a staging environment NAME of
    /// the same app — own processes, ports, state and config — at NAME.<app>.localhost
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "The first `pier stage NAME` creates the stage with a copy of the app's config vars, then \
builds and runs the working tree as its v1; each later one deploys the working tree again as \
a new release of the stage, rolled out with zero downtime. The stage answers through the same \
router at NAME.<app>.localhost. Add --stage NAME to ps, logs, scale, restart, events, \
releases, rollback, config and run to act on it. Cron jobs do not run in stages.

Examples:
  pier stage review                     stage the current folder as review
  curl -H 'Host: review.myapp.localhost' http://127.0.0.1:8080/
  pier --stage review config set FEATURE_X=on
  pier --stage review logs -f
  pier stage list
  pier stage destroy review             stop its processes and delete everything of it"
    )]
    Stage {
        #[command(subcommand)]
        command: Option<StageCommand>,
        /// The stage's name, a DNS label such as `review` or `pr-42`
        name: Option<String>,
        /// The working tree to run [default: .]
        dir: Option<PathBuf>,
    },
    /// Roll the canary (`pier deploy --canary`) out fully, with zero downtime
    Promote,
    /// List releases: version, time, source, status (current, canary, superseded, failed, …)
    #[command(after_help = "Examples:
  pier releases
  pier releases --json
  pier releases --log v7    the build, release phase and rollout of v7")]
    Releases {
        /// Print the log of one release (build, release phase, rollout) instead
        #[arg(long, value_name = "VERSION")]
        log: Option<String>,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Roll back: a new release with an earlier release's code and config, rolled out
    #[command(after_help = "Examples:
  pier rollback        back to the previous release
  pier rollback v3     a new release running v3's code and config")]
    Rollback {
        /// The release to return to (`v3`) [default: the previous release]
        version: Option<String>,
    },
    /// Show the config vars; `set` and `unset` make a new release and roll it out
    #[command(after_help = "Examples:
  pier config
  pier config set DATABASE_URL=postgres://db/app LOG_LEVEL=debug
  pier config unset LOG_LEVEL")]
    Config {
        #[command(subcommand)]
        command: Option<ConfigCommand>,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Run a one-off process with the current release's code and env; exits with its exit code
    #[command(
        after_help = "One argument is a shell command line; several are a program and its arguments.

Examples:
  pier run -- printenv DATABASE_URL
  pier run --service worker -- bin/rake db:migrate
  pier run -- 'echo $PIER_RELEASE && ls'"
    )]
    Run {
        /// Whose env the process gets [default: web, else the first service]
        #[arg(long, short)]
        service: Option<String>,
        /// The command, after `--`
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Show or switch maintenance mode: public requests get a 503 page (H80), processes keep running
    #[command(
        after_help = "Examples:\n  pier maintenance        show the mode\n  pier maintenance on     serve the maintenance page\n  pier maintenance off"
    )]
    Maintenance {
        /// `on` or `off` [default: show the current mode]
        switch: Option<Switch>,
    },
    /// Show the router's rules, or change a traffic split live
    #[command(
        after_help = "Examples:\n  pier route                                   list routes and splits\n  pier route split classroom.localhost 25      25 % of tenants to the rollout backend\n  pier route allow classroom.localhost acme    acme always goes to the rollout backend\n  pier route deny classroom.localhost bigco    bigco always stays on the primary\n  pier route deny classroom.localhost bigco --remove"
    )]
    Route {
        #[command(subcommand)]
        command: Option<RouteCommand>,
    },
    /// List cron jobs with their next and last runs; show a job's history, run it now, or
    /// disable and enable it
    #[command(
        after_help = "Every slot of a job is claimed in the state store before its process starts, so it \
starts exactly once, across crashes and restarts; a slot that does not run is recorded with \
the reason. Make a job idempotent with PIER_SCHEDULED_AT for exactly-once effects.\n\n\
Examples:\n  pier jobs                          name, schedule, next run, last result\n  \
pier jobs history daily-report     its slots: version, start, duration, result, reason\n  \
pier jobs run daily-report         run it now (its own run id; the next slot still runs)\n  \
pier jobs disable daily-report     keep the definition, record slots as suspended\n  \
pier logs job.daily-report         the output of its runs"
    )]
    Jobs {
        #[command(subcommand)]
        command: Option<JobsCommand>,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// List what pier scrapes: each target's health, last scrape, duration and last error
    #[command(
        after_help = "Targets: every running replica of a service with `metrics = \"/metrics\"`, pier \
itself (job `pier`), and [[metrics.targets]] in pier.toml.\n\nExamples:\n  pier targets\n  pier targets --json"
    )]
    Targets {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a PromQL expression: a table now (or `--at` a time), a chart over `--range`
    #[command(
        long_about = "Evaluate a PromQL expression against pier's metrics store, through the daemon's \
Prometheus HTTP API (the one Grafana uses).\n\n\
An instant query prints one row per series: a column per label, then the value. With --range it \
becomes a range query ending now (or at --end) and prints one row per series with its minimum, \
maximum and last value and a sparkline. --json prints the API's `data` unchanged, for scripts.\n\n\
Quote the expression for the shell. A parse error shows where the expression went wrong.",
        after_help = "Examples:\n  \
pier query up                                   1 for each target whose last scrape worked\n  \
pier query 'sum by (job) (rate(http_requests_total[5m]))'\n  \
pier query 'histogram_quantile(0.95, sum by (le) (rate(latency_seconds_bucket[5m])))'\n  \
pier query up --at -1h                          an hour ago (also RFC 3339 or Unix seconds)\n  \
pier query 'rate(http_requests_total[5m])' --range 1h\n  \
pier query up --range 1d --step 5m --end -1d    the day before the last 24 hours, every 5 minutes\n  \
pier query '1+1' --json                         {\"resultType\":\"scalar\",\"result\":[…,\"2\"]}\n\n\
Times: `now`, `-1h` (before now), RFC 3339 or Unix seconds. Durations: 15s, 5m, 1h30m, 7d, or \
seconds.\n\
Grafana: add a Prometheus data source with the URL of pier's API listener (http://127.0.0.1:7070)."
    )]
    Query {
        /// The PromQL expression, e.g. `rate(http_requests_total{job="web"}[5m])`
        expr: String,
        /// Evaluate at this time instead of now: `-1h`, RFC 3339 or Unix seconds
        #[arg(
            long,
            value_name = "TIME",
            allow_hyphen_values = true,
            conflicts_with_all = ["range", "step", "end"]
        )]
        at: Option<String>,
        /// Evaluate over this much time up to --end, and chart each series (e.g. 1h, 30m, 7d)
        #[arg(long, value_name = "DURATION")]
        range: Option<String>,
        /// Resolution of --range [default: about 60 points over the range]
        #[arg(long, value_name = "DURATION", requires = "range")]
        step: Option<String>,
        /// End of --range [default: now]: `-1d`, RFC 3339 or Unix seconds
        #[arg(
            long,
            value_name = "TIME",
            allow_hyphen_values = true,
            requires = "range"
        )]
        end: Option<String>,
        /// Print the Prometheus API's JSON `data` for scripts
        #[arg(long)]
        json: bool,
    },
    /// The metrics store: its size, and history in and out as OpenMetrics
    #[command(
        after_help = "Examples:\n  pier metrics stats\n  pier metrics import history.om          load timestamped samples (promtool's backfill format)\n  pier metrics export > all.om            every series, all time\n  pier metrics export --match 'up{job=\"web\"}' --start 2026-11-23T00:00:00Z"
    )]
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
}

/// `pier metrics` subcommands.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Series, samples, bytes on disk, bytes per sample, head memory, time range
    Stats {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Load an OpenMetrics file into the store: every sample timestamped, ending in `# EOF`
    /// (the input of `promtool tsdb create-blocks-from openmetrics`); a bad file loads nothing
    Import {
        /// The file (`-` for standard input)
        file: PathBuf,
    },
    /// Write series and their samples as OpenMetrics to standard output
    Export {
        /// A series selector such as `up{job="web"}`; repeat for several [default: every series]
        #[arg(long = "match", value_name = "SELECTOR")]
        matches: Vec<String>,
        /// Oldest sample: RFC 3339 or Unix seconds [default: all time]
        #[arg(long)]
        start: Option<String>,
        /// Newest sample: RFC 3339 or Unix seconds [default: now and later]
        #[arg(long)]
        end: Option<String>,
    },
}

/// `pier stage` subcommands.
#[derive(Debug, Subcommand)]
pub enum StageCommand {
    /// List the stages: name, release, URL, replicas ready, created, working tree
    List {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Stop every process of a stage (waiting for them) and delete its state, releases and logs
    Destroy { name: String },
}

/// `pier config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set config vars (KEY=VALUE …): a new release, rolled out
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove config vars (KEY …): a new release, rolled out
    Unset {
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

/// `pier jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// A job's runs, newest first: slot, definition version, start, duration, result, reason
    History {
        /// The job's name, as `pier jobs` prints it
        name: String,
        /// How many runs to show
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Run a job now, with its own run id; it neither consumes nor blocks the next slot
    Run {
        name: String,
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Stop scheduling a job (its slots are recorded as suspended); the definition stays
    Disable { name: String },
    /// Schedule a disabled job again, from its next slot
    Enable { name: String },
}

/// `pier route` subcommands.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// List routes with their backends, percentages, split key and allow/deny lists
    Show {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Send PERCENT of the keys to the route's rollout (second) backend; raising it never moves a key back
    Split {
        /// The route's name, as `pier route show` prints it
        route: String,
        /// 0 to 100
        percent: u32,
    },
    /// Always send these keys (tenants) to the rollout backend, whatever the percentage
    Allow {
        route: String,
        #[arg(required = true)]
        keys: Vec<String>,
        /// Take the keys off the list instead
        #[arg(long)]
        remove: bool,
    },
    /// Always keep these keys (tenants) on the primary backend; deny beats allow
    Deny {
        route: String,
        #[arg(required = true)]
        keys: Vec<String>,
        /// Take the keys off the list instead
        #[arg(long)]
        remove: bool,
    },
}

/// An on/off argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// App folder containing pier.toml or a Procfile [default: .]
    pub dir: Option<PathBuf>,
    /// Address of the control API (loopback only)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    pub api_listen: SocketAddr,
    /// Address of the public router (use 0.0.0.0:8080 to serve other machines)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Range $PORT values are drawn from, overriding [supervisor] port_range (e.g. 6000-6999)
    #[arg(long, value_name = "LO-HI")]
    pub port_range: Option<String>,
    /// Skip the [build] step
    #[arg(long)]
    pub no_build: bool,
    /// Run the app folder in place (built and recorded as a release) even when a deployed
    /// release is current [default: the current release if one was deployed]
    #[arg(long)]
    pub source: bool,
    /// Do not log each routed request (`pier logs router`), for very high request rates
    #[arg(long)]
    pub no_access_log: bool,
    /// Do not print the processes' output (it is still kept for `pier logs`)
    #[arg(short, long)]
    pub quiet: bool,
    /// Never colour the output [default: colour when stdout is a terminal and NO_COLOR is unset]
    #[arg(long)]
    pub no_color: bool,
}
