//! The formation: replica counts set by `pier scale`, which override the manifest's defaults.
//! Only overrides are stored; a process type absent here runs as its manifest says.
//! Knows nothing of which process types the manifest declares.

use std::collections::BTreeMap;

use crate::db::State;
use crate::error::{DbContext, StateError};

impl State {
    /// The replica-count overrides, by process type.
    pub fn formation(&self) -> Result<BTreeMap<String, u32>, StateError> {
        const OP: &str = "reading the formation";
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT process, replicas FROM formation ORDER BY process")
                .during(OP)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .during(OP)?;
            let mut formation = BTreeMap::new();
            for row in rows {
                let (process, replicas) = row.during(OP)?;
                let replicas = u32::try_from(replicas).map_err(|_| StateError::Corrupt {
                    detail: format!("formation of {process:?} has replica count {replicas}"),
                })?;
                formation.insert(process, replicas);
            }
            Ok(formation)
        })
    }

    /// Sets replica counts for the given process types, all or nothing; others are untouched.
    pub fn set_formation(&self, changes: &BTreeMap<String, u32>) -> Result<(), StateError> {
        const OP: &str = "writing the formation";
        if changes.keys().any(String::is_empty) {
            return Err(StateError::Invalid(
                "a process type name in the formation is empty".to_owned(),
            ));
        }
        let now = self.now_ms();
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO formation (process, replicas, updated_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (process) DO UPDATE
                     SET replicas = excluded.replicas, updated_at_ms = excluded.updated_at_ms",
                )
                .during(OP)?;
            for (process, replicas) in changes {
                stmt.execute((process, replicas, now)).during(OP)?;
            }
            Ok(())
        })
    }

    /// Drops the overrides of the given process types, so they run as the manifest says.
    pub fn reset_formation(&self, processes: &[String]) -> Result<(), StateError> {
        const OP: &str = "resetting the formation";
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare_cached("DELETE FROM formation WHERE process = ?1")
                .during(OP)?;
            for process in processes {
                stmt.execute([process]).during(OP)?;
            }
            Ok(())
        })
    }
}
