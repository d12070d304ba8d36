//! Entries about the node itself: the policy, certificate, CRLs and
//! pseudonym keys it runs with, and auditors' reads of its log.

use serde::{Deserialize, Serialize};

/// A policy load, so an auditor knows which policy hash was in force from when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLoaded {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The policy set's content hash.
    pub policy_hash: [u8; 32],
    /// The file it came from.
    pub origin: String,
    /// The texts the policy was built from, so an auditor can re-run any
    /// decision made under it (absent if too large for one log entry).
    pub archive: Option<PolicyArchive>,
}

/// The inputs of a policy set: with the base catalogue of this credex
/// version they rebuild it exactly (the policy hash checks that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyArchive {
    /// The policy file's text (absent: deny by default).
    pub policy: Option<String>,
    /// The province's supplementary catalogue.
    pub catalogue_supplement: Option<String>,
    /// The agreement groups file.
    pub groups: Option<String>,
}

/// Largest archive stored in a log entry (entries are at most 64 KiB in tiles).
pub const MAX_POLICY_ARCHIVE: usize = 48 * 1024;

/// The certificate (and so the log and signing key) a node runs with,
/// logged at every start so key changes are in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInUse {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// SHA-256 of the node certificate.
    pub certificate_fingerprint: [u8; 32],
    /// Its `urn:credex:` identity.
    pub identity: String,
    /// The log verifier key in force.
    pub log_verifier_key: String,
}

/// The pseudonymization key ring a node started with, logged at every start
/// that has one, so rotations are in the log (decision 0630). No key: the
/// epochs and their check values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PseudonymKeysInUse {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// (epoch, key check value) of every key in the ring, lowest first.
    pub epochs: Vec<(u32, [u8; 8])>,
    /// Natural persons stored.
    pub persons: u64,
    /// Aliases the start added (epochs new to the ring).
    pub aliases_added: u64,
    /// Epochs no longer in the ring, whose aliases were deleted.
    pub epochs_dropped: Vec<u32>,
}

/// The node's revocation lists changed (a CRL reload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustChanged {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// SHA-256 of each CRL file now in force, in configuration order.
    pub crl_digests: Vec<[u8; 32]>,
    /// Live connections closed because their peer no longer verifies.
    pub connections_closed: u32,
}

/// An auditor read part of the log (a remote audit fetch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAccess {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The auditor's `urn:credex:operator:…`.
    pub auditor: String,
    /// The path fetched.
    pub path: String,
}

/// One process of the node's region took the region's duties (outbox
/// delivery, upward reporting, witnessing, the watches): the lease's
/// fencing token grew (decision 1020). An auditor reads from these who did
/// the region's duties when; the journal itself is written by every process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutiesTaken {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The process that took them (`listen address/process id/start`).
    pub holder: String,
    /// The lease's fencing token, one more than the previous holder's.
    pub token: u64,
    /// The process that held them before, if any.
    pub previous: Option<String>,
}

crate::frame::fixed_kind! {
    PolicyLoaded => POLICY_LOADED,
    KeyInUse => KEY_IN_USE,
    PseudonymKeysInUse => PSEUDONYM_KEYS_IN_USE,
    TrustChanged => TRUST_CHANGED,
    AuditAccess => AUDIT_FETCH,
    DutiesTaken => DUTIES_TAKEN,
}
