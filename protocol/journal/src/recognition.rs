//! Entries of mutual recognition (互认): results this region issued, and
//! decisions on results of other regions found in query responses.

use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use serde::{Deserialize, Serialize};

/// Journal entry [`kind::EVALUATION_ISSUED`]: no clear identifier, the
/// subject appears as its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationIssued {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When (Unix ms).
    pub at_ms: i64,
    /// The attestation's id.
    pub attestation_id: [u8; 16],
    /// SHA-256 of encode(`IssuedAttestation`).
    pub attestation_digest: [u8; 32],
    /// The scheme.
    pub scheme: Scheme,
    /// The subject's digest ([`crate::subject_digest`]).
    pub subject_digest: [u8; 32],
    /// The grade on this region's scale.
    pub grade: String,
    /// Whether this revokes (`true`) or issues a result.
    pub revoked: bool,
    /// The attestation it supersedes.
    pub supersedes: Option<[u8; 16]>,
    /// The members it is pushed to.
    pub pushed_to: Vec<RegionCode>,
}

/// Journal entry [`kind::RECOGNITION_DECIDED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecognitionDecided {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When (Unix ms).
    pub at_ms: i64,
    /// The attestation's id.
    pub attestation_id: [u8; 16],
    /// SHA-256 of encode(`IssuedAttestation`).
    pub attestation_digest: [u8; 32],
    /// The issuing region.
    pub issuer_region: RegionCode,
    /// The scheme.
    pub scheme: Scheme,
    /// The subject's digest.
    pub subject_digest: [u8; 32],
    /// The decision.
    pub decision: StoredDecision,
    /// How the result arrived.
    pub origin: Origin,
}

/// A recognition decision as stored and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDecision {
    /// Whether the result was recognised when decided.
    pub recognised: bool,
    /// `recognised` or the reason code (`NotRecognisedReason::code`).
    pub reason_code: String,
    /// The reason in words (empty when recognised).
    pub reason: String,
    /// The agreement it was recognised under.
    pub agreement: Option<String>,
    /// The grade on the common scale.
    pub common_grade: Option<String>,
    /// The grade on this region's scale.
    pub local_grade: Option<String>,
    /// The supervision tier recognition grants.
    pub supervision_tier: Option<String>,
    /// Whether recognition grants the green channel.
    pub green_channel: bool,
    /// Until when the recognition holds (Unix ms, inclusive).
    pub counts_until_ms: Option<i64>,
    /// When decided (Unix ms).
    pub decided_at_ms: i64,
    /// Content hash of the agreement set applied.
    pub agreement_set_hash: [u8; 32],
}

/// How a received result reached this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Pushed by `from` in federation message `message_id`.
    Pushed {
        /// The sending region (the issuer, or a relay).
        from: RegionCode,
        /// The message id.
        message_id: [u8; 16],
    },
    /// Found in the response to query `request_id`.
    Query {
        /// The query's id.
        request_id: [u8; 16],
    },
}

crate::frame::fixed_kind! {
    EvaluationIssued => EVALUATION_ISSUED,
    RecognitionDecided => RECOGNITION_DECIDED,
}
