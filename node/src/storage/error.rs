//! The one error type of the storage layer.

use std::path::PathBuf;
use std::sync::Arc;

/// The database driver's error behind [`StorageError::Write`] and
/// [`StorageError::Read`]: sqlx's, or SQLite's own on the writer's direct
/// connection (decision 1040).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// An error from sqlx (SQLite or PostgreSQL).
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// An error from SQLite on the writer's direct connection.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Everything that can go wrong in [`Storage`](super::Storage).
///
/// Messages say what failed and where: the SQLite file path, or the
/// PostgreSQL host, port, database and schema. They never contain a password.
/// Sources are behind [`Arc`] so that one failed batch commit can be reported
/// to every caller in the batch.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A database file that group or others can read.
    #[error("{0}")]
    ReadableByOthers(#[from] crate::file_modes::ReadableByOthers),
    /// Encryption at rest failed: a key-encryption key that is missing or
    /// wrong, a sealed value that does not open (decision 1110).
    #[error("{0}")]
    AtRest(#[from] super::at_rest::AtRestError),
    /// The URL given to [`Storage::open`](super::Storage::open) is not a
    /// supported store URL (`sqlite:PATH`, `sqlite://PATH`, `postgres://…`).
    #[error("invalid storage URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The PostgreSQL schema name is not a plain lower-case identifier
    /// `[a-z_][a-z0-9_]{0,62}`, or starts with the reserved prefix `pg_`.
    #[error(
        "invalid PostgreSQL schema name {name:?}: expected [a-z_][a-z0-9_]{{0,62}} not starting with pg_"
    )]
    InvalidSchemaName {
        /// The rejected name.
        name: String,
    },

    /// A [`StorageOptions`](super::StorageOptions) value is out of range.
    #[error("invalid storage options: {reason}")]
    InvalidOptions {
        /// Which option and what was expected.
        reason: String,
    },

    /// The directory that should hold the SQLite file could not be created.
    #[error("cannot create directory {path} for the SQLite store: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The SQLite file could not be opened or configured (WAL, synchronous).
    #[error("cannot open SQLite store {path}: {source}")]
    OpenSqlite {
        /// The database file.
        path: PathBuf,
        /// The driver error.
        #[source]
        source: Arc<sqlx::Error>,
    },

    /// No connection to PostgreSQL could be established (network,
    /// authentication, missing database, or the connect timeout).
    #[error("cannot connect to {location}: {source}")]
    ConnectPostgres {
        /// Host, port, database and schema; no credentials.
        location: String,
        /// The driver error.
        #[source]
        source: Arc<sqlx::Error>,
    },

    /// `CREATE SCHEMA IF NOT EXISTS` failed (usually: the role lacks the
    /// `CREATE` privilege on the database).
    #[error("cannot create schema on {location}: {source}")]
    CreateSchema {
        /// Host, port, database and schema; no credentials.
        location: String,
        /// The driver error.
        #[source]
        source: Arc<sqlx::Error>,
    },

    /// Running the schema migrations failed, or the store was migrated by a
    /// different (newer or modified) version of credex.
    #[error("migrating {location} failed: {source}")]
    Migrate {
        /// The store: SQLite path, or PostgreSQL host/database/schema.
        location: String,
        /// The migrator's error.
        #[source]
        source: Arc<sqlx::migrate::MigrateError>,
    },

    /// [`Storage::try_append`](super::Storage::try_append) found the writer
    /// queue full. Nothing was queued; retry later or use
    /// [`Storage::append`](super::Storage::append), which waits.
    #[error("append queue of {location} is full ({capacity} writes waiting)")]
    QueueFull {
        /// The store.
        location: String,
        /// The queue capacity.
        capacity: usize,
    },

    /// A write fenced by a lease's token (the region's duties, decision
    /// 1020) came after another process took the lease: nothing of it was
    /// written. The writer no longer holds the duties and must stop them.
    #[error(
        "the {duty} lease is no longer held under token {token} (now {}): this process lost the region's duties; the write was not made",
        current.map_or_else(|| "none".to_owned(), |t| t.to_string())
    )]
    Fenced {
        /// The lease.
        duty: &'static str,
        /// The token the write was fenced by.
        token: u64,
        /// The lease's token now, if it has one.
        current: Option<u64>,
    },

    /// The store was closed (or is closing) before the write was queued;
    /// nothing was written.
    #[error("{location} is closed; the write was not queued")]
    Closed {
        /// The store.
        location: String,
    },

    /// The writer task ended without answering a queued write (the runtime is
    /// shutting down, or the task panicked). Whether the write is durable is
    /// unknown: read the journal to find out.
    #[error(
        "the writer of {location} stopped before answering; the write may or may not be durable"
    )]
    WriterStopped {
        /// The store.
        location: String,
    },

    /// A state value could not be encoded (nothing was written).
    #[error("cannot encode a value for the store: {0}")]
    Encode(Arc<credex_protocol::FrameError>),

    /// A journal entry could not be encoded (nothing was appended).
    #[error("{0}")]
    Entry(Arc<credex_journal::EntryError>),

    /// A journal body exceeds [`MAX_BODY_LEN`](super::MAX_BODY_LEN).
    #[error("journal body of {len} bytes exceeds the maximum of {max} bytes")]
    BodyTooLarge {
        /// The body length.
        len: usize,
        /// The maximum.
        max: usize,
    },

    /// A [`PeerSighting`](super::PeerSighting) breaks a rule the store
    /// enforces (region code, bounded lengths).
    #[error("invalid peer sighting: {reason}")]
    InvalidPeer {
        /// Which field and what was expected.
        reason: String,
    },

    /// An [`AccessClaim`](super::AccessClaim) breaks a rule the store
    /// enforces (region code, bounded lengths). Nothing was queued.
    #[error("invalid access claim: {reason}")]
    InvalidClaim {
        /// Which field and what was expected.
        reason: String,
    },

    /// A flow-state write or scan is out of bounds (empty or too long
    /// namespace or key, value too large, scan limit too large). Nothing
    /// was queued.
    #[error("invalid flow state write: {reason}")]
    InvalidState {
        /// Which write and what was expected.
        reason: String,
    },

    /// An attachment exceeds [`MAX_ATTACHMENT_LEN`](super::MAX_ATTACHMENT_LEN).
    /// Nothing was queued.
    #[error("attachment of {len} bytes exceeds the maximum of {max} bytes")]
    AttachmentTooLarge {
        /// The attachment length.
        len: usize,
        /// The maximum.
        max: usize,
    },

    /// The `build` function given to
    /// [`Storage::append_claimed`](super::Storage::append_claimed) panicked.
    /// Nothing of that append was written (its claims neither); the other
    /// appends of its batch are not affected.
    #[error("the journal body builder of a claimed append panicked; nothing of it was written")]
    BuildPanicked,

    /// Another writer changed the claim tables (nonces, authorization uses,
    /// quotas) between the writer's read and its write, although both ran
    /// under the journal's write lock: some process writes them without
    /// taking that lock. The batch was rolled back.
    #[error(
        "claims of {location} changed under the journal's write lock (a writer ignores the lock); the batch was rolled back"
    )]
    ClaimRaced {
        /// The store.
        location: String,
    },

    /// A [`RecordRow`](super::RecordRow) breaks a rule the store enforces
    /// (bounded lengths, no (category, record_id) twice in one import).
    /// Nothing of the import was queued.
    #[error("invalid record at index {index} of the import: {reason}")]
    InvalidRecord {
        /// Position of the row in the import (0-based).
        index: usize,
        /// Which field and what was expected.
        reason: String,
    },

    /// A [`FeedBatch`](super::FeedBatch) breaks a rule the store enforces
    /// (bounded keys, sequences from 1, contiguous, no source twice).
    /// Nothing was queued.
    #[error("invalid feed batch: {reason}")]
    InvalidFeed {
        /// Which part and what was expected.
        reason: String,
    },

    /// A [`SubjectRow`](super::SubjectRow) or
    /// [`SubjectAlias`](super::SubjectAlias) breaks a rule the store
    /// enforces (bounded lengths, epochs from 1). Nothing was queued.
    #[error("invalid natural person at index {index}: {reason}")]
    InvalidSubject {
        /// Position of the row in the call (0-based).
        index: usize,
        /// Which field and what was expected.
        reason: String,
    },

    /// An import has more than [`MAX_IMPORT_ROWS`](super::MAX_IMPORT_ROWS)
    /// rows. Nothing was queued.
    #[error("import of {rows} rows exceeds the maximum of {max} rows")]
    TooManyImportRows {
        /// Rows in the import.
        rows: usize,
        /// The maximum.
        max: usize,
    },

    /// A record query names more than
    /// [`MAX_QUERY_CATEGORIES`](super::MAX_QUERY_CATEGORIES) categories.
    #[error("record query names {categories} categories, more than the maximum of {max}")]
    TooManyCategories {
        /// Categories named.
        categories: usize,
        /// The maximum.
        max: usize,
    },

    /// A subject has more records in the requested categories than one
    /// query returns ([`MAX_RECORDS_PER_QUERY`](super::MAX_RECORDS_PER_QUERY)).
    /// Nothing is returned rather than an incomplete set.
    #[error("the subject has more than {max} records in the requested categories")]
    TooManyRecords {
        /// The maximum.
        max: usize,
    },

    /// A write transaction failed. For appends every caller of the batch gets
    /// this error and no sequence number was consumed. (If the connection
    /// broke while the commit itself was in flight, the server may still
    /// have committed it; the journal then shows the records.)
    #[error("{operation} on {location} failed: {source}")]
    Write {
        /// What was being written (e.g. "journal append batch").
        operation: &'static str,
        /// The store.
        location: String,
        /// The driver error.
        #[source]
        source: Arc<DriverError>,
    },

    /// The SQLite writer's thread or its runtime could not be started.
    #[error("cannot start the writer of {location}: {source}")]
    WriterThread {
        /// The store.
        location: String,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// Work was asked of the wrong kind of batch transaction: the
    /// journal appends' direct SQLite batch runs only appends and fence
    /// checks. A defect in credex, not in the store.
    #[error("{operation} cannot run in a journal append batch of {location}")]
    WrongBatch {
        /// What was asked.
        operation: &'static str,
        /// The store.
        location: String,
    },

    /// A read query failed.
    #[error("{operation} on {location} failed: {source}")]
    Read {
        /// What was being read (e.g. "journal range").
        operation: &'static str,
        /// The store.
        location: String,
        /// The driver error.
        #[source]
        source: Arc<DriverError>,
    },

    /// A tree size beyond the tree this store has committed was asked for
    /// (a root, a proof, a checkpoint).
    #[error("tree size {size} is beyond the committed tree of {committed} records")]
    TreeSizeUnavailable {
        /// The size asked for.
        size: u64,
        /// The committed tree size ([`Storage::tree_head`](super::Storage::tree_head)).
        committed: u64,
    },

    /// An inclusion proof was asked for a record outside the tree.
    #[error("record {index} is not in the tree of {size} records")]
    LeafIndexOutOfRange {
        /// The record (leaf index).
        index: u64,
        /// The tree size.
        size: u64,
    },

    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old tree size {old} exceeds new tree size {new}")]
    OldSizeExceedsNew {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },

    /// [`Storage::read_tree_hashes`](super::Storage::read_tree_hashes) was
    /// asked for more hashes than [`MAX_TREE_HASH_READ`](super::MAX_TREE_HASH_READ).
    #[error("{count} tree hashes asked for, more than the maximum of {max}")]
    TooManyTreeHashes {
        /// Hashes asked for.
        count: usize,
        /// The maximum.
        max: usize,
    },

    /// A stored hash index outside the committed tree was asked for.
    #[error("tree hash {index} is not part of the committed tree of {size} records")]
    TreeHashUnavailable {
        /// The stored hash index.
        index: u64,
        /// The committed tree size.
        size: u64,
    },

    /// A checkpoint, cosignature, witnessed checkpoint or evidence record
    /// breaks a rule the store enforces (bounded, non-empty text). Nothing
    /// was queued.
    #[error("invalid {field} of a log record: {reason}")]
    InvalidLogRecord {
        /// Which field.
        field: &'static str,
        /// What was expected.
        reason: String,
    },

    /// A different checkpoint is already stored for this tree size: the
    /// first one stays.
    #[error("a different checkpoint is already stored for tree size {size}")]
    CheckpointConflict {
        /// The tree size.
        size: u64,
    },

    /// A cosignature names a checkpoint that is not stored.
    #[error("no checkpoint is stored for tree size {size}")]
    CheckpointMissing {
        /// The tree size.
        size: u64,
    },

    /// The checkpoint already has
    /// [`MAX_COSIGNATURES`](super::MAX_COSIGNATURES) cosignatures.
    #[error("the checkpoint of tree size {size} already has {max} cosignatures")]
    TooManyCosignatures {
        /// The tree size.
        size: u64,
        /// The maximum.
        max: usize,
    },

    /// The witnessed checkpoint of a peer log changed since it was read:
    /// another witnessing of the same log (a concurrent request, another
    /// process) got there first; decide again against the new one.
    #[error("the witnessed checkpoint of {origin} changed concurrently; decide again")]
    WitnessedConflict {
        /// The peer log's origin.
        origin: String,
    },
    /// A peer log's witnessed checkpoint would go back to a smaller tree.
    #[error("witnessed checkpoint of {origin} would go back from size {stored} to {offered}")]
    WitnessedRegression {
        /// The peer log's origin.
        origin: String,
        /// The size stored.
        stored: u64,
        /// The smaller size offered.
        offered: u64,
    },

    /// A stored row breaks an invariant the store itself maintains (a
    /// negative sequence number, a kind outside `u16`, a fingerprint that is
    /// not 32 bytes): the database was edited behind the node's back or is
    /// corrupt.
    #[error("{location} holds a corrupt row: {detail}")]
    Corrupt {
        /// The store.
        location: String,
        /// Which row and what is wrong with it.
        detail: String,
    },
}

impl From<credex_journal::EntryError> for StorageError {
    fn from(e: credex_journal::EntryError) -> Self {
        StorageError::Entry(Arc::new(e))
    }
}

impl From<credex_protocol::FrameError> for StorageError {
    fn from(e: credex_protocol::FrameError) -> Self {
        StorageError::Encode(Arc::new(e))
    }
}
