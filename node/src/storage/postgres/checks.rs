//! PostgreSQL side of the many-subject reads (`super::super::checks`).

use super::PgEngine;
use crate::storage::StorageError;
use crate::storage::checks::SubjectRecord;
use crate::storage::records::StoredRecord;

impl PgEngine {
    pub(crate) async fn records_of_subjects(
        &self,
        subject_keys: &[String],
        limit: usize,
    ) -> Result<Vec<SubjectRecord>, StorageError> {
        let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT subject_key, category, record_id, body FROM records \
             WHERE subject_key = ANY($1) \
             ORDER BY subject_key COLLATE \"C\", category COLLATE \"C\", record_id COLLATE \"C\" \
             LIMIT $2",
        )
        .bind(subject_keys)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("records of subjects", e))?;
        Ok(rows
            .into_iter()
            .map(|(subject_key, category, record_id, body)| SubjectRecord {
                subject_key,
                record: StoredRecord {
                    category,
                    record_id,
                    body,
                },
            })
            .collect())
    }

    pub(crate) async fn state_in_ranges(
        &self,
        ns: &str,
        ranges: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let (lows, highs): (Vec<String>, Vec<String>) = ranges.iter().cloned().unzip();
        sqlx::query_as(
            "SELECT s.key, s.value FROM flow_state s \
             JOIN unnest($2::text[], $3::text[]) AS r(lo, hi) \
               ON s.key >= r.lo COLLATE \"C\" AND s.key < r.hi COLLATE \"C\" \
             WHERE s.ns = $1 ORDER BY s.key LIMIT $4",
        )
        .bind(ns)
        .bind(&lows)
        .bind(&highs)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("flow state by prefixes", e))
    }
}
