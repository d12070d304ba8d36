//! Dual-authorized credit record queries (双授权查询), docs/design.md §5–6.
//!
//! A query travels as [`AuthorizedQuery`]: the request signed by an officer
//! with the `requester` role, countersigned by a different officer with the
//! `approver` role (both of the requesting region), and — unless the
//! responder's policy accepts a cited legal basis instead — the data
//! subject's electronic authorization signed by an authorization authority.
//! The responder answers with a [`QueryResponse`] signed by its node key.
//!
//! Every signature is over a domain-separation tag and the postcard encoding
//! of the signed value (see `credex_pki::signing`); the tags are the
//! `DOMAIN_*` constants here. Verification is `credex-pki`'s job; field and
//! policy rules are `credex-policies`'.

use serde::{Deserialize, Serialize};

use crate::ids::{NodeName, RegionCode, Signature};

/// Domain tag of the requester's signature over a [`QueryRequest`].
pub const DOMAIN_REQUEST: &[u8] = b"credex/query-request/v1";
/// Domain tag of the approver's countersignature.
pub const DOMAIN_APPROVAL: &[u8] = b"credex/query-approval/v1";
/// Domain tag of a subject's electronic authorization (电子授权).
pub const DOMAIN_SUBJECT_AUTHORIZATION: &[u8] = b"credex/subject-authorization/v1";
/// Domain tag of [`SignedSubjectAuthorization::digest`].
pub const DOMAIN_SUBJECT_AUTHORIZATION_DIGEST: &[u8] = b"credex/subject-authorization-digest/v1";
/// Domain tag of the responder's signature over a [`QueryResponseBody`].
pub const DOMAIN_RESPONSE: &[u8] = b"credex/query-response/v1";
/// Domain tag of the keyed pseudonym of a natural person (see
/// [`SubjectPseudonym`]).
pub const DOMAIN_SUBJECT_PSEUDONYM: &[u8] = b"credex/subject-pseudonym/v1";

/// Most categories in one request or authorization.
pub const MAX_CATEGORIES: usize = 32;
/// Most fields named per category.
pub const MAX_FIELDS: usize = 128;
/// Longest code (purpose, category, field, legal basis), in bytes.
pub const MAX_CODE_LEN: usize = 64;
/// Most certificates in a signer's chain.
pub const MAX_CHAIN: usize = 3;
/// Largest certificate accepted in a chain, in bytes.
pub const MAX_CERT_LEN: usize = 16 * 1024;
/// Most records in one response.
pub const MAX_RECORDS: usize = 1024;

/// Who a query is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubjectRef {
    /// Index 0. A legal person or other organisation by its unified social
    /// credit code (统一社会信用代码), which is public.
    LegalPerson(String),
    /// Index 1. A natural person, named by a keyed pseudonym
    /// ([`SubjectPseudonym`]) so neither the citizen ID nor an enumerable
    /// hash of it crosses the wire.
    NaturalPerson(SubjectPseudonym),
}

/// The keyed pseudonym of a natural person (自然人假名): HMAC-SHA256 under
/// the federation's pseudonymization key of epoch `epoch`, over
/// len([`DOMAIN_SUBJECT_PSEUDONYM`]) as one byte ‖
/// [`DOMAIN_SUBJECT_PSEUDONYM`] ‖ `epoch` (4 bytes, big-endian) ‖ the
/// canonical 18-character citizen ID. Computed by `credex_pki::pseudonym`;
/// without the key nobody can link it to an ID, not even by enumeration.
///
/// The same person has one pseudonym per epoch; a node that holds several
/// epochs' keys finds the person under any of them. Text form
/// (command lines, auditor input): `EPOCH:HEX`, e.g. `1:3f…` (64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubjectPseudonym {
    /// Epoch of the key it was computed under (1 or more).
    pub epoch: u32,
    /// The HMAC-SHA256 tag.
    pub mac: [u8; 32],
}

impl std::fmt::Display for SubjectPseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.epoch)?;
        self.mac.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for SubjectPseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectPseudonym({self})")
    }
}

/// Text that is not a pseudonym in `EPOCH:HEX` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a subject pseudonym: expected EPOCH:HEX (an epoch of 1 or more, a colon, 64 hex digits)"
)]
pub struct PseudonymParseError(pub String);

impl std::str::FromStr for SubjectPseudonym {
    type Err = PseudonymParseError;

    fn from_str(s: &str) -> Result<SubjectPseudonym, PseudonymParseError> {
        let fail = || PseudonymParseError(s.chars().take(80).collect());
        let (epoch, hex) = s.trim().split_once(':').ok_or_else(fail)?;
        let epoch: u32 = epoch
            .parse()
            .ok()
            .filter(|e| *e > 0 && epoch.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(fail)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail());
        }
        let mut mac = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            // Two ASCII hex digits (checked above).
            let text = std::str::from_utf8(pair).map_err(|_| fail())?;
            mac[i] = u8::from_str_radix(text, 16).map_err(|_| fail())?;
        }
        Ok(SubjectPseudonym { epoch, mac })
    }
}

/// A category and some of its fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CategoryFields {
    /// Catalogue category code, e.g. `admin_penalty`.
    pub category: String,
    /// Field codes within the category.
    pub fields: Vec<String>,
}

/// What a requesting region asks for. Signed by the requester and the approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// Unique id chosen by the requester.
    pub request_id: [u8; 16],
    /// The requesting region; must be the requesting node's region.
    pub requester_region: RegionCode,
    /// The requesting node; must be the node that sends the request.
    pub requester_node: NodeName,
    /// The region asked; must be the responder's region.
    pub target_region: RegionCode,
    /// Who the query is about.
    pub subject: SubjectRef,
    /// Purpose code from the closed list (e.g. `public_procurement`).
    pub purpose: String,
    /// Categories and fields asked for.
    pub requested: Vec<CategoryFields>,
    /// A legal basis cited instead of the subject's authorization, if any.
    pub legal_basis: Option<String>,
    /// The [`SignedSubjectAuthorization::digest`] of the subject's
    /// authorization sent with the request, if any. Being part of the
    /// request, it is covered by both officers' signatures: nobody can
    /// attach, drop or swap the subject's consent after approval.
    pub subject_authorization_digest: Option<[u8; 32]>,
    /// Random; a responder refuses a nonce it has seen (replay).
    pub nonce: [u8; 16],
    /// When the requester signed, Unix milliseconds; outside the
    /// responder's clock-skew window the request is stale.
    pub issued_at_ms: i64,
}

/// A signature and the certificate chain (leaf DER, then its region CA DER)
/// of whoever made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerProof {
    /// Leaf first, then the issuing region CA.
    #[serde(with = "crate::codec::byte_strings")]
    pub chain: Vec<Vec<u8>>,
    /// The signature.
    pub signature: Signature,
}

/// A data subject's electronic authorization (电子授权), modelled on a
/// consent artefact: who may ask, for what, about what, until when, how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectAuthorization {
    /// Unique id chosen by the signer; uses are counted against it.
    pub authorization_id: [u8; 16],
    /// The subject who authorizes.
    pub subject: SubjectRef,
    /// The region allowed to ask.
    pub grantee_region: RegionCode,
    /// Purposes it covers.
    pub purposes: Vec<String>,
    /// Categories it covers.
    pub categories: Vec<String>,
    /// Start of validity, Unix milliseconds.
    pub not_before_ms: i64,
    /// End of validity, Unix milliseconds.
    pub not_after_ms: i64,
    /// How many queries it may back at each responder.
    pub max_uses: u32,
}

/// An authorization with the signature of the authority (or subject) that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedSubjectAuthorization {
    /// The authorization.
    pub authorization: SubjectAuthorization,
    /// Signature over [`DOMAIN_SUBJECT_AUTHORIZATION`] ‖ encode(authorization).
    pub signer: SignerProof,
}

impl SignedSubjectAuthorization {
    /// SHA-256 over [`DOMAIN_SUBJECT_AUTHORIZATION_DIGEST`] ‖ encode(self):
    /// what a request names in
    /// [`QueryRequest::subject_authorization_digest`].
    pub fn digest(&self) -> Result<[u8; 32], crate::codec::FrameError> {
        let bytes = crate::encode(self)?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(DOMAIN_SUBJECT_AUTHORIZATION_DIGEST);
        ctx.update(&bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Ok(out)
    }
}

/// A query with both authorizations: the whole bundle an auditor re-checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizedQuery {
    /// The request.
    pub request: QueryRequest,
    /// The requester's signature over [`DOMAIN_REQUEST`] ‖ encode(request).
    pub requester: SignerProof,
    /// The approver's signature over [`DOMAIN_APPROVAL`] ‖ encode(request) ‖
    /// requester signature bytes.
    pub approver: SignerProof,
    /// The subject's authorization, unless a legal basis is cited.
    pub subject_authorization: Option<SignedSubjectAuthorization>,
}

/// The bytes the approver signs: the request's encoding followed by the
/// requester's signature, so an approval cannot be moved to another signing.
pub fn approval_message(request_bytes: &[u8], requester_signature: &Signature) -> Vec<u8> {
    let mut m = Vec::with_capacity(request_bytes.len() + requester_signature.bytes.len());
    m.extend_from_slice(request_bytes);
    m.extend_from_slice(&requester_signature.bytes);
    m
}

/// A field value of a credit record; the variants mirror the catalogue's
/// field types (see `credex_policies::catalogue::FieldType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// Index 0. Free text.
    Text(String),
    /// Index 1. A code from the field's code list.
    Code(String),
    /// Index 2. A calendar date, `YYYY-MM-DD`.
    Date(String),
    /// Index 3. A decimal amount as text (e.g. `"12000.50"`), exact.
    Decimal(String),
    /// Index 4. A whole number.
    Integer(i64),
    /// Index 5. Yes or no.
    Boolean(bool),
}

/// One credit record, projected to the fields the responder releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Catalogue category code.
    pub category: String,
    /// The record's id at the responder.
    pub record_id: String,
    /// Field code and value pairs, only permitted fields.
    pub fields: Vec<(String, Value)>,
}

/// The decision a responder reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Index 0. Everything asked for is released.
    Granted,
    /// Index 1. A strict, non-empty subset is released.
    Trimmed,
    /// Index 2. Nothing is released.
    Denied,
}

/// Why a query was decided as it was. The numbers are part of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryReason {
    /// 0: everything asked for is released.
    Granted,
    /// 1: some fields were withheld by policy or authorization scope.
    Trimmed,
    /// 10: the requesting node or region is not one this responder serves.
    UnknownPeer,
    /// 11: a signature or certificate chain does not verify (or is revoked).
    BadSignature,
    /// 12: the requester and the approver are the same person.
    SameOfficer,
    /// 13: a signer lacks the role its signature needs.
    WrongRole,
    /// 14: a signer or the request names another region than the requesting node's.
    WrongRegion,
    /// 15: the subject's authorization is not valid at this time.
    AuthorizationExpired,
    /// 16: the subject's authorization does not cover this requester, purpose, subject or category.
    AuthorizationOutOfScope,
    /// 17: neither an authorization nor a legal basis the policy accepts.
    NoAuthorizationNoLegalBasis,
    /// 18: no policy rule allows this peer and purpose.
    PolicyDenied,
    /// 19: the peer's quota is exhausted.
    QuotaExceeded,
    /// 20: the nonce was seen before.
    Replay,
    /// 21: the request's time is outside the allowed clock skew.
    Stale,
    /// 22: the cited legal basis is not one the policy accepts here.
    LegalBasisNotAccepted,
    /// 23: an unknown category or field was asked for.
    UnknownCategoryOrField,
    /// 24: the subject's authorization has been used as often as it allows.
    AuthorizationUsedUp,
    /// 25: the subject identifier is invalid.
    InvalidSubject,
    /// 26: the request is addressed to another region.
    WrongTarget,
    /// 27: the purpose code is not on the closed list.
    UnknownPurpose,
    /// 28: a category asked for does not apply to this kind of subject.
    SubjectKindMismatch,
    /// 29: the only applicable rules are not in force on this day.
    RuleNotInForce,
    /// 30: the request names no field.
    EmptyRequest,
    /// 31: the subject's authorization sent is not the one both officers
    /// signed for (attached, dropped or swapped after approval).
    AuthorizationNotBound,
    /// 32: the subject's authorization was signed by an authority this
    /// responder does not accept for the purpose — never one of the
    /// requesting region itself.
    ConsentAuthorityNotAccepted,
    /// A code this version does not know.
    Unknown(u16),
}

impl QueryReason {
    /// Every known reason, for tables and tests.
    pub const ALL: [QueryReason; 25] = [
        QueryReason::Granted,
        QueryReason::Trimmed,
        QueryReason::UnknownPeer,
        QueryReason::BadSignature,
        QueryReason::SameOfficer,
        QueryReason::WrongRole,
        QueryReason::WrongRegion,
        QueryReason::AuthorizationExpired,
        QueryReason::AuthorizationOutOfScope,
        QueryReason::NoAuthorizationNoLegalBasis,
        QueryReason::PolicyDenied,
        QueryReason::QuotaExceeded,
        QueryReason::Replay,
        QueryReason::Stale,
        QueryReason::LegalBasisNotAccepted,
        QueryReason::UnknownCategoryOrField,
        QueryReason::AuthorizationUsedUp,
        QueryReason::InvalidSubject,
        QueryReason::WrongTarget,
        QueryReason::UnknownPurpose,
        QueryReason::SubjectKindMismatch,
        QueryReason::RuleNotInForce,
        QueryReason::EmptyRequest,
        QueryReason::AuthorizationNotBound,
        QueryReason::ConsentAuthorityNotAccepted,
    ];

    /// The number on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            QueryReason::Granted => 0,
            QueryReason::Trimmed => 1,
            QueryReason::UnknownPeer => 10,
            QueryReason::BadSignature => 11,
            QueryReason::SameOfficer => 12,
            QueryReason::WrongRole => 13,
            QueryReason::WrongRegion => 14,
            QueryReason::AuthorizationExpired => 15,
            QueryReason::AuthorizationOutOfScope => 16,
            QueryReason::NoAuthorizationNoLegalBasis => 17,
            QueryReason::PolicyDenied => 18,
            QueryReason::QuotaExceeded => 19,
            QueryReason::Replay => 20,
            QueryReason::Stale => 21,
            QueryReason::LegalBasisNotAccepted => 22,
            QueryReason::UnknownCategoryOrField => 23,
            QueryReason::AuthorizationUsedUp => 24,
            QueryReason::InvalidSubject => 25,
            QueryReason::WrongTarget => 26,
            QueryReason::UnknownPurpose => 27,
            QueryReason::SubjectKindMismatch => 28,
            QueryReason::RuleNotInForce => 29,
            QueryReason::EmptyRequest => 30,
            QueryReason::AuthorizationNotBound => 31,
            QueryReason::ConsentAuthorityNotAccepted => 32,
            QueryReason::Unknown(n) => n,
        }
    }

    /// The reason for a wire number.
    pub fn from_u16(n: u16) -> QueryReason {
        QueryReason::ALL
            .into_iter()
            .find(|r| r.as_u16() == n)
            .unwrap_or(QueryReason::Unknown(n))
    }

    /// A short stable name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            QueryReason::Granted => "granted",
            QueryReason::Trimmed => "trimmed",
            QueryReason::UnknownPeer => "unknown_peer",
            QueryReason::BadSignature => "bad_signature",
            QueryReason::SameOfficer => "same_officer",
            QueryReason::WrongRole => "wrong_role",
            QueryReason::WrongRegion => "wrong_region",
            QueryReason::AuthorizationExpired => "authorization_expired",
            QueryReason::AuthorizationOutOfScope => "authorization_out_of_scope",
            QueryReason::NoAuthorizationNoLegalBasis => "no_authorization_no_legal_basis",
            QueryReason::PolicyDenied => "policy_denied",
            QueryReason::QuotaExceeded => "quota_exceeded",
            QueryReason::Replay => "replay",
            QueryReason::Stale => "stale",
            QueryReason::LegalBasisNotAccepted => "legal_basis_not_accepted",
            QueryReason::UnknownCategoryOrField => "unknown_category_or_field",
            QueryReason::AuthorizationUsedUp => "authorization_used_up",
            QueryReason::InvalidSubject => "invalid_subject",
            QueryReason::WrongTarget => "wrong_target",
            QueryReason::UnknownPurpose => "unknown_purpose",
            QueryReason::SubjectKindMismatch => "subject_kind_mismatch",
            QueryReason::RuleNotInForce => "rule_not_in_force",
            QueryReason::EmptyRequest => "empty_request",
            QueryReason::AuthorizationNotBound => "authorization_not_bound",
            QueryReason::ConsentAuthorityNotAccepted => "consent_authority_not_accepted",
            QueryReason::Unknown(_) => "unknown",
        }
    }
}

impl std::fmt::Display for QueryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u16())
    }
}

impl Serialize for QueryReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for QueryReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(QueryReason::from_u16(u16::deserialize(d)?))
    }
}

/// What the responder decided and released. Signed by the responder's node key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResponseBody {
    /// The request's id.
    pub request_id: [u8; 16],
    /// SHA-256 of the encoded [`AuthorizedQuery`] this answers.
    pub query_digest: [u8; 32],
    /// The responder's region.
    pub responder_region: RegionCode,
    /// The responder's node.
    pub responder_node: NodeName,
    /// Granted, trimmed or denied.
    pub outcome: Outcome,
    /// Why.
    pub reason: QueryReason,
    /// Fields released, per category.
    pub released: Vec<CategoryFields>,
    /// Fields asked for but withheld, per category.
    pub withheld: Vec<CategoryFields>,
    /// The records, projected to the released fields. Empty when denied —
    /// and when granted for a subject with no records: a response never
    /// reveals whether a subject exists unless the query was authorized.
    pub records: Vec<Record>,
    /// Content hash of the policy set that decided.
    pub policy_hash: [u8; 32],
    /// When the responder decided, Unix milliseconds.
    pub responded_at_ms: i64,
}

/// A signed query response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// What was decided and released.
    pub body: QueryResponseBody,
    /// The responder node's signature over [`DOMAIN_RESPONSE`] ‖ encode(body).
    pub responder: SignerProof,
    /// Proof that the responder logged this access before releasing
    /// anything: its log entry, a signed checkpoint covering it, and the
    /// inclusion proof. Self-authenticating (the checkpoint is signed with
    /// the responder's node key).
    pub receipt: Option<Receipt>,
}

/// Where an access sits in the responder's Merkle log (docs/design.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The entry's leaf index.
    pub leaf_index: u64,
    /// The entry's bytes as logged (kind ‖ time ‖ access record); hashing
    /// them gives the leaf hash.
    #[serde(with = "serde_bytes")]
    pub entry: Vec<u8>,
    /// A C2SP signed checkpoint (signed note text) whose tree covers the entry.
    pub checkpoint: String,
    /// The RFC 6962 inclusion proof of the leaf in that checkpoint's tree.
    pub inclusion_proof: Vec<[u8; 32]>,
}

/// Longest checkpoint note accepted in a receipt.
pub const MAX_RECEIPT_NOTE: usize = 16 * 1024;
/// Longest log entry accepted in a receipt.
pub const MAX_RECEIPT_ENTRY: usize = 64 * 1024;
/// Most hashes in an inclusion proof (trees up to 2^64 leaves).
pub const MAX_PROOF_HASHES: usize = 64;

/// A bound a decoded query message breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryBoundError {
    /// Too many categories.
    #[error("{0} categories, at most {MAX_CATEGORIES} allowed")]
    TooManyCategories(usize),
    /// Too many fields in one category.
    #[error("category {0:?}: {1} fields, at most {MAX_FIELDS} allowed")]
    TooManyFields(String, usize),
    /// A code is too long or empty.
    #[error("code {0:?} must be 1 to {MAX_CODE_LEN} bytes")]
    BadCode(String),
    /// A signer chain is empty, too long, or has an oversized certificate.
    #[error("signer chain must hold 1 to {MAX_CHAIN} certificates of at most {MAX_CERT_LEN} bytes")]
    BadChain,
    /// Too many records.
    #[error("{0} records, at most {MAX_RECORDS} allowed")]
    TooManyRecords(usize),
    /// A receipt is larger than allowed.
    #[error(
        "receipt exceeds its bounds (note ≤ {MAX_RECEIPT_NOTE} bytes, entry ≤ {MAX_RECEIPT_ENTRY} bytes, proof ≤ {MAX_PROOF_HASHES} hashes)"
    )]
    OversizedReceipt,
}

fn check_code(code: &str) -> Result<(), QueryBoundError> {
    if code.is_empty() || code.len() > MAX_CODE_LEN {
        return Err(QueryBoundError::BadCode(
            code.chars().take(MAX_CODE_LEN).collect(),
        ));
    }
    Ok(())
}

fn check_category_fields(list: &[CategoryFields]) -> Result<(), QueryBoundError> {
    if list.len() > MAX_CATEGORIES {
        return Err(QueryBoundError::TooManyCategories(list.len()));
    }
    for c in list {
        check_code(&c.category)?;
        if c.fields.len() > MAX_FIELDS {
            return Err(QueryBoundError::TooManyFields(
                c.category.clone(),
                c.fields.len(),
            ));
        }
        c.fields.iter().try_for_each(|f| check_code(f))?;
    }
    Ok(())
}

impl SignerProof {
    /// Check the chain's shape bounds.
    pub fn validate(&self) -> Result<(), QueryBoundError> {
        if self.chain.is_empty()
            || self.chain.len() > MAX_CHAIN
            || self
                .chain
                .iter()
                .any(|c| c.is_empty() || c.len() > MAX_CERT_LEN)
        {
            return Err(QueryBoundError::BadChain);
        }
        Ok(())
    }
}

impl AuthorizedQuery {
    /// Check every bound decoding alone does not.
    pub fn validate(&self) -> Result<(), QueryBoundError> {
        let r = &self.request;
        check_code(&r.purpose)?;
        check_category_fields(&r.requested)?;
        if let Some(b) = &r.legal_basis {
            check_code(b)?;
        }
        self.requester.validate()?;
        self.approver.validate()?;
        if let Some(a) = &self.subject_authorization {
            a.signer.validate()?;
            let auth = &a.authorization;
            if auth.purposes.len() > MAX_CATEGORIES {
                return Err(QueryBoundError::TooManyCategories(auth.purposes.len()));
            }
            auth.purposes.iter().try_for_each(|p| check_code(p))?;
            if auth.categories.len() > MAX_CATEGORIES {
                return Err(QueryBoundError::TooManyCategories(auth.categories.len()));
            }
            auth.categories.iter().try_for_each(|c| check_code(c))?;
        }
        Ok(())
    }
}

impl QueryResponse {
    /// Check every bound decoding alone does not.
    pub fn validate(&self) -> Result<(), QueryBoundError> {
        self.responder.validate()?;
        check_category_fields(&self.body.released)?;
        check_category_fields(&self.body.withheld)?;
        if self.body.records.len() > MAX_RECORDS {
            return Err(QueryBoundError::TooManyRecords(self.body.records.len()));
        }
        if let Some(r) = &self.receipt {
            r.validate()?;
        }
        Ok(())
    }
}

impl Receipt {
    /// Check the receipt's size bounds.
    pub fn validate(&self) -> Result<(), QueryBoundError> {
        if self.checkpoint.len() > MAX_RECEIPT_NOTE
            || self.entry.len() > MAX_RECEIPT_ENTRY
            || self.inclusion_proof.len() > MAX_PROOF_HASHES
        {
            return Err(QueryBoundError::OversizedReceipt);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signer proof as it was encoded before `codec::byte_strings`: byte
    /// by byte.
    #[derive(Serialize, Deserialize)]
    struct PlainProof {
        chain: Vec<Vec<u8>>,
        signature: (crate::SignatureAlgorithm, Vec<u8>),
    }

    #[test]
    fn byte_strings_keep_the_wire_bytes() {
        let chain = vec![vec![0x30, 0x82, 0, 200, 7], Vec::new(), vec![0xff; 300]];
        let signature = crate::Signature {
            algorithm: crate::SignatureAlgorithm::Ed25519,
            bytes: (0..64).collect(),
        };
        let proof = SignerProof {
            chain: chain.clone(),
            signature: signature.clone(),
        };
        let plain = PlainProof {
            chain,
            signature: (signature.algorithm, signature.bytes),
        };
        let bytes = crate::encode(&proof).expect("encode");
        assert_eq!(bytes, crate::encode(&plain).expect("encode plain"));
        let back: SignerProof = crate::decode(&bytes).expect("decode");
        assert_eq!(back, proof);
    }

    #[test]
    fn reason_numbers_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in QueryReason::ALL {
            assert!(seen.insert(r.as_u16()), "duplicate code {r}");
            assert_eq!(QueryReason::from_u16(r.as_u16()), r);
        }
        assert_eq!(QueryReason::from_u16(999), QueryReason::Unknown(999));
    }

    #[test]
    fn pseudonym_text_round_trips_and_rejects_near_misses() {
        let p = SubjectPseudonym {
            epoch: 7,
            mac: [0xab; 32],
        };
        let text = p.to_string();
        assert_eq!(text, format!("7:{}", "ab".repeat(32)));
        assert_eq!(text.parse::<SubjectPseudonym>(), Ok(p));
        for bad in [
            format!("0:{}", "ab".repeat(32)),
            format!("+7:{}", "ab".repeat(32)),
            format!("7:+b{}", "ab".repeat(31)),
            format!("7:{}", "ab".repeat(31)),
            format!("7{}", "ab".repeat(32)),
            "11010519491231002X".to_owned(),
        ] {
            assert!(bad.parse::<SubjectPseudonym>().is_err(), "{bad}");
        }
    }
}
