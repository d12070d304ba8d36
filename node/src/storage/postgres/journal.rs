//! PostgreSQL side of the journal reads of one kind
//! ([`crate::storage::Storage::journal_of_kind`]).

use super::PgEngine;
use crate::storage::engine;
use crate::storage::{JournalRecord, StorageError};

impl PgEngine {
    pub(crate) async fn journal_of_kind(
        &self,
        from: i64,
        below: i64,
        kind: u16,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let rows: Vec<(i64, i32, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
             WHERE seq >= $1 AND seq < $2 AND kind = $3 ORDER BY seq LIMIT $4",
        )
        .bind(from)
        .bind(below)
        .bind(i32::from(kind))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("journal entries of a kind", e))?;
        self.journal_records(rows)
    }

    /// Journal rows `(seq, kind, recorded_at_unix_ms, body)` as records.
    pub(super) fn journal_records(
        &self,
        rows: Vec<(i64, i32, i64, Vec<u8>)>,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        rows.into_iter()
            .map(|(seq, kind, at, body)| {
                engine::journal_record(&self.location, seq, i64::from(kind), at, body)
            })
            .collect()
    }
}
