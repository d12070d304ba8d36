//! Reading the journal: its length, a range of records, the records of one
//! kind. All read only and cancel-safe.

use super::{JournalRecord, MAX_RANGE_LIMIT, Storage, StorageError};

impl Storage {
    /// Number of records in the journal, i.e. the next sequence number.
    /// Cancel-safe (read only).
    pub async fn journal_len(&self) -> Result<u64, StorageError> {
        self.inner.engine.journal_len().await
    }

    /// Up to `limit` records (at most [`MAX_RANGE_LIMIT`]) starting at
    /// sequence number `from`, in order. Empty when `from` is at or past the
    /// end. Cancel-safe (read only).
    pub async fn journal_range(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        if limit == 1
            && let Some(record) = self.inner.recent.record(from)
        {
            return Ok(vec![record]);
        }
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_RANGE_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.inner.engine.journal_range(from, limit).await
    }

    /// Up to `limit` records (at most [`MAX_RANGE_LIMIT`]) of `kind` with
    /// `from <= seq < below`, in order: for a task that follows the log for
    /// one kind of entry, without reading the bodies of the others.
    /// Cancel-safe (read only).
    pub async fn journal_of_kind(
        &self,
        from: u64,
        below: u64,
        kind: u16,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let (Ok(from), Ok(below)) = (i64::try_from(from), i64::try_from(below)) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_RANGE_LIMIT);
        if limit == 0 || from >= below {
            return Ok(Vec::new());
        }
        self.inner
            .engine
            .journal_of_kind(from, below, kind, limit)
            .await
    }
}
