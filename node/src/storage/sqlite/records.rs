//! SQLite's side of the credit records ([`crate::storage::access`]):
//! imports, a subject's records and the records in import order the upward
//! reporter follows.

use credex_flows::flow::{CopyOf, HeldRecord};
use sqlx::{QueryBuilder, Sqlite};

use super::{BATCH_OP, SqliteBatch, SqliteEngine, subjects};
use crate::storage::StorageError;
use crate::storage::engine::RECORD_ROWS_PER_INSERT;
use crate::storage::records::{
    HeldRow, ImportCursor, ImportedRow, RecordRow, StoredRecord, held_record,
};
use crate::storage::subjects::SubjectRow;

const SELECT_RECORDS_IMPORTED: &str = "SELECT category, record_id, subject_key, body, \
     imported_at_unix_ms FROM records WHERE copy_of IS NULL AND imported_at_unix_ms < ? \
     AND (imported_at_unix_ms, category, record_id) > (?, ?, ?) \
     ORDER BY imported_at_unix_ms, category, record_id LIMIT ?";

impl SqliteEngine {
    pub(crate) async fn import_records(
        &self,
        rows: &[RecordRow],
        subjects: &[SubjectRow],
        imported_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        const OP: &str = "record import";
        let fail = |e| self.write_error(OP, e);
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        subjects::insert(&mut tx, subjects).await.map_err(fail)?;
        insert_records(&mut tx, rows, imported_at_unix_ms)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(rows.len() as u64)
    }

    pub(crate) async fn records_for(
        &self,
        subject_key: &str,
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StorageError> {
        // INDEXED BY (in `DirectReaders::records_for`): without it SQLite's
        // planner satisfies the ORDER BY with the primary key (category,
        // record_id) and scans every record of the category, checking
        // subject_key row by row (EXPLAIN QUERY PLAN: "SEARCH records USING
        // INDEX sqlite_autoindex_records_1 (category=?)"): 1.4 s per query
        // at 40,000 records (credex-sim).
        self.readers.records_for(subject_key, categories, limit)
    }

    pub(crate) async fn record_count(&self) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&self.read)
            .await
            .map_err(|e| self.read_error("record count", e))
    }

    /// The copy stored of `of` (`records_by_copy`), if any.
    pub(crate) async fn record_copy(
        &self,
        of: &CopyOf,
    ) -> Result<Option<HeldRecord>, StorageError> {
        let row: Option<HeldRow> = sqlx::query_as(
            "SELECT category, record_id, subject_key, body FROM records WHERE copy_of = ?1",
        )
        .bind(of.to_bytes())
        .fetch_optional(&self.read)
        .await
        .map_err(|e| self.read_error("a record copy", e))?;
        Ok(row.map(held_record))
    }

    pub(crate) async fn records_imported(
        &self,
        after: &ImportCursor,
        before_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<ImportedRow>, StorageError> {
        sqlx::query_as(SELECT_RECORDS_IMPORTED)
            .bind(before_unix_ms)
            .bind(after.imported_at_unix_ms)
            .bind(after.category.as_str())
            .bind(after.record_id.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(|e| self.read_error("records by import time", e))
    }
}

impl SqliteBatch {
    pub(crate) async fn import_records(
        &mut self,
        rows: &[RecordRow],
        imported_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        insert_records(&mut self.tx, rows, imported_at_unix_ms)
            .await
            .map_err(|e| self.engine.write_error(BATCH_OP, e))
    }
}

/// Upsert `rows` (keyed by category and record id) in `tx`, in statements
/// of [`RECORD_ROWS_PER_INSERT`] rows. No key twice in `rows`.
pub(super) async fn insert_records(
    tx: &mut sqlx::SqliteConnection,
    rows: &[RecordRow],
    imported_at_unix_ms: i64,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(RECORD_ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO records \
             (category, record_id, subject_key, body, imported_at_unix_ms, copy_of) ",
        );
        insert.push_values(chunk, |mut row, record| {
            row.push_bind(record.category.as_str())
                .push_bind(record.record_id.as_str())
                .push_bind(record.subject_key.as_str())
                .push_bind(record.body.as_slice())
                .push_bind(imported_at_unix_ms)
                .push_bind(record.copy_of.as_ref().map(CopyOf::to_bytes));
        });
        insert.push(
            " ON CONFLICT (category, record_id) DO UPDATE SET \
             subject_key = excluded.subject_key, body = excluded.body, \
             imported_at_unix_ms = excluded.imported_at_unix_ms, copy_of = excluded.copy_of",
        );
        insert.build().persistent(false).execute(&mut *tx).await?;
    }
    Ok(())
}
