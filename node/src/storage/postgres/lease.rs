//! PostgreSQL side of the region's duties lease (`crate::storage::lease`).

use super::PgBatch;
use crate::storage::StorageError;

impl PgBatch {
    /// The time leases are reckoned in: the database server's clock, one
    /// for every process of the region whatever their own clocks say.
    pub(crate) async fn lease_now(&mut self, _clock_now_ms: i64) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8")
            .fetch_one(self.conn().await?)
            .await
            .map_err(|e| self.fail(e))
    }
}

crate::storage::lease::lease_sql!(batch: PgBatch, lock: " FOR UPDATE");
