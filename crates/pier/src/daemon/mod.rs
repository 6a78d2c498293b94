//! `pier up`: the daemon's wiring. It validates the manifest, takes the app's lock, opens the
//! state store, builds, records the release, starts the scheduler, the supervisor and the
//! control API, prints the console, and on Ctrl-C, SIGTERM or `pier down` stops everything
//! gracefully.
//!
//! Order matters and is deliberate: nothing is created on disk before the manifest is known to
//! be valid, and no process starts before the lock, the state store and the API listener are
//! held, so a failing start leaves nothing running.

mod build;
mod deploy;
mod edge;
mod metrics;
mod recorder;
mod release;
mod route_admin;
mod scheduler;
mod stage;
mod tsdb_sink;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use pier_api::{ApiContext, StatusDto};
use pier_spec::Manifest;
use pier_state::{DaemonInfo, DaemonLock, LockError, State};
use pier_supervisor::{LogBus, LogStream, RunRelease, SupervisorConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::cli::UpArgs;
use crate::console::{self, Style};
use crate::exit::Exit;

/// Runs `pier up` to completion.
pub fn up(args: UpArgs) -> anyhow::Result<()> {
    let dir = app_dir(args.dir.as_deref())?;
    let mut manifest = load_manifest(&dir)?;
    if let Some(range) = &args.port_range {
        manifest.supervisor.port_range = parse_port_range(range)?;
    }
    if !args.api_listen.ip().is_loopback() {
        return Err(Exit::invalid(format!(
            "--api-listen {}: the control API listens on loopback only (127.0.0.1 or ::1); \
             remote access with a token is not supported yet",
            args.api_listen
        )));
    }
    init_tracing();
    let state_dir = dir.join(".pier");
    let lock = DaemonLock::acquire(&state_dir).map_err(already_running)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(run(args, dir, state_dir, manifest, lock))
}

async fn run(
    args: UpArgs,
    dir: PathBuf,
    state_dir: PathBuf,
    manifest: Manifest,
    lock: DaemonLock,
) -> anyhow::Result<()> {
    let style = Style::detect(args.no_color);
    let state = State::open(&state_dir)
        .with_context(|| format!("cannot open the state store in {}", state_dir.display()))?;
    let logs = LogBus::with_files(
        &state_dir.join("logs"),
        pier_supervisor::logs::DEFAULT_RING_LINES,
    )
    .with_context(|| {
        format!(
            "cannot write logs under {}",
            state_dir.join("logs").display()
        )
    })?;
    let shim = std::env::current_exe()
        .context("cannot locate the pier executable (needed to run processes)")?;

    let (stopping, _) = watch::channel(false);
    spawn_signal_watch(stopping.clone());
    recover_deploys(&state).await?;
    let paths = deploy::Paths::new(&state_dir);
    // Snapshots a previous daemon was taking when it stopped; no deploy runs yet.
    for leftover in paths.discard_unplaced() {
        tracing::info!(path = %leftover.display(), "deleted a snapshot left by an interrupted deploy");
    }
    let (manifest, run_dir, release) = match release::deployed(&state, args.source).await? {
        Some(release) => {
            let mut deployed = deploy::manifest_of(&paths, &release).map_err(|e| {
                Exit::failed(format!(
                    "cannot run the current release v{}: {e:#}; run the app folder with `pier up --source`",
                    release.version
                ))
            })?;
            deployed.supervisor.port_range = manifest.supervisor.port_range;
            console::step(
                style,
                &format!(
                    "running the deployed release v{} ({}); `pier up --source` runs the app folder instead",
                    release.version, release.description
                ),
            );
            (deployed, paths.code_dir(&release), release)
        }
        None => {
            if let Some(build) = &manifest.build
                && !args.no_build
            {
                build::run(
                    &build.command,
                    &dir,
                    &shim,
                    &logs,
                    style,
                    stopping.subscribe(),
                )
                .await?;
            }
            let release = release::record(&state, &dir, &manifest).await?;
            (manifest, dir.clone(), release)
        }
    };
    let run_env = deploy::release_env(&manifest, &release.config);
    logs.set_masks(release.config.clone());
    let formation = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.formation()).await??
    };
    let listener = TcpListener::bind(args.api_listen).await.map_err(|error| {
        Exit::failed(format!(
            "cannot listen on {} for the control API: {error}; another pier may be running for \
             a different app — pass --api-listen 127.0.0.1:PORT",
            args.api_listen
        ))
    })?;
    let api_addr = listener.local_addr()?;
    let route_control = Arc::new({
        let (rules, state) = (edge::routes(&manifest)?, state.clone());
        tokio::task::spawn_blocking(move || route_admin::RouteControl::load(rules, state)).await??
    });
    let mut metrics_pipeline = metrics::MetricsPipeline::open(&state_dir, &manifest)?;
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(metrics::TsdbCollector(
        metrics_pipeline.tsdb.clone(),
    )));
    let router_metrics = Arc::new(pier_router::RouterMetrics::new(&mut registry));
    let edge = edge::bind(
        &dir,
        &manifest,
        &state,
        edge::PublicListener {
            addr: args.listen,
            access_log: !args.no_access_log,
        },
        &logs,
        router_metrics,
        &stopping.subscribe(),
    )
    .await?;
    // The stages run again before clients can reach the daemon.
    let (stage_table, stage_routes) = watch::channel(pier_router::TableSpec::default());
    let (stage_scrapes, stage_targets) = watch::channel(Vec::new());
    let stages = stage::StageManager::new(stage::Shared {
        app: manifest.app.clone(),
        state_dir: state_dir.clone(),
        shim: shim.clone(),
        port_range: manifest.supervisor.port_range,
        main_state: state.clone(),
        services: manifest.services.keys().cloned().collect(),
        router: edge.router.clone(),
        logs: logs.clone(),
        public_port: edge.public_addr.port(),
        ticks: watch::channel(0).0,
        table: stage_table,
        targets: stage_scrapes,
    });
    let stage_routing = stages.follow_routing();
    let restored = stages.restore().await;
    if !restored.is_empty() {
        console::step(
            style,
            &format!(
                "staging environments running again: {}",
                restored.join(", ")
            ),
        );
    }
    let maintenance_on = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.setting(edge::MAINTENANCE_KEY)).await??
    };
    let (maintenance, _) = watch::channel(maintenance_on.as_deref() == Some("on"));
    let started_at_ms = pier_api::unix_ms(SystemTime::now());
    lock.publish(&DaemonInfo {
        pid: std::process::id(),
        api: api_addr.to_string(),
        listen: Some(edge.public_addr.to_string()),
        started_at_ms,
        app: manifest.app.clone(),
    })?;

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let recorder = recorder::spawn(state.clone(), events_rx);
    recorder::record_now(
        &state,
        "daemon.started",
        "pier",
        format!(
            "pier {} started for {} (v{})",
            env!("CARGO_PKG_VERSION"),
            manifest.app,
            release.version
        ),
    )
    .await;
    let printer = (!args.quiet).then(|| console::spawn_printer(&logs, style));
    let jobs = scheduler::start(scheduler::SchedulerParts {
        manifest: &manifest,
        state: &state,
        dir: &dir,
        shim: &shim,
        logs: &logs,
        release: pier_scheduler::JobRelease {
            version: release.version,
            dir: run_dir.clone(),
            env: run_env.clone(),
        },
        internal_urls: &edge.internal_urls,
        metrics: pier_scheduler::SchedulerMetrics::new(&mut registry),
    })?;
    let manifest = Arc::new(manifest);
    let supervisor = pier_supervisor::start(SupervisorConfig {
        release: RunRelease {
            version: release.version,
            dir: run_dir.clone(),
            env: run_env,
            manifest: manifest.clone(),
        },
        formation,
        shim: shim.clone(),
        logs: logs.clone(),
        events: events_tx,
        internal_urls: edge.internal_urls.clone(),
        drain: Some({
            let router = edge.router.clone();
            Arc::new(move |replica: String| Box::pin(router.drained(&replica)) as _)
        }),
    })?;
    metrics_pipeline.maintain_periodically();
    metrics_pipeline.follow(
        manifest.clone(),
        format!("http://{api_addr}/metrics"),
        supervisor.watch_status(),
        stage_targets,
    );
    // No canary at start: one the previous daemon ran was aborted by `recover_deploys`.
    let (canary, _) = watch::channel(None);
    let follower = edge::follow(
        edge.router.clone(),
        route_control.subscribe(),
        manifest.clone(),
        supervisor.watch_status(),
        maintenance.subscribe(),
        canary.subscribe(),
        stage_routes,
    );
    console::step(
        style,
        &format!(
            "{} v{} is up at http://{}.localhost:{} (router {}); control API on http://{api_addr} (Ctrl-C to stop)",
            manifest.app,
            release.version,
            manifest.app,
            edge.public_addr.port(),
            edge.public_addr,
        ),
    );

    let releases = Arc::new(deploy::Deployer::new(
        state.clone(),
        supervisor.clone(),
        logs.clone(),
        &dir,
        shim,
        edge.internal_urls.clone(),
        canary,
    ));
    let ctx = Arc::new(ApiContext {
        releases,
        supervisor: supervisor.clone(),
        state: state.clone(),
        manifest: manifest.clone(),
        status: StatusDto {
            app: manifest.app.clone(),
            dir: dir.display().to_string(),
            pid: std::process::id(),
            pier_version: env!("CARGO_PKG_VERSION").to_string(),
            release: release.version,
            started_at_ms,
            canary: None,
        },
        stopping: stopping.clone(),
        maintenance: maintenance.clone(),
        persist_maintenance: {
            let state = state.clone();
            Arc::new(move |on: bool| {
                state.set_setting(edge::MAINTENANCE_KEY, if on { "on" } else { "off" })
            })
        },
        routes: route_control.clone(),
        scheduler: jobs.handle.clone(),
        scrapes: metrics_pipeline.scrapes.clone(),
        tsdb: metrics_pipeline.tsdb.clone(),
        registry: Arc::new(registry),
        // Prometheus's defaults: a 2-minute timeout, at most 50,000,000 samples in memory.
        promql: pier_promql::Engine::new(pier_promql::EngineOptions::default()),
        stages: Some(stages.clone()),
    });
    stages.set_main_context(ctx.clone());
    let mut stop_signal = stopping.subscribe();
    let api = tokio::spawn(pier_api::serve(listener, ctx, async move {
        let _ = stop_signal.wait_for(|s| *s).await;
    }));

    let _ = stopping.subscribe().wait_for(|s| *s).await;
    console::step(
        style,
        "stopping every process (Ctrl-C again to kill them at once)",
    );
    logs.push("pier", LogStream::System, "shutting down");
    jobs.stop().await;
    metrics_pipeline.stop().await;
    stages.shutdown().await;
    stage_routing.abort();
    supervisor.shutdown().await;
    let _ = api.await;
    follower.abort();
    for task in edge.tasks {
        let _ = task.await;
    }
    recorder::record_now(
        &state,
        "daemon.stopped",
        "pier",
        "pier stopped; every process exited".to_string(),
    )
    .await;
    drop(supervisor);
    // The recorder ends when the last replica has dropped its event sender.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), recorder).await;
    if let Some(printer) = printer {
        printer.abort();
    }
    logs.flush_files(std::time::Duration::from_secs(2));
    console::step(style, "stopped");
    drop(lock);
    Ok(())
}

/// A deploy the previous daemon did not finish failed; its release phase is never re-run. A
/// canary it ran is aborted (its replicas died with it).
async fn recover_deploys(state: &State) -> anyhow::Result<()> {
    let failed = tokio::task::spawn_blocking({
        let state = state.clone();
        move || state.fail_interrupted_releases("interrupted: the daemon stopped during its deploy")
    })
    .await??;
    for version in failed {
        tracing::warn!(
            version,
            "a deploy was interrupted by a daemon stop; marked failed"
        );
    }
    let aborted = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            state.abort_interrupted_canary(
                "aborted: the daemon stopped while it ran as a canary (restarts never restore a canary)",
            )
        })
        .await??
    };
    if let Some(version) = aborted {
        tracing::warn!(
            version,
            "a canary was running when the daemon stopped; marked aborted"
        );
        recorder::record_now(
            state,
            "canary.aborted",
            "release",
            format!("v{version}: the canary was aborted, the daemon stopped while it ran"),
        )
        .await;
    }
    Ok(())
}

/// The first Ctrl-C or SIGTERM asks for a graceful stop; a second one exits at once (the
/// shims then kill every process, since pier's end closes their control pipes).
fn spawn_signal_watch(stopping: watch::Sender<bool>) {
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        let mut asked = false;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if asked {
                eprintln!("pier: interrupted again; killing every process now");
                std::process::exit(130);
            }
            asked = true;
            stopping.send_replace(true);
        }
    });
}

/// pier's own diagnostics go to stderr, filtered by `PIER_LOG` (default: warnings).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn app_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = dir.unwrap_or(Path::new("."));
    dir.canonicalize()
        .map_err(|error| Exit::invalid(format!("app folder {}: {error}", dir.display())))
}

/// Loads and validates the manifest; invalid manifests exit with code 2 and every diagnostic.
pub fn load_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    pier_spec::load_dir(dir)
        .map_err(|error| Exit::invalid(format!("invalid manifest; nothing was started\n{error}")))
}

fn already_running(error: LockError) -> anyhow::Error {
    match error {
        LockError::Held(Some(info)) => Exit::failed(format!(
            "pier is already running for {} (pid {}, control API http://{}); use `pier ps`, or stop it with `pier down`",
            info.app, info.pid, info.api
        )),
        LockError::Held(None) => {
            Exit::failed("another pier daemon already runs for this app; stop it with `pier down`")
        }
        other => anyhow::Error::new(other).context("cannot take the app's lock"),
    }
}

fn parse_port_range(text: &str) -> anyhow::Result<(u16, u16)> {
    let invalid = || {
        Exit::invalid(format!(
            "--port-range {text:?}: expected LO-HI with 1024 ≤ LO ≤ HI ≤ 65535, like 6000-6999"
        ))
    };
    let (lo, hi) = text.split_once('-').ok_or_else(invalid)?;
    let (lo, hi): (u16, u16) = (
        lo.trim().parse().map_err(|_| invalid())?,
        hi.trim().parse().map_err(|_| invalid())?,
    );
    if lo < 1024 || lo > hi {
        return Err(invalid());
    }
    Ok((lo, hi))
}
