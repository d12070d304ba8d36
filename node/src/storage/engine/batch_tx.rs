//! A batch transaction holding the journal's write lock, whichever the
//! engine: the writes of one group commit (claims, state, records, journal
//! rows, tree hashes, checkpoints) and the reads it makes under the lock.

use std::collections::HashMap;
use std::sync::Arc;

use credex_protocol::tlog::Hash;

use super::{JournalRow, stored_size};
use crate::storage::access::{AccessClaim, ClaimState};
use crate::storage::postgres::PgBatch;
use crate::storage::sqlite::{DirectBatch, SqliteBatch};
use crate::storage::state::StateWrite;
use crate::storage::{JournalRecord, StorageError};

/// An open batch transaction holding the journal's write lock. Dropped
/// without [`BatchTx::commit`], it rolls back.
pub(crate) enum BatchTx {
    Sqlite(SqliteBatch),
    /// SQLite's group commits of journal appends
    /// ([`Engine::begin_append_batch`]).
    Direct(DirectBatch),
    Postgres(PgBatch),
}

/// The checkpoints a batch stores ([`BatchTx::store_checkpoints`]).
pub(crate) enum HeldCheckpoints {
    /// Inserted at once: whether each is stored.
    Inserted(Vec<bool>),
    /// Sent with the batch's writes: known at [`BatchTx::commit_storing`].
    AtCommit,
}

impl BatchTx {
    /// What the store holds for each of `claims`, in order, as seen by
    /// this transaction before any of them is taken
    /// ([`crate::storage::claims`]).
    pub(crate) async fn claim_states(
        &mut self,
        claims: &[&AccessClaim],
    ) -> Result<Vec<ClaimState>, StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.claim_states(claims).await,
            BatchTx::Direct(tx) => tx.claim_states(claims),
            BatchTx::Postgres(tx) => tx.claim_states(claims).await,
        }
    }

    /// Writes what a batch's claims took (`ledger`): nonces, authorization
    /// uses, quota units, attachments. Fails with
    /// [`StorageError::ClaimRaced`] if a guarded write changes no row.
    pub(crate) async fn take_claims(
        &mut self,
        ledger: &crate::storage::claims::ClaimLedger,
    ) -> Result<(), StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.take_claims(ledger).await,
            BatchTx::Direct(tx) => tx.take_claims(ledger),
            BatchTx::Postgres(tx) => tx.take_claims(ledger).await,
        }
    }

    /// Applies flow-state writes in the batch transaction.
    pub(crate) async fn write_state(
        &mut self,
        writes: &[StateWrite],
        updated_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.write_state(writes, updated_at_unix_ms).await,
            BatchTx::Direct(tx) => tx.write_state(writes, updated_at_unix_ms),
            BatchTx::Postgres(tx) => tx.write_state(writes, updated_at_unix_ms).await,
        }
    }

    /// Upserts credit records `rows` (no key twice), imported at
    /// `imported_at_unix_ms`.
    pub(crate) async fn import_records(
        &mut self,
        rows: &[crate::storage::RecordRow],
        imported_at_unix_ms: i64,
    ) -> Result<(), StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.import_records(rows, imported_at_unix_ms).await,
            BatchTx::Direct(tx) => tx.import_records(rows, imported_at_unix_ms),
            BatchTx::Postgres(tx) => tx.import_records(rows, imported_at_unix_ms).await,
        }
    }

    /// Inserts `rows` at the next sequence numbers (read under the lock);
    /// returns the first.
    pub(crate) async fn append_journal(
        &mut self,
        rows: &[JournalRow],
        recorded_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.append_journal(rows, recorded_at_unix_ms).await,
            BatchTx::Direct(tx) => tx.append_journal(rows, recorded_at_unix_ms),
            BatchTx::Postgres(tx) => tx.append_journal(rows, recorded_at_unix_ms).await,
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.commit().await,
            BatchTx::Direct(tx) => tx.commit(),
            BatchTx::Postgres(tx) => tx.commit().await,
        }
    }

    pub(crate) fn location(&self) -> Arc<str> {
        match self {
            BatchTx::Sqlite(tx) => tx.location(),
            BatchTx::Direct(tx) => tx.location(),
            BatchTx::Postgres(tx) => tx.location(),
        }
    }

    /// The journal's next sequence number, as this transaction sees it.
    pub(crate) async fn next_seq(&mut self) -> Result<u64, StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.next_seq().await,
            BatchTx::Direct(tx) => tx.next_seq(),
            BatchTx::Postgres(tx) => tx.next_seq().await,
        }
    }

    /// Number of stored tree hashes (highest index + 1).
    pub(crate) async fn tree_hash_count(&mut self) -> Result<u64, StorageError> {
        let count = match self {
            BatchTx::Sqlite(tx) => tx.tree_hash_count().await?,
            BatchTx::Direct(tx) => tx.tree_hash_count()?,
            BatchTx::Postgres(tx) => tx.tree_hash_count().await?,
        };
        stored_size(&self.location(), count)
    }

    /// The stored hashes at `indexes` that exist, as this transaction sees
    /// them.
    pub(crate) async fn read_tree_hashes(
        &mut self,
        indexes: &[u64],
    ) -> Result<HashMap<u64, Hash>, StorageError> {
        let rows = match self {
            BatchTx::Sqlite(tx) => tx.read_tree_hashes(indexes).await?,
            BatchTx::Direct(tx) => tx.read_tree_hashes(indexes)?,
            BatchTx::Postgres(tx) => tx.read_tree_hashes(indexes).await?,
        };
        crate::storage::tree::hash_rows(&self.location(), rows)
    }

    /// Store the signed checkpoint `note` of `size` in this transaction.
    /// Returns false, changing nothing, if another note is stored for that
    /// size (a fork of this node's own log).
    pub(crate) async fn insert_checkpoint(
        &mut self,
        size: u64,
        note: &str,
        now_unix_ms: i64,
    ) -> Result<bool, StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.insert_checkpoint(size, note, now_unix_ms).await,
            BatchTx::Direct(tx) => {
                tx.insert_checkpoint(crate::storage::witness::log_size(size)?, note, now_unix_ms)
            }
            BatchTx::Postgres(tx) => tx.insert_checkpoint(size, note, now_unix_ms).await,
        }
    }

    /// Stores each signed checkpoint of `checkpoints` (size, note) in this
    /// transaction unless another note is stored for its size (a fork of
    /// this node's own log). Whether each is stored is known at once on
    /// SQLite; on PostgreSQL they go with the batch's one statement of
    /// writes, and [`BatchTx::commit_storing`] learns it.
    pub(crate) async fn store_checkpoints(
        &mut self,
        checkpoints: &[(u64, &str)],
        now_unix_ms: i64,
    ) -> Result<HeldCheckpoints, StorageError> {
        if let BatchTx::Postgres(tx) = self {
            for &(size, note) in checkpoints {
                tx.hold_checkpoint(size, note, now_unix_ms)?;
            }
            return Ok(HeldCheckpoints::AtCommit);
        }
        let mut stored = Vec::with_capacity(checkpoints.len());
        for &(size, note) in checkpoints {
            stored.push(self.insert_checkpoint(size, note, now_unix_ms).await?);
        }
        Ok(HeldCheckpoints::Inserted(stored))
    }

    /// Commits, and returns whether each checkpoint of `held` is stored,
    /// in the order given to [`BatchTx::store_checkpoints`].
    pub(crate) async fn commit_storing(
        self,
        held: HeldCheckpoints,
    ) -> Result<Vec<bool>, StorageError> {
        let at_commit = match self {
            BatchTx::Postgres(tx) => tx.commit_held_checkpoints().await?,
            other => {
                other.commit().await?;
                Vec::new()
            }
        };
        Ok(match held {
            HeldCheckpoints::Inserted(stored) => stored,
            HeldCheckpoints::AtCommit => at_commit,
        })
    }

    /// Inserts `hashes` at stored hash indexes `first_index` onward.
    pub(crate) async fn insert_tree_hashes(
        &mut self,
        first_index: u64,
        hashes: &[Hash],
    ) -> Result<(), StorageError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let first_index = i64::try_from(first_index).map_err(|_| StorageError::Corrupt {
            location: self.location().to_string(),
            detail: format!("tree hash index {first_index} beyond the largest tree"),
        })?;
        match self {
            BatchTx::Sqlite(tx) => tx.insert_tree_hashes(first_index, hashes).await,
            BatchTx::Direct(tx) => tx.insert_tree_hashes(first_index, hashes),
            BatchTx::Postgres(tx) => tx.insert_tree_hashes(first_index, hashes).await,
        }
    }

    /// Up to `limit` journal records from `from`, as this transaction sees
    /// them.
    pub(crate) async fn journal_range(
        &mut self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        match self {
            BatchTx::Sqlite(tx) => tx.journal_range(from, limit).await,
            BatchTx::Direct(tx) => tx.journal_range(from, limit),
            BatchTx::Postgres(tx) => tx.journal_range(from, limit).await,
        }
    }
}
