//! SQLite side of the region's duties lease (`crate::storage::lease`).

use super::SqliteBatch;
use crate::storage::StorageError;
use crate::storage::lease::LeaseRow;

impl SqliteBatch {
    /// The time leases are reckoned in: on SQLite, one process's clock.
    pub(crate) async fn lease_now(&mut self, clock_now_ms: i64) -> Result<i64, StorageError> {
        Ok(clock_now_ms)
    }

    /// The lease row of `duty`, if any.
    pub(crate) async fn lease_row(&mut self, duty: &str) -> Result<Option<LeaseRow>, StorageError> {
        let row: Option<(String, i64, i64)> =
            sqlx::query_as("SELECT holder, token, expires_at_ms FROM region_lease WHERE duty = ?1")
                .bind(duty)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
        Ok(row.map(|(holder, token, expires_at_ms)| LeaseRow {
            holder,
            token,
            expires_at_ms,
        }))
    }

    /// Write the lease row of `duty`.
    pub(crate) async fn put_lease(
        &mut self,
        duty: &str,
        row: &LeaseRow,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO region_lease (duty, holder, token, expires_at_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (duty) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
             expires_at_ms = excluded.expires_at_ms",
        )
        .bind(duty)
        .bind(&row.holder)
        .bind(row.token)
        .bind(row.expires_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }
}
