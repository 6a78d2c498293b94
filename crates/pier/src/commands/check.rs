//! `pier check [DIR]`: validates the manifest and prints what would run, starting nothing.

use std::path::Path;

use crate::daemon::load_manifest;
use crate::table::Table;

pub fn run(dir: Option<&Path>) -> anyhow::Result<()> {
    let manifest = load_manifest(dir.unwrap_or(Path::new(".")))?;
    println!("{}: manifest is valid", manifest.app);
    let mut table = Table::new(&["SERVICE", "REPLICAS", "KIND", "COMMAND"]);
    for s in manifest.services.values() {
        let kind = match (s.public, s.port) {
            (true, _) => "public",
            (false, true) => "internal",
            (false, false) => "worker",
        };
        table.row(vec![
            s.name.clone(),
            s.replicas.to_string(),
            kind.to_string(),
            s.command.clone(),
        ]);
    }
    print!("{}", table.render());
    if !manifest.jobs.is_empty() {
        let mut jobs = Table::new(&["JOB", "SCHEDULE", "TIMEZONE", "COMMAND"]);
        for j in manifest.jobs.values() {
            jobs.row(vec![
                j.name.clone(),
                j.schedule.clone(),
                j.timezone.clone(),
                j.command.clone(),
            ]);
        }
        print!("\n{}", jobs.render());
    }
    Ok(())
}
