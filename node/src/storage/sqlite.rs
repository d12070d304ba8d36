//! The SQLite backend: one write connection (owned by the writer task) and a
//! pool of read-only connections, on one WAL-mode file.

use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};

use super::engine::{self, EmbeddedMigration, PeerRow};
use super::writer::AppendCommand;
use super::{
    JournalRecord, LOCK_WAIT_TIMEOUT, PeerRecord, PeerSighting, StorageError, StorageOptions,
};

/// Schema migrations, in order. Never edit an applied one; add a new one.
const MIGRATIONS: &[EmbeddedMigration] = &[(
    1,
    "journal and peers",
    include_str!("migrations/sqlite/0001_journal_and_peers.sql"),
)];

/// SQLite's limit on bound parameters in one statement
/// (`SQLITE_MAX_VARIABLE_NUMBER`, 32766 since SQLite 3.32).
const MAX_BIND_PARAMS: usize = 32766;

/// Journal rows per `INSERT` statement (four parameters each).
const JOURNAL_ROWS_PER_INSERT: usize = MAX_BIND_PARAMS / 4;

const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq) + 1, 0) FROM journal";

#[derive(Clone)]
pub(crate) struct SqliteEngine {
    location: Arc<str>,
    /// One connection; only the writer task uses it (and `open`, before the
    /// writer starts).
    write: SqlitePool,
    /// Read-only connections.
    read: SqlitePool,
}

impl SqliteEngine {
    pub(crate) async fn open(
        path: &Path,
        options: &StorageOptions,
    ) -> Result<SqliteEngine, StorageError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StorageError::CreateDir {
                    path: parent.to_owned(),
                    source: Arc::new(e),
                })?;
        }
        let open_error = |e: sqlx::Error| StorageError::OpenSqlite {
            path: path.to_owned(),
            source: Arc::new(e),
        };
        let location: Arc<str> = format!("SQLite store {}", path.display()).into();

        let write_options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(LOCK_WAIT_TIMEOUT)
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(options.connect_timeout)
            .connect_with(write_options)
            .await
            .map_err(open_error)?;
        // SQLite keeps the old journal mode, silently, where WAL is not
        // possible; an append must not be acknowledged under other rules.
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&write)
            .await
            .map_err(open_error)?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&write)
            .await
            .map_err(open_error)?;
        if !journal_mode.eq_ignore_ascii_case("wal") || synchronous != 2 {
            write.close().await;
            return Err(open_error(sqlx::Error::Configuration(
                format!(
                    "expected journal_mode=wal and synchronous=FULL (2), got journal_mode={journal_mode} synchronous={synchronous}"
                )
                .into(),
            )));
        }

        let migrator = engine::migrator(MIGRATIONS, &location).await?;
        if let Err(e) = migrator.run(&write).await {
            write.close().await;
            return Err(StorageError::Migrate {
                location: location.to_string(),
                source: Arc::new(e),
            });
        }

        let read_options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(LOCK_WAIT_TIMEOUT)
            .foreign_keys(true);
        let read = match SqlitePoolOptions::new()
            .max_connections(options.read_connections)
            .acquire_timeout(options.connect_timeout)
            .connect_with(read_options)
            .await
        {
            Ok(read) => read,
            Err(e) => {
                write.close().await;
                return Err(open_error(e));
            }
        };
        Ok(SqliteEngine {
            location,
            write,
            read,
        })
    }

    pub(crate) fn location(&self) -> Arc<str> {
        self.location.clone()
    }

    pub(crate) async fn append_batch(
        &self,
        batch: &[AppendCommand],
        recorded_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        const OP: &str = "journal append batch";
        let fail = |e| self.write_error(OP, e);
        // IMMEDIATE takes the write lock up front, so the next seq read
        // below cannot be overtaken by another connection.
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail)?;
        let next: i64 = sqlx::query_scalar(NEXT_SEQ)
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
        let first = self.next_seq(next)?;
        for (chunk, base) in batch
            .chunks(JOURNAL_ROWS_PER_INSERT)
            .zip((next..).step_by(JOURNAL_ROWS_PER_INSERT))
        {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO journal (seq, kind, recorded_at_unix_ms, body) ",
            );
            insert.push_values(chunk.iter().zip(base..), |mut row, (append, seq)| {
                row.push_bind(seq)
                    .push_bind(i64::from(append.kind))
                    .push_bind(recorded_at_unix_ms)
                    .push_bind(append.body.as_slice());
            });
            // Batch sizes vary: do not fill the statement cache with them.
            insert
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        Ok(first)
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

    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64, StorageError> {
        sqlx::raw_sql(sql)
            .execute(&self.write)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| self.write_error("raw SQL (danger::execute_raw)", e))
    }

    pub(crate) async fn journal_len(&self) -> Result<u64, StorageError> {
        let next: i64 = sqlx::query_scalar(NEXT_SEQ)
            .fetch_one(&self.read)
            .await
            .map_err(|e| self.read_error("journal length", e))?;
        self.next_seq(next)
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

    pub(crate) async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
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
            source: Arc::new(e),
        }
    }

    fn read_error(&self, operation: &'static str, e: sqlx::Error) -> StorageError {
        StorageError::Read {
            operation,
            location: self.location.to_string(),
            source: Arc::new(e),
        }
    }
}
