//! Tree hashes, inclusion proofs and consistency proofs (RFC 6962 §2.1.1 and
//! §2.1.2; verification as in RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! Generation reads stored hashes through a [`HashReader`], all at once.
//! Verification allocates nothing, runs in O(proof length), and answers a
//! hostile proof — wrong length, index beyond the tree, size 0, sizes out of
//! order, sizes near `u64::MAX` — with a [`VerifyError`], never a panic.

use super::hash::{EMPTY_ROOT, HASH_SIZE, Hash, node_hash};
use super::store::{HashReadError, HashReader, MAX_TREE_SIZE, stored_hash_index};

/// Most hashes a proof between trees of at most `u64::MAX` leaves can hold:
/// 64 for inclusion, 65 for consistency. Longer proofs are refused unread.
pub const MAX_PROOF_HASHES: usize = 65;

/// Why a proof or tree hash could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Requested leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old tree size {old} exceeds new tree size {new}")]
    OldSizeExceedsNew {
        /// Older (claimed smaller) size.
        old: u64,
        /// Newer size.
        new: u64,
    },
    /// The tree is larger than [`MAX_TREE_SIZE`].
    #[error("tree size {size} exceeds the supported maximum 2^62")]
    TreeTooLarge {
        /// Requested size.
        size: u64,
    },
    /// The stored hashes could not be read.
    #[error(transparent)]
    Read(#[from] HashReadError),
}

/// Why a proof did not verify. Each variant is one way a proof can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not inside the tree (this includes every index of
    /// the empty tree).
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Claimed leaf index.
        index: u64,
        /// Claimed tree size.
        size: u64,
    },
    /// The old tree is larger than the new one.
    #[error("old tree size {old} exceeds new tree size {new}")]
    OldSizeExceedsNew {
        /// Claimed older size.
        old: u64,
        /// Claimed newer size.
        new: u64,
    },
    /// The proof has more hashes than the tree shape allows.
    #[error("proof has more hashes than the tree shape allows")]
    ProofTooLong,
    /// The proof has fewer hashes than the tree shape needs.
    #[error("proof has fewer hashes than the tree shape needs")]
    ProofTooShort,
    /// Two trees of the same size were claimed with different roots: a fork
    /// if both are signed.
    #[error("same tree size {size} with two different roots")]
    SameSizeDifferentRoots {
        /// The common size.
        size: u64,
    },
    /// The empty tree was claimed with a root other than SHA-256("").
    #[error("tree size 0 claimed with a root other than the empty-tree hash")]
    BadEmptyRoot,
    /// The proof does not lead to the claimed root (or, for consistency, to
    /// the new root).
    #[error("proof does not lead to the claimed root")]
    RootMismatch,
    /// A consistency proof does not lead to the claimed old root.
    #[error("consistency proof does not lead to the claimed old root")]
    OldRootMismatch,
}

/// Why proof bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofBytesError {
    /// Not a whole number of 32-byte hashes.
    #[error("proof is {0} bytes, not a multiple of 32")]
    NotWholeHashes(usize),
    /// More hashes than any proof can hold.
    #[error("proof has {0} hashes, more than the maximum 65")]
    TooManyHashes(usize),
}

/// Decode a proof sent as concatenated 32-byte hashes.
pub fn proof_from_bytes(bytes: &[u8]) -> Result<Vec<Hash>, ProofBytesError> {
    if !bytes.len().is_multiple_of(HASH_SIZE) {
        return Err(ProofBytesError::NotWholeHashes(bytes.len()));
    }
    let count = bytes.len() / HASH_SIZE;
    if count > MAX_PROOF_HASHES {
        return Err(ProofBytesError::TooManyHashes(count));
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .map(|chunk| {
            let mut h = [0u8; HASH_SIZE];
            h.copy_from_slice(chunk);
            Hash(h)
        })
        .collect())
}

/// Encode a proof as concatenated 32-byte hashes.
pub fn proof_to_bytes(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

// ---------------------------------------------------------------------------
// Generation

/// A half-open leaf range `[lo, hi)` whose Merkle tree hash a proof needs.
#[derive(Debug, Clone, Copy)]
struct Span {
    lo: u64,
    hi: u64,
}

/// Largest power of two strictly below `n` (n ≥ 2), RFC 6962's split point.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Append the stored hash indexes of the perfect subtrees that make up
/// `span` (largest first). Every span a proof asks for starts at a multiple
/// of the largest power of two not above its length, so the greedy split is
/// the RFC 6962 one.
fn push_span_indexes(span: Span, out: &mut Vec<u64>) -> Result<usize, ProveError> {
    let mut lo = span.lo;
    let mut count = 0;
    while lo < span.hi {
        let len = span.hi - lo;
        let level = 63 - len.leading_zeros();
        let level8 = u8::try_from(level).unwrap_or(u8::MAX);
        let index = stored_hash_index(level8, lo >> level)
            .ok_or(ProveError::TreeTooLarge { size: span.hi })?;
        out.push(index);
        lo += 1u64 << level;
        count += 1;
    }
    Ok(count)
}

/// The stored hash indexes for a list of spans, and how many belong to each.
fn span_indexes(spans: &[Span]) -> Result<(Vec<u64>, Vec<usize>), ProveError> {
    let mut indexes = Vec::new();
    let mut counts = Vec::with_capacity(spans.len());
    for span in spans {
        counts.push(push_span_indexes(*span, &mut indexes)?);
    }
    Ok((indexes, counts))
}

/// Read the hashes for `spans` and fold each into its Merkle tree hash.
fn span_hashes<R: HashReader + ?Sized>(
    spans: &[Span],
    reader: &R,
) -> Result<Vec<Hash>, ProveError> {
    let (indexes, counts) = span_indexes(spans)?;
    let hashes = reader.read_hashes(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(HashReadError::WrongCount {
            wanted: indexes.len(),
            got: hashes.len(),
        }
        .into());
    }
    let mut out = Vec::with_capacity(spans.len());
    let mut rest = hashes.as_slice();
    for count in counts {
        let (parts, tail) = rest.split_at(count);
        rest = tail;
        // Perfect subtrees left to right; MTH folds them from the right.
        let mut iter = parts.iter().rev();
        let last = iter.next().copied().unwrap_or(EMPTY_ROOT);
        out.push(iter.fold(last, |right, left| node_hash(left, &right)));
    }
    Ok(out)
}

fn check_size(size: u64) -> Result<(), ProveError> {
    if size > MAX_TREE_SIZE {
        return Err(ProveError::TreeTooLarge { size });
    }
    Ok(())
}

/// The stored hash indexes [`tree_hash`] reads.
pub fn tree_hash_indexes(size: u64) -> Result<Vec<u64>, ProveError> {
    check_size(size)?;
    let mut out = Vec::new();
    if size > 0 {
        push_span_indexes(Span { lo: 0, hi: size }, &mut out)?;
    }
    Ok(out)
}

/// The root hash of the first `size` leaves. Size 0 gives [`EMPTY_ROOT`].
pub fn tree_hash<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, ProveError> {
    check_size(size)?;
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    let hashes = span_hashes(&[Span { lo: 0, hi: size }], reader)?;
    Ok(hashes.first().copied().unwrap_or(EMPTY_ROOT))
}

/// PATH(index, D[0:size]) of RFC 6962 §2.1.1 as spans, leaf side first.
fn inclusion_spans(index: u64, size: u64) -> Result<Vec<Span>, ProveError> {
    check_size(size)?;
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    let mut spans = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            spans.push(Span { lo: lo + k, hi });
            hi = lo + k;
        } else {
            spans.push(Span { lo, hi: lo + k });
            lo += k;
        }
    }
    spans.reverse();
    Ok(spans)
}

/// The stored hash indexes [`prove_inclusion`] reads.
pub fn inclusion_proof_indexes(index: u64, size: u64) -> Result<Vec<u64>, ProveError> {
    Ok(span_indexes(&inclusion_spans(index, size)?)?.0)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProveError> {
    span_hashes(&inclusion_spans(index, size)?, reader)
}

/// PROOF(old, D[0:new]) of RFC 6962 §2.1.2 as spans, in proof order.
fn consistency_spans(old: u64, new: u64) -> Result<Vec<Span>, ProveError> {
    check_size(new)?;
    if old > new {
        return Err(ProveError::OldSizeExceedsNew { old, new });
    }
    let mut spans = Vec::new();
    // Every tree is consistent with the empty tree and with itself: no hashes.
    if old == 0 || old == new {
        return Ok(spans);
    }
    let (mut lo, mut hi) = (0, new);
    // SUBPROOF's flag b: whether the current span's left edge is the start
    // of the tree, so the verifier already knows MTH(D[lo:old]) as the old root.
    let mut at_start = true;
    loop {
        if old == hi {
            if !at_start {
                spans.push(Span { lo, hi });
            }
            break;
        }
        let k = split_point(hi - lo);
        if old <= lo + k {
            spans.push(Span { lo: lo + k, hi });
            hi = lo + k;
        } else {
            spans.push(Span { lo, hi: lo + k });
            lo += k;
            at_start = false;
        }
    }
    spans.reverse();
    Ok(spans)
}

/// The stored hash indexes [`prove_consistency`] reads.
pub fn consistency_proof_indexes(old: u64, new: u64) -> Result<Vec<u64>, ProveError> {
    Ok(span_indexes(&consistency_spans(old, new)?)?.0)
}

/// The consistency proof from the tree of the first `old` leaves to the tree
/// of the first `new` leaves. Empty when `old` is 0 or equals `new`.
pub fn prove_consistency<R: HashReader + ?Sized>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProveError> {
    span_hashes(&consistency_spans(old, new)?, reader)
}

// ---------------------------------------------------------------------------
// Verification

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or why the proof
/// cannot fit a tree of `size` leaves.
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(VerifyError::ProofTooLong);
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // Skip the levels where this node has no right sibling.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    Ok(r)
}

/// Check that `leaf` is entry `index` of the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if computed != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Check that the tree of `new_size` leaves with root `new_root` extends the
/// tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need equal roots and an empty proof; a different root at the
/// same size is reported as [`VerifyError::SameSizeDifferentRoots`]. Old
/// size 0 needs an empty proof and the empty-tree root as `old_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::OldSizeExceedsNew {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        if *old_root != EMPTY_ROOT {
            return Err(VerifyError::BadEmptyRoot);
        }
        if new_size == 0 && *new_root != EMPTY_ROOT {
            return Err(VerifyError::BadEmptyRoot);
        }
        if !proof.is_empty() {
            return Err(VerifyError::ProofTooLong);
        }
        return Ok(());
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::ProofTooLong);
        }
        if old_root != new_root {
            return Err(VerifyError::SameSizeDifferentRoots { size: old_size });
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(VerifyError::ProofTooShort);
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(VerifyError::ProofTooLong);
    }
    verify_consistency_path(old_size, new_size, old_root, new_root, proof)
}

/// The algorithm of RFC 9162 §2.1.4.2, for what [`verify_consistency`]
/// leaves to it: `0 < old_size < new_size` and a proof of 1 to
/// [`MAX_PROOF_HASHES`] hashes.
fn verify_consistency_path(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    // When the old tree is a perfect subtree its root is the first node of
    // the path and the proof omits it.
    let mut path = proof.iter();
    let first = if old_size.is_power_of_two() {
        old_root
    } else {
        match path.next() {
            Some(h) => h,
            None => return Err(VerifyError::ProofTooShort),
        }
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = *first;
    let mut s_r = *first;
    for c in path {
        if s_n == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if f_r != *old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::hash::leaf_hash;
    use crate::tlog::store::MemoryHashStore;

    fn store(n: u64) -> MemoryHashStore {
        let mut s = MemoryHashStore::new();
        for i in 0..n {
            s.append(&i.to_le_bytes()).expect("append");
        }
        s
    }

    #[test]
    fn split_point_is_largest_power_below() {
        for (n, k) in [
            (2u64, 1u64),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 40, 1 << 39),
        ] {
            assert_eq!(split_point(n), k, "{n}");
        }
    }

    #[test]
    fn every_proof_of_small_trees_verifies() {
        let full = store(40);
        for size in 1..=40u64 {
            let root = tree_hash(size, &full).expect("root");
            for index in 0..size {
                let proof = prove_inclusion(index, size, &full).expect("proof");
                let leaf = leaf_hash(&index.to_le_bytes());
                verify_inclusion(&leaf, index, size, &proof, &root).expect("verifies");
            }
            for old in 0..=size {
                let old_root = tree_hash(old, &full).expect("old root");
                let proof = prove_consistency(old, size, &full).expect("proof");
                verify_consistency(old, size, &old_root, &root, &proof).expect("verifies");
            }
        }
    }

    #[test]
    fn generation_refuses_bad_arguments() {
        let s = store(4);
        assert!(matches!(
            prove_inclusion(4, 4, &s),
            Err(ProveError::IndexOutOfRange { index: 4, size: 4 })
        ));
        assert!(matches!(
            prove_inclusion(0, 0, &s),
            Err(ProveError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            prove_consistency(5, 4, &s),
            Err(ProveError::OldSizeExceedsNew { .. })
        ));
        assert!(matches!(
            prove_inclusion(0, 5, &s),
            Err(ProveError::Read(HashReadError::Unavailable { .. }))
        ));
        assert!(matches!(
            tree_hash(u64::MAX, &s),
            Err(ProveError::TreeTooLarge { .. })
        ));
    }
}
