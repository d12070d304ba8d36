//! The reads of the query path, on read-only connections driven directly
//! (rusqlite) on the caller's thread (decision 1040).
//!
//! A query's reads (the quota used, the subject's records) each fetch a
//! row or a few by an index. Through sqlx each is a hand-off to a worker
//! thread and back, which costs more than the read itself; here the
//! caller's task runs it. It blocks its runtime thread for the read's
//! duration, tens of microseconds from the page cache: a WAL reader does
//! not wait for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};

use crate::storage::engine;
use crate::storage::records::StoredRecord;
use crate::storage::{JournalRecord, LOCK_WAIT_TIMEOUT, StorageError};

/// Statements each reading connection keeps prepared.
const STATEMENT_CACHE: usize = 16;

/// Read-only connections, opened as needed and kept up to a maximum.
#[derive(Clone)]
pub(crate) struct DirectReaders {
    location: Arc<str>,
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
    max_idle: usize,
}

impl DirectReaders {
    pub(crate) fn new(path: &Path, location: Arc<str>, max_idle: usize) -> DirectReaders {
        DirectReaders {
            location,
            path: Arc::new(path.to_owned()),
            idle: Arc::new(Mutex::new(Vec::new())),
            max_idle,
        }
    }

    /// Runs `read` on an idle connection (or a new one), named
    /// `operation` in its error.
    fn read<T>(
        &self,
        operation: &'static str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        let fail = |e: rusqlite::Error| StorageError::Read {
            operation,
            location: self.location.to_string(),
            source: Arc::new(e.into()),
        };
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.connect().map_err(fail)?,
        };
        let result = read(&connection).map_err(fail);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
        result
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            self.path.as_path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(LOCK_WAIT_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }

    /// Closes the idle connections (the store is closing).
    pub(crate) fn close(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn quota_used(
        &self,
        peer: &str,
        window_start_unix_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        self.read("quota usage", |c| {
            c.prepare_cached(
                "SELECT used FROM quota_usage WHERE peer = ?1 AND window_start_unix_ms = ?2",
            )?
            .query_row(rusqlite::params![peer, window_start_unix_ms], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    pub(crate) fn authorization_uses(&self, id: &[u8; 16]) -> Result<Option<i64>, StorageError> {
        self.read("authorization uses", |c| {
            c.prepare_cached("SELECT uses FROM authorization_uses WHERE authorization_id = ?1")?
                .query_row([id.as_slice()], |row| row.get(0))
                .optional()
        })
    }

    /// The records of `subject_key` in `categories` (not empty), at most
    /// `limit`, by category and record id.
    pub(crate) fn records_for(
        &self,
        subject_key: &str,
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StorageError> {
        // INDEXED BY: see `SqliteEngine::records_for`.
        let list = vec!["?"; categories.len()].join(", ");
        let sql = format!(
            "SELECT category, record_id, body FROM records INDEXED BY records_by_subject \
             WHERE subject_key = ? AND category IN ({list}) ORDER BY category, record_id LIMIT ?"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let params = std::iter::once(rusqlite::types::Value::Text(subject_key.to_owned()))
            .chain(
                categories
                    .iter()
                    .map(|c| rusqlite::types::Value::Text(c.clone())),
            )
            .chain(std::iter::once(rusqlite::types::Value::Integer(limit)));
        self.read("records of a subject", |c| {
            c.prepare_cached(&sql)?
                .query_map(params_from_iter(params), |row| {
                    Ok(StoredRecord {
                        category: row.get(0)?,
                        record_id: row.get(1)?,
                        body: row.get(2)?,
                    })
                })?
                .collect()
        })
    }

    /// The journal records of `kind` with `from <= seq < below`, at most
    /// `limit`, in order. The scan reads each row's kind, not its body.
    pub(crate) fn journal_of_kind(
        &self,
        from: i64,
        below: i64,
        kind: u16,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let rows = self.read("journal entries of a kind", |c| {
            c.prepare_cached(
                "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
                 WHERE seq >= ?1 AND seq < ?2 AND kind = ?3 ORDER BY seq LIMIT ?4",
            )?
            .query_map(
                rusqlite::params![from, below, i64::from(kind), i64::from(limit)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )?
            .collect::<rusqlite::Result<Vec<(i64, i64, i64, Vec<u8>)>>>()
        })?;
        rows.into_iter()
            .map(|(seq, kind, at, body)| {
                engine::journal_record(&self.location, seq, kind, at, body)
            })
            .collect()
    }
}
