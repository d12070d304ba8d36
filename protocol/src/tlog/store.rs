//! Stored hashes: every complete-subtree hash of the log, numbered in the
//! order they become known as entries are appended (the layout of Go's
//! `golang.org/x/mod/sumdb/tlog`).
//!
//! Appending entry `n` stores its leaf hash and then one hash for each
//! perfect subtree that entry completes, so the stored hashes of a log are
//! append-only and a node can keep them as rows of its database. Hash
//! `(level, n)` is the root of the perfect subtree of height `level` covering
//! leaves `[n·2^level, (n+1)·2^level)`.

use std::collections::HashMap;

use super::hash::{Hash, leaf_hash, node_hash};
use super::proof::{ProveError, tree_hash};

/// Largest tree size the generating side (proofs, stored hashes, tiles)
/// accepts: 2^62, far beyond any log and small enough that no index
/// computation can overflow. Verification has no such limit.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// Why stored hashes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HashReadError {
    /// The store does not hold this stored hash index.
    #[error("stored hash {index} is not available")]
    Unavailable {
        /// The stored hash index asked for.
        index: u64,
    },
    /// The store answered with a different number of hashes than asked for.
    #[error("hash store returned {got} hashes for {wanted} indexes")]
    WrongCount {
        /// How many indexes were asked for.
        wanted: usize,
        /// How many hashes came back.
        got: usize,
    },
    /// The backing storage failed or holds inconsistent data.
    #[error("hash storage failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Read access to stored hashes, by stored hash index.
///
/// Every proof function reads all the hashes it needs in one call, so an
/// implementation backed by a database can fetch them in one query. A caller
/// that must fetch asynchronously can ask for the indexes first
/// ([`super::proof::inclusion_proof_indexes`] and friends), fetch them, and
/// pass a reader over the fetched map.
pub trait HashReader {
    /// The hashes at `indexes`, in the same order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError>;

    /// The hash of the perfect subtree of height `level` numbered `n`.
    fn read_node(&self, level: u8, n: u64) -> Result<Hash, HashReadError> {
        let index = stored_hash_index(level, n).ok_or(HashReadError::Unavailable { index: n })?;
        let hashes = self.read_hashes(&[index])?;
        match hashes.as_slice() {
            [hash] => Ok(*hash),
            _ => Err(HashReadError::WrongCount {
                wanted: 1,
                got: hashes.len(),
            }),
        }
    }
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError> {
        (**self).read_hashes(indexes)
    }
}

/// A map of already-fetched stored hashes is a reader.
impl HashReader for HashMap<u64, Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError> {
        indexes
            .iter()
            .map(|&index| {
                self.get(&index)
                    .copied()
                    .ok_or(HashReadError::Unavailable { index })
            })
            .collect()
    }
}

/// The stored hash index of hash `(level, n)`, or `None` if that node lies
/// beyond [`MAX_TREE_SIZE`] leaves.
pub fn stored_hash_index(level: u8, n: u64) -> Option<u64> {
    // The node's last leaf is m = (n+1)·2^level − 1; the node is stored right
    // after that leaf's hash and the `level` hashes below it on that path.
    let width = 1u64.checked_shl(u32::from(level))?;
    let end = n.checked_add(1)?.checked_mul(width)?;
    if end > MAX_TREE_SIZE {
        return None;
    }
    Some(leaf_position(end - 1) + u64::from(level))
}

/// Position of the leaf hash of entry `m`: m + ⌊m/2⌋ + ⌊m/4⌋ + …, the leaf
/// and subtree hashes stored before it. Less than 2m, so no overflow for
/// `m < 2^63`.
fn leaf_position(m: u64) -> u64 {
    let mut index = 0u64;
    let mut m = m;
    while m > 0 {
        index += m;
        m >>= 1;
    }
    index
}

/// The `(level, n)` coordinates of a stored hash index (inverse of
/// [`stored_hash_index`]). Meaningful for indexes of trees up to
/// [`MAX_TREE_SIZE`]; any other index gives some coordinates, never a panic.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // leaf_position(n) ≤ 2n, so the entry that stored `index` is at least
    // index/2 and only a few (≤ 64) entries past it.
    let mut n = index / 2;
    let mut position = leaf_position(n);
    // Entry n stores 1 + trailing_zeros(n+1) hashes.
    while let Some(next) = position
        .checked_add(1)
        .and_then(|p| p.checked_add(u64::from(n.wrapping_add(1).trailing_zeros())))
    {
        if next > index {
            break;
        }
        n += 1;
        position = next;
    }
    // Entry n stored (0, n), (1, n/2), (2, n/4), … at position, position+1, …
    let level = index - position;
    // At most 64 hashes are stored per entry.
    let level = u8::try_from(level).unwrap_or(u8::MAX);
    (level, n.checked_shr(u32::from(level)).unwrap_or(0))
}

/// Number of stored hashes in a tree of `size` leaves, or `None` beyond
/// [`MAX_TREE_SIZE`].
pub fn stored_hash_count(size: u64) -> Option<u64> {
    if size == 0 {
        return Some(0);
    }
    if size > MAX_TREE_SIZE {
        return None;
    }
    let last = size - 1;
    // The last entry's leaf hash, then one hash per perfect subtree it completes.
    Some(leaf_position(last) + 1 + u64::from(size.trailing_zeros()))
}

/// The stored hash indexes that [`stored_hashes_for_leaf`] reads for entry `n`.
pub fn append_indexes(n: u64) -> Result<Vec<u64>, ProveError> {
    if n >= MAX_TREE_SIZE {
        return Err(ProveError::TreeTooLarge { size: n });
    }
    let completed = (n + 1).trailing_zeros();
    // Left siblings on the way up, lowest level last so the list is sorted.
    (0..completed)
        .rev()
        .map(|level| {
            let level = u8::try_from(level).unwrap_or(u8::MAX);
            stored_hash_index(level, (n >> level) - 1)
                .ok_or(ProveError::TreeTooLarge { size: n + 1 })
        })
        .collect()
}

/// The hashes to store when entry `n` (0-based) with leaf hash `leaf` is
/// appended to a tree of `n` leaves whose stored hashes `reader` holds: the
/// leaf hash, then one hash per perfect subtree the entry completes. They
/// belong at stored hash indexes `stored_hash_count(n)..stored_hash_count(n+1)`.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, ProveError> {
    let indexes = append_indexes(n)?;
    let siblings = reader.read_hashes(&indexes)?;
    if siblings.len() != indexes.len() {
        return Err(HashReadError::WrongCount {
            wanted: indexes.len(),
            got: siblings.len(),
        }
        .into());
    }
    let mut out = Vec::with_capacity(1 + siblings.len());
    let mut hash = leaf;
    out.push(hash);
    // `siblings` is ordered highest level first; walk up from the leaf.
    for left in siblings.iter().rev() {
        hash = node_hash(left, &hash);
        out.push(hash);
    }
    Ok(out)
}

/// All stored hashes of a log, in memory: for tests and for the auditor,
/// which rebuilds a log from its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryHashStore {
    size: u64,
    hashes: Vec<Hash>,
}

impl MemoryHashStore {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stored hashes, by stored hash index.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Append an entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64, ProveError> {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Append an entry by its leaf hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, ProveError> {
        let n = self.size;
        let new = stored_hashes_for_leaf(n, leaf, self)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(n)
    }

    /// The root hash of the whole log.
    pub fn root(&self) -> Result<Hash, ProveError> {
        tree_hash(self.size, self)
    }
}

impl HashReader for MemoryHashStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or(HashReadError::Unavailable { index })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_stored_indexes_follow_the_append_order() {
        // Entry 0: (0,0). Entry 1: (0,1) (1,0). Entry 2: (0,2).
        // Entry 3: (0,3) (1,1) (2,0). Entry 4: (0,4).
        let order = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (index, &(level, n)) in order.iter().enumerate() {
            let index = index as u64;
            assert_eq!(stored_hash_index(level, n), Some(index), "({level},{n})");
            assert_eq!(split_stored_hash_index(index), (level, n), "{index}");
        }
    }

    #[test]
    fn split_inverts_index() {
        for level in 0..12u8 {
            for n in 0..300u64 {
                let index = stored_hash_index(level, n).expect("small node");
                assert_eq!(split_stored_hash_index(index), (level, n));
            }
        }
        for level in [0u8, 7, 8, 40, 61] {
            let n = (MAX_TREE_SIZE >> level) - 1;
            let index = stored_hash_index(level, n).expect("last node below the limit");
            assert_eq!(split_stored_hash_index(index), (level, n));
        }
        assert_eq!(stored_hash_index(0, MAX_TREE_SIZE), None);
        assert_eq!(stored_hash_index(63, 0), None);
        assert_eq!(stored_hash_index(64, 0), None);
        assert_eq!(stored_hash_index(0, u64::MAX), None);
        // Arbitrary indexes never panic.
        for index in [u64::MAX, u64::MAX - 1, 1 << 63] {
            let _ = split_stored_hash_index(index);
        }
    }

    #[test]
    fn store_grows_by_stored_hash_count() {
        let mut store = MemoryHashStore::new();
        for i in 0..200u64 {
            assert_eq!(store.append(&i.to_be_bytes()).expect("append"), i);
            assert_eq!(
                stored_hash_count(i + 1),
                Some(store.hashes().len() as u64),
                "after {i}"
            );
        }
    }
}
