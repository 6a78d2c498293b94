//! Staging environments (`pier stage NAME [DIR]`): a working tree, uncommitted changes
//! included, run as a separate environment of the same app — its own processes, ports, state,
//! releases and config (copied from the main environment when it is created, independent
//! afterwards) — reachable at `NAME.<app>.localhost` through the daemon's router.
//!
//! `environment.rs` is one stage (its folder, state store, log bus, supervisor and deployer),
//! `manager.rs` creates, redeploys, lists and destroys them for the control API, `restore.rs`
//! brings them back when the daemon starts, `routing.rs` turns their replicas into router rules
//! and pools (and the replicas to scrape), `name.rs` checks names. Cron jobs run in the main
//! environment only.

mod environment;
mod manager;
mod name;
mod restore;
mod routing;

use std::path::PathBuf;

use pier_router::{Router, TableSpec};
use tokio::sync::watch;

pub use manager::StageManager;

/// What every stage shares with the main environment.
pub struct Shared {
    /// The app's name: stages answer at `NAME.<app>.localhost`.
    pub app: String,
    /// `.pier` of the app.
    pub state_dir: PathBuf,
    /// The pier executable (runs the shim).
    pub shim: PathBuf,
    /// The range `$PORT`s come from (the main environment's).
    pub port_range: (u16, u16),
    /// The main environment's state store (its config is a new stage's).
    pub main_state: pier_state::State,
    /// The main environment's service names (they name hosts, so no stage may take them).
    pub services: Vec<String>,
    pub router: Router,
    /// The main environment's log bus, for notes about the stages.
    pub logs: pier_supervisor::LogBus,
    /// The public router's port, for the URLs `pier stage list` prints.
    pub public_port: u16,
    /// Bumped whenever a stage's replicas change, so the routing table is rebuilt.
    pub ticks: watch::Sender<u64>,
    /// The stages' part of the routing table.
    pub table: watch::Sender<TableSpec>,
    /// The stages' scrape targets (their replicas with a metrics path, `env="NAME"`).
    pub targets: watch::Sender<Vec<pier_scrape::scrape::Target>>,
}

impl Shared {
    /// `.pier/stages/NAME`.
    pub fn stage_dir(&self, name: &str) -> PathBuf {
        self.stages_dir().join(name)
    }

    /// `.pier/stages`.
    pub fn stages_dir(&self) -> PathBuf {
        self.state_dir.join("stages")
    }
}
