//! Access records: what the node writes to its journal for every query it
//! receives or sends. The next step makes the journal a Merkle log; these
//! records are its entries, unchanged.
//!
//! An entry holds hashes and names, never payloads and never a clear
//! personal identifier: the subject appears as a digest, the dual
//! authorization bundle as its digest (the bundle itself is stored beside
//! the entry as an attachment).

use credex_pki::CertIdentity;
use credex_protocol::query::{CategoryFields, Outcome, QueryReason, SubjectRef};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};

/// Journal entry kinds. The numbers are stored; never reuse one.
pub mod kind {
    /// A query this node received and decided ([`super::AccessEntry`]).
    pub const QUERY_RECEIVED: u16 = 1;
    /// A query this node sent and the response it got ([`super::AccessEntry`]).
    pub const QUERY_SENT: u16 = 2;
    /// A sharing policy was loaded ([`super::PolicyLoaded`]).
    pub const POLICY_LOADED: u16 = 3;
    /// The node started with a certificate and key ([`super::KeyInUse`]).
    pub const KEY_IN_USE: u16 = 4;
    /// The node's CRLs changed ([`super::TrustChanged`]).
    pub const TRUST_CHANGED: u16 = 5;
    /// The node started with a pseudonym key ring
    /// ([`super::PseudonymKeysInUse`]).
    pub const PSEUDONYM_KEYS_IN_USE: u16 = 9;
    /// A query this node is about to send, logged before it leaves
    /// ([`super::QueryIntent`]).
    pub const QUERY_INTENT: u16 = 10;
    /// A query this node sent and got no verified answer to
    /// ([`super::QueryNoAnswer`]).
    pub const QUERY_NO_ANSWER: u16 = 11;
}

/// Current version of the entry encoding.
pub const ENTRY_VERSION: u8 = 1;

/// Domain tag for subject digests in entries.
const SUBJECT_DIGEST_DOMAIN: &[u8] = b"credex/log-subject/v1";

/// An accountable officer as their certificate names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Officer {
    /// `urn:credex:operator:…` of the certificate.
    pub identity: String,
    /// SHA-256 of the certificate.
    pub fingerprint: [u8; 32],
}

impl From<&CertIdentity> for Officer {
    fn from(id: &CertIdentity) -> Self {
        Officer {
            identity: id.subject.to_uri(),
            fingerprint: id.fingerprint,
        }
    }
}

/// What a verified receipt proves: the responder's log of `origin` holds,
/// at `leaf_index`, an entry for this query, in a tree of `size` with `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterpartReceipt {
    /// The responder's log origin.
    pub origin: String,
    /// Leaf index of the responder's entry.
    pub leaf_index: u64,
    /// Size of the signed checkpoint.
    pub checkpoint_size: u64,
    /// Root of the signed checkpoint.
    pub checkpoint_root: [u8; 32],
}

/// Which side of the access this node was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// This node answered the query.
    Received,
    /// This node asked.
    Sent,
}

/// One access, as logged on either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// [`ENTRY_VERSION`].
    pub version: u8,
    /// Received or sent.
    pub direction: Direction,
    /// When this node decided (received) or got the response (sent), Unix ms.
    pub at_ms: i64,
    /// SHA-256 of the encoded dual-authorization bundle (`AuthorizedQuery`).
    pub query_digest: [u8; 32],
    /// The request id.
    pub request_id: [u8; 16],
    /// The requesting region and node.
    pub requester_region: RegionCode,
    /// The requesting node.
    pub requester_node: NodeName,
    /// The officer who signed the request, when verified.
    pub requester_officer: Option<Officer>,
    /// The officer who approved it, when verified.
    pub approver_officer: Option<Officer>,
    /// The region asked.
    pub responder_region: RegionCode,
    /// Digest of the subject reference (never the identifier in clear).
    pub subject_digest: [u8; 32],
    /// Purpose code.
    pub purpose: String,
    /// Legal basis cited, if any.
    pub legal_basis: Option<String>,
    /// Id of the subject's authorization, if one was presented.
    pub subject_authorization_id: Option<[u8; 16]>,
    /// Fields asked for.
    pub requested: Vec<CategoryFields>,
    /// Fields released.
    pub released: Vec<CategoryFields>,
    /// Fields withheld.
    pub withheld: Vec<CategoryFields>,
    /// The outcome.
    pub outcome: Outcome,
    /// The reason code.
    pub reason: QueryReason,
    /// Hash of the policy set that decided (all zero if none was reached).
    pub policy_hash: [u8; 32],
    /// Sent side: SHA-256 of the signed response received.
    pub response_digest: Option<[u8; 32]>,
    /// Sent side: where the responder logged this access (from its verified receipt).
    pub counterpart: Option<CounterpartReceipt>,
}

/// A query this node is about to send (待答): logged durably before the
/// query leaves, so a responder's release is never one-sided in the logs
/// even when the answer is lost on the way back. The answer, when it
/// comes, is logged as a sent [`AccessEntry`]; when none comes, as a
/// [`QueryNoAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryIntent {
    /// [`ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// SHA-256 of the encoded dual-authorization bundle (`AuthorizedQuery`).
    pub query_digest: [u8; 32],
    /// The request id.
    pub request_id: [u8; 16],
    /// The region asked.
    pub responder_region: RegionCode,
    /// Purpose code.
    pub purpose: String,
    /// Digest of the subject reference ([`subject_digest`]).
    pub subject_digest: [u8; 32],
}

/// A query this node sent got no verified answer: the connection failed or
/// timed out, the responder refused it at the transport, or the answer did
/// not verify. The responder may still have logged (and released) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryNoAnswer {
    /// [`ENTRY_VERSION`].
    pub version: u8,
    /// When this node gave up, Unix ms.
    pub at_ms: i64,
    /// The query's digest, as in its [`QueryIntent`].
    pub query_digest: [u8; 32],
    /// Why (at most [`MAX_NO_ANSWER_REASON`] bytes; no personal identifiers).
    pub reason: String,
}

/// Longest reason in a [`QueryNoAnswer`], in bytes.
pub const MAX_NO_ANSWER_REASON: usize = 512;

/// A policy load, so an auditor knows which policy hash was in force from when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLoaded {
    /// [`ENTRY_VERSION`].
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

/// The digest under which a subject appears in entries: over the USCC of a
/// legal person, over the keyed pseudonym (epoch and MAC) of a natural
/// person — so an auditor matches a person by the pseudonym the query
/// named, one epoch at a time.
pub fn subject_digest(subject: &SubjectRef) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[SUBJECT_DIGEST_DOMAIN.len() as u8]);
    ctx.update(SUBJECT_DIGEST_DOMAIN);
    match subject {
        SubjectRef::LegalPerson(code) => {
            ctx.update(&[0]);
            ctx.update(code.as_bytes());
        }
        SubjectRef::NaturalPerson(p) => {
            ctx.update(&[1]);
            ctx.update(&p.epoch.to_be_bytes());
            ctx.update(&p.mac);
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// The certificate (and so the log and signing key) a node runs with,
/// logged at every start so key changes are in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInUse {
    /// [`ENTRY_VERSION`].
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
    /// [`ENTRY_VERSION`].
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
    /// [`ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// SHA-256 of each CRL file now in force, in configuration order.
    pub crl_digests: Vec<[u8; 32]>,
    /// Live connections closed because their peer no longer verifies.
    pub connections_closed: u32,
}
