//! The SQLite backend: one write connection (owned by the writer task) and a
//! pool of read-only connections, on one WAL-mode file.

use std::path::Path;
use std::sync::Arc;

use credex_protocol::tlog::Hash;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::engine::{self, JournalRow, PeerRow};
use super::log_sql::{checkpoint_sql, log_sql};
use super::state::StateWrite;
use super::{
    JournalRecord, LOCK_WAIT_TIMEOUT, PeerRecord, PeerSighting, StorageError, StorageOptions,
};

mod checks;
mod claims;
mod direct;
mod held_nonces;
mod lease;
mod migrations;
mod readers;
mod records;

pub(crate) use direct::{DirectBatch, DirectWriter};
use migrations::MIGRATIONS;
use readers::DirectReaders;

super::feed::feed_sql!(engine: SqliteEngine, batch: SqliteBatch, db: Sqlite, read: read);

super::subjects::subject_sql!(
    engine: SqliteEngine,
    db: Sqlite,
    conn: SqliteConnection,
    read: read,
    begin: |engine| engine.write.begin_with("BEGIN IMMEDIATE"),
);

/// How many times opening a store runs the migrations before giving up
/// (see `SqliteEngine::open`).
const MIGRATION_ATTEMPTS: u32 = 5;

/// SQLite's limit on bound parameters in one statement
/// (`SQLITE_MAX_VARIABLE_NUMBER`, 32766 since SQLite 3.32).
const MAX_BIND_PARAMS: usize = 32766;

/// Journal rows per `INSERT` statement (four parameters each).
const JOURNAL_ROWS_PER_INSERT: usize = MAX_BIND_PARAMS / 4;

/// Inserts `$3` hashes, concatenated in blob `$2`, at stored hash indexes
/// `$1` onward: one cached statement whatever the batch size (a statement
/// with a bound pair per row costs a fresh prepare per batch).
const INSERT_TREE_HASHES: &str = "WITH RECURSIVE n(i) AS \
     (SELECT 0 WHERE ?3 > 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?3) \
     INSERT INTO tree_hashes (idx, hash) \
     SELECT ?1 + i, substr(?2, i * 32 + 1, 32) FROM n";

/// Stored hash indexes per `SELECT … IN (…)`: every proof needs fewer, so
/// a proof is one query.
const TREE_HASHES_PER_SELECT: usize = super::MAX_TREE_HASH_READ;

const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq) + 1, 0) FROM journal";

/// What a failed batch transaction reports as its operation.
const BATCH_OP: &str = "journal append batch";

#[derive(Clone)]
pub(crate) struct SqliteEngine {
    location: Arc<str>,
    /// One connection; only the writer task uses it (and `open`, before the
    /// writer starts).
    write: SqlitePool,
    /// Read-only connections.
    read: SqlitePool,
    /// The writer's own connection for journal batches (decision 1040).
    direct: DirectWriter,
    /// Read-only connections for the query path's reads (decision 1040).
    readers: DirectReaders,
}

fn open_error(path: &Path, e: sqlx::Error) -> StorageError {
    StorageError::OpenSqlite {
        path: path.to_owned(),
        source: Arc::new(e),
    }
}

/// The database holds internal fields, nonces and attachments: its
/// directory is 0700 and its files 0600 (SQLite gives the -wal and -shm
/// files the database file's mode), and a file others can read is refused.
fn prepare_private_files(path: &Path) -> Result<(), StorageError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::file_modes::create_private_dir(parent).map_err(|e| StorageError::CreateDir {
            path: parent.to_owned(),
            source: Arc::new(e),
        })?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        crate::file_modes::check_private(Path::new(&file))?;
    }
    crate::file_modes::create_private_file(path).map_err(|e| StorageError::CreateDir {
        path: path.to_owned(),
        source: Arc::new(e),
    })
}

/// The one writing connection: WAL, `synchronous = FULL`.
///
/// Switching a new file to WAL takes an exclusive lock that SQLite does
/// not wait for: two processes opening a new file at once can see
/// "database is locked" here. Connecting again after the winner switched
/// finds WAL in place.
async fn connect_writer(path: &Path, options: &StorageOptions) -> Result<SqlitePool, StorageError> {
    let write_options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(LOCK_WAIT_TIMEOUT)
        .foreign_keys(true);
    let mut attempt = 0;
    loop {
        // An embedded file connection cannot go stale the way a network one
        // can: skip sqlx's ping before every acquire (it doubles the cost of
        // a primary-key read).
        let connected = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(options.connect_timeout)
            .connect_with(write_options.clone())
            .await;
        match connected {
            Ok(write) => return Ok(write),
            Err(e) if is_busy(&e) && attempt + 1 < MIGRATION_ATTEMPTS => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "opening raced another process; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt as u64)).await;
            }
            Err(e) => return Err(open_error(path, e)),
        }
    }
}

/// SQLite keeps the old journal mode, silently, where WAL is not possible;
/// an append must not be acknowledged under other rules.
async fn check_write_rules(write: &SqlitePool, path: &Path) -> Result<(), StorageError> {
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(write)
        .await
        .map_err(|e| open_error(path, e))?;
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(write)
        .await
        .map_err(|e| open_error(path, e))?;
    if !journal_mode.eq_ignore_ascii_case("wal") || synchronous != 2 {
        return Err(open_error(
            path,
            sqlx::Error::Configuration(
                format!(
                    "expected journal_mode=wal and synchronous=FULL (2), got journal_mode={journal_mode} synchronous={synchronous}"
                )
                .into(),
            ),
        ));
    }
    Ok(())
}

/// Run the migrations. SQLite has no migration lock: two processes opening
/// a new file at once both try the first migration, and the loser fails
/// with "table … already exists". Each migration is one transaction, so
/// running the migrator again after the winner committed finds it applied
/// and goes on.
async fn migrate(write: &SqlitePool, location: &Arc<str>) -> Result<(), StorageError> {
    let migrator = engine::migrator(MIGRATIONS, location).await?;
    let mut attempt = 0;
    while let Err(e) = migrator.run(write).await {
        attempt += 1;
        if attempt >= MIGRATION_ATTEMPTS {
            return Err(StorageError::Migrate {
                location: location.to_string(),
                source: Arc::new(e),
            });
        }
        tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
        tokio::time::sleep(std::time::Duration::from_millis(100 * attempt as u64)).await;
    }
    Ok(())
}

/// Whether `e` is SQLite's "database is locked" (`SQLITE_BUSY`, code 5).
fn is_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("5"))
}

impl SqliteEngine {
    pub(crate) async fn open(
        path: &Path,
        options: &StorageOptions,
    ) -> Result<SqliteEngine, StorageError> {
        prepare_private_files(path)?;
        let location: Arc<str> = format!("SQLite store {}", path.display()).into();
        let write = connect_writer(path, options).await?;
        if let Err(e) = check_write_rules(&write, path).await {
            write.close().await;
            return Err(e);
        }
        if let Err(e) = migrate(&write, &location).await {
            write.close().await;
            return Err(e);
        }
        let read_options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(LOCK_WAIT_TIMEOUT)
            .foreign_keys(true);
        let read = match SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(options.read_connections)
            .acquire_timeout(options.connect_timeout)
            .connect_with(read_options)
            .await
        {
            Ok(read) => read,
            Err(e) => {
                write.close().await;
                return Err(open_error(path, e));
            }
        };
        let direct = match DirectWriter::open(path, location.clone()) {
            Ok(direct) => direct,
            Err(e) => {
                read.close().await;
                write.close().await;
                return Err(e);
            }
        };
        let readers = DirectReaders::new(path, location.clone(), options.read_connections as usize);
        Ok(SqliteEngine {
            location,
            write,
            read,
            direct,
            readers,
        })
    }

    pub(crate) fn location(&self) -> Arc<str> {
        self.location.clone()
    }

    /// The write connection, for encryption at rest's key table and its
    /// first sealing (`super::at_rest`), which run beside the writer.
    pub(crate) fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    /// The read-only connections, for encryption at rest's key table.
    pub(crate) fn read_pool(&self) -> &SqlitePool {
        &self.read
    }

    /// Begins a journal batch on the writer's direct connection.
    pub(crate) fn begin_direct(&self) -> Result<DirectBatch, StorageError> {
        self.direct.begin()
    }

    pub(crate) async fn begin_batch(&self) -> Result<SqliteBatch, StorageError> {
        // IMMEDIATE takes the write lock up front, so what the batch reads
        // (the next seq, claims) cannot be overtaken by another connection.
        let tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.write_error(BATCH_OP, e))?;
        Ok(SqliteBatch {
            engine: self.clone(),
            tx,
        })
    }

    pub(crate) async fn purge_expired_nonces(&self, now_unix_ms: i64) -> Result<u64, StorageError> {
        let mut purged = 0;
        for purge in [
            "DELETE FROM nonces WHERE expires_at_unix_ms < ?1",
            "DELETE FROM recent_nonces WHERE expires_at_unix_ms < ?1",
        ] {
            purged += sqlx::query(purge)
                .bind(now_unix_ms)
                .execute(&self.write)
                .await
                .map(|done| done.rows_affected())
                .map_err(|e| self.write_error("nonce purge", e))?;
        }
        self.direct.nonces_purged(now_unix_ms);
        Ok(purged)
    }

    pub(crate) async fn record_peer(&self, sighting: &PeerSighting) -> Result<(), StorageError> {
        const OP: &str = "peer upsert";
        let fail = |e| self.write_error(OP, e);
        let fingerprint = sighting.fingerprint.as_slice();
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        sqlx::query(
            "INSERT INTO peers \
             (fingerprint, region, node, protocol_version, first_seen_unix_ms, last_seen_unix_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
             ON CONFLICT (fingerprint) DO UPDATE SET \
             region = excluded.region, node = excluded.node, \
             protocol_version = excluded.protocol_version, \
             last_seen_unix_ms = excluded.last_seen_unix_ms",
        )
        .bind(fingerprint)
        .bind(&sighting.region)
        .bind(&sighting.node)
        .bind(i64::from(sighting.protocol_version))
        .bind(sighting.seen_at_unix_ms)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query("DELETE FROM peer_capabilities WHERE fingerprint = ?1")
            .bind(fingerprint)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        if !sighting.capabilities.is_empty() {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO peer_capabilities (fingerprint, position, capability) ",
            );
            insert.push_values(
                sighting.capabilities.iter().zip(0i64..),
                |mut row, (capability, position)| {
                    row.push_bind(fingerprint)
                        .push_bind(position)
                        .push_bind(capability.as_str());
                },
            );
            insert
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    #[cfg(feature = "danger")]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64, StorageError> {
        let done = sqlx::raw_sql(sql)
            .execute(&self.write)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| self.write_error("raw SQL (danger::execute_raw)", e));
        // Raw SQL may have changed the nonces: load them again.
        self.direct.forget_nonces();
        done
    }

    pub(crate) async fn journal_len(&self) -> Result<u64, StorageError> {
        let next: i64 = sqlx::query_scalar(NEXT_SEQ)
            .fetch_one(&self.read)
            .await
            .map_err(|e| self.read_error("journal length", e))?;
        self.next_seq(next)
    }

    pub(crate) async fn journal_of_kind(
        &self,
        from: i64,
        below: i64,
        kind: u16,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        self.readers.journal_of_kind(from, below, kind, limit)
    }

    pub(crate) async fn journal_range(
        &self,
        from: i64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
             WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(|e| self.read_error("journal range", e))?;
        rows.into_iter()
            .map(|(seq, kind, at, body)| {
                engine::journal_record(&self.location, seq, kind, at, body)
            })
            .collect()
    }

    pub(crate) async fn peers(&self) -> Result<Vec<PeerRecord>, StorageError> {
        type Row = (Vec<u8>, String, String, i64, i64, i64, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.fingerprint, p.region, p.node, p.protocol_version, \
             p.first_seen_unix_ms, p.last_seen_unix_ms, c.capability \
             FROM peers p LEFT JOIN peer_capabilities c ON c.fingerprint = p.fingerprint \
             ORDER BY p.region, p.node, p.fingerprint, c.position",
        )
        .fetch_all(&self.read)
        .await
        .map_err(|e| self.read_error("peer list", e))?;
        let rows = rows
            .into_iter()
            .map(
                |(fingerprint, region, node, protocol_version, first, last, capability)| PeerRow {
                    fingerprint,
                    region,
                    node,
                    protocol_version,
                    first_seen_unix_ms: first,
                    last_seen_unix_ms: last,
                    capability,
                },
            )
            .collect();
        engine::group_peers(&self.location, rows)
    }

    pub(crate) async fn state(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        sqlx::query_scalar("SELECT value FROM flow_state WHERE ns = ?1 AND key = ?2")
            .bind(ns)
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(|e| self.read_error("state", e))
    }

    pub(crate) async fn state_from(
        &self,
        ns: &str,
        from: &str,
        inclusive: bool,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let sql = if inclusive {
            "SELECT key, value FROM flow_state WHERE ns = ?1 AND key >= ?2 ORDER BY key LIMIT ?3"
        } else {
            "SELECT key, value FROM flow_state WHERE ns = ?1 AND key > ?2 ORDER BY key LIMIT ?3"
        };
        sqlx::query_as(sql)
            .bind(ns)
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(|e| self.read_error("state scan", e))
    }

    pub(crate) async fn attachment(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(Vec<u8>, bool)>, StorageError> {
        sqlx::query_as("SELECT body, assembled FROM attachments WHERE digest = ?1")
            .bind(digest.as_slice())
            .fetch_optional(&self.read)
            .await
            .map_err(|e| self.read_error("attachment", e))
    }

    pub(crate) async fn entry_attachment(
        &self,
        seq: u64,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, bool)>, StorageError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        sqlx::query_as("SELECT digest, body, assembled FROM entry_attachments WHERE seq = ?1")
            .bind(seq)
            .fetch_optional(&self.read)
            .await
            .map_err(|e| self.read_error("entry attachment", e))
    }

    pub(crate) async fn authorization_uses(
        &self,
        id: &[u8; 16],
    ) -> Result<Option<i64>, StorageError> {
        self.readers.authorization_uses(id)
    }

    pub(crate) async fn quota_used(
        &self,
        peer: &str,
        window_start_unix_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        self.readers.quota_used(peer, window_start_unix_ms)
    }

    pub(crate) async fn read_tree_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(|e| self.read_error("tree hashes", e))?;
        select_tree_hashes(&mut conn, indexes)
            .await
            .map_err(|e| self.read_error("tree hashes", e))
    }

    log_sql!(read: read, write: write);

    /// A consistent copy of the whole database in the new file `to`
    /// (`VACUUM INTO` on a read connection: one read transaction, while the
    /// writer goes on).
    pub(crate) async fn snapshot_into(&self, to: &Path) -> Result<(), StorageError> {
        let to = to.to_str().ok_or_else(|| StorageError::InvalidOptions {
            reason: format!("the snapshot path {} is not UTF-8", to.display()),
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(to)
            .execute(&self.read)
            .await
            .map_err(|e| self.read_error("snapshot", e))?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        // Fold the WAL into the database file while this store still owns
        // it: a clean stop leaves one self-contained file, and no
        // connection that closes later writes pages into a file an
        // operator may have replaced meanwhile.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.write)
            .await
        {
            tracing::warn!(error = %e, location = %self.location, "could not fold the WAL into the database at close");
        }
        self.direct.close();
        self.readers.close();
        self.read.close().await;
        self.write.close().await;
    }

    fn corrupt_seq(&self, next: u64) -> StorageError {
        StorageError::Corrupt {
            location: self.location.to_string(),
            detail: format!("the journal's next sequence number would be {next}"),
        }
    }

    fn next_seq(&self, next: i64) -> Result<u64, StorageError> {
        u64::try_from(next).map_err(|_| StorageError::Corrupt {
            location: self.location.to_string(),
            detail: format!("the journal's next sequence number would be {next}"),
        })
    }

    fn write_error(&self, operation: &'static str, e: sqlx::Error) -> StorageError {
        StorageError::Write {
            operation,
            location: self.location.to_string(),
            source: Arc::new(e.into()),
        }
    }

    fn read_error(&self, operation: &'static str, e: sqlx::Error) -> StorageError {
        StorageError::Read {
            operation,
            location: self.location.to_string(),
            source: Arc::new(e.into()),
        }
    }
}

/// A batch transaction on the write connection, holding SQLite's write
/// lock (`BEGIN IMMEDIATE`).
pub(crate) struct SqliteBatch {
    engine: SqliteEngine,
    tx: Transaction<'static, Sqlite>,
}

impl SqliteBatch {
    /// The transaction's connection (as `PgBatch::conn`, which first sends
    /// the writes it holds back; this batch holds none).
    pub(crate) async fn conn(&mut self) -> Result<&mut SqliteConnection, StorageError> {
        Ok(&mut *self.tx)
    }

    pub(crate) fn location(&self) -> Arc<str> {
        self.engine.location()
    }

    pub(crate) async fn write_state(
        &mut self,
        writes: &[StateWrite],
        updated_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        for write in writes {
            let query = match &write.value {
                Some(value) => sqlx::query(
                    "INSERT INTO flow_state (ns, key, value, updated_at_unix_ms) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (ns, key) DO UPDATE \
                     SET value = excluded.value, updated_at_unix_ms = excluded.updated_at_unix_ms",
                )
                .bind(&write.ns)
                .bind(&write.key)
                .bind(value.as_slice())
                .bind(updated_at_unix_ms),
                None => sqlx::query("DELETE FROM flow_state WHERE ns = ?1 AND key = ?2")
                    .bind(&write.ns)
                    .bind(&write.key),
            };
            query
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    pub(crate) async fn next_seq(&mut self) -> Result<u64, StorageError> {
        let next: i64 = sqlx::query_scalar(NEXT_SEQ)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        self.engine.next_seq(next)
    }

    pub(crate) async fn tree_hash_count(&mut self) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM tree_hashes")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))
    }

    pub(crate) async fn read_tree_hashes(
        &mut self,
        indexes: &[u64],
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        select_tree_hashes(&mut self.tx, indexes)
            .await
            .map_err(|e| self.fail(e))
    }

    pub(crate) async fn insert_tree_hashes(
        &mut self,
        first_index: i64,
        hashes: &[Hash],
    ) -> Result<(), StorageError> {
        let blob: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
        sqlx::query(INSERT_TREE_HASHES)
            .bind(first_index)
            .bind(blob)
            .bind(hashes.len() as i64)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    pub(crate) async fn journal_range(
        &mut self,
        from: i64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
             WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        let location = self.engine.location.clone();
        rows.into_iter()
            .map(|(seq, kind, at, body)| engine::journal_record(&location, seq, kind, at, body))
            .collect()
    }

    pub(crate) async fn append_journal(
        &mut self,
        rows: &[JournalRow],
        recorded_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        let first = self.next_seq().await?;
        let next = i64::try_from(first).map_err(|_| self.engine.corrupt_seq(first))?;
        for (chunk, base) in rows
            .chunks(JOURNAL_ROWS_PER_INSERT)
            .zip((next..).step_by(JOURNAL_ROWS_PER_INSERT))
        {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO journal (seq, kind, recorded_at_unix_ms, body) ",
            );
            insert.push_values(chunk.iter().zip(base..), |mut row, (record, seq)| {
                row.push_bind(seq)
                    .push_bind(i64::from(record.kind))
                    .push_bind(recorded_at_unix_ms)
                    .push_bind(record.body.as_slice());
            });
            // Batch sizes vary: do not fill the statement cache with them.
            insert
                .build()
                .persistent(false)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
        }
        Ok(first)
    }

    pub(crate) async fn commit(self) -> Result<(), StorageError> {
        let engine = self.engine;
        self.tx
            .commit()
            .await
            .map_err(|e| engine.write_error(BATCH_OP, e))
    }

    fn fail(&self, e: sqlx::Error) -> StorageError {
        self.engine.write_error(BATCH_OP, e)
    }
}

/// The stored hashes at `indexes` that exist, as `(idx, hash)` rows.
async fn select_tree_hashes(
    conn: &mut SqliteConnection,
    indexes: &[u64],
) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
    let mut rows = Vec::with_capacity(indexes.len());
    for chunk in indexes.chunks(TREE_HASHES_PER_SELECT) {
        let mut select =
            QueryBuilder::<Sqlite>::new("SELECT idx, hash FROM tree_hashes WHERE idx IN (");
        let mut list = select.separated(", ");
        for &index in chunk {
            // An index beyond i64 is never stored: ask for one that is not.
            list.push_bind(i64::try_from(index).unwrap_or(-1));
        }
        select.push(")");
        rows.extend(
            select
                .build_query_as::<(i64, Vec<u8>)>()
                .persistent(false)
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(rows)
}

checkpoint_sql!(batch: SqliteBatch);
