//! Signing the parts of a dual-authorized query and its response: the
//! requester's signature, the approver's countersignature, an authority's
//! signature over a subject's authorization, the responder's signature over
//! a response body, and the query digest a response refers to.
//!
//! It does not verify a query ([`super::verify_authorized_query`]) or a
//! response ([`super::verify_response`]); the approver's check of the
//! requester's signature is the only verification here.

use credex_protocol::query::{
    AuthorizedQuery, DOMAIN_APPROVAL, DOMAIN_REQUEST, DOMAIN_RESPONSE,
    DOMAIN_SUBJECT_AUTHORIZATION, QueryBoundError, QueryRequest, QueryResponseBody,
    SignedSubjectAuthorization, SignerProof, SubjectAuthorization, approval_message,
};

use super::encode;
use crate::signing::{KeyError, SignError, SignatureError, SigningKey, verify_signature};

/// Why a request, approval, authorization or response could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignProofError {
    /// The chain is empty, too long or holds an oversized certificate.
    #[error("signer chain: {0}")]
    BadChain(QueryBoundError),
    /// The key is not the key of the chain's first certificate (or that
    /// certificate is unreadable).
    #[error("the signing key does not fit the chain's first certificate: {0}")]
    KeyMismatch(KeyError),
    /// When approving: the requester's signature does not verify over this
    /// request with the requester's certificate.
    #[error("the requester's signature does not verify over this request: {0}")]
    RequesterSignature(SignatureError),
    /// The subject authorization's validity window ends before it starts.
    #[error("the subject authorization's validity window ends before it starts")]
    AuthorizationWindowEmpty,
    /// The value could not be encoded.
    #[error("cannot encode the value to sign: {0}")]
    Encoding(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(SignError),
}

/// The requester's signature over `request` (rule 5), with their chain
/// (their operator certificate first, then their region CA).
pub fn sign_request(
    request: &QueryRequest,
    requester_key: &SigningKey,
    requester_chain: Vec<Vec<u8>>,
) -> Result<SignerProof, SignProofError> {
    let bytes = encode(request).map_err(SignProofError::Encoding)?;
    make_proof(DOMAIN_REQUEST, &bytes, requester_key, requester_chain)
}

/// The approver's countersignature (rule 6) over `request` and the
/// requester's signature, which must verify over `request` with the
/// requester's first certificate (the certificate itself is not judged
/// here: the approver's tool checks it against its trust store).
pub fn approve_request(
    request: &QueryRequest,
    requester: &SignerProof,
    approver_key: &SigningKey,
    approver_chain: Vec<Vec<u8>>,
) -> Result<SignerProof, SignProofError> {
    let bytes = encode(request).map_err(SignProofError::Encoding)?;
    let requester_cert = requester
        .chain
        .first()
        .ok_or(SignProofError::BadChain(QueryBoundError::BadChain))?;
    verify_signature(requester_cert, DOMAIN_REQUEST, &bytes, &requester.signature)
        .map_err(SignProofError::RequesterSignature)?;
    let message = approval_message(&bytes, &requester.signature);
    make_proof(DOMAIN_APPROVAL, &message, approver_key, approver_chain)
}

/// An authorization authority's signature over a subject's authorization
/// (rule 7), with its chain.
pub fn sign_subject_authorization(
    authorization: SubjectAuthorization,
    key: &SigningKey,
    chain: Vec<Vec<u8>>,
) -> Result<SignedSubjectAuthorization, SignProofError> {
    if authorization.not_before_ms > authorization.not_after_ms {
        return Err(SignProofError::AuthorizationWindowEmpty);
    }
    let bytes = encode(&authorization).map_err(SignProofError::Encoding)?;
    let signer = make_proof(DOMAIN_SUBJECT_AUTHORIZATION, &bytes, key, chain)?;
    Ok(SignedSubjectAuthorization {
        authorization,
        signer,
    })
}

/// The responder node's signature over a response body, with the node's
/// chain (its node certificate first, then its region CA).
pub fn sign_response(
    body: &QueryResponseBody,
    node_key: &SigningKey,
    node_chain: Vec<Vec<u8>>,
) -> Result<SignerProof, SignProofError> {
    let bytes = encode(body).map_err(SignProofError::Encoding)?;
    make_proof(DOMAIN_RESPONSE, &bytes, node_key, node_chain)
}

pub(super) fn make_proof(
    domain: &[u8],
    message: &[u8],
    key: &SigningKey,
    chain: Vec<Vec<u8>>,
) -> Result<SignerProof, SignProofError> {
    let leaf = chain
        .first()
        .ok_or(SignProofError::BadChain(QueryBoundError::BadChain))?;
    key.check_matches_certificate(leaf)
        .map_err(SignProofError::KeyMismatch)?;
    let signature = key.sign(domain, message).map_err(SignProofError::Sign)?;
    let proof = SignerProof { chain, signature };
    proof.validate().map_err(SignProofError::BadChain)?;
    Ok(proof)
}
/// SHA-256 of the encoded query: what [`AuthorizationVerified::query_digest`](super::AuthorizationVerified::query_digest)
/// gives, for the requester to compare a response with.
pub fn query_digest(q: &AuthorizedQuery) -> Result<[u8; 32], SignProofError> {
    credex_protocol::encoding_sha256(q).map_err(|e| SignProofError::Encoding(e.to_string()))
}
