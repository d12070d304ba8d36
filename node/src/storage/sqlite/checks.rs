//! SQLite side of the many-subject reads (`super::super::checks`).

use sqlx::{QueryBuilder, Sqlite};

use super::SqliteEngine;
use crate::storage::StorageError;
use crate::storage::checks::SubjectRecord;
use crate::storage::records::StoredRecord;

impl SqliteEngine {
    pub(crate) async fn records_of_subjects(
        &self,
        subject_keys: &[String],
        limit: usize,
    ) -> Result<Vec<SubjectRecord>, StorageError> {
        // The subject index, as `records_for` (its comment explains why
        // the planner must be told).
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT subject_key, category, record_id, body FROM records \
             INDEXED BY records_by_subject WHERE subject_key IN (",
        );
        let mut list = select.separated(", ");
        for key in subject_keys {
            list.push_bind(key.as_str());
        }
        select
            .push(") ORDER BY subject_key, category, record_id LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows: Vec<(String, String, String, Vec<u8>)> = select
            .build_query_as()
            .persistent(false)
            .fetch_all(&self.read)
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
        let mut select =
            QueryBuilder::<Sqlite>::new("SELECT key, value FROM flow_state WHERE ns = ");
        select.push_bind(ns).push(" AND (");
        for (i, (lo, hi)) in ranges.iter().enumerate() {
            if i > 0 {
                select.push(" OR ");
            }
            select
                .push("(key >= ")
                .push_bind(lo.as_str())
                .push(" AND key < ")
                .push_bind(hi.as_str())
                .push(")");
        }
        select
            .push(") ORDER BY key LIMIT ")
            .push_bind(i64::from(limit));
        select
            .build_query_as()
            .persistent(false)
            .fetch_all(&self.read)
            .await
            .map_err(|e| self.read_error("flow state by prefixes", e))
    }
}
