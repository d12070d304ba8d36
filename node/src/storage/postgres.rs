//! The PostgreSQL backend: one pool, optionally confined to one schema.

use std::str::FromStr;
use std::sync::Arc;

use credex_protocol::tlog::Hash;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, Postgres, QueryBuilder, Transaction};

use super::engine::{self, JournalRow, PeerRow};
use super::log_sql::{checkpoint_sql, log_sql};
use super::state::StateWrite;
use super::{
    JournalRecord, LOCK_WAIT_TIMEOUT, PeerRecord, PeerSighting, StorageError, StorageOptions,
    redact_url,
};

mod checks;
mod claims;
mod journal;
mod lease;
mod migrations;
mod pending;
mod record_reads;
mod records;
mod writer_connection;

use migrations::MIGRATIONS;

super::feed::feed_sql!(engine: PgEngine, batch: PgBatch, db: Postgres, read: pool);

super::subjects::subject_sql!(
    engine: PgEngine,
    db: Postgres,
    conn: PgConnection,
    read: pool,
    begin: |engine| engine.pool.begin(),
);

/// The stored hashes at a list of indexes (one array parameter).
const SELECT_TREE_HASHES: &str = "SELECT idx, hash FROM tree_hashes WHERE idx = ANY($1)";

const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq) + 1, 0) FROM journal";

/// What a failed batch transaction reports as its operation.
const BATCH_OP: &str = "journal append batch";

/// High 32 bits of the advisory lock key that writers of one journal take
/// (`pg_advisory_xact_lock`) around each batch: "crdx". The low 32 bits are
/// the OID of that schema's `journal` table, so the key is unique per journal
/// within the database. Any process that writes the journal must take
/// `pg_advisory_xact_lock((x'63726478'::bigint << 32) | 'journal'::regclass::oid::bigint)`.
const JOURNAL_LOCK_CLASS: i64 = 0x6372_6478;

/// Longest PostgreSQL identifier, in bytes (`NAMEDATALEN - 1`).
const MAX_SCHEMA_NAME_LEN: usize = 63;

#[derive(Clone)]
pub(crate) struct PgEngine {
    location: Arc<str>,
    pool: PgPool,
    /// The writer's group commits' own connection ([`PgEngine::begin_append_batch`]).
    appends: writer_connection::WriterConnection,
    /// Advisory lock key of this journal, see [`JOURNAL_LOCK_CLASS`].
    journal_lock_key: i64,
    /// Queries' record reads, batched ([`record_reads`]).
    record_reads: record_reads::RecordReads,
}

/// The connection options of `url` (a `postgres://` or `postgresql://`
/// URL), with credex's application name unless the URL names one; the
/// schema name, if any, is checked.
fn connect_options(url: &str, schema: Option<&str>) -> Result<PgConnectOptions, StorageError> {
    if let Some(schema) = schema {
        validate_schema_name(schema)?;
    }
    let invalid_url = |reason: String| StorageError::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(invalid_url(
            "a PostgreSQL URL starts with postgres:// or postgresql://".to_owned(),
        ));
    }
    let mut connect = PgConnectOptions::from_str(url).map_err(|e| invalid_url(e.to_string()))?;
    if connect.get_application_name().is_none() {
        connect = connect.application_name("credex-node");
    }
    Ok(connect)
}

fn connect_error(location: &str, e: sqlx::Error) -> StorageError {
    StorageError::ConnectPostgres {
        location: location.to_owned(),
        source: Arc::new(e),
    }
}

/// What every connection runs first: durable commits, bounded lock waits,
/// and the node's schema first (and only) on the search path. The schema
/// name was validated: quoting it is enough.
fn session_settings(schema: Option<&str>) -> String {
    let mut session = format!(
        "SET synchronous_commit TO on; SET lock_timeout TO {};",
        LOCK_WAIT_TIMEOUT.as_millis()
    );
    if let Some(schema) = schema {
        session.push_str(&format!(" SET search_path TO \"{schema}\";"));
    }
    session
}

/// One direct connection first: it reports the real cause of a failure (a
/// pool reports only its timeout) and creates the schema.
async fn create_schema(
    connect: &PgConnectOptions,
    schema: Option<&str>,
    options: &StorageOptions,
    location: &str,
) -> Result<(), StorageError> {
    let mut setup =
        tokio::time::timeout(options.connect_timeout, PgConnection::connect_with(connect))
            .await
            .map_err(|_| {
                connect_error(
                    location,
                    sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection within {:?}", options.connect_timeout),
                    )),
                )
            })?
            .map_err(|e| connect_error(location, e))?;
    if let Some(schema) = schema {
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        match setup.execute(create.as_str()).await {
            Ok(_) => {}
            // Two sessions creating the schema at once: IF NOT EXISTS does
            // not stop the loser's insert into pg_namespace, which fails on
            // its unique index (23505). The schema exists.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
            Err(e) => {
                return Err(StorageError::CreateSchema {
                    location: location.to_owned(),
                    source: Arc::new(e),
                });
            }
        }
    }
    // Best effort: the server ends the session when the socket closes.
    let _ = setup.close().await;
    Ok(())
}

impl PgEngine {
    pub(crate) async fn open(
        url: &str,
        schema: Option<&str>,
        options: &StorageOptions,
    ) -> Result<PgEngine, StorageError> {
        let connect = connect_options(url, schema)?;
        let location: Arc<str> = describe(&connect, schema).into();
        create_schema(&connect, schema, options, &location).await?;
        let session: Arc<str> = session_settings(schema).into();
        let pool_options = || {
            let session = session.clone();
            PgPoolOptions::new()
                .acquire_timeout(options.connect_timeout)
                .after_connect(move |conn, _meta| {
                    let session = session.clone();
                    Box::pin(async move {
                        conn.execute(&*session).await?;
                        Ok(())
                    })
                })
        };
        // The writer's group commits have a connection of their own, made
        // on first use by the writer's thread, so its round trips are driven
        // there rather than queued behind the runtime's tasks (decision 1160).
        let appends = writer_connection::WriterConnection::new(
            connect.clone(),
            Arc::clone(&session),
            options.connect_timeout,
        );
        let pool = pool_options()
            .max_connections(options.read_connections.saturating_add(1))
            .connect_with(connect)
            .await
            .map_err(|e| connect_error(&location, e))?;
        // Through the pool, so the migrations see the session settings.
        let migrator = engine::migrator(MIGRATIONS, &location).await?;
        if let Err(e) = migrator.run(&pool).await {
            pool.close().await;
            return Err(StorageError::Migrate {
                location: location.to_string(),
                source: Arc::new(e),
            });
        }
        let journal_oid: i64 = sqlx::query_scalar("SELECT 'journal'::regclass::oid::bigint")
            .fetch_one(&pool)
            .await
            .map_err(|e| StorageError::Read {
                operation: "journal table lookup",
                location: location.to_string(),
                source: Arc::new(e.into()),
            })?;
        Ok(PgEngine {
            record_reads: record_reads::RecordReads::start(pool.clone(), Arc::clone(&location)),
            location,
            pool,
            appends,
            journal_lock_key: (JOURNAL_LOCK_CLASS << 32) | journal_oid,
        })
    }

    pub(crate) fn location(&self) -> Arc<str> {
        self.location.clone()
    }

    /// The pool, for encryption at rest's key table and its first sealing
    /// (`super::at_rest`).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin_batch(&self) -> Result<PgBatch, StorageError> {
        self.begin_on(&self.pool).await
    }

    /// A batch for the writer's group commit, on the writer's own
    /// connection.
    pub(crate) async fn begin_append_batch(&self) -> Result<PgBatch, StorageError> {
        let (tx, next) = self
            .appends
            .begin(self.journal_lock_key)
            .await
            .map_err(|e| self.write_error(BATCH_OP, e))?;
        Ok(PgBatch {
            engine: self.clone(),
            open: Open::Writer(tx),
            pending: Box::default(),
            next_seq: Some(self.next_seq(next)?),
            checkpoints_stored: Vec::new(),
        })
    }

    async fn begin_on(&self, pool: &PgPool) -> Result<PgBatch, StorageError> {
        let fail = |e| self.write_error(BATCH_OP, e);
        // Serialise with every other writer of this journal (another node
        // process on the same schema) until commit; re-reading the next seq
        // and the claims under the lock keeps seqs contiguous and claims
        // exact. An advisory lock rather than LOCK TABLE … EXCLUSIVE: that
        // would also conflict with autovacuum on the (append-only, so
        // regularly vacuumed) journal and stall appends for up to
        // deadlock_timeout each time. The lock is taken in the `BEGIN`'s own
        // round trip (one simple query of two statements: the key is a
        // number this engine computed, not input); the statements that read
        // under it come after, each with a snapshot taken once it is held.
        let tx = pool
            .begin_with(format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                self.journal_lock_key
            ))
            .await
            .map_err(fail)?;
        Ok(PgBatch {
            engine: self.clone(),
            open: Open::Pooled(tx),
            pending: Box::default(),
            next_seq: None,
            checkpoints_stored: Vec::new(),
        })
    }

    pub(crate) async fn purge_expired_nonces(&self, now_unix_ms: i64) -> Result<u64, StorageError> {
        sqlx::query("DELETE FROM nonces WHERE expires_at_unix_ms < $1")
            .bind(now_unix_ms)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| self.write_error("nonce purge", e))
    }

    pub(crate) async fn record_peer(&self, sighting: &PeerSighting) -> Result<(), StorageError> {
        const OP: &str = "peer upsert";
        let fail = |e| self.write_error(OP, e);
        let fingerprint = sighting.fingerprint.as_slice();
        let mut tx = self.pool.begin().await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO peers \
             (fingerprint, region, node, protocol_version, first_seen_unix_ms, last_seen_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (fingerprint) DO UPDATE SET \
             region = excluded.region, node = excluded.node, \
             protocol_version = excluded.protocol_version, \
             last_seen_unix_ms = excluded.last_seen_unix_ms",
        )
        .bind(fingerprint)
        .bind(&sighting.region)
        .bind(&sighting.node)
        .bind(i32::from(sighting.protocol_version))
        .bind(sighting.seen_at_unix_ms)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query("DELETE FROM peer_capabilities WHERE fingerprint = $1")
            .bind(fingerprint)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        if !sighting.capabilities.is_empty() {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO peer_capabilities (fingerprint, position, capability) ",
            );
            insert.push_values(
                sighting.capabilities.iter().zip(0i32..),
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
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| self.write_error("raw SQL (danger::execute_raw)", e))
    }

    pub(crate) async fn journal_len(&self) -> Result<u64, StorageError> {
        let next: i64 = sqlx::query_scalar(NEXT_SEQ)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.read_error("journal length", e))?;
        self.next_seq(next)
    }

    pub(crate) async fn journal_range(
        &self,
        from: i64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let rows: Vec<(i64, i32, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("journal range", e))?;
        self.journal_records(rows)
    }

    pub(crate) async fn peers(&self) -> Result<Vec<PeerRecord>, StorageError> {
        type Row = (Vec<u8>, String, String, i32, i64, i64, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.fingerprint, p.region, p.node, p.protocol_version, \
             p.first_seen_unix_ms, p.last_seen_unix_ms, c.capability \
             FROM peers p LEFT JOIN peer_capabilities c ON c.fingerprint = p.fingerprint \
             ORDER BY p.region, p.node, p.fingerprint, c.position",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("peer list", e))?;
        let rows = rows
            .into_iter()
            .map(
                |(fingerprint, region, node, protocol_version, first, last, capability)| PeerRow {
                    fingerprint,
                    region,
                    node,
                    protocol_version: i64::from(protocol_version),
                    first_seen_unix_ms: first,
                    last_seen_unix_ms: last,
                    capability,
                },
            )
            .collect();
        engine::group_peers(&self.location, rows)
    }

    pub(crate) async fn state(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        sqlx::query_scalar("SELECT value FROM flow_state WHERE ns = $1 AND key = $2")
            .bind(ns)
            .bind(key)
            .fetch_optional(&self.pool)
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
            "SELECT key, value FROM flow_state WHERE ns = $1 AND key >= $2 ORDER BY key LIMIT $3"
        } else {
            "SELECT key, value FROM flow_state WHERE ns = $1 AND key > $2 ORDER BY key LIMIT $3"
        };
        sqlx::query_as(sql)
            .bind(ns)
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.read_error("state scan", e))
    }

    pub(crate) async fn attachment(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(Vec<u8>, bool)>, StorageError> {
        sqlx::query_as("SELECT body, assembled FROM attachments WHERE digest = $1")
            .bind(digest.as_slice())
            .fetch_optional(&self.pool)
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
        sqlx::query_as("SELECT digest, body, assembled FROM entry_attachments WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.read_error("entry attachment", e))
    }

    pub(crate) async fn authorization_uses(
        &self,
        id: &[u8; 16],
    ) -> Result<Option<i64>, StorageError> {
        sqlx::query_scalar("SELECT uses FROM authorization_uses WHERE authorization_id = $1")
            .bind(id.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.read_error("authorization uses", e))
    }

    pub(crate) async fn quota_used(
        &self,
        peer: &str,
        window_start_unix_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        sqlx::query_scalar(
            "SELECT used FROM quota_usage WHERE peer = $1 AND window_start_unix_ms = $2",
        )
        .bind(peer)
        .bind(window_start_unix_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.read_error("quota usage", e))
    }

    pub(crate) async fn read_tree_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        sqlx::query_as(SELECT_TREE_HASHES)
            .bind(db_indexes(indexes))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.read_error("tree hashes", e))
    }

    log_sql!(read: pool, write: pool);

    pub(crate) async fn close(&self) {
        self.appends.close().await;
        self.pool.close().await;
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

/// A batch transaction, holding the journal's advisory lock until it ends.
pub(crate) struct PgBatch {
    engine: PgEngine,
    /// Reached through [`PgBatch::conn`], which sends the held writes first.
    open: Open,
    /// Writes held until the next statement or the commit ([`pending`]).
    pending: Box<pending::Pending>,
    /// The journal's next seq once read under the lock; held appends
    /// advance it.
    next_seq: Option<u64>,
    /// Whether each checkpoint held so far and sent is stored, in order
    /// ([`PgBatch::hold_checkpoint`]).
    checkpoints_stored: Vec<bool>,
}

/// Where a batch's transaction runs.
enum Open {
    /// On a connection of the pool (every batch but the writer's).
    Pooled(Transaction<'static, Postgres>),
    /// On the writer's own connection ([`writer_connection`]).
    Writer(writer_connection::WriterTx),
}

impl Open {
    fn conn(&mut self) -> &mut PgConnection {
        match self {
            Open::Pooled(tx) => tx,
            Open::Writer(tx) => tx.conn(),
        }
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Open::Pooled(tx) => tx.commit().await,
            Open::Writer(tx) => tx.commit().await,
        }
    }
}

impl PgBatch {
    pub(crate) fn location(&self) -> Arc<str> {
        self.engine.location()
    }

    /// Holds flow-state writes for the batch's one statement of writes
    /// ([`pending`]): only each key's last write counts, as when they are
    /// applied one by one.
    pub(crate) async fn write_state(
        &mut self,
        writes: &[StateWrite],
        updated_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        self.pending.hold_state(writes, updated_at_unix_ms);
        Ok(())
    }

    /// The transaction's connection, once the writes held so far are sent:
    /// every statement of the batch goes through here, so it sees what the
    /// batch wrote.
    pub(crate) async fn conn(&mut self) -> Result<&mut PgConnection, StorageError> {
        if !self.pending.is_empty() {
            let held = std::mem::take(&mut self.pending);
            match (*held).send(self.open.conn(), &self.engine.location).await {
                Ok(stored) => self.checkpoints_stored.extend(stored),
                Err(Ok(e)) => return Err(self.engine.write_error(BATCH_OP, e)),
                Err(Err(e)) => return Err(e),
            }
        }
        Ok(self.open.conn())
    }

    /// The journal's next seq, read once under the lock: only this batch
    /// appends until it commits.
    pub(crate) async fn next_seq(&mut self) -> Result<u64, StorageError> {
        if let Some(next) = self.next_seq {
            return Ok(next);
        }
        let next: i64 = sqlx::query_scalar(NEXT_SEQ)
            .fetch_one(self.conn().await?)
            .await
            .map_err(|e| self.fail(e))?;
        let next = self.engine.next_seq(next)?;
        self.next_seq = Some(next);
        Ok(next)
    }

    pub(crate) async fn tree_hash_count(&mut self) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM tree_hashes")
            .fetch_one(self.conn().await?)
            .await
            .map_err(|e| self.fail(e))
    }

    pub(crate) async fn read_tree_hashes(
        &mut self,
        indexes: &[u64],
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        sqlx::query_as(SELECT_TREE_HASHES)
            .bind(db_indexes(indexes))
            .fetch_all(self.conn().await?)
            .await
            .map_err(|e| self.fail(e))
    }

    pub(crate) async fn insert_tree_hashes(
        &mut self,
        first_index: i64,
        hashes: &[Hash],
    ) -> Result<(), StorageError> {
        self.pending
            .hold_tree_hashes(first_index, hashes.iter().map(|h| h.as_bytes().as_slice()));
        Ok(())
    }

    pub(crate) async fn journal_range(
        &mut self,
        from: i64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let rows: Vec<(i64, i32, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, kind, recorded_at_unix_ms, body FROM journal \
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(self.conn().await?)
        .await
        .map_err(|e| self.fail(e))?;
        let location = self.engine.location.clone();
        rows.into_iter()
            .map(|(seq, kind, at, body)| {
                engine::journal_record(&location, seq, i64::from(kind), at, body)
            })
            .collect()
    }

    pub(crate) async fn append_journal(
        &mut self,
        rows: &[JournalRow],
        recorded_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        let first = self.next_seq().await?;
        let next = i64::try_from(first).map_err(|_| self.engine.corrupt_seq(first))?;
        let after = u64::try_from(rows.len())
            .ok()
            .and_then(|n| first.checked_add(n))
            .ok_or_else(|| self.engine.corrupt_seq(first))?;
        // Held for the batch's one statement of writes ([`pending`]).
        self.pending.hold_journal(
            (next..)
                .zip(rows)
                .map(|(seq, r)| (seq, r.kind, r.body.as_slice())),
            recorded_at_unix_ms,
        );
        self.next_seq = Some(after);
        Ok(first)
    }

    /// Holds this node's signed checkpoint of the tree of `size` for the
    /// batch's one statement of writes ([`pending`]), unless one is stored
    /// for that size: [`PgBatch::commit_held_checkpoints`] says whether each
    /// is stored. One round trip fewer than inserting it at once.
    pub(crate) fn hold_checkpoint(
        &mut self,
        size: u64,
        note: &str,
        now_unix_ms: i64,
    ) -> Result<(), StorageError> {
        let db_size = super::witness::log_size(size)?;
        self.pending.hold_checkpoint(db_size, note, now_unix_ms);
        Ok(())
    }

    pub(crate) async fn commit(self) -> Result<(), StorageError> {
        self.commit_held_checkpoints().await.map(drop)
    }

    /// Commits, and returns for each checkpoint held by
    /// [`PgBatch::hold_checkpoint`], in order, whether it is stored (false:
    /// another note is stored for its size, and nothing was written for it).
    pub(crate) async fn commit_held_checkpoints(mut self) -> Result<Vec<bool>, StorageError> {
        self.conn().await?;
        let engine = self.engine;
        self.open
            .commit()
            .await
            .map_err(|e| engine.write_error(BATCH_OP, e))?;
        Ok(self.checkpoints_stored)
    }

    fn fail(&self, e: sqlx::Error) -> StorageError {
        self.engine.write_error(BATCH_OP, e)
    }
}

/// Stored hash indexes as a PostgreSQL `BIGINT[]` parameter; an index
/// beyond `i64` is never stored, so it becomes one that is not (-1).
fn db_indexes(indexes: &[u64]) -> Vec<i64> {
    indexes
        .iter()
        .map(|&index| i64::try_from(index).unwrap_or(-1))
        .collect()
}

/// Checks a schema name: `[a-z_][a-z0-9_]{0,62}`, not `pg_…` (reserved by
/// PostgreSQL for system schemas).
pub(crate) fn validate_schema_name(name: &str) -> Result<(), StorageError> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && name.len() <= MAX_SCHEMA_NAME_LEN && !name.starts_with("pg_") {
        Ok(())
    } else {
        Err(StorageError::InvalidSchemaName {
            name: name.to_owned(),
        })
    }
}

/// "PostgreSQL host:port/database, schema s" — for messages; no credentials.
fn describe(connect: &PgConnectOptions, schema: Option<&str>) -> String {
    let server = match connect.get_socket() {
        Some(socket) => format!("{} (port {})", socket.display(), connect.get_port()),
        None => format!("{}:{}", connect.get_host(), connect.get_port()),
    };
    let database = connect
        .get_database()
        .unwrap_or_else(|| connect.get_username());
    match schema {
        Some(schema) => format!("PostgreSQL {server}/{database}, schema {schema}"),
        None => format!("PostgreSQL {server}/{database}, default search_path"),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_schema_name;

    #[test]
    fn schema_names() {
        for good in ["a", "_", "node_520000", "x".repeat(63).as_str()] {
            assert!(validate_schema_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Abc",
            "a-b",
            "a b",
            "a\"b",
            "pg_temp",
            "é",
            "x".repeat(64).as_str(),
        ] {
            assert!(validate_schema_name(bad).is_err(), "{bad}");
        }
    }
}

checkpoint_sql!(batch: PgBatch);
