//! The `sm2-sm3` suite's second Merkle tree: RFC 6962's structure with SM3
//! (GB/T 32905) over the very leaves of the log's SHA-256 tree, its root
//! carried in a checkpoint extension line (decision 1100).
//!
//! ```text
//! leaf  = SM3(0x00 ‖ entry)
//! node  = SM3(0x01 ‖ left ‖ right)
//! empty = SM3("")
//! line  = "credex/sm3-tree/v1 " ‖ base64(root of the checkpoint's first SIZE entries)
//! ```
//!
//! The SHA-256 tree stays the checkpoint's root line, so C2SP witnesses,
//! tiles and inclusion proofs are unchanged. The extension line is part of
//! the note text, which the log's Ed25519 and SM2 lines (and every
//! `cosignature/v1`) sign. C2SP calls extension lines opaque: a cosigner
//! makes no statement about them, and a verifier that does not know this
//! one ignores it. What checks it is whoever holds the entries: credex's
//! auditor recomputes the SM3 tree and compares every checkpoint's line.
//!
//! No SM3 proofs: nothing here stores the SM3 tree's interior hashes.

use super::checkpoint::{Checkpoint, CheckpointError};
use super::hash::{CompactTreeOf, HASH_SIZE, Hash, TreeHasher};

/// The first word of the SM3 root's extension line.
pub const SM3_TREE_LINE: &str = "credex/sm3-tree/v1";

/// RFC 6962 with SM3: the `sm2-sm3` suite's second tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sm3Tree;

/// The SM3 compact tree: right edge, size and root.
pub type Sm3CompactTree = CompactTreeOf<Sm3Tree>;

/// The root of the empty SM3 tree: SM3 of the empty string.
pub const SM3_EMPTY_ROOT: Hash = Hash([
    0x1a, 0xb2, 0x1d, 0x83, 0x55, 0xcf, 0xa1, 0x7f, 0x8e, 0x61, 0x19, 0x48, 0x31, 0xe8, 0x1a, 0x8f,
    0x22, 0xbe, 0xc8, 0xc7, 0x28, 0xfe, 0xfb, 0x74, 0x7e, 0xd0, 0x35, 0xeb, 0x50, 0x82, 0xaa, 0x2b,
]);

impl TreeHasher for Sm3Tree {
    const EMPTY_ROOT: Hash = SM3_EMPTY_ROOT;
    fn node(left: &Hash, right: &Hash) -> Hash {
        sm3_node_hash(left, right)
    }
}

/// The SM3 leaf hash of a log entry: SM3(0x00 ‖ entry).
pub fn sm3_leaf_hash(entry: &[u8]) -> Hash {
    Hash(credex_gm::sm3_parts(&[&[0x00], entry]))
}

/// An SM3 interior node: SM3(0x01 ‖ left ‖ right).
pub fn sm3_node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash(credex_gm::sm3_parts(&[&[0x01], &left.0, &right.0]))
}

/// The SM3 tree hash of a list of SM3 leaf hashes.
pub fn sm3_root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    let mut tree = Sm3CompactTree::new();
    for leaf in leaves {
        tree.push(*leaf);
    }
    tree.root()
}

/// The extension line carrying `root`.
pub fn sm3_tree_line(root: &Hash) -> String {
    format!("{SM3_TREE_LINE} {root}")
}

/// Why a checkpoint's SM3 line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Sm3LineError {
    /// The line's root is not canonical base64 of 32 bytes.
    #[error("the {SM3_TREE_LINE} line's root {0:?} is not base64 of 32 bytes")]
    BadRoot(String),
    /// More than one line: which one is the log's is ambiguous.
    #[error("the checkpoint has more than one {SM3_TREE_LINE} line")]
    Repeated,
}

impl Checkpoint {
    /// A checkpoint whose one extension line states `sm3_root`, the SM3
    /// tree's root over the same `size` entries as `root`.
    pub fn with_sm3_root(
        origin: &str,
        size: u64,
        root: Hash,
        sm3_root: &Hash,
    ) -> Result<Self, CheckpointError> {
        Self::with_extensions(origin, size, root, vec![sm3_tree_line(sm3_root)])
    }

    /// The SM3 root the checkpoint states, if it has an SM3 line. Other
    /// extension lines are ignored.
    pub fn sm3_root(&self) -> Result<Option<Hash>, Sm3LineError> {
        let mut found = None;
        for line in self.extensions() {
            let Some(value) = line
                .strip_prefix(SM3_TREE_LINE)
                .and_then(|rest| rest.strip_prefix(' '))
            else {
                continue;
            };
            if found.is_some() {
                return Err(Sm3LineError::Repeated);
            }
            let root = Hash::from_base64(value)
                .map_err(|_| Sm3LineError::BadRoot(value.chars().take(2 * HASH_SIZE).collect()))?;
            found = Some(root);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sm3_of_nothing() {
        assert_eq!(SM3_EMPTY_ROOT.0, credex_gm::sm3(b""));
        assert_eq!(Sm3CompactTree::new().root(), SM3_EMPTY_ROOT);
    }

    #[test]
    fn hashes_are_sm3_of_the_prefixed_bytes() {
        assert_eq!(sm3_leaf_hash(b"ab").0, credex_gm::sm3(b"\x00ab"));
        let (l, r) = (Hash([1; 32]), Hash([2; 32]));
        let mut both = vec![1u8];
        both.extend_from_slice(&[1; 32]);
        both.extend_from_slice(&[2; 32]);
        assert_eq!(sm3_node_hash(&l, &r).0, credex_gm::sm3(&both));
    }

    #[test]
    fn the_line_round_trips_and_is_read_strictly() {
        let root = sm3_leaf_hash(b"credex");
        let cp = Checkpoint::with_sm3_root("credex/520000/gy-1", 3, Hash([9; 32]), &root)
            .expect("checkpoint");
        let parsed = Checkpoint::parse(&cp.to_text()).expect("parse");
        assert_eq!(parsed.sm3_root(), Ok(Some(root)));
        assert_eq!(
            Checkpoint::new("o", 1, Hash([0; 32]))
                .expect("cp")
                .sm3_root(),
            Ok(None)
        );
        let other = Checkpoint::with_extensions(
            "o",
            1,
            Hash([0; 32]),
            vec!["credex/sm3-tree/v1x AAAA".into(), "other line".into()],
        )
        .expect("cp");
        assert_eq!(
            other.sm3_root(),
            Ok(None),
            "other lines are not the SM3 line"
        );
        let bad = Checkpoint::with_extensions(
            "o",
            1,
            Hash([0; 32]),
            vec![format!("{SM3_TREE_LINE} AAAA")],
        )
        .expect("cp");
        assert!(matches!(bad.sm3_root(), Err(Sm3LineError::BadRoot(_))));
        let twice = Checkpoint::with_extensions(
            "o",
            1,
            Hash([0; 32]),
            vec![sm3_tree_line(&root), sm3_tree_line(&root)],
        )
        .expect("cp");
        assert_eq!(twice.sm3_root(), Err(Sm3LineError::Repeated));
    }
}
