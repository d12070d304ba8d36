//! SQLite side of the region's duties lease (`crate::storage::lease`).

use super::SqliteBatch;
use crate::storage::StorageError;

impl SqliteBatch {
    /// The time leases are reckoned in: on SQLite, one process's clock.
    pub(crate) async fn lease_now(&mut self, clock_now_ms: i64) -> Result<i64, StorageError> {
        Ok(clock_now_ms)
    }
}

crate::storage::lease::lease_sql!(batch: SqliteBatch, lock: "");
