//! A consistent copy of an SQLite store while it runs (`credex backup`,
//! [`crate::backup`]); PostgreSQL's snapshot is `pg_dump`'s.

use std::sync::Arc;

use super::{Backend, Storage, StorageError};

impl Storage {
    /// An SQLite store copied, consistently and while it runs, into the new
    /// file `to` (mode 0600); `None` for PostgreSQL, whose snapshot is
    /// `pg_dump`'s (`crate::backup`).
    pub async fn snapshot_sqlite(&self, to: &std::path::Path) -> Option<Result<(), StorageError>> {
        if !matches!(self.backend(), Backend::Sqlite) {
            return None;
        }
        // Created 0600 and empty first, so no copy is ever readable by others.
        if let Err(e) = crate::file_modes::create_private_file(to) {
            return Some(Err(StorageError::CreateDir {
                path: to.to_owned(),
                source: Arc::new(e),
            }));
        }
        let done = self.inner.engine.snapshot_into(to).await?;
        Some(done.and_then(|()| {
            crate::file_modes::restrict(to).map_err(|e| StorageError::CreateDir {
                path: to.to_owned(),
                source: Arc::new(e),
            })
        }))
    }
}
