//! The SM3 tree of an `sm2-sm3` log (decision 1100).
//!
//! Under the `sm2-sm3` suite every checkpoint states, in an extension line
//! (`credex/sm3-tree/v1 BASE64`), the root of an SM3 tree over the same
//! entries as its SHA-256 root line. Witnesses make no statement about
//! extension lines, so the auditor, who holds the entries, is who checks
//! it: it recomputes the SM3 tree over the exported entries once and
//! compares every checkpoint it read (the final one and `checkpoints/*`
//! whose SHA-256 root is the log's prefix):
//!
//! - no SM3 line in an `sm2-sm3` federation: `sm3_root_missing`;
//! - a line that is not one root (bad base64, two lines): `sm3_root_line`;
//! - a root that is not the entries': `sm3_root_mismatch`.
//!
//! In an `ed25519-sha256` federation no line is required; one that is
//! present is checked all the same (a signed root must be the entries').
//! Other extension lines are opaque, as C2SP has them, and ignored.

use credex_protocol::Suite;
use credex_protocol::tlog::{
    Checkpoint, Hash, SM3_TREE_LINE, Sm3CompactTree, Sm3LineError, sm3_leaf_hash,
};

use crate::verify::Auditor;

/// What one checkpoint states about the SM3 tree.
pub(crate) struct Sm3Claim {
    /// The checkpoint's file, as findings name it.
    label: String,
    size: u64,
    line: Result<Option<Hash>, Sm3LineError>,
}

impl Sm3Claim {
    /// The SM3 line of `checkpoint`, read as `label`.
    pub(crate) fn of(label: &str, checkpoint: &Checkpoint) -> Self {
        Sm3Claim {
            label: label.to_owned(),
            size: checkpoint.size(),
            line: checkpoint.sm3_root(),
        }
    }
}

impl Auditor<'_> {
    /// Check every claim against the SM3 tree of `entries` ((leaf index,
    /// entry), in order from 0, as verified against the tiles).
    pub(crate) fn check_sm3_roots(
        &mut self,
        origin: &str,
        entries: &[(u64, Vec<u8>)],
        claims: Vec<Sm3Claim>,
    ) {
        let required = self.trust.suite() == Suite::Sm2Sm3;
        let mut stated = Vec::with_capacity(claims.len());
        for claim in claims {
            match claim.line {
                Err(e) => {
                    self.violation(
                        origin,
                        None,
                        "sm3_root_line",
                        format!("{}: {e}", claim.label),
                    );
                }
                Ok(None) if required => self.violation(
                    origin,
                    None,
                    "sm3_root_missing",
                    format!(
                        "{}: the federation's suite is sm2-sm3, but the checkpoint of size {} \
                         states no SM3 root (no {SM3_TREE_LINE} line)",
                        claim.label, claim.size
                    ),
                ),
                Ok(None) => {}
                Ok(Some(root)) => stated.push((claim.size, root, claim.label)),
            }
        }
        stated.sort_by_key(|(size, _, _)| *size);
        let mut tree = Sm3CompactTree::new();
        let mut entries = entries.iter();
        for (size, root, label) in stated {
            while tree.size() < size {
                match entries.next() {
                    Some((index, entry)) if *index == tree.size() => {
                        tree.push(sm3_leaf_hash(entry));
                    }
                    // Entries missing from the export: already an
                    // `entry_not_in_tree` finding; nothing to compare with.
                    _ => return,
                }
            }
            let computed = tree.root();
            if computed != root {
                self.violation(
                    origin,
                    None,
                    "sm3_root_mismatch",
                    format!(
                        "{label}: the checkpoint of size {size} states the SM3 root {}, but the \
                         log's first {size} entries hash to {} under SM3",
                        root.to_hex(),
                        computed.to_hex()
                    ),
                );
            }
        }
    }
}
