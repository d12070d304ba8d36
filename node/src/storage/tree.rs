//! The journal as an RFC 6962 Merkle log (访问日志): the entry format, the
//! writer's cache of the tree's right edge, and reads of stored hashes,
//! roots and proofs.
//!
//! # The log's entries
//!
//! Journal record `seq` is leaf `seq` of the log. Its entry (what tiles
//! export as entry bundles and what auditors hash) is
//! [`credex_journal::entry_bytes`]`(kind, recorded_at_unix_ms, body)`:
//!
//! ```text
//! kind                 2 bytes, big-endian
//! recorded_at_unix_ms  8 bytes, big-endian two's complement
//! body                 the rest
//! ```
//!
//! and its leaf hash is `SHA-256(0x00 ‖ entry)` ([`leaf_hash`]). So the
//! kind and the time are covered by the tree as well as the body, and an
//! entry decodes without a length field. [`super::MAX_BODY_LEN`] keeps every
//! entry within `credex_protocol::tlog::MAX_ENTRY_BYTES`, the most a C2SP
//! entry bundle carries.
//!
//! # Stored hashes
//!
//! The table `tree_hashes` holds every complete-subtree hash in Go's
//! stored-hash layout ([`credex_protocol::tlog::store`]), written in the same
//! transaction as the journal rows of each batch. The writer keeps in memory
//! only the hashes of the perfect subtrees that make up the current tree
//! (`tree_hash_indexes(size)`, O(log n)): every later append and the root
//! need nothing else. Proofs and older roots are read from the table: the
//! index list comes from the pure `*_indexes` functions, one query fetches
//! them, and the pure function runs over the fetched map.

use std::collections::HashMap;
use std::fmt;

use credex_protocol::tlog::{
    Hash, ProveError, consistency_proof_indexes, inclusion_proof_indexes, leaf_hash,
    prove_consistency, prove_inclusion, stored_hash_count, stored_hashes_for_leaf, tree_hash,
    tree_hash_indexes,
};
use tokio::sync::watch;

use super::engine::{BatchTx, Engine};
use super::{Storage, StorageError};

/// Most stored hashes one [`Storage::read_tree_hashes`] call returns. Every
/// proof of a tree of up to 2^62 leaves needs fewer.
pub const MAX_TREE_HASH_READ: usize = 4096;

/// Journal records whose missing tree hashes are computed per transaction
/// when a journal written before the Merkle log existed is opened.
const BACKFILL_PAGE: u32 = 4096;

/// The Merkle leaf hash of a journal record.
pub(crate) fn record_leaf_hash(kind: u16, recorded_at_unix_ms: i64, body: &[u8]) -> Hash {
    leaf_hash(&credex_journal::entry_bytes(
        kind,
        recorded_at_unix_ms,
        body,
    ))
}

/// A tree head: the size of the log and its RFC 6962 root.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHead {
    /// Number of entries (journal records 0..size).
    pub size: u64,
    /// Merkle tree hash of those entries (the empty-tree hash for size 0).
    pub root: Hash,
}

impl fmt::Debug for TreeHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHead({} {})", self.size, self.root)
    }
}

/// The writer's view of the tree: its size, root, and the hashes of the
/// perfect subtrees that make it up (by stored hash index).
#[derive(Debug, Clone)]
pub(crate) struct TreeState {
    size: u64,
    root: Hash,
    edge: HashMap<u64, Hash>,
}

impl TreeState {
    /// The tree of `size` leaves from its edge hashes (at least those at
    /// `tree_hash_indexes(size)`; others are dropped).
    fn from_edge(size: u64, mut edge: HashMap<u64, Hash>) -> Result<TreeState, ProveError> {
        let keep = tree_hash_indexes(size)?;
        edge.retain(|index, _| keep.contains(index));
        let root = tree_hash(size, &edge)?;
        Ok(TreeState { size, root, edge })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root,
        }
    }

    /// The tree after appending `leaves`, and the stored hashes the append
    /// adds, which belong at stored hash indexes
    /// `stored_hash_count(self.size)` onward, in order.
    pub(crate) fn extend(&self, leaves: &[Hash]) -> Result<(TreeState, Vec<Hash>), ProveError> {
        let mut added = Vec::with_capacity(2 * leaves.len() + 1);
        // Room for every hash the append adds, so that the map (a clone at
        // its exact size) is not rehashed several times per batch.
        let mut edge = HashMap::with_capacity(self.edge.len() + added.capacity());
        edge.extend(self.edge.iter().map(|(index, hash)| (*index, *hash)));
        let mut next_index =
            stored_hash_count(self.size).ok_or(ProveError::TreeTooLarge { size: self.size })?;
        for (n, leaf) in (self.size..).zip(leaves) {
            for hash in stored_hashes_for_leaf(n, *leaf, &edge)? {
                edge.insert(next_index, hash);
                added.push(hash);
                next_index += 1;
            }
        }
        let size = self.size + leaves.len() as u64;
        Ok((TreeState::from_edge(size, edge)?, added))
    }
}

/// What a stored-hash read that came back incomplete means: the store lost
/// rows it wrote (or someone deleted them).
fn missing_hash(location: &str, error: ProveError) -> StorageError {
    StorageError::Corrupt {
        location: location.to_owned(),
        detail: format!("the tree hashes are incomplete: {error}"),
    }
}

/// Turns raw `(idx, hash)` rows into a map, rejecting values the store never
/// writes.
pub(crate) fn hash_rows(
    location: &str,
    rows: Vec<(i64, Vec<u8>)>,
) -> Result<HashMap<u64, Hash>, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    rows.into_iter()
        .map(|(index, bytes)| {
            let hash = Hash::from_slice(&bytes).map_err(|_| {
                corrupt(format!(
                    "tree hash {index} is {} bytes (expected 32)",
                    bytes.len()
                ))
            })?;
            let index =
                u64::try_from(index).map_err(|_| corrupt(format!("tree hash index {index}")))?;
            Ok((index, hash))
        })
        .collect()
}

/// The tree of `size` leaves, its edge read inside `tx`.
pub(crate) async fn load_in(tx: &mut BatchTx, size: u64) -> Result<TreeState, StorageError> {
    let location = tx.location();
    let indexes = tree_hash_indexes(size).map_err(|e| missing_hash(&location, e))?;
    let edge = tx.read_tree_hashes(&indexes).await?;
    TreeState::from_edge(size, edge).map_err(|e| missing_hash(&location, e))
}

/// Loads the tree of the journal as it is now, under the journal's write
/// lock. A journal written before the Merkle log existed (fewer stored
/// hashes than its records need) gets the missing hashes first, computed
/// from its records, [`BACKFILL_PAGE`] records per transaction.
pub(crate) async fn load(engine: &Engine) -> Result<TreeState, StorageError> {
    let location = engine.location();
    loop {
        let mut tx = engine.begin_batch().await?;
        let size = tx.next_seq().await?;
        let stored = tx.tree_hash_count().await?;
        let needed = stored_hash_count(size).ok_or_else(|| StorageError::Corrupt {
            location: location.to_string(),
            detail: format!("journal of {size} records is beyond the largest tree"),
        })?;
        if stored >= needed {
            if stored > needed {
                // Journal rows were deleted behind the node's back: appends
                // will fail rather than overwrite the log's hashes.
                tracing::error!(
                    %location,
                    size,
                    stored,
                    needed,
                    "the tree holds hashes beyond the journal's end; appends will fail"
                );
            }
            let tree = load_in(&mut tx, size).await?;
            tx.commit().await?;
            return Ok(tree);
        }
        let tree_size = size_with_hash_count(stored).ok_or_else(|| StorageError::Corrupt {
            location: location.to_string(),
            detail: format!("{stored} tree hashes is not the count of any tree"),
        })?;
        let tree = load_in(&mut tx, tree_size).await?;
        let records = tx.journal_range(tree_size, BACKFILL_PAGE).await?;
        let mut leaves = Vec::with_capacity(records.len());
        for (record, seq) in records.iter().zip(tree_size..) {
            if record.seq != seq {
                return Err(StorageError::Corrupt {
                    location: location.to_string(),
                    detail: format!(
                        "journal record {seq} is missing; its tree hashes cannot be computed"
                    ),
                });
            }
            leaves.push(record_leaf_hash(
                record.kind,
                record.recorded_at_unix_ms,
                &record.body,
            ));
        }
        let (_, added) = tree
            .extend(&leaves)
            .map_err(|e| missing_hash(&location, e))?;
        tx.insert_tree_hashes(stored, &added).await?;
        tx.commit().await?;
        tracing::info!(
            %location,
            from = tree_size,
            to = tree_size + leaves.len() as u64,
            "computed tree hashes of journal records written before the Merkle log"
        );
    }
}

/// The tree as the journal holds it now, if another process sharing the
/// database appended beyond `tree` (decision 1020); `None` if not.
pub(crate) async fn caught_up(
    engine: &Engine,
    tree: &TreeState,
) -> Result<Option<TreeState>, StorageError> {
    let mut tx = engine.begin_batch().await?;
    let size = tx.next_seq().await?;
    let loaded = if size > tree.size() {
        Some(load_in(&mut tx, size).await?)
    } else {
        None
    };
    tx.commit().await?;
    Ok(loaded)
}

/// The tree size whose stored hash count is `count`, if there is one.
fn size_with_hash_count(count: u64) -> Option<u64> {
    // stored_hash_count is strictly increasing and at least the size.
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if stored_hash_count(mid)? < count {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (stored_hash_count(lo)? == count).then_some(lo)
}

/// The channel on which the writer publishes each committed tree head.
pub(crate) type HeadSender = watch::Sender<TreeHead>;

impl Storage {
    /// The latest tree head this store's writer committed (or loaded when
    /// opening). Records appended by another process sharing the database
    /// show up after this writer's next batch. Never blocks.
    pub fn tree_head(&self) -> TreeHead {
        *self.inner.heads.borrow()
    }

    /// Bring this store's tree head up to the journal as it is now: the
    /// records other processes sharing the database appended since this
    /// writer's last batch (decision 1020). Returns the head. A store no
    /// other process writes gains nothing and loses one short transaction.
    pub async fn catch_up(&self) -> Result<TreeHead, StorageError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(super::writer::Command::CatchUp { reply }).await?;
        self.answer(answer).await
    }

    /// A receiver of tree heads: it holds the current head (marked seen)
    /// and is notified after every commit that changes it. Heads are
    /// published after the commit is durable, so a head received covers
    /// only durable records.
    pub fn subscribe_tree_head(&self) -> watch::Receiver<TreeHead> {
        self.inner.heads.subscribe()
    }

    /// The stored hashes at `indexes` (Go's stored-hash layout), in the
    /// same order, read in one query from the read pool. At most
    /// [`MAX_TREE_HASH_READ`] indexes, each below
    /// `stored_hash_count(self.tree_head().size)`. Cancel-safe (read only).
    pub async fn read_tree_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        if indexes.len() > MAX_TREE_HASH_READ {
            return Err(StorageError::TooManyTreeHashes {
                count: indexes.len(),
                max: MAX_TREE_HASH_READ,
            });
        }
        let head = self.tree_head();
        let available = stored_hash_count(head.size).unwrap_or(0);
        if let Some(&index) = indexes.iter().find(|&&i| i >= available) {
            return Err(StorageError::TreeHashUnavailable {
                index,
                size: head.size,
            });
        }
        let hashes = self.fetch_tree_hashes(indexes).await?;
        indexes
            .iter()
            .map(|index| {
                hashes
                    .get(index)
                    .copied()
                    .ok_or_else(|| self.lost_hash(*index))
            })
            .collect()
    }

    /// The root of the tree of the first `size` records, computed from
    /// stored hashes (one query). `size` must not exceed the committed
    /// tree size ([`StorageError::TreeSizeUnavailable`]). Cancel-safe (read
    /// only).
    pub async fn tree_root(&self, size: u64) -> Result<Hash, StorageError> {
        self.check_size(size)?;
        let hashes = self.fetch_for(tree_hash_indexes(size)).await?;
        tree_hash(size, &hashes).map_err(|e| missing_hash(self.location(), e))
    }

    /// The RFC 6962 inclusion proof of record `index` in the tree of the
    /// first `size` records (one query). Verify with
    /// `credex_protocol::tlog::verify_inclusion` against
    /// [`Storage::tree_root`]`(size)` or a checkpoint of that size.
    /// Cancel-safe (read only).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StorageError> {
        self.check_size(size)?;
        if index >= size {
            return Err(StorageError::LeafIndexOutOfRange { index, size });
        }
        let hashes = self.fetch_for(inclusion_proof_indexes(index, size)).await?;
        prove_inclusion(index, size, &hashes).map_err(|e| missing_hash(self.location(), e))
    }

    /// The RFC 6962 consistency proof from the tree of the first `old`
    /// records to that of the first `new` (one query; empty when `old` is
    /// 0 or equals `new`). Verify with
    /// `credex_protocol::tlog::verify_consistency`. Cancel-safe (read only).
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StorageError> {
        self.check_size(new)?;
        if old > new {
            return Err(StorageError::OldSizeExceedsNew { old, new });
        }
        let hashes = self.fetch_for(consistency_proof_indexes(old, new)).await?;
        prove_consistency(old, new, &hashes).map_err(|e| missing_hash(self.location(), e))
    }

    fn check_size(&self, size: u64) -> Result<(), StorageError> {
        let committed = self.tree_head().size;
        if size > committed {
            return Err(StorageError::TreeSizeUnavailable { size, committed });
        }
        Ok(())
    }

    /// Fetches the hashes an index function asked for; its errors cannot
    /// happen for sizes checked against the head, but are reported, not
    /// unwrapped.
    async fn fetch_for(
        &self,
        indexes: Result<Vec<u64>, ProveError>,
    ) -> Result<HashMap<u64, Hash>, StorageError> {
        let indexes = indexes.map_err(|e| match e {
            ProveError::IndexOutOfRange { index, size } => {
                StorageError::LeafIndexOutOfRange { index, size }
            }
            ProveError::OldSizeExceedsNew { old, new } => {
                StorageError::OldSizeExceedsNew { old, new }
            }
            ProveError::TreeTooLarge { size } => StorageError::TreeSizeUnavailable {
                size,
                committed: self.tree_head().size,
            },
            ProveError::Read(e) => missing_hash(self.location(), ProveError::Read(e)),
        })?;
        let hashes = self.fetch_tree_hashes(&indexes).await?;
        if let Some(&index) = indexes.iter().find(|i| !hashes.contains_key(i)) {
            return Err(self.lost_hash(index));
        }
        Ok(hashes)
    }

    async fn fetch_tree_hashes(&self, indexes: &[u64]) -> Result<HashMap<u64, Hash>, StorageError> {
        if indexes.is_empty() {
            return Ok(HashMap::new());
        }
        let (mut found, missing) = self.inner.recent.hashes(indexes);
        if !missing.is_empty() {
            let read = self.inner.engine.read_tree_hashes(&missing).await?;
            self.inner
                .recent
                .remember(read.iter().map(|(i, h)| (*i, *h)));
            found.extend(read);
        }
        Ok(found)
    }

    fn lost_hash(&self, index: u64) -> StorageError {
        StorageError::Corrupt {
            location: self.location().to_owned(),
            detail: format!("tree hash {index} of the committed tree is missing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use credex_protocol::tlog::{MemoryHashStore, root_from_leaf_hashes};

    use super::*;

    #[test]
    fn entry_bytes_are_kind_time_body() {
        assert_eq!(
            credex_journal::entry_bytes(0x0102, -2, b"xy"),
            [
                1, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, b'x', b'y'
            ]
        );
        assert_eq!(
            credex_journal::entry_bytes(0, 0, b"").len(),
            credex_journal::HEADER_LEN
        );
        assert_eq!(
            record_leaf_hash(7, 1_700_000_000_000, b"body"),
            leaf_hash(&[
                0, 7, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, b'b', b'o', b'd', b'y'
            ])
        );
    }

    #[test]
    fn extending_in_batches_matches_the_memory_store() {
        let mut memory = MemoryHashStore::new();
        let mut tree = TreeState::from_edge(0, HashMap::new()).expect("empty tree");
        let mut leaves = Vec::new();
        let mut n = 0u64;
        for batch in [1usize, 1, 2, 5, 8, 1, 13, 64, 3, 200, 1, 1] {
            let new: Vec<Hash> = (n..n + batch as u64)
                .map(|i| leaf_hash(&i.to_be_bytes()))
                .collect();
            let (next, added) = tree.extend(&new).expect("extend");
            let before = memory.hashes().len();
            for leaf in &new {
                memory.append_leaf_hash(*leaf).expect("memory append");
            }
            assert_eq!(added, memory.hashes()[before..], "after {n}+{batch}");
            leaves.extend(new);
            n += batch as u64;
            assert_eq!(next.size(), n);
            assert_eq!(next.head().root, root_from_leaf_hashes(&leaves));
            assert_eq!(
                next.edge.len(),
                tree_hash_indexes(n).expect("indexes").len(),
                "only the edge is kept"
            );
            tree = next;
        }
    }

    #[test]
    fn hash_counts_invert() {
        for size in 0..2000u64 {
            let count = stored_hash_count(size).expect("count");
            assert_eq!(size_with_hash_count(count), Some(size));
        }
        // 4 leaves store 7 hashes, 3 store 4: nothing stores 5 or 6.
        assert_eq!(size_with_hash_count(5), None);
        assert_eq!(size_with_hash_count(6), None);
    }
}
