//! The storage side of the gateway's live record feed (`POST /v1/records`,
//! decision 0830): a batch of record changes applied with everything that
//! makes it exactly-once, in one transaction.
//!
//! [`Storage::feed_records`] goes through the writer queue like an import,
//! and runs in a batch transaction holding the journal's write lock
//! (SQLite `BEGIN IMMEDIATE`, PostgreSQL the advisory lock), so a second
//! process feeding the same store is serialised. Under the lock it
//!
//! 1. looks up the batch's idempotency key (scoped by the calling client):
//!    stored with the same request digest, the batch is a retry and its
//!    stored answer is returned ([`FeedOutcome::Replay`]); stored with
//!    another digest, the key was reused for another body
//!    ([`FeedOutcome::KeyReused`]); nothing is written either way;
//! 2. checks that every source's sequence continues where it stopped
//!    (first = last applied + 1, from 1): if another batch moved it since
//!    the caller checked, nothing is written ([`FeedOutcome::SequenceMoved`]);
//! 3. writes the natural persons named (vault rows and aliases, kept if
//!    present), the upserted records (a stored (category, record_id) is
//!    replaced and its import time becomes now, as a re-import does), the
//!    deletions (only a row with the named subject is deleted), each
//!    source's new last sequence number, the idempotency record with the
//!    answer, and the journal entries with their tree hashes — and commits.
//!
//! The caller is answered ([`FeedOutcome::Applied`]) only once the commit is
//! durable; a failed transaction writes none of it. The new tree head is
//! published before the answer, as for appends.
//!
//! What this module does not do: parse or validate records against the
//! catalogue, pseudonymize citizen IDs or build the journal entries (the
//! gateway does, `crate::gateway::feed`), or forget idempotency records
//! (they are kept; see decision 0830).

use tokio::sync::oneshot;

use super::engine::{BatchTx, Engine, JournalRow};
use super::subjects::{SubjectRow, validate_subjects};
use super::tree::{HeadSender, TreeState, record_leaf_hash};
use super::writer::{Command, extend_tree};
use super::{
    Counters, MAX_BODY_LEN, MAX_IMPORT_ROWS, MAX_RECORD_KEY_LEN, RecordRow, Storage, StorageError,
};

/// Longest source name (提供方), in bytes.
pub const MAX_FEED_SOURCE_LEN: usize = 64;

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Longest client identity scoping idempotency keys, in bytes.
pub const MAX_FEED_CLIENT_LEN: usize = 256;

/// Largest stored answer, in bytes.
pub const MAX_FEED_ANSWER_LEN: usize = 64 * 1024;

/// Most sources one batch may advance.
pub const MAX_FEED_SOURCES: usize = 64;

/// A batch of record changes, ready to apply (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedBatch {
    /// Who fed it; idempotency keys are scoped by it (the client
    /// certificate's identity URI).
    pub client: String,
    /// The client's idempotency key for the batch.
    pub idempotency_key: String,
    /// SHA-256 of the batch as received.
    pub request_digest: [u8; 32],
    /// The answer to store with the key and return for a retry.
    pub answer: Vec<u8>,
    /// Records inserted or replaced.
    pub upserts: Vec<RecordRow>,
    /// Records deleted.
    pub deletes: Vec<RecordKey>,
    /// The natural persons the changes name.
    pub subjects: Vec<SubjectRow>,
    /// The sequence numbers the batch applies, per source.
    pub sequences: Vec<SourceAdvance>,
    /// Encoded journal entries (kind, body) recording the batch.
    pub entries: Vec<(u16, Vec<u8>)>,
}

/// A stored record, by its key and the subject it must belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey {
    /// Catalogue category.
    pub category: String,
    /// The record's id within its category.
    pub record_id: String,
    /// The stored subject key; a row of another subject is left alone.
    pub subject_key: String,
}

/// The sequence numbers `first ..= last` of `source` a batch applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAdvance {
    /// The source (提供方).
    pub source: String,
    /// First sequence number; must be the stored last + 1 (1 for a new
    /// source).
    pub first: u64,
    /// Last sequence number; becomes the stored last.
    pub last: u64,
}

/// What [`Storage::feed_records`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOutcome {
    /// The batch is durable; its first journal entry is at `first_journal_seq`.
    Applied {
        /// Sequence number of the first journal entry written.
        first_journal_seq: u64,
    },
    /// The same key with the same body was applied before: nothing was
    /// written; this is the answer stored then.
    Replay {
        /// The stored answer.
        answer: Vec<u8>,
    },
    /// The key was used before for another body: nothing was written.
    KeyReused,
    /// A source's sequence moved since the caller read it: nothing was
    /// written.
    SequenceMoved {
        /// The source.
        source: String,
        /// Its last applied sequence number now (0: none).
        last_seq: u64,
    },
}

/// An applied batch's idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeedAnswer {
    /// SHA-256 of the batch as received then.
    pub request_digest: [u8; 32],
    /// The answer given then.
    pub answer: Vec<u8>,
}

impl Storage {
    /// Applies `batch` in one transaction (see the module doc) and returns
    /// once durable. Checked before queueing ([`StorageError::InvalidFeed`],
    /// [`StorageError::InvalidRecord`], [`StorageError::InvalidSubject`]).
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the batch; a caller that lost the answer retries
    /// with the same key and gets [`FeedOutcome::Replay`].
    pub async fn feed_records(&self, mut batch: FeedBatch) -> Result<FeedOutcome, StorageError> {
        validate(&batch)?;
        batch.upserts = self.seal_records(std::mem::take(&mut batch.upserts))?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Feed {
            batch: Box::new(batch),
            reply,
        })
        .await?;
        self.answer(answer).await
    }

    /// The last sequence number applied for `source` (0: none yet).
    /// Cancel-safe (read only).
    pub async fn feed_last_seq(&self, source: &str) -> Result<u64, StorageError> {
        let last = match &self.inner.engine {
            Engine::Sqlite(e) => e.feed_last_seq(source).await?,
            Engine::Postgres(e) => e.feed_last_seq(source).await?,
        };
        stored_seq(&self.inner.engine.location(), last)
    }

    /// The idempotency record of `client`'s `key`, if a batch was applied
    /// under it. Cancel-safe (read only).
    pub async fn feed_answer(
        &self,
        client: &str,
        key: &str,
    ) -> Result<Option<StoredFeedAnswer>, StorageError> {
        let row = match &self.inner.engine {
            Engine::Sqlite(e) => e.feed_answer(client, key).await?,
            Engine::Postgres(e) => e.feed_answer(client, key).await?,
        };
        stored_answer(&self.inner.engine.location(), row)
    }
}

fn stored_seq(location: &str, last: Option<i64>) -> Result<u64, StorageError> {
    match last {
        None => Ok(0),
        Some(n) => u64::try_from(n).map_err(|_| StorageError::Corrupt {
            location: location.to_owned(),
            detail: format!("feed source sequence {n} out of range"),
        }),
    }
}

fn stored_answer(
    location: &str,
    row: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<Option<StoredFeedAnswer>, StorageError> {
    let Some((digest, answer)) = row else {
        return Ok(None);
    };
    let request_digest = digest.try_into().map_err(|_| StorageError::Corrupt {
        location: location.to_owned(),
        detail: "a feed idempotency digest is not 32 bytes".into(),
    })?;
    Ok(Some(StoredFeedAnswer {
        request_digest,
        answer,
    }))
}

/// Checks the bounds and rules of a batch before it is queued.
fn validate(batch: &FeedBatch) -> Result<(), StorageError> {
    let invalid = |reason: String| Err(StorageError::InvalidFeed { reason });
    for (what, value, max) in [
        ("client", &batch.client, MAX_FEED_CLIENT_LEN),
        (
            "idempotency key",
            &batch.idempotency_key,
            MAX_IDEMPOTENCY_KEY_LEN,
        ),
    ] {
        if value.is_empty() || value.len() > max {
            return invalid(format!(
                "{what} must be 1..={max} bytes, got {}",
                value.len()
            ));
        }
    }
    if batch.answer.len() > MAX_FEED_ANSWER_LEN {
        return invalid(format!("answer exceeds {MAX_FEED_ANSWER_LEN} bytes"));
    }
    validate_sequences(&batch.sequences)?;
    if batch.entries.is_empty() {
        return invalid("a batch is recorded by at least one journal entry".into());
    }
    if let Some((_, body)) = batch.entries.iter().find(|(_, b)| b.len() > MAX_BODY_LEN) {
        return invalid(format!(
            "a journal entry of {} bytes exceeds {MAX_BODY_LEN}",
            body.len()
        ));
    }
    let changes = batch.upserts.len() + batch.deletes.len();
    if changes > MAX_IMPORT_ROWS {
        return invalid(format!("{changes} changes exceed {MAX_IMPORT_ROWS}"));
    }
    super::records::validate_records(&batch.upserts)?;
    validate_subjects(&batch.subjects)?;
    let upserted: std::collections::HashSet<_> = batch
        .upserts
        .iter()
        .map(|r| (r.category.as_str(), r.record_id.as_str()))
        .collect();
    for d in &batch.deletes {
        if [&d.category, &d.record_id, &d.subject_key]
            .iter()
            .any(|v| v.is_empty() || v.len() > MAX_RECORD_KEY_LEN)
        {
            return invalid(format!(
                "delete keys must be 1..={MAX_RECORD_KEY_LEN} bytes"
            ));
        }
        if upserted.contains(&(d.category.as_str(), d.record_id.as_str())) {
            return invalid(format!(
                "category {:?} record_id {:?} is both upserted and deleted",
                d.category, d.record_id
            ));
        }
    }
    Ok(())
}

fn validate_sequences(sequences: &[SourceAdvance]) -> Result<(), StorageError> {
    let invalid = |reason: String| Err(StorageError::InvalidFeed { reason });
    if sequences.is_empty() || sequences.len() > MAX_FEED_SOURCES {
        return invalid(format!(
            "a batch advances 1..={MAX_FEED_SOURCES} sources, got {}",
            sequences.len()
        ));
    }
    let mut sources = std::collections::HashSet::new();
    for s in sequences {
        if s.source.is_empty() || s.source.len() > MAX_FEED_SOURCE_LEN {
            return invalid(format!("source must be 1..={MAX_FEED_SOURCE_LEN} bytes"));
        }
        if s.first == 0 || s.last < s.first || i64::try_from(s.last).is_err() {
            return invalid(format!(
                "source {:?}: sequence {}..={} is not a range from 1",
                s.source, s.first, s.last
            ));
        }
        if !sources.insert(s.source.as_str()) {
            return invalid(format!("source {:?} advanced twice", s.source));
        }
    }
    Ok(())
}

/// The writer's side of [`Storage::feed_records`]: the transaction of the
/// module doc. On `Applied`, `tree` becomes the committed tree and its head
/// is published before returning.
pub(super) async fn commit_feed(
    engine: &Engine,
    batch: &FeedBatch,
    now_unix_ms: i64,
    tree: &mut TreeState,
    heads: &HeadSender,
    counters: &Counters,
) -> Result<FeedOutcome, StorageError> {
    use std::sync::atomic::Ordering;
    let mut tx = engine.begin_batch().await?;
    // Returning early drops `tx`: it rolls back and releases the lock.
    if let Some(stored) = tx
        .feed_answer(&batch.client, &batch.idempotency_key)
        .await?
    {
        return Ok(if stored.request_digest == batch.request_digest {
            FeedOutcome::Replay {
                answer: stored.answer,
            }
        } else {
            FeedOutcome::KeyReused
        });
    }
    for s in &batch.sequences {
        let last_seq = tx.feed_last_seq(&s.source).await?;
        if last_seq.checked_add(1) != Some(s.first) {
            return Ok(FeedOutcome::SequenceMoved {
                source: s.source.clone(),
                last_seq,
            });
        }
    }
    tx.feed_apply(batch, now_unix_ms).await?;
    let rows: Vec<JournalRow> = batch
        .entries
        .iter()
        .map(|(kind, body)| JournalRow {
            kind: *kind,
            body: body.clone(),
            leaf: record_leaf_hash(*kind, now_unix_ms, body),
        })
        .collect();
    let first_journal_seq = tx.append_journal(&rows, now_unix_ms).await?;
    let committed = extend_tree(engine, &mut tx, tree, first_journal_seq, &rows)
        .await?
        .tree;
    tx.commit().await?;
    heads.send_replace(committed.head());
    *tree = committed;
    counters
        .appends
        .fetch_add(rows.len() as u64, Ordering::Relaxed);
    counters.commits.fetch_add(1, Ordering::Relaxed);
    Ok(FeedOutcome::Applied { first_journal_seq })
}

impl BatchTx {
    async fn feed_answer(
        &mut self,
        client: &str,
        key: &str,
    ) -> Result<Option<StoredFeedAnswer>, StorageError> {
        let row = match self {
            BatchTx::Sqlite(tx) => tx.feed_answer(client, key).await?,
            BatchTx::Direct(tx) => return Err(tx.wrong_batch("the record feed")),
            BatchTx::Postgres(tx) => tx.feed_answer(client, key).await?,
        };
        stored_answer(&self.location(), row)
    }

    async fn feed_last_seq(&mut self, source: &str) -> Result<u64, StorageError> {
        let last = match self {
            BatchTx::Sqlite(tx) => tx.feed_last_seq(source).await?,
            BatchTx::Direct(tx) => return Err(tx.wrong_batch("the record feed")),
            BatchTx::Postgres(tx) => tx.feed_last_seq(source).await?,
        };
        stored_seq(&self.location(), last)
    }

    async fn feed_apply(
        &mut self,
        batch: &FeedBatch,
        now_unix_ms: i64,
    ) -> Result<(), StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.feed_apply(batch, now_unix_ms).await,
            BatchTx::Direct(tx) => Err(tx.wrong_batch("the record feed")),
            BatchTx::Postgres(tx) => tx.feed_apply(batch, now_unix_ms).await,
        }
    }
}

/// The feed's SQL, the same text on both backends (`$N` parameters); only
/// the pools and transaction types differ. Expanded in each backend module
/// (which provides `subjects::insert`, `read_error`, `write_error`, and a
/// batch type with `engine` and `tx` fields).
macro_rules! feed_sql {
    (engine: $engine:ty, batch: $batch:ty, db: $db:ty, read: $read:ident $(,)?) => {
        impl $engine {
            pub(crate) async fn feed_last_seq(
                &self,
                source: &str,
            ) -> Result<Option<i64>, crate::storage::StorageError> {
                sqlx::query_scalar("SELECT last_seq FROM feed_sources WHERE source = $1")
                    .bind(source)
                    .fetch_optional(&self.$read)
                    .await
                    .map_err(|e| self.read_error("feed source", e))
            }

            pub(crate) async fn feed_answer(
                &self,
                client: &str,
                key: &str,
            ) -> Result<Option<(Vec<u8>, Vec<u8>)>, crate::storage::StorageError> {
                sqlx::query_as(
                    "SELECT request_digest, answer FROM feed_idempotency \
                     WHERE client = $1 AND key = $2",
                )
                .bind(client)
                .bind(key)
                .fetch_optional(&self.$read)
                .await
                .map_err(|e| self.read_error("feed idempotency key", e))
            }
        }

        impl $batch {
            pub(crate) async fn feed_last_seq(
                &mut self,
                source: &str,
            ) -> Result<Option<i64>, crate::storage::StorageError> {
                sqlx::query_scalar("SELECT last_seq FROM feed_sources WHERE source = $1")
                    .bind(source)
                    .fetch_optional(self.conn().await?)
                    .await
                    .map_err(|e| self.engine.write_error("feed batch", e))
            }

            pub(crate) async fn feed_answer(
                &mut self,
                client: &str,
                key: &str,
            ) -> Result<Option<(Vec<u8>, Vec<u8>)>, crate::storage::StorageError> {
                sqlx::query_as(
                    "SELECT request_digest, answer FROM feed_idempotency \
                     WHERE client = $1 AND key = $2",
                )
                .bind(client)
                .bind(key)
                .fetch_optional(self.conn().await?)
                .await
                .map_err(|e| self.engine.write_error("feed batch", e))
            }

            pub(crate) async fn feed_apply(
                &mut self,
                batch: &crate::storage::FeedBatch,
                now_unix_ms: i64,
            ) -> Result<(), crate::storage::StorageError> {
                let engine = self.engine.clone();
                let fail = |e| engine.write_error("feed batch", e);
                subjects::insert(self.conn().await?, &batch.subjects)
                    .await
                    .map_err(fail)?;
                // No key twice: `validate` checked before queueing.
                records::insert_records(self.conn().await?, &batch.upserts, now_unix_ms)
                    .await
                    .map_err(fail)?;
                for d in &batch.deletes {
                    sqlx::query(
                        "DELETE FROM records \
                         WHERE category = $1 AND record_id = $2 AND subject_key = $3",
                    )
                    .bind(d.category.as_str())
                    .bind(d.record_id.as_str())
                    .bind(d.subject_key.as_str())
                    .execute(self.conn().await?)
                    .await
                    .map_err(fail)?;
                }
                for s in &batch.sequences {
                    // `validate` bounds `last` to i64.
                    let last = i64::try_from(s.last).unwrap_or(i64::MAX);
                    sqlx::query(
                        "INSERT INTO feed_sources (source, last_seq, updated_at_unix_ms) \
                         VALUES ($1, $2, $3) ON CONFLICT (source) DO UPDATE SET \
                         last_seq = excluded.last_seq, \
                         updated_at_unix_ms = excluded.updated_at_unix_ms",
                    )
                    .bind(s.source.as_str())
                    .bind(last)
                    .bind(now_unix_ms)
                    .execute(self.conn().await?)
                    .await
                    .map_err(fail)?;
                }
                sqlx::query(
                    "INSERT INTO feed_idempotency \
                     (client, key, request_digest, answer, created_at_unix_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(batch.client.as_str())
                .bind(batch.idempotency_key.as_str())
                .bind(batch.request_digest.as_slice())
                .bind(batch.answer.as_slice())
                .bind(now_unix_ms)
                .execute(self.conn().await?)
                .await
                .map_err(fail)?;
                Ok(())
            }
        }
    };
}
pub(crate) use feed_sql;

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> FeedBatch {
        FeedBatch {
            client: "urn:credex:client:520000:feed:platform".into(),
            idempotency_key: "k-1".into(),
            request_digest: [1; 32],
            answer: b"{}".to_vec(),
            upserts: vec![RecordRow {
                category: "admin_penalty".into(),
                record_id: "r1".into(),
                subject_key: "s".into(),
                body: vec![1],
                copy_of: None,
            }],
            deletes: Vec::new(),
            subjects: Vec::new(),
            sequences: vec![SourceAdvance {
                source: "market".into(),
                first: 1,
                last: 1,
            }],
            entries: vec![(52, vec![0])],
        }
    }

    #[test]
    fn batches_are_checked_before_queueing() {
        assert!(validate(&batch()).is_ok());
        let mut b = batch();
        b.idempotency_key = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
        assert!(validate(&b).is_err());
        let mut b = batch();
        b.sequences[0].first = 0;
        assert!(validate(&b).is_err());
        let mut b = batch();
        b.sequences.push(b.sequences[0].clone());
        assert!(validate(&b).is_err(), "a source advanced twice");
        let mut b = batch();
        b.deletes.push(RecordKey {
            category: "admin_penalty".into(),
            record_id: "r1".into(),
            subject_key: "s".into(),
        });
        assert!(validate(&b).is_err(), "upserted and deleted");
        let mut b = batch();
        b.entries.clear();
        assert!(validate(&b).is_err(), "no journal entry");
    }
}
