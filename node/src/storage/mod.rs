//! Durable storage of the node: an append-only journal, the peers seen,
//! the credit records the region imported, and the claims that tie each
//! release to a logged request (nonces, authorization uses, quotas,
//! attachments of journal entries), and the aliases and sealed IDs of the
//! natural persons those records are about ([`SubjectRow`]).
//!
//! One interface, two backends (DESIGN §10):
//!
//! - **SQLite**, the embedded default: one file in the node's data directory,
//!   `journal_mode=WAL`, `synchronous=FULL`, `foreign_keys=ON` and a busy
//!   timeout, all set explicitly. Writes use one connection; reads use a
//!   separate pool of read-only connections (WAL lets them run beside the
//!   writer).
//! - **PostgreSQL**, the production backend, selected by a `postgres://` URL.
//!   An optional schema lets several nodes share one database: it is created
//!   if absent and every pooled connection sets `search_path` to it.
//!
//! Migrations for each backend are embedded in the binary and run on open;
//! running them again is a no-op.
//!
//! # The write path
//!
//! All writes of one [`Storage`] (and its clones) go through one writer task
//! fed by a bounded queue of [`QUEUE_CAPACITY`] commands. The writer takes
//! the first queued append and then every further append already queued, up
//! to [`MAX_BATCH`] records or [`MAX_BATCH_BYTES`] of bodies (under
//! concurrent load it briefly yields, at most [`MAX_BATCH_DELAY`], so that
//! callers just answered can join the batch; while the node's runtime is
//! saturated, it starts at most one batch a millisecond, decision 1310),
//! and writes the batch in one
//! transaction (group commit): on PostgreSQL with statements over arrays,
//! on SQLite from a thread of the writer's own with cached single-row
//! statements on a connection it drives directly (decision 1040). Only
//! after the commit is durable does each caller get its sequence number. If the transaction fails, every caller of the batch gets
//! the error and no sequence number is consumed. A full queue pushes back:
//! [`Storage::append`] waits, [`Storage::try_append`] fails with
//! [`StorageError::QueueFull`].
//!
//! Durable means: SQLite `synchronous=FULL` in WAL mode (the WAL is synced at
//! each commit); PostgreSQL `synchronous_commit=on`, set on every connection
//! (the server's own `fsync` must be on — the node cannot override that).
//!
//! Sequence numbers are contiguous from 0. The writer reads the next one
//! inside each batch transaction, after taking the journal's write lock
//! (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory
//! lock keyed on the journal table, see `postgres::JOURNAL_LOCK_CLASS`; not
//! `LOCK TABLE … EXCLUSIVE`, which would also queue behind autovacuum). So a
//! second process writing the same journal is serialised instead of
//! colliding, and a failed batch never leaves a gap. The primary key on
//! `seq` is the backstop against a writer that ignores the lock.
//!
//! [`Storage::append_claimed`] appends like [`Storage::append`] and, in the
//! same batch transaction, consumes a request's nonce, one use of the
//! subject's authorization and one unit of quota; claimed and plain appends
//! share batches. The rules are on [`AccessClaim`] (decide under the lock,
//! then build the body, then write).
//!
//! [`Storage::feed_records`] applies a batch of the gateway's record feed —
//! records, per-source sequences, idempotency record and journal entries —
//! in one batch transaction of its own (module `feed`).
//!
//! Peer sightings, record imports (one transaction per import), nonce
//! purges, the log's checkpoints, cosignatures, witnessed checkpoints and
//! evidence, and the `danger` edits (only with the cargo feature `danger`)
//! go through the same writer (SQLite has one writer), in queue order.
//!
//! # Encryption at rest
//!
//! With a key-encryption key ([`StorageOptions::at_rest`]), credit record
//! bodies, attachments and flow-state values are sealed by the method that
//! takes them, before they are queued for the writer, and opened by the
//! method that returns them; keys and indices stay in clear, and the
//! journal is not encrypted. The format, the data keys and their rotation
//! are in module `at_rest` (decision 1110).
//!
//! # The Merkle log
//!
//! The journal is an RFC 6962 Merkle log: record `seq` is leaf `seq`, its
//! entry is [`credex_journal::entry_bytes`] (kind ‖ time ‖ body; the format tiles
//! export and auditors hash). Each batch transaction also inserts the
//! tree's new stored hashes (Go's `sumdb/tlog` layout, table
//! `tree_hashes`), so the journal and its tree commit or fail together. The
//! writer keeps the tree's right edge in memory (O(log n) hashes), computes
//! the root without reading the database, and publishes each committed
//! [`TreeHead`] ([`Storage::tree_head`], [`Storage::subscribe_tree_head`]).
//! Roots of earlier sizes and inclusion and consistency proofs are read
//! from the stored hashes in one query each ([`Storage::tree_root`],
//! [`Storage::inclusion_proof`], [`Storage::consistency_proof`]).
//!
//! What this module does not do: sign or verify checkpoints, cosign, or
//! decide what is a fork (the access log does, with
//! `credex_protocol::tlog`; the store keeps the notes as text), hash
//! attachments (their digests are the caller's; only the parts an
//! attachment shares are stored under their own SHA-256, module
//! `attachment`), or interpret journal or record bodies.

mod access;
mod at_rest;
mod attachment;
mod checks;
mod claims;
#[cfg(feature = "danger")]
pub mod danger;
mod engine;
mod error;
mod feed;
mod journal;
mod lease;
mod log_sql;
mod peers;
mod postgres;
mod recent;
mod records;
mod recover;
mod snapshot;
mod sqlite;
mod state;
mod subjects;
mod tree;
mod witness;
mod writer;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use credex_protocol::tlog::MAX_ENTRY_BYTES;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use access::{
    AccessClaim, ClaimOutcome, EntryOnClaim, MAX_ATTACHMENT_LEN, MAX_QUOTA_PEER_LEN, QuotaClaim,
};
pub use at_rest::{
    AtRestConfig, AtRestError, BACKFILL_CHUNK, Cipher, FileKek, KEK_LEN, KeyEncryptionKey,
    OpenedValues, SEALED_OVERHEAD,
};
pub use attachment::Attachment;
pub use checks::{SUBJECTS_PER_READ, SubjectRecord};
pub use error::{DriverError, StorageError};
pub use feed::{
    FeedBatch, FeedOutcome, MAX_FEED_ANSWER_LEN, MAX_FEED_CLIENT_LEN, MAX_FEED_SOURCE_LEN,
    MAX_FEED_SOURCES, MAX_IDEMPOTENCY_KEY_LEN, RecordKey, SourceAdvance, StoredFeedAnswer,
};
pub use lease::{DUTIES, Fence, LeaseClaim, MAX_HOLDER_LEN};
pub use peers::{PeerRecord, PeerSighting};
pub use records::{
    ImportCursor, ImportedRecord, MAX_IMPORT_ROWS, MAX_IMPORTED_PAGE, MAX_QUERY_CATEGORIES,
    MAX_RECORD_BODY_LEN, MAX_RECORD_KEY_LEN, MAX_RECORDS_PER_QUERY, MAX_SUBJECTS_PER_READ,
    RecordRow, StoredRecord,
};
pub use state::{
    MAX_STATE_KEY_LEN, MAX_STATE_NS_LEN, MAX_STATE_SCAN, MAX_STATE_VALUE_LEN, StateWrite,
};
pub use subjects::{MAX_SEALED_ID_LEN, MAX_SEALED_PAGE, SubjectAlias, SubjectCounts, SubjectRow};
pub use tree::{MAX_TREE_HASH_READ, TreeHead};
pub use witness::{
    EvidenceRecord, MAX_CHECKPOINTS_PER_READ, MAX_COSIGNATURE_LINE_LEN, MAX_COSIGNATURES,
    MAX_EVIDENCE_DETAIL_LEN, MAX_EVIDENCE_KIND_LEN, MAX_EVIDENCE_PER_READ, MAX_LOG_NAME_LEN,
};

use engine::Engine;
use writer::{Append, AppendCommand, Command};

/// Default capacity of the writer queue, in commands. When it is full,
/// [`Storage::append`] waits and [`Storage::try_append`] fails with
/// [`StorageError::QueueFull`].
pub const QUEUE_CAPACITY: usize = 4096;

/// Largest accepted [`StorageOptions::queue_capacity`].
pub const MAX_QUEUE_CAPACITY: usize = 1 << 24;

/// Default maximum number of journal records written in one transaction.
pub const MAX_BATCH: usize = 512;

/// Default longest time the writer spends collecting more appends before
/// committing a batch. It only collects while appends arrive concurrently
/// (the previous batch held more than one record), never for a lone caller,
/// and it waits by yielding to the scheduler a few times rather than on a
/// timer, so in practice a batch closes within microseconds of the queue
/// running dry; this is only the upper bound. Zero disables the wait.
pub const MAX_BATCH_DELAY: Duration = Duration::from_millis(1);

/// Upper bound on the summed body sizes of one batch. A batch is closed as
/// soon as it reaches this size.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Largest journal body accepted by [`Storage::append`]: what keeps every
/// log entry ([`credex_journal::entry_bytes`], ten bytes more) within the 65,535 bytes a
/// C2SP entry bundle can carry, so every record can be exported as tiles.
/// Journal entries hold hashes of payloads, never the payloads; larger
/// content goes in an attachment.
pub const MAX_BODY_LEN: usize = MAX_ENTRY_BYTES - credex_journal::HEADER_LEN;

/// Most records one [`Storage::journal_range`] call returns.
pub const MAX_RANGE_LIMIT: u32 = 4096;

/// Default number of read connections (SQLite read-only pool; PostgreSQL
/// pool size is this plus one for other writes, and the writer's group
/// commits have one connection more: decision 1160).
pub const READ_CONNECTIONS: u32 = 4;

/// How long a write waits for a lock held by another connection or process
/// (SQLite `busy_timeout`, PostgreSQL `lock_timeout`) before failing.
pub const LOCK_WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time allowed to establish a database connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most capabilities one [`PeerSighting`] may list.
pub const MAX_PEER_CAPABILITIES: usize = 64;

/// Longest node name or capability accepted in a [`PeerSighting`], in bytes.
pub const MAX_PEER_NAME_LEN: usize = 128;

/// Which database a [`Storage`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL database, possibly one schema of it.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The source of `recorded_at` timestamps, passed in so tests and the
/// simulator can control time (the node's one clock).
pub use crate::clock::{Clock, SystemClock};

/// Tuning knobs of a [`Storage`]. `StorageOptions::default()` is what
/// [`Storage::open`] uses.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Capacity of the writer queue (1 ..= [`MAX_QUEUE_CAPACITY`]). Default
    /// [`QUEUE_CAPACITY`].
    pub queue_capacity: usize,
    /// Most records per batch transaction (≥ 1). Default [`MAX_BATCH`].
    pub max_batch: usize,
    /// Longest wait for more appends before a batch is committed. Default
    /// [`MAX_BATCH_DELAY`]; zero commits as soon as the queue is empty.
    pub max_batch_delay: Duration,
    /// Read connections (≥ 1). Default [`READ_CONNECTIONS`].
    pub read_connections: u32,
    /// Time allowed to connect (PostgreSQL) or to get a pooled connection.
    /// Default [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Where `recorded_at_unix_ms` comes from. Default [`SystemClock`].
    pub clock: Arc<dyn Clock>,
    /// Encryption at rest: the key-encryption key and the cipher of new
    /// data keys (decision 1110). Default none: values are stored in clear,
    /// and a store that holds data keys refuses to open.
    pub at_rest: Option<AtRestConfig>,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            queue_capacity: QUEUE_CAPACITY,
            max_batch: MAX_BATCH,
            max_batch_delay: MAX_BATCH_DELAY,
            read_connections: READ_CONNECTIONS,
            connect_timeout: CONNECT_TIMEOUT,
            clock: Arc::new(SystemClock),
            at_rest: None,
        }
    }
}

impl StorageOptions {
    fn validate(&self) -> Result<(), StorageError> {
        let invalid = |reason: &str| {
            Err(StorageError::InvalidOptions {
                reason: reason.to_owned(),
            })
        };
        if !(1..=MAX_QUEUE_CAPACITY).contains(&self.queue_capacity) {
            return invalid("queue_capacity must be in 1..=16777216");
        }
        if self.max_batch == 0 {
            return invalid("max_batch must be at least 1");
        }
        if self.read_connections == 0 {
            return invalid("read_connections must be at least 1");
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout must be positive");
        }
        Ok(())
    }
}

/// One record of the journal, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// Position in the journal, contiguous from 0.
    pub seq: u64,
    /// Record type, chosen by the layer above.
    pub kind: u16,
    /// When the writer committed the record (from the [`Clock`]).
    pub recorded_at_unix_ms: i64,
    /// The opaque record body.
    pub body: Vec<u8>,
}

/// Counters of the writer, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageStats {
    /// Appends accepted into the writer queue.
    pub accepted: u64,
    /// Journal records committed.
    pub appends: u64,
    /// Journal batch transactions committed (group commits).
    pub commits: u64,
    /// Journal batch transactions that failed.
    pub failed_batches: u64,
    /// Largest batch committed, in records.
    pub largest_batch: u64,
    /// Commands waiting in the writer queue right now.
    pub queued: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) appends: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) largest_batch: AtomicU64,
}

/// An append that is in the writer queue; resolves to its sequence number
/// once the batch holding it is durable.
///
/// Dropping it does not withdraw the append: the record is still written,
/// only its sequence number is not reported.
#[derive(Debug)]
#[must_use = "the append is queued either way; await this to learn its sequence number and whether it is durable"]
pub struct PendingAppend {
    reply: oneshot::Receiver<Result<u64, StorageError>>,
    location: Arc<str>,
}

impl Future for PendingAppend {
    type Output = Result<u64, StorageError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.reply)
            .poll(cx)
            .map(|answer| match answer {
                Ok(result) => result,
                Err(_) => Err(StorageError::WriterStopped {
                    location: this.location.to_string(),
                }),
            })
    }
}

/// Handle to the node's store. Cheap to clone; all clones share one writer
/// task and one set of connection pools.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
    /// The duties lease this handle's plain appends and state writes are
    /// fenced by ([`Storage::fenced`]).
    fence: Option<lease::Fence>,
}

struct Inner {
    engine: Engine,
    location: Arc<str>,
    queue: mpsc::Sender<Command>,
    queue_capacity: usize,
    shutdown: CancellationToken,
    writer: TaskTracker,
    counters: Arc<Counters>,
    /// The latest committed tree head; the writer sends, readers borrow.
    heads: Arc<tree::HeadSender>,
    /// How many commands the writer completed.
    writes: Arc<watch::Sender<u64>>,
    /// The node's clock (stamps records; the federation reads it too).
    clock: Arc<dyn Clock>,
    /// What the writer committed last ([`recent`]).
    recent: Arc<recent::Recent>,
    /// Seals and opens record bodies, attachments and flow state
    /// ([`at_rest`]).
    sealer: at_rest::Sealer,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend())
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the store named by `url` with default options: `sqlite:PATH` or
    /// `sqlite://PATH` (see [`Storage::open_sqlite`]), or `postgres://…` /
    /// `postgresql://…` (see [`Storage::open_postgres`], without a schema).
    ///
    /// Cancel-safe: dropping the future before it completes leaves no task
    /// behind (migrations run in a transaction per step).
    pub async fn open(url: &str) -> Result<Storage, StorageError> {
        Self::open_with(url, StorageOptions::default()).await
    }

    /// Like [`Storage::open`], with explicit options. Cancel-safe.
    pub async fn open_with(url: &str, options: StorageOptions) -> Result<Storage, StorageError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::open_postgres_with(url, None, options).await;
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StorageError::InvalidUrl {
                url: redact_url(url),
                reason: "expected sqlite:PATH, sqlite://PATH or postgres://…".to_owned(),
            })?;
        if path.is_empty() || path.contains('?') || path == ":memory:" {
            return Err(StorageError::InvalidUrl {
                url: redact_url(url),
                reason: "expected a file path after sqlite: (no query parameters, not :memory:)"
                    .to_owned(),
            });
        }
        Self::open_sqlite_with(Path::new(path), options).await
    }

    /// Opens (creating if needed, with its parent directories) the SQLite
    /// store at `path` and runs the migrations. Cancel-safe.
    pub async fn open_sqlite(path: &Path) -> Result<Storage, StorageError> {
        Self::open_sqlite_with(path, StorageOptions::default()).await
    }

    /// Like [`Storage::open_sqlite`], with explicit options. Cancel-safe.
    pub async fn open_sqlite_with(
        path: &Path,
        options: StorageOptions,
    ) -> Result<Storage, StorageError> {
        options.validate()?;
        let engine = Engine::Sqlite(sqlite::SqliteEngine::open(path, &options).await?);
        Self::start(engine, options).await
    }

    /// Connects to PostgreSQL at `url` and runs the migrations. With
    /// `schema`, the store lives in that schema (created if absent; name
    /// `[a-z_][a-z0-9_]{0,62}`, not starting with `pg_`), so several nodes
    /// can share one database; without, it uses the server's default
    /// `search_path`. Cancel-safe.
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Storage, StorageError> {
        Self::open_postgres_with(url, schema, StorageOptions::default()).await
    }

    /// Like [`Storage::open_postgres`], with explicit options. Cancel-safe.
    pub async fn open_postgres_with(
        url: &str,
        schema: Option<&str>,
        options: StorageOptions,
    ) -> Result<Storage, StorageError> {
        options.validate()?;
        let engine = Engine::Postgres(postgres::PgEngine::open(url, schema, &options).await?);
        Self::start(engine, options).await
    }

    /// Loads the tree (computing the hashes of records written before the
    /// Merkle log, if any) and starts the writer.
    async fn start(engine: Engine, options: StorageOptions) -> Result<Storage, StorageError> {
        let tree = match tree::load(&engine).await {
            Ok(tree) => tree,
            Err(e) => {
                engine.close().await;
                return Err(e);
            }
        };
        let sealer =
            match at_rest::Sealer::open(&engine, options.at_rest.as_ref(), options.clock.now_ms())
                .await
            {
                Ok(sealer) => sealer,
                Err(e) => {
                    engine.close().await;
                    return Err(e);
                }
            };
        let heads = Arc::new(watch::Sender::new(tree.head()));
        let writes = Arc::new(watch::Sender::new(0u64));
        let recent = Arc::new(recent::Recent::default());
        let location = engine.location();
        let (queue, commands) = mpsc::channel(options.queue_capacity);
        let shutdown = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let writer = TaskTracker::new();
        let run = writer::run(
            commands,
            engine.clone(),
            writer::WriterConfig {
                max_batch: options.max_batch,
                max_batch_delay: options.max_batch_delay,
                clock: Arc::clone(&options.clock),
                writes: writes.clone(),
                recent: Arc::clone(&recent),
                callers_runtime: tokio::runtime::Handle::try_current().ok(),
            },
            shutdown.clone(),
            counters.clone(),
            tree,
            heads.clone(),
        );
        // The writer drives its connection on a thread of its own: SQLite's
        // itself (decision 1040), PostgreSQL's group commits through a
        // connection made there (decision 1160).
        match writer::on_own_thread(run, &location) {
            Ok(stopped) => writer.spawn(stopped),
            Err(e) => {
                engine.close().await;
                return Err(e);
            }
        };
        writer.close();
        tracing::info!(
            backend = %engine.backend(),
            %location,
            tree_size = heads.borrow().size,
            "storage opened"
        );
        Ok(Storage {
            fence: None,
            inner: Arc::new(Inner {
                engine,
                location,
                queue,
                queue_capacity: options.queue_capacity,
                shutdown,
                writer,
                counters,
                heads,
                writes,
                clock: options.clock,
                recent,
                sealer,
            }),
        })
    }

    /// The clock this store was opened with: the node's one clock, which
    /// the parts that share the store (federation, flows' drivers) read.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// A receiver notified after every write this store's writer completes
    /// (committed or failed: the value is a count, not a result). Tests and
    /// views that show stored state wait on it instead of polling.
    pub fn subscribe_writes(&self) -> watch::Receiver<u64> {
        self.inner.writes.subscribe()
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.inner.engine.backend()
    }

    /// Where the store is, for messages: the SQLite path, or PostgreSQL
    /// host, port, database and schema (never credentials).
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Appends a record to the journal and returns its sequence number once
    /// the record is durable. Waits while the writer queue is full
    /// (backpressure).
    ///
    /// Not cancel-safe in effect: if the future is dropped after the record
    /// was queued, the record is still written, but its sequence number is
    /// lost to the caller. Dropped while waiting for queue space, nothing is
    /// written.
    pub async fn append(&self, kind: u16, body: Vec<u8>) -> Result<u64, StorageError> {
        let (command, pending) = self.append_command(kind, body, Vec::new())?;
        if self.inner.shutdown.is_cancelled() {
            return Err(self.closed());
        }
        self.inner
            .queue
            .send(command)
            .await
            .map_err(|_| self.closed())?;
        self.inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
        pending.await
    }

    /// Queues an append without waiting for queue space: fails at once with
    /// [`StorageError::QueueFull`] when the writer queue is full. On success
    /// the record is queued (in call order) and the returned
    /// [`PendingAppend`] resolves to its sequence number once durable.
    pub fn try_append(&self, kind: u16, body: Vec<u8>) -> Result<PendingAppend, StorageError> {
        let (command, pending) = self.append_command(kind, body, Vec::new())?;
        if self.inner.shutdown.is_cancelled() {
            return Err(self.closed());
        }
        self.inner.queue.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StorageError::QueueFull {
                location: self.inner.location.to_string(),
                capacity: self.inner.queue_capacity,
            },
            mpsc::error::TrySendError::Closed(_) => self.closed(),
        })?;
        self.inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(pending)
    }

    fn append_command(
        &self,
        kind: u16,
        body: Vec<u8>,
        state: Vec<StateWrite>,
    ) -> Result<(Command, PendingAppend), StorageError> {
        if body.len() > MAX_BODY_LEN {
            return Err(StorageError::BodyTooLarge {
                len: body.len(),
                max: MAX_BODY_LEN,
            });
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Append(Append::Plain(AppendCommand {
            kind,
            body,
            state,
            fence: self.fence,
            refused: None,
            reply,
        }));
        let pending = PendingAppend {
            reply: answer,
            location: self.inner.location.clone(),
        };
        Ok((command, pending))
    }
    /// A snapshot of the writer's counters.
    pub fn stats(&self) -> StorageStats {
        let c = &self.inner.counters;
        StorageStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            queued: self.inner.queue.max_capacity() - self.inner.queue.capacity(),
        }
    }

    /// Closes the store: stops accepting writes (later calls fail with
    /// [`StorageError::Closed`]), lets the writer finish every write already
    /// queued, then closes the connection pools. Affects all clones.
    /// Idempotent.
    ///
    /// Cancel-safe: if dropped, the writer still drains the queue and stops;
    /// only the pools are not closed explicitly (they close when the last
    /// clone is dropped).
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        self.inner.writer.wait().await;
        self.inner.engine.close().await;
        tracing::info!(location = %self.inner.location, "storage closed");
    }

    async fn send(&self, command: Command) -> Result<(), StorageError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(self.closed());
        }
        self.inner
            .queue
            .send(command)
            .await
            .map_err(|_| self.closed())
    }

    async fn answer<T>(
        &self,
        answer: oneshot::Receiver<Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        answer.await.unwrap_or_else(|_| {
            Err(StorageError::WriterStopped {
                location: self.inner.location.to_string(),
            })
        })
    }

    fn closed(&self) -> StorageError {
        StorageError::Closed {
            location: self.inner.location.to_string(),
        }
    }
}

/// Returns `url` with the password (if any) replaced by `***`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(
            redact_url("postgres://u:p:q@w@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/a@b"), "postgres://h/a@b");
        assert_eq!(redact_url("sqlite:/x/y"), "sqlite:/x/y");
    }
}
