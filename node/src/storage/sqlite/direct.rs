//! The SQLite writer's group commits, on a connection it drives directly
//! (rusqlite) from its own thread (decision 1040).
//!
//! Through sqlx, every statement of a batch transaction is a hand-off to
//! sqlx's SQLite worker thread and back: two context switches each, about
//! ten per batch, and they were the largest share of the query path's CPU
//! (docs/performance.md). Here the writer thread runs the statements
//! itself, each prepared once and kept in the connection's statement cache,
//! so a batch costs one hand-off (the queue) whatever its size.
//!
//! Only the journal batches of [`crate::storage::writer`] use this
//! connection. Everything else the writer runs (the record feed, imports,
//! the log's side tables, lease claims, recoveries) keeps the sqlx write
//! connection: both connections belong to the one writer thread, which
//! runs one transaction at a time, so they never wait for each other.
//!
//! The SQL is the same as the sqlx side's, row by row instead of one
//! statement per batch: without a hand-off, a cached single-row statement
//! costs less than preparing a statement sized to the batch.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use credex_flows::flow::CopyOf;
use credex_protocol::tlog::Hash;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::held_nonces::{HELD_HORIZON_MS, HeldNonces};
use super::{BATCH_OP, INSERT_TREE_HASHES, NEXT_SEQ};
use crate::storage::access::{AccessClaim, ClaimState};
use crate::storage::claims::ClaimLedger;
use crate::storage::claims::on_kept_conflict;
use crate::storage::engine::{self, JournalRow, expect_one_row, seq_column};
use crate::storage::lease::LeaseRow;
use crate::storage::state::StateWrite;
use crate::storage::witness::{INSERT_CHECKPOINT, STORED_CHECKPOINT};
use crate::storage::{JournalRecord, LOCK_WAIT_TIMEOUT, RecordRow, StorageError};

/// Keeps an attachment by its entry (decision 1220).
const INSERT_KEPT: &str = concat!(
    "INSERT INTO entry_attachments (seq, digest, body, assembled) VALUES (?1, ?2, ?3, ?4)",
    on_kept_conflict!()
);

/// Statements the connection keeps prepared: every statement of a batch.
const STATEMENT_CACHE: usize = 32;

/// The writer's page cache, KiB: the B-tree pages its batches touch (the
/// journal's and the tree's last pages, the nonce and attachment indexes)
/// without reading them back from the file. SQLite's default is 2 MiB.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// The writer's direct connection. Cheap to clone; at most one
/// [`DirectBatch`] holds the connection at a time.
#[derive(Clone)]
pub(crate) struct DirectWriter {
    location: Arc<str>,
    /// `None` while a batch holds it, or once closed.
    connection: Arc<Mutex<Option<Connection>>>,
    /// Every nonce of the store, for the claims (decision 1210).
    nonces: Arc<Mutex<HeldNonces>>,
}

impl DirectWriter {
    /// Opens the writer's connection to the store at `path`, which
    /// [`super::SqliteEngine::open`] created, switched to WAL and migrated.
    pub(crate) fn open(path: &Path, location: Arc<str>) -> Result<DirectWriter, StorageError> {
        let open = |e: rusqlite::Error| StorageError::Write {
            operation: "opening the writer's connection",
            location: location.to_string(),
            source: Arc::new(e.into()),
        };
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open)?;
        connection.busy_timeout(LOCK_WAIT_TIMEOUT).map_err(open)?;
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(open)?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(open)?;
        // Negative: KiB. The writer is the store's only writing connection,
        // so what it caches stays valid between its transactions.
        connection
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(open)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The same rules as the sqlx connection (`check_write_rules`): an
        // append is acknowledged only under WAL and `synchronous = FULL`.
        let rules: (String, i64) = connection
            .query_row(
                "SELECT * FROM pragma_journal_mode, pragma_synchronous",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(open)?;
        if !rules.0.eq_ignore_ascii_case("wal") || rules.1 != 2 {
            return Err(StorageError::Corrupt {
                location: location.to_string(),
                detail: format!(
                    "the writer's connection has journal_mode={} synchronous={}, expected wal and FULL (2)",
                    rules.0, rules.1
                ),
            });
        }
        Ok(DirectWriter {
            location,
            connection: Arc::new(Mutex::new(Some(connection))),
            nonces: Arc::new(Mutex::new(HeldNonces::new())),
        })
    }

    /// Begins a batch transaction holding SQLite's write lock
    /// (`BEGIN IMMEDIATE`).
    pub(crate) fn begin(&self) -> Result<DirectBatch, StorageError> {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| StorageError::Closed {
                location: self.location.to_string(),
            })?;
        let mut batch = DirectBatch {
            writer: self.clone(),
            connection: Some(connection),
            open: false,
            claimed_nonces: Vec::new(),
        };
        batch.execute("BEGIN IMMEDIATE")?;
        batch.open = true;
        Ok(batch)
    }

    /// The store's nonces as this writer holds them.
    fn held_nonces(&self) -> std::sync::MutexGuard<'_, HeldNonces> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the held nonces (the store was changed outside the claims):
    /// the next claims load them again.
    pub(crate) fn forget_nonces(&self) {
        self.held_nonces().forget();
    }

    /// Forgets the held nonces that expired before `now_unix_ms`, as the
    /// purge did in the table.
    pub(crate) fn nonces_purged(&self, now_unix_ms: i64) {
        self.held_nonces().purged(now_unix_ms);
    }

    /// Closes the connection (the writer has stopped).
    pub(crate) fn close(&self) {
        let closed = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Err((_, e))) = closed.map(Connection::close) {
            tracing::warn!(error = %e, location = %self.location, "closing the writer's connection failed");
        }
    }
}

/// A batch transaction on the writer's direct connection. Dropped without
/// [`DirectBatch::commit`], it rolls back.
pub(crate) struct DirectBatch {
    writer: DirectWriter,
    /// Always `Some` until dropped.
    connection: Option<Connection>,
    /// Whether a transaction is open (to roll back on drop).
    open: bool,
    /// The nonces this batch inserted, held once it commits.
    claimed_nonces: Vec<(String, [u8; 16], i64)>,
}

impl Drop for DirectBatch {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        if self.open
            && let Err(e) = connection.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, location = %self.writer.location, "rolling back a journal batch failed");
        }
        *self
            .writer
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(connection);
    }
}

impl DirectBatch {
    pub(crate) fn location(&self) -> Arc<str> {
        self.writer.location.clone()
    }

    fn fail(&self, e: rusqlite::Error) -> StorageError {
        StorageError::Write {
            operation: BATCH_OP,
            location: self.writer.location.to_string(),
            source: Arc::new(e.into()),
        }
    }

    /// The error of work this batch does not do (see
    /// [`StorageError::WrongBatch`]).
    pub(crate) fn wrong_batch(&self, operation: &'static str) -> StorageError {
        StorageError::WrongBatch {
            operation,
            location: self.writer.location.to_string(),
        }
    }

    fn connection(&self) -> Result<&Connection, StorageError> {
        // Not reached: `connection` is taken only by `drop`.
        self.connection
            .as_ref()
            .ok_or_else(|| StorageError::Closed {
                location: self.writer.location.to_string(),
            })
    }

    /// Runs `BEGIN IMMEDIATE` or `COMMIT`, prepared once and kept in the
    /// statement cache like the batch's other statements: preparing them
    /// anew was two SQL parses a group commit.
    fn execute(&self, sql: &str) -> Result<(), StorageError> {
        self.run(sql, []).map(drop)
    }

    /// Runs the cached statement `sql` with `params`; returns the rows it
    /// changed.
    fn run(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StorageError> {
        self.connection()?
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(params))
            .map_err(|e| self.fail(e))
    }

    pub(crate) fn commit(mut self) -> Result<(), StorageError> {
        if let Err(e) = self.execute("COMMIT") {
            // Whatever the failure left in the file, load it again.
            self.writer.forget_nonces();
            return Err(e);
        }
        self.open = false;
        let claimed = std::mem::take(&mut self.claimed_nonces);
        if !claimed.is_empty() {
            self.writer.held_nonces().committed(claimed);
        }
        Ok(())
    }

    /// What the store holds for each of `claims`, in order (see
    /// `super::claims`).
    pub(crate) fn claim_states(
        &mut self,
        claims: &[&AccessClaim],
    ) -> Result<Vec<ClaimState>, StorageError> {
        let connection = self.connection()?;
        let mut nonces = self.writer.held_nonces();
        nonces.make_current(connection).map_err(|e| self.fail(e))?;
        // Long-lived nonces (message ids) are read from `nonces`; short-lived
        // ones are held in memory (`super::held_nonces`).
        let mut read = connection
            .prepare_cached(
                "SELECT \
                 EXISTS (SELECT 1 FROM nonces WHERE requester_region = ?1 AND nonce = ?2), \
                 (SELECT uses FROM authorization_uses WHERE authorization_id = ?3), \
                 (SELECT used FROM quota_usage WHERE peer = ?4 AND window_start_unix_ms = ?5)",
            )
            .map_err(|e| self.fail(e))?;
        claims
            .iter()
            .map(|c| {
                let (stored, authorization_uses, quota_used) = read
                    .query_row(
                        params![
                            c.requester_region,
                            c.nonce.as_slice(),
                            c.authorization_use.as_ref().map(|(id, _)| id.as_slice()),
                            c.quota.as_ref().map(|q| q.peer.as_str()),
                            c.quota.as_ref().map(|q| q.window_start_unix_ms),
                        ],
                        |row| Ok((row.get::<_, bool>(0)?, row.get(1)?, row.get(2)?)),
                    )
                    .map_err(|e| self.fail(e))?;
                Ok(ClaimState {
                    nonce_seen: stored || nonces.contains(&c.requester_region, &c.nonce),
                    authorization_uses,
                    quota_used,
                })
            })
            .collect()
    }

    /// Writes what the batch's claims took, each write guarded by what was
    /// read ([`StorageError::ClaimRaced`] otherwise).
    pub(crate) fn take_claims(&mut self, ledger: &ClaimLedger) -> Result<(), StorageError> {
        let location = self.writer.location.clone();
        for (region, nonce, expires) in &ledger.nonces {
            let held = expires.saturating_sub(ledger.claimed_at_unix_ms) <= HELD_HORIZON_MS;
            let insert = if held {
                "INSERT INTO recent_nonces (expires_at_unix_ms, requester_region, nonce) \
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
            } else {
                "INSERT INTO nonces (expires_at_unix_ms, requester_region, nonce) \
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
            };
            let added = self.run(insert, params![expires, region, nonce.as_slice()])?;
            if added != 1 {
                return Err(StorageError::ClaimRaced {
                    location: location.to_string(),
                });
            }
            if held {
                self.claimed_nonces.push((region.clone(), *nonce, *expires));
            }
        }
        for (id, c) in &ledger.uses {
            let changed = if c.existed {
                self.run(
                    "UPDATE authorization_uses SET uses = ?1 WHERE authorization_id = ?2 AND uses = ?3",
                    params![c.after(), id.as_slice(), c.before],
                )?
            } else {
                self.run(
                    "INSERT INTO authorization_uses (authorization_id, uses) VALUES (?2, ?1) \
                     ON CONFLICT DO NOTHING",
                    params![c.after(), id.as_slice()],
                )?
            };
            expect_one_row(&location, changed as u64)?;
        }
        for ((peer, window), c) in &ledger.quota {
            let changed = if c.existed {
                self.run(
                    "UPDATE quota_usage SET used = ?1 \
                     WHERE peer = ?2 AND window_start_unix_ms = ?3 AND used = ?4",
                    params![c.after(), peer, window, c.before],
                )?
            } else {
                self.run(
                    "INSERT INTO quota_usage (peer, window_start_unix_ms, used) VALUES (?2, ?3, ?1) \
                     ON CONFLICT DO NOTHING",
                    params![c.after(), peer, window],
                )?
            };
            expect_one_row(&location, changed as u64)?;
        }
        for a in &ledger.attachments {
            self.run(
                "INSERT INTO attachments (digest, body, assembled) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (digest) DO NOTHING",
                params![a.digest.as_slice(), a.body, a.assembled],
            )?;
        }
        for (seq, a) in &ledger.kept {
            self.run(
                INSERT_KEPT,
                params![
                    seq_column(&location, *seq)?,
                    a.digest.as_slice(),
                    a.body,
                    a.assembled
                ],
            )?;
        }
        Ok(())
    }

    pub(crate) fn write_state(
        &mut self,
        writes: &[StateWrite],
        updated_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        for write in writes {
            match &write.value {
                Some(value) => self.run(
                    "INSERT INTO flow_state (ns, key, value, updated_at_unix_ms) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (ns, key) DO UPDATE \
                     SET value = excluded.value, updated_at_unix_ms = excluded.updated_at_unix_ms",
                    params![write.ns, write.key, value, updated_at_unix_ms],
                )?,
                None => self.run(
                    "DELETE FROM flow_state WHERE ns = ?1 AND key = ?2",
                    params![write.ns, write.key],
                )?,
            };
        }
        Ok(())
    }

    pub(crate) fn import_records(
        &mut self,
        rows: &[RecordRow],
        imported_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        for r in rows {
            self.run(
                "INSERT INTO records \
                 (category, record_id, subject_key, body, imported_at_unix_ms, copy_of) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (category, record_id) DO UPDATE SET \
                 subject_key = excluded.subject_key, body = excluded.body, \
                 imported_at_unix_ms = excluded.imported_at_unix_ms, copy_of = excluded.copy_of",
                params![
                    r.category,
                    r.record_id,
                    r.subject_key,
                    r.body,
                    imported_at_unix_ms,
                    r.copy_of.as_ref().map(CopyOf::to_bytes)
                ],
            )?;
        }
        Ok(())
    }

    pub(crate) fn next_seq(&mut self) -> Result<u64, StorageError> {
        let next: i64 = self.query_one(NEXT_SEQ, [])?;
        engine::stored_size(&self.writer.location, next)
    }

    pub(crate) fn tree_hash_count(&mut self) -> Result<i64, StorageError> {
        self.query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM tree_hashes", [])
    }

    fn query_one(&self, sql: &str, params: impl rusqlite::Params) -> Result<i64, StorageError> {
        self.connection()?
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, |row| row.get(0)))
            .map_err(|e| self.fail(e))
    }

    /// Store the signed checkpoint `note` of `size` in this transaction.
    /// Returns false, changing nothing, if another note is stored for that
    /// size (a fork of this node's own log).
    pub(crate) fn insert_checkpoint(
        &mut self,
        size: i64,
        note: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StorageError> {
        if self.run(INSERT_CHECKPOINT, params![size, note, now_unix_ms])? == 1 {
            return Ok(true);
        }
        let stored: Option<String> = self
            .connection()?
            .prepare_cached(STORED_CHECKPOINT)
            .and_then(|mut statement| statement.query_row([size], |row| row.get(0)).optional())
            .map_err(|e| self.fail(e))?;
        Ok(stored.as_deref() == Some(note))
    }

    /// The stored hashes at `indexes` that exist, as `(idx, hash)` rows.
    pub(crate) fn read_tree_hashes(
        &mut self,
        indexes: &[u64],
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        let connection = self.connection()?;
        let mut read = connection
            .prepare_cached("SELECT hash FROM tree_hashes WHERE idx = ?1")
            .map_err(|e| self.fail(e))?;
        let mut rows = Vec::with_capacity(indexes.len());
        for &index in indexes {
            // An index beyond i64 is never stored.
            let Ok(index) = i64::try_from(index) else {
                continue;
            };
            let hash: Option<Vec<u8>> = read
                .query_row([index], |row| row.get(0))
                .optional()
                .map_err(|e| self.fail(e))?;
            rows.extend(hash.map(|hash| (index, hash)));
        }
        Ok(rows)
    }

    pub(crate) fn insert_tree_hashes(
        &mut self,
        first_index: i64,
        hashes: &[Hash],
    ) -> Result<(), StorageError> {
        let blob: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
        self.run(
            INSERT_TREE_HASHES,
            params![first_index, blob, hashes.len() as i64],
        )?;
        Ok(())
    }

    pub(crate) fn journal_range(
        &mut self,
        from: i64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let connection = self.connection()?;
        let mut read = connection
            .prepare_cached(
                "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
                 WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(|e| self.fail(e))?;
        let rows = read
            .query_map(params![from, i64::from(limit)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<(i64, i64, i64, Vec<u8>)>, _>>())
            .map_err(|e| self.fail(e))?;
        let location = &self.writer.location;
        rows.into_iter()
            .map(|(seq, kind, at, body)| engine::journal_record(location, seq, kind, at, body))
            .collect()
    }

    /// Inserts `rows` at the next sequence numbers; returns the first.
    pub(crate) fn append_journal(
        &mut self,
        rows: &[JournalRow],
        recorded_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        let first = self.next_seq()?;
        let next = i64::try_from(first).map_err(|_| StorageError::Corrupt {
            location: self.writer.location.to_string(),
            detail: format!("the journal's next sequence number would be {first}"),
        })?;
        for (seq, row) in (next..).zip(rows) {
            self.run(
                "INSERT INTO journal (seq, kind, recorded_at_unix_ms, body) VALUES (?1, ?2, ?3, ?4)",
                params![seq, i64::from(row.kind), recorded_at_unix_ms, row.body],
            )?;
        }
        Ok(first)
    }

    /// The lease row of `duty`, if any (a fence check inside a batch).
    pub(crate) fn lease_row(&mut self, duty: &str) -> Result<Option<LeaseRow>, StorageError> {
        let connection = self.connection()?;
        connection
            .prepare_cached("SELECT holder, token, expires_at_ms FROM region_lease WHERE duty = ?1")
            .and_then(|mut read| {
                read.query_row([duty], |row| {
                    Ok(LeaseRow {
                        holder: row.get(0)?,
                        token: row.get(1)?,
                        expires_at_ms: row.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.fail(e))
    }
}
