//! Access entries: one per query this node received or sent, and the
//! intent and no-answer entries that bracket a query it sends.

use credex_protocol::query::{CategoryFields, Outcome, QueryReason, SubjectRef};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};

use crate::{Entry, kind};

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
    /// [`crate::ENTRY_VERSION`].
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
    /// [`crate::ENTRY_VERSION`].
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
    /// [`crate::ENTRY_VERSION`].
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

impl Entry for AccessEntry {
    fn kind(&self) -> u16 {
        match self.direction {
            Direction::Received => kind::QUERY_RECEIVED,
            Direction::Sent => kind::QUERY_SENT,
        }
    }
}

/// Decode a log entry that must be an access record (received or sent).
pub fn parse_access_entry(bytes: &[u8]) -> Result<AccessEntry, crate::EntryError> {
    let (k, _, body) = crate::split(bytes)?;
    if k != kind::QUERY_RECEIVED && k != kind::QUERY_SENT {
        return Err(crate::EntryError::UnexpectedKind {
            expected: "an access record (query_received or query_sent)",
            found: k,
        });
    }
    crate::frame::decode(k, body)
}

crate::frame::fixed_kind! {
    QueryIntent => QUERY_INTENT,
    QueryNoAnswer => QUERY_NO_ANSWER,
}
