//! PostgreSQL's side of the credit records ([`crate::storage::access`]):
//! imports, a subject's records, many subjects' record keys at once, and
//! the records in import order the upward reporter follows.

use credex_flows::flow::{CopyOf, HeldRecord};

use super::{PgBatch, PgEngine, subjects};
use crate::storage::StorageError;
use crate::storage::engine::RECORD_ROWS_PER_INSERT;
use crate::storage::records::{
    HeldRow, ImportCursor, ImportedRow, RecordRow, StoredRecord, held_record,
};
use crate::storage::subjects::SubjectRow;

const SELECT_RECORDS_IMPORTED: &str = "SELECT category, record_id, subject_key, body, \
     imported_at_unix_ms FROM records WHERE copy_of IS NULL AND imported_at_unix_ms < $1 \
     AND (imported_at_unix_ms, category COLLATE \"C\", record_id COLLATE \"C\") > ($2, $3, $4) \
     ORDER BY imported_at_unix_ms, category COLLATE \"C\", record_id COLLATE \"C\" LIMIT $5";

impl PgEngine {
    pub(crate) async fn import_records(
        &self,
        rows: &[RecordRow],
        subjects: &[SubjectRow],
        imported_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        const OP: &str = "record import";
        let fail = |e| self.write_error(OP, e);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        subjects::insert(&mut tx, subjects).await.map_err(fail)?;
        insert_records(&mut tx, rows, imported_at_unix_ms)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(rows.len() as u64)
    }

    /// The records of `subject_key` in `categories`, at most `limit`,
    /// ordered by category and record id: read in a batch with the other
    /// queries' reads waiting ([`super::record_reads`]).
    pub(crate) async fn records_for(
        &self,
        subject_key: &str,
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StorageError> {
        self.record_reads.read(subject_key, categories, limit).await
    }

    /// Each of `subjects`' record keys in `categories`, at most `limit`
    /// each, in `subjects`' order: one statement, one index range per
    /// subject.
    pub(crate) async fn record_keys_of(
        &self,
        subjects: &[String],
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<Vec<(String, String)>>, StorageError> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT s.i, r.category, r.record_id \
             FROM UNNEST($1::text[]) WITH ORDINALITY AS s(key, i) \
             CROSS JOIN LATERAL (SELECT category, record_id FROM records \
               WHERE subject_key = s.key AND category = ANY($2) LIMIT $3) r",
        )
        .bind(subjects)
        .bind(categories)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("records of subjects", e))?;
        let mut out = vec![Vec::new(); subjects.len()];
        for (i, category, record_id) in rows {
            // WITH ORDINALITY counts from 1.
            if let Some(held) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
                held.push((category, record_id));
            }
        }
        Ok(out)
    }

    pub(crate) async fn record_count(&self) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.read_error("record count", e))
    }

    /// The copy stored of `of` (`records_by_copy`), if any.
    pub(crate) async fn record_copy(
        &self,
        of: &CopyOf,
    ) -> Result<Option<HeldRecord>, StorageError> {
        let row: Option<HeldRow> = sqlx::query_as(
            "SELECT category, record_id, subject_key, body FROM records WHERE copy_of = $1",
        )
        .bind(of.to_bytes())
        .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.read_error("records by import time", e))
    }
}

impl PgBatch {
    pub(crate) async fn import_records(
        &mut self,
        rows: &[RecordRow],
        imported_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        insert_records(self.conn().await?, rows, imported_at_unix_ms)
            .await
            .map_err(|e| self.fail(e))
    }
}

/// Upsert `rows` (keyed by category and record id) in `tx`, one prepared
/// statement over arrays per [`RECORD_ROWS_PER_INSERT`] rows. No key twice
/// in one statement (the callers check before queueing), as PostgreSQL
/// requires of `ON CONFLICT DO UPDATE`.
pub(super) async fn insert_records(
    tx: &mut sqlx::PgConnection,
    rows: &[RecordRow],
    imported_at_unix_ms: i64,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(RECORD_ROWS_PER_INSERT) {
        let column = |f: fn(&RecordRow) -> &str| chunk.iter().map(f).collect::<Vec<&str>>();
        let copies: Vec<Option<Vec<u8>>> = chunk
            .iter()
            .map(|r| r.copy_of.as_ref().map(CopyOf::to_bytes))
            .collect();
        sqlx::query(
            "INSERT INTO records \
             (category, record_id, subject_key, body, imported_at_unix_ms, copy_of) \
             SELECT c, r, s, b, $5, k \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $6::bytea[]) \
             AS t(c, r, s, b, k) \
             ON CONFLICT (category, record_id) DO UPDATE SET \
             subject_key = excluded.subject_key, body = excluded.body, \
             imported_at_unix_ms = excluded.imported_at_unix_ms, copy_of = excluded.copy_of",
        )
        .bind(column(|r| r.category.as_str()))
        .bind(column(|r| r.record_id.as_str()))
        .bind(column(|r| r.subject_key.as_str()))
        .bind(
            chunk
                .iter()
                .map(|r| r.body.as_slice())
                .collect::<Vec<&[u8]>>(),
        )
        .bind(imported_at_unix_ms)
        .bind(copies)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
