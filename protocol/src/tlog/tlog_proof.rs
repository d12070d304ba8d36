//! C2SP transparency log proofs (`c2sp.org/tlog-proof@v1`): an offline
//! proof that an entry is in a log — its index, an RFC 6962 inclusion proof
//! and the log's checkpoint (with any cosignatures), verbatim — plus
//! optional opaque extra data. A credit report carries one: its issuance
//! entry is in the issuing node's log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra BASE64              (optional)
//! index 73894
//! BASE64 HASH               (zero or more, leaf's sibling first)
//!
//! CHECKPOINT NOTE           (verbatim, signature lines included)
//! ```
//!
//! Parsing is strict — one accepted form per proof: canonical base64, an
//! index without leading zeroes, exactly the lines above. It checks no
//! signature and no proof: [`TlogProof::verify_inclusion`] does the math
//! once the caller has opened the checkpoint against the log's key
//! ([`super::open_checkpoint`]).

use super::b64;
use super::hash::{HASH_SIZE, Hash};
use super::note::MAX_NOTE_BYTES;
use super::proof::{MAX_PROOF_HASHES, VerifyError, verify_inclusion};

/// The first line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Largest extra data accepted, in bytes (decoded).
pub const MAX_PROOF_EXTRA: usize = 1024 * 1024;

/// An unverified `c2sp.org/tlog-proof@v1` proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque application data (unauthenticated by the proof itself).
    pub extra: Option<Vec<u8>>,
    /// The entry's zero-based index in the log.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim (body, blank line, signature lines).
    pub checkpoint: String,
}

/// Why a text is not a tlog proof. Each names the line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// The first line is not [`TLOG_PROOF_HEADER`].
    #[error("line 1: not a tlog proof (expected {TLOG_PROOF_HEADER:?})")]
    Header,
    /// The `extra` line's data is not canonical base64, or too large.
    #[error("line {0}: extra is not canonical base64 of at most {MAX_PROOF_EXTRA} bytes")]
    Extra(usize),
    /// No `index N` line where one must be, or N is not a decimal without
    /// leading zeroes.
    #[error("line {0}: expected \"index N\" (decimal, no leading zeroes)")]
    Index(usize),
    /// A proof line is not a canonical base64 SHA-256 hash.
    #[error("line {0}: not a base64 SHA-256 hash")]
    ProofHash(usize),
    /// More proof hashes than any tree can need.
    #[error("more than {MAX_PROOF_HASHES} proof hashes")]
    TooManyHashes,
    /// The text ends before the blank line and the checkpoint.
    #[error("the proof ends before its checkpoint")]
    NoCheckpoint,
    /// The checkpoint is empty or too large.
    #[error("the checkpoint is empty or over {MAX_NOTE_BYTES} bytes")]
    CheckpointSize,
}

impl TlogProof {
    /// The proof as text (what [`TlogProof::parse`] accepts).
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", b64::encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            out.push_str(&b64::encode(&hash.0));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parse a proof, strictly (see the module doc).
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(TlogProofError::NoCheckpoint)?;
        if checkpoint.is_empty() || checkpoint.len() > MAX_NOTE_BYTES {
            return Err(TlogProofError::CheckpointSize);
        }
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        if lines.next().map(|(_, l)| l) != Some(TLOG_PROOF_HEADER) {
            return Err(TlogProofError::Header);
        }
        let (mut n, mut line) = lines.next().ok_or(TlogProofError::Index(2))?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            let bytes = b64::decode(data)
                .filter(|b| b.len() <= MAX_PROOF_EXTRA)
                .ok_or(TlogProofError::Extra(n))?;
            extra = Some(bytes);
            (n, line) = lines.next().ok_or(TlogProofError::Index(n + 1))?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|d| {
                !d.is_empty()
                    && d.bytes().all(|b| b.is_ascii_digit())
                    && (*d == "0" || !d.starts_with('0'))
            })
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or(TlogProofError::Index(n))?;
        let mut proof = Vec::new();
        for (n, line) in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes);
            }
            let bytes: [u8; HASH_SIZE] = b64::decode(line)
                .and_then(|b| b.try_into().ok())
                .ok_or(TlogProofError::ProofHash(n))?;
            proof.push(Hash(bytes));
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Check that the entry whose leaf hash is `leaf` is at [`Self::index`]
    /// in the tree of `size` and `root` (those of the checkpoint, once it
    /// is opened against the log's key).
    pub fn verify_inclusion(&self, leaf: &Hash, size: u64, root: &Hash) -> Result<(), VerifyError> {
        verify_inclusion(leaf, self.index, size, &self.proof, root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::{MemoryHashStore, leaf_hash, prove_inclusion, tree_hash};

    /// The example of the C2SP specification, its signatures shortened
    /// there and here alike (they are not checked by parsing).
    const SPEC: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw1roloI=
";

    #[test]
    fn the_specification_example_parses_and_round_trips() {
        let p = TlogProof::parse(SPEC).expect("parses");
        assert_eq!(p.index, 73894);
        assert_eq!(p.proof.len(), 2);
        assert_eq!(
            p.extra.as_deref(),
            Some(&b"age-v1.2.1-darwin-arm64.tar.gz"[..])
        );
        assert!(p.checkpoint.starts_with("example.com/fancylog\n109482\n"));
        assert_eq!(p.to_text(), SPEC);
    }

    #[test]
    fn every_line_is_checked() {
        let cases: [(&str, TlogProofError); 7] = [
            (
                "c2sp.org/tlog-proof@v2\nindex 1\n\nx\n",
                TlogProofError::Header,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
                TlogProofError::Index(2),
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex -1\n\nx\n",
                TlogProofError::Index(2),
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra AR==\nindex 1\n\nx\n",
                TlogProofError::Extra(2),
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\nAQ==\n\nx\n",
                TlogProofError::ProofHash(3),
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n",
                TlogProofError::NoCheckpoint,
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n\n",
                TlogProofError::CheckpointSize,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(TlogProof::parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn a_proof_verifies_its_entry_and_no_other() {
        let entries: Vec<Vec<u8>> = (0..13u8).map(|i| vec![i; 5]).collect();
        let mut store = MemoryHashStore::new();
        for e in &entries {
            store.append(e).expect("appends");
        }
        let size = entries.len() as u64;
        let root = tree_hash(size, &store).expect("root");
        let proof = TlogProof {
            extra: None,
            index: 6,
            proof: prove_inclusion(6, size, &store).expect("proof"),
            checkpoint: "log\n13\nAAAA\n\n— log sig\n".into(),
        };
        let back = TlogProof::parse(&proof.to_text()).expect("parses");
        assert_eq!(back, proof);
        assert!(
            back.verify_inclusion(&leaf_hash(&entries[6]), size, &root)
                .is_ok()
        );
        assert!(
            back.verify_inclusion(&leaf_hash(&entries[7]), size, &root)
                .is_err()
        );
        let mut moved = back;
        moved.index = 7;
        assert!(
            moved
                .verify_inclusion(&leaf_hash(&entries[6]), size, &root)
                .is_err()
        );
    }
}
