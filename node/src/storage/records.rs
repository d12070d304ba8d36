//! The region's credit records (信用记录): imported rows, their bounds, and
//! the reads the query path, the checks and the reporter make of them.
//! Imports run on the writer, like journal appends; reads are cancel-safe.

use std::collections::HashSet;

use tokio::sync::oneshot;

use super::writer::Command;
use super::{Storage, StorageError};

/// Longest record category, record id or subject key, in bytes.
pub const MAX_RECORD_KEY_LEN: usize = 256;

/// Largest record body accepted by [`Storage::import_records`], in bytes.
pub const MAX_RECORD_BODY_LEN: usize = 64 * 1024;

/// Most rows one [`Storage::import_records`] call may import.
pub const MAX_IMPORT_ROWS: usize = 1 << 20;

/// Most records one [`Storage::records_for`] call returns; a subject with
/// more in the requested categories is refused with
/// [`StorageError::TooManyRecords`] rather than answered in part.
pub const MAX_RECORDS_PER_QUERY: usize = 1024;
/// Most subjects [`Storage::record_keys_of_subjects`] reads at once: an
/// upward batch's worth.
pub const MAX_SUBJECTS_PER_READ: usize = credex_protocol::upward::MAX_BATCH_RECORDS;

/// Most categories one [`Storage::records_for`] call may name.
pub const MAX_QUERY_CATEGORIES: usize = 256;

/// One credit record to import (the flows' own type: a flow returns the
/// records it stores as data). Bounds: category, record id and subject key
/// 1 ..= [`MAX_RECORD_KEY_LEN`] bytes, body at most
/// [`MAX_RECORD_BODY_LEN`] bytes.
pub use credex_flows::flow::RecordRow;

/// Most records one [`Storage::records_imported`] returns.
pub const MAX_IMPORTED_PAGE: u32 = 1000;

/// A position in the records ordered by import time
/// ([`Storage::records_imported`]): after this import time, category and
/// record id.
///
/// Ordered like the records it points into: by import time, then category
/// and record id bytewise.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ImportCursor {
    /// Import time, Unix ms.
    pub imported_at_unix_ms: i64,
    /// Category.
    pub category: String,
    /// Record id.
    pub record_id: String,
}

/// A credit record with its import time ([`Storage::records_imported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRecord {
    /// Catalogue category.
    pub category: String,
    /// The record's id within its category.
    pub record_id: String,
    /// The subject's key (never a clear identifier).
    pub subject_key: String,
    /// The record as imported.
    pub body: Vec<u8>,
    /// When it was (last) imported, Unix ms.
    pub imported_at_unix_ms: i64,
}

/// A row of [`Storage::records_imported`] as the engines read it.
pub(crate) type ImportedRow = (String, String, String, Vec<u8>, i64);

/// A stored record's (category, record id, subject key, body) row, as
/// both engines read a copy ([`Storage::record_copy`]).
pub(crate) type HeldRow = (String, String, String, Vec<u8>);

/// The held record a [`HeldRow`] is.
pub(crate) fn held_record(
    (category, record_id, subject_key, body): HeldRow,
) -> credex_flows::flow::HeldRecord {
    credex_flows::flow::HeldRecord {
        category,
        record_id,
        subject_key,
        body,
    }
}

/// A credit record as returned by [`Storage::records_for`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Catalogue category.
    pub category: String,
    /// The record's id within its category.
    pub record_id: String,
    /// The record as imported.
    pub body: Vec<u8>,
}

pub(crate) fn validate_records(rows: &[RecordRow]) -> Result<(), StorageError> {
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(StorageError::TooManyImportRows {
            rows: rows.len(),
            max: MAX_IMPORT_ROWS,
        });
    }
    let mut keys = HashSet::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let invalid = |reason: String| Err(StorageError::InvalidRecord { index, reason });
        for (name, value) in [
            ("category", &row.category),
            ("record_id", &row.record_id),
            ("subject_key", &row.subject_key),
        ] {
            if value.is_empty() || value.len() > MAX_RECORD_KEY_LEN {
                return invalid(format!(
                    "{name} must be 1..={MAX_RECORD_KEY_LEN} bytes, got {}",
                    value.len()
                ));
            }
        }
        if row.body.len() > MAX_RECORD_BODY_LEN {
            return invalid(format!(
                "body of {} bytes exceeds the maximum of {MAX_RECORD_BODY_LEN} bytes",
                row.body.len()
            ));
        }
        if !keys.insert((row.category.as_str(), row.record_id.as_str())) {
            return invalid(format!(
                "category {:?} record_id {:?} appears twice in the import",
                row.category, row.record_id
            ));
        }
    }
    Ok(())
}

impl Storage {
    /// Imports credit records: all rows in one transaction, so a file is
    /// imported whole or not at all. A row whose (category, record_id) is
    /// already stored replaces it (subject key, body and import time): a
    /// re-import of a corrected file updates its records. Returns the
    /// number of rows written (inserted or replaced).
    ///
    /// Rows are checked before anything is queued: lengths, and no
    /// (category, record_id) twice in one import
    /// ([`StorageError::InvalidRecord`] names the row's index), and at most
    /// [`MAX_IMPORT_ROWS`] rows. The import runs on the writer, so journal
    /// appends wait while a large file is written.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the import.
    pub async fn import_records(&self, rows: Vec<RecordRow>) -> Result<u64, StorageError> {
        validate_records(&rows)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let rows = self.seal_records(rows)?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::ImportRecords {
            rows,
            subjects: Vec::new(),
            reply,
        })
        .await?;
        self.answer(answer).await
    }

    /// The records of `subject_key` in `categories` (none if `categories` is
    /// empty), ordered by category and record id. A subject with more than
    /// [`MAX_RECORDS_PER_QUERY`] matching records is refused with
    /// [`StorageError::TooManyRecords`]; at most [`MAX_QUERY_CATEGORIES`]
    /// categories may be named. Cancel-safe (read only).
    pub async fn records_for(
        &self,
        subject_key: &str,
        categories: &[String],
    ) -> Result<Vec<StoredRecord>, StorageError> {
        if categories.len() > MAX_QUERY_CATEGORIES {
            return Err(StorageError::TooManyCategories {
                categories: categories.len(),
                max: MAX_QUERY_CATEGORIES,
            });
        }
        if categories.is_empty() {
            return Ok(Vec::new());
        }
        let records = self
            .inner
            .engine
            .records_for(subject_key, categories, MAX_RECORDS_PER_QUERY + 1)
            .await?;
        if records.len() > MAX_RECORDS_PER_QUERY {
            return Err(StorageError::TooManyRecords {
                max: MAX_RECORDS_PER_QUERY,
            });
        }
        self.open_records(records).await
    }

    /// For each of `subjects` (subject keys), the keys (category, record
    /// id) of its records in `categories`, in `subjects`' order; `None` for
    /// a subject holding more than [`MAX_RECORDS_PER_QUERY`]. At most
    /// [`MAX_SUBJECTS_PER_READ`] subjects. What a flow deciding on many
    /// subjects at once reads (an upward batch: one round trip on
    /// PostgreSQL, not one per subject). Cancel-safe (read only).
    pub async fn record_keys_of_subjects(
        &self,
        subjects: &[String],
        categories: &[String],
    ) -> Result<Vec<Option<Vec<(String, String)>>>, StorageError> {
        if categories.len() > MAX_QUERY_CATEGORIES {
            return Err(StorageError::TooManyCategories {
                categories: categories.len(),
                max: MAX_QUERY_CATEGORIES,
            });
        }
        if subjects.len() > MAX_SUBJECTS_PER_READ {
            return Err(StorageError::InvalidState {
                reason: format!(
                    "{} subjects read at once, at most {MAX_SUBJECTS_PER_READ}",
                    subjects.len()
                ),
            });
        }
        if categories.is_empty() {
            return Ok(vec![Some(Vec::new()); subjects.len()]);
        }
        let held = self
            .inner
            .engine
            .record_keys_of(subjects, categories, MAX_RECORDS_PER_QUERY + 1)
            .await?;
        Ok(held
            .into_iter()
            .map(|keys| (keys.len() <= MAX_RECORDS_PER_QUERY).then_some(keys))
            .collect())
    }

    /// The copy this node stores of another region's record (the national
    /// node's copies of what provinces report upward), by the key its owner
    /// names it by. Cancel-safe (read only).
    pub async fn record_copy(
        &self,
        of: &credex_flows::flow::CopyOf,
    ) -> Result<Option<credex_flows::flow::HeldRecord>, StorageError> {
        let Some(mut held) = self.inner.engine.record_copy(of).await? else {
            return Ok(None);
        };
        let row = super::at_rest::Row::Record {
            category: &held.category,
            record_id: &held.record_id,
        };
        held.body = self.open_value(row, std::mem::take(&mut held.body)).await?;
        Ok(Some(held))
    }

    /// Number of credit records stored. Cancel-safe (read only).
    pub async fn record_count(&self) -> Result<u64, StorageError> {
        self.inner.engine.record_count().await
    }

    /// Up to `limit` (at most [`MAX_IMPORTED_PAGE`]) of this region's own
    /// records imported before `before_unix_ms`, ordered by (import time,
    /// category, record id), starting after `after`; copies of other
    /// regions' records ([`RecordRow::copy_of`]) are left out. A
    /// re-imported record moves to its new import time. Cancel-safe (read
    /// only).
    pub async fn records_imported(
        &self,
        after: &ImportCursor,
        before_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<ImportedRecord>, StorageError> {
        let rows = self
            .inner
            .engine
            .records_imported(after, before_unix_ms, limit.min(MAX_IMPORTED_PAGE))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (category, record_id, subject_key, body, imported_at_unix_ms) in rows {
            let row = super::at_rest::Row::Record {
                category: &category,
                record_id: &record_id,
            };
            let body = self.open_value(row, body).await?;
            out.push(ImportedRecord {
                category,
                record_id,
                subject_key,
                body,
                imported_at_unix_ms,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_rows_are_checked() {
        let row = |category: &str, record_id: &str| RecordRow {
            category: category.into(),
            record_id: record_id.into(),
            subject_key: "s".into(),
            body: Vec::new(),
            copy_of: None,
        };
        assert!(validate_records(&[row("a", "1"), row("a", "2"), row("b", "1")]).is_ok());
        let err = validate_records(&[row("a", "1"), row("", "2")]).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidRecord { index: 1, .. }),
            "{err}"
        );
        let err = validate_records(&[row("a", "1"), row("b", "1"), row("a", "1")]).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidRecord { index: 2, .. }),
            "{err}"
        );
        let long = "x".repeat(MAX_RECORD_KEY_LEN + 1);
        assert!(validate_records(&[row("a", &long)]).is_err());
    }
}
