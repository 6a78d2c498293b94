//! Small named settings of an app that must survive a restart: maintenance mode, the loopback
//! port of each internal service's listener (so `<NAME>_URL` stays the same), and the like.
//! Keys are namespaced by their owner (`router.maintenance`, `router.port.answers`).

use crate::db::State;
use crate::error::{DbContext, StateError};

impl State {
    /// The value of `key`, if it was ever set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StateError> {
        const OP: &str = "reading a setting";
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .during(OP)?;
            let mut rows = stmt.query([key]).during(OP)?;
            match rows.next().during(OP)? {
                Some(row) => Ok(Some(row.get(0).during(OP)?)),
                None => Ok(None),
            }
        })
    }

    /// Sets `key` to `value`, durably, before returning.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StateError> {
        const OP: &str = "writing a setting";
        if key.is_empty() {
            return Err(StateError::Invalid("a setting's key is empty".to_owned()));
        }
        let now = self.now_ms();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO settings (key, value, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE
                 SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
                (key, value, now),
            )
            .during(OP)?;
            Ok(())
        })
    }
}
