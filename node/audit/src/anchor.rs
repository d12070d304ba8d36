//! What vouches for a log beyond its own key (issue 13 §2).
//!
//! A log's operator holds the log key: it can delete entries from its
//! database, rebuild the tree, re-sign every checkpoint and export a log that
//! verifies on its own. What it cannot re-sign is what others hold: a peer's
//! cosignature on an earlier checkpoint (tlog-cosignature), the checkpoint a
//! peer witnessed (its export's `witnessed/ORIGIN`), or a checkpoint the
//! auditor kept from an earlier audit (pinned). The auditor therefore calls a
//! log verified only up to an **anchor**: the largest size for which a
//! quorum of distinct witnesses vouches for a checkpoint that is a prefix of
//! the log, or a pinned checkpoint that is. Entries after the anchor are
//! vouched for by the node's key alone and are reported as such; a log with
//! no anchor at all is a violation (`log_not_anchored`), and a pinned
//! checkpoint the log contradicts is `pinned_checkpoint_mismatch`.
//!
//! The witnesses that count are the nodes whose certificates chain to the
//! federation root: the other exported logs' nodes and the certificates given
//! with `--witness-cert`. The default quorum is one: one honest peer that
//! cosigned a checkpoint exposes any rewrite of what it saw; `--quorum N`
//! raises it. The reasons: `docs/decisions/0660-log-anchors-and-sequence-checks.md`.

use std::collections::BTreeMap;
use std::path::Path;

use credex_pki::{Purpose, Subject, TrustStore};
use credex_protocol::tlog::{SignedCheckpoint, VerifierKey};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use credex_pki::log_key::node_witness_verifier;

/// How the auditor decides what vouches for a log, and the rule documents
/// it re-runs egress decisions under.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Distinct witnesses that must vouch for a checkpoint before the log is
    /// verified up to it (at least 1).
    pub quorum: usize,
    /// Checkpoints kept from earlier audits: (where it came from, the note).
    /// Each is matched to the log of its origin.
    pub pinned: Vec<(String, Vec<u8>)>,
    /// Witness keys besides the exported logs' own (from node certificates
    /// checked with [`witness_key`]).
    pub witnesses: Vec<VerifierKey>,
    /// The agreements, reporting catalogue and catalogue the federation's
    /// nodes decide egress under. A message whose egress record names
    /// other documents is counted as not re-run (`egress_not_rerun`).
    /// Default: the shipped ones ([`EgressRules::builtin`]).
    pub egress_rules: crate::egress::EgressRules,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            quorum: 1,
            pinned: Vec::new(),
            witnesses: Vec::new(),
            egress_rules: crate::egress::EgressRules::builtin(),
        }
    }
}

/// What vouches for a log, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// `"witnesses"` or `"pinned"`.
    pub by: &'static str,
    /// Entries covered: the log is verified up to this size.
    pub size: u64,
    /// The witnesses (log origins) that vouch for at least `size`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<String>,
    /// The pinned checkpoint's source, when pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pinned {
            Some(source) => write!(f, "pinned checkpoint {source} at size {}", self.size),
            None => write!(
                f,
                "{} witness(es) at size {} ({})",
                self.witnesses.len(),
                self.size,
                self.witnesses.join(", ")
            ),
        }
    }
}

/// The sizes each witness vouched for, on checkpoints already found to be
/// prefixes of the log.
#[derive(Debug, Default)]
pub(crate) struct Vouches {
    largest: BTreeMap<String, u64>,
    pinned: Option<(String, u64)>,
}

impl Vouches {
    /// `witness` vouched for the log's first `size` entries.
    pub(crate) fn witnessed(&mut self, witness: &str, size: u64) {
        let slot = self.largest.entry(witness.to_owned()).or_default();
        *slot = (*slot).max(size);
    }

    /// Every witness whose cosignature verified on `checkpoint` (already
    /// found to be a prefix of the log) vouched for its size.
    pub(crate) fn cosigned(&mut self, checkpoint: &SignedCheckpoint) {
        for signature in checkpoint.cosignatures() {
            self.witnessed(
                &signature.name().to_string(),
                checkpoint.checkpoint().size(),
            );
        }
    }

    /// The witnesses that vouched for at least the first `size` entries.
    pub(crate) fn at_least(&self, size: u64) -> Vec<String> {
        self.largest
            .iter()
            .filter(|(_, s)| **s >= size)
            .map(|(w, _)| w.clone())
            .collect()
    }

    /// A pinned checkpoint from `source` covers the first `size` entries.
    pub(crate) fn pinned(&mut self, source: &str, size: u64) {
        if self.pinned.as_ref().is_none_or(|(_, s)| *s < size) {
            self.pinned = Some((source.to_owned(), size));
        }
    }

    /// The anchor: the larger of the quorum's size (the `quorum`-th largest
    /// size any witness vouched for) and the pinned size.
    pub(crate) fn anchor(&self, quorum: usize) -> Option<Anchor> {
        let mut sizes: Vec<u64> = self.largest.values().copied().collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let by_witnesses = sizes
            .get(quorum.max(1) - 1)
            .copied()
            .filter(|s| *s > 0)
            .map(|size| Anchor {
                by: "witnesses",
                size,
                witnesses: self
                    .largest
                    .iter()
                    .filter(|(_, s)| **s >= size)
                    .map(|(w, _)| w.clone())
                    .collect(),
                pinned: None,
            });
        let by_pin = self.pinned.as_ref().map(|(source, size)| Anchor {
            by: "pinned",
            size: *size,
            witnesses: Vec::new(),
            pinned: Some(source.clone()),
        });
        match (by_witnesses, by_pin) {
            (Some(w), Some(p)) => Some(if p.size > w.size { p } else { w }),
            (w, p) => w.or(p),
        }
    }
}

/// Why a witness certificate gives no witness key ([`witness_key`]). Each
/// variant names where the certificate came from.
#[derive(Debug, thiserror::Error)]
pub enum WitnessKeyError {
    /// The file is not PEM certificates, or holds none.
    #[error("{source_name}: {error}")]
    Pem {
        /// Where the certificate came from.
        source_name: String,
        /// The PEM reader's error.
        error: credex_pki::PemError,
    },
    /// The chain does not verify against the federation's trust store.
    #[error("{source_name}: the witness certificate does not verify: {error}")]
    DoesNotVerify {
        /// Where the certificate came from.
        source_name: String,
        /// The chain check's error.
        error: credex_pki::VerifyError,
    },
    /// The certificate is not a node's: only nodes witness logs. (The
    /// chain check for a server already refuses other kinds; this is the
    /// rule stated where the key is taken.)
    #[error("{source_name}: not a node certificate; only nodes witness logs")]
    NotANode {
        /// Where the certificate came from.
        source_name: String,
    },
    /// The node's key cannot cosign (not an Ed25519 key, or its name does
    /// not make a key name).
    #[error("{source_name}: {error}")]
    Key {
        /// Where the certificate came from.
        source_name: String,
        /// The key's error.
        error: credex_pki::log_key::LogKeyError,
    },
}

/// The witness (cosignature) key of the node whose certificate chain (PEM,
/// leaf first) is `pem`, once the chain verifies against `trust`.
pub fn witness_key(
    trust: &TrustStore,
    pem: &str,
    source: &Path,
) -> Result<VerifierKey, WitnessKeyError> {
    let source_name = || source.display().to_string();
    let certs = credex_pki::certs_from_pem(pem).map_err(|error| WitnessKeyError::Pem {
        source_name: source_name(),
        error,
    })?;
    // `certs_from_pem` refuses a text without certificates; kept as the
    // same error rather than an index.
    let (leaf, rest) = certs.split_first().ok_or_else(|| WitnessKeyError::Pem {
        source_name: source_name(),
        error: credex_pki::PemError::NoCertificates,
    })?;
    let rest: Vec<CertificateDer<'_>> = rest.to_vec();
    let verified = trust
        .verify(leaf, &rest, UnixTime::now(), Purpose::TlsServer)
        .map_err(|error| WitnessKeyError::DoesNotVerify {
            source_name: source_name(),
            error,
        })?;
    let Subject::Node { region, name } = verified.identity().subject.clone() else {
        return Err(WitnessKeyError::NotANode {
            source_name: source_name(),
        });
    };
    node_witness_verifier(leaf, region, &name).map_err(|error| WitnessKeyError::Key {
        source_name: source_name(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchor_is_the_quorums_smallest_largest_size_or_a_larger_pin() {
        let mut v = Vouches::default();
        assert_eq!(v.anchor(1), None);
        v.witnessed("a", 100);
        v.witnessed("b", 120);
        v.witnessed("a", 90);
        let one = v.anchor(1).unwrap();
        assert_eq!(
            (one.by, one.size, one.witnesses.clone()),
            ("witnesses", 120, vec!["b".to_owned()])
        );
        let two = v.anchor(2).unwrap();
        assert_eq!((two.size, two.witnesses.len()), (100, 2));
        assert_eq!(v.anchor(3), None);
        v.pinned("earlier/checkpoint", 110);
        assert_eq!(v.anchor(2).unwrap().by, "pinned");
        assert_eq!(v.anchor(1).unwrap().size, 120);
        assert_eq!(v.anchor(3).unwrap().size, 110);
    }
}
