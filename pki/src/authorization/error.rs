//! Why a dual-authorized query is refused: [`AuthorizationError`], one
//! variant per rule of [`verify_authorized_query`](super::verify_authorized_query),
//! with the wire code ([`QueryReason`]) each maps to, and the two small enums
//! its variants carry ([`Signer`], [`SameOfficerEvidence`]).
//!
//! It owns the messages and the mapping to wire codes; it does not decide
//! anything (the checks are in the sibling modules) and it says nothing about
//! signing or responses ([`super::SignProofError`], [`super::ResponseError`]).

use credex_protocol::query::QueryReason;
use credex_protocol::{NodeName, RegionCode};

use crate::signing::SignatureError;
use crate::trust::VerifyError;

/// Which signature of an [`AuthorizedQuery`](credex_protocol::query::AuthorizedQuery) an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signer {
    /// The requester's signature over the request.
    Requester,
    /// The approver's countersignature.
    Approver,
    /// The signature over the subject's authorization.
    SubjectAuthorization,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Requester => "requester's",
            Signer::Approver => "approver's",
            Signer::SubjectAuthorization => "subject authorization's",
        })
    }
}

/// How the requester and the approver were found to be one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameOfficerEvidence {
    /// One certificate signed both.
    SameCertificate,
    /// Two certificates for one key.
    SameKey,
    /// Two certificates naming the same operator of the same region (e.g.
    /// one with each role).
    SameName,
}

impl std::fmt::Display for SameOfficerEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SameOfficerEvidence::SameCertificate => "one certificate signed both",
            SameOfficerEvidence::SameKey => "both certificates hold the same key",
            SameOfficerEvidence::SameName => {
                "both certificates name the same operator of the same region"
            }
        })
    }
}

/// Why an [`AuthorizedQuery`](credex_protocol::query::AuthorizedQuery) was refused. One variant per rule; the
/// messages name regions, nodes, roles and times but never the subject or an
/// officer's name. [`reason`](Self::reason) gives the wire code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// Rule 1: the request names a requesting region or node other than the
    /// authenticated peer (a node claiming another region or node).
    #[error(
        "the request claims to come from node {claimed_node} of region {claimed_region}, \
         but the authenticated peer is node {peer_node} of region {peer_region}"
    )]
    NotFromPeer {
        /// The region the request names.
        claimed_region: RegionCode,
        /// The node the request names.
        claimed_node: NodeName,
        /// The peer's region.
        peer_region: RegionCode,
        /// The peer's node.
        peer_node: NodeName,
    },
    /// Rule 2: the request is addressed to another region.
    #[error("the request is addressed to region {target}, but this node serves region {responder}")]
    WrongTarget {
        /// The region the request is addressed to.
        target: RegionCode,
        /// This node's region.
        responder: RegionCode,
    },
    /// Rule 3: the request's time lies outside the clock-skew window.
    #[error(
        "the request's time is {offset_ms} ms from this node's clock (positive: ahead); \
         at most {max_clock_skew_ms} ms either way is allowed"
    )]
    Stale {
        /// `issued_at_ms - now_ms`.
        offset_ms: i128,
        /// The window in force.
        max_clock_skew_ms: i64,
    },
    /// Rule 4: the requester and the approver are the same person.
    #[error("the requester and the approver are the same officer: {evidence}")]
    SameOfficer {
        /// How that was found.
        evidence: SameOfficerEvidence,
    },
    /// Rules 4–7: a signer's certificate chain is empty, over the bounds,
    /// or its first certificate is unreadable.
    #[error("the {signer} certificate chain is unreadable: {reason}")]
    UnreadableChain {
        /// Whose chain.
        signer: Signer,
        /// What is wrong with it.
        reason: String,
    },
    /// Rules 5–7: a signer's certificate does not verify as of `now`
    /// (another root, expired, revoked, region rule broken, not a signing
    /// certificate …).
    #[error("the {signer} certificate is not trusted: {error}")]
    UntrustedCertificate {
        /// Whose certificate.
        signer: Signer,
        /// Why the trust store refused it.
        error: VerifyError,
    },
    /// Rules 5–7: a signer's certificate lacks the role its signature needs.
    #[error("the {signer} certificate is {found}, but {expected} is needed")]
    WrongRole {
        /// Whose certificate.
        signer: Signer,
        /// What the certificate is (kind and role, without names).
        found: String,
        /// What it must be.
        expected: &'static str,
    },
    /// Rules 5–6: an officer belongs to another region than the requesting one.
    #[error(
        "the {signer} certificate belongs to region {signer_region}, \
         not to the requesting region {requester_region}"
    )]
    SignerFromOtherRegion {
        /// Whose certificate.
        signer: Signer,
        /// The officer's region.
        signer_region: RegionCode,
        /// The requesting region.
        requester_region: RegionCode,
    },
    /// Rules 5–7: a signature does not verify over what it must cover.
    #[error("the {signer} signature does not verify: {error}")]
    BadSignature {
        /// Whose signature.
        signer: Signer,
        /// Why.
        error: SignatureError,
    },
    /// Rule 7: the subject authorization attached is not the one the request
    /// names (and both officers signed for).
    #[error("the subject authorization is not bound to the request: {0}")]
    AuthorizationNotBound(&'static str),
    /// Rule 7: the subject authorization was signed by an authority of the
    /// requesting region, which cannot vouch for consent to its own query.
    #[error(
        "the subject authorization was signed by an authority of region {authority_region}, \
         the requesting region; consent must come from an authority the data owner accepts"
    )]
    ConsentFromRequestingRegion {
        /// The authority's region.
        authority_region: RegionCode,
    },
    /// Rule 7: the subject authorization is about another subject.
    #[error("the subject authorization is about another subject than the request")]
    AuthorizationForOtherSubject,
    /// Rule 7: the subject authorization grants another region.
    #[error(
        "the subject authorization grants region {grantee}, not the requesting region {requester_region}"
    )]
    AuthorizationForOtherGrantee {
        /// The region it grants.
        grantee: RegionCode,
        /// The requesting region.
        requester_region: RegionCode,
    },
    /// Rule 7: the subject authorization's validity window ends before it starts.
    #[error("the subject authorization's validity window ends before it starts")]
    AuthorizationWindowEmpty,
    /// A signed value could not be encoded to check its signature. Values
    /// decoded from the wire always encode; reported as a bad signature.
    #[error("cannot encode a signed value to verify it: {0}")]
    Encoding(String),
}

impl AuthorizationError {
    /// The stable wire code a denial carries.
    pub fn reason(&self) -> QueryReason {
        match self {
            AuthorizationError::NotFromPeer { .. }
            | AuthorizationError::SignerFromOtherRegion { .. } => QueryReason::WrongRegion,
            AuthorizationError::WrongTarget { .. } => QueryReason::WrongTarget,
            AuthorizationError::Stale { .. } => QueryReason::Stale,
            AuthorizationError::SameOfficer { .. } => QueryReason::SameOfficer,
            AuthorizationError::UnreadableChain { .. }
            | AuthorizationError::UntrustedCertificate { .. }
            | AuthorizationError::BadSignature { .. }
            | AuthorizationError::Encoding(_) => QueryReason::BadSignature,
            AuthorizationError::WrongRole { .. } => QueryReason::WrongRole,
            AuthorizationError::AuthorizationForOtherSubject
            | AuthorizationError::AuthorizationForOtherGrantee { .. }
            | AuthorizationError::AuthorizationWindowEmpty => QueryReason::AuthorizationOutOfScope,
            AuthorizationError::AuthorizationNotBound(_) => QueryReason::AuthorizationNotBound,
            AuthorizationError::ConsentFromRequestingRegion { .. } => {
                QueryReason::ConsentAuthorityNotAccepted
            }
        }
    }
}
