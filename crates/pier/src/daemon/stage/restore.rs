//! Bringing the stages back when the daemon starts: every `.pier/stages/NAME/stage.json`
//! becomes a running stage again, with its current release at its formation (a deploy the
//! previous daemon did not finish is marked failed, as the main environment's is). A stage
//! that cannot start is reported and left on disk for `pier stage destroy`.

use std::collections::BTreeMap;

use super::environment::{Environment, Record};
use super::manager::StageManager;

impl StageManager {
    /// Starts every stage found on disk; returns the names of those running.
    pub async fn restore(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.shared.stages_dir()) else {
            return Vec::new();
        };
        let mut restored = Vec::new();
        let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs.into_iter().filter(|d| d.is_dir()) {
            let record = match Record::read(&dir) {
                Ok(record) => record,
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), error = %format!("{error:#}"), "not a stage; skipped");
                    continue;
                }
            };
            let name = record.name.clone();
            match Environment::start(&self.shared, record, BTreeMap::new()).await {
                Ok(env) => {
                    self.insert(env);
                    restored.push(name);
                }
                Err(error) => {
                    tracing::warn!(stage = %name, error = %format!("{error:#}"), "cannot restore the stage");
                }
            }
        }
        restored
    }
}
