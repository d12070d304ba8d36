//! Node statements and response signatures: a node's signature over a
//! statement (federation messages, acknowledgements, attestations …)
//! checked offline against its node certificate, and the requester's check
//! of a [`QueryResponse`] against the query it sent.
//!
//! It does not sign or verify the officers' or authorities' parts of a
//! query ([`super::sign`], [`super::verify_authorized_query`]).

use credex_protocol::query::{DOMAIN_RESPONSE, QueryBoundError, QueryResponse, SignerProof};
use credex_protocol::{NodeName, RegionCode};
use rustls_pki_types::UnixTime;

use super::encode;
use super::sign::{SignProofError, make_proof};
use crate::identity::Subject;
use crate::signing::{SignatureError, SigningKey};
use crate::trust::{Purpose, TrustStore, VerifiedCert, VerifyError};

/// Why a [`QueryResponse`] was refused by the requester.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The responder's chain is empty, over the bounds, or unreadable.
    #[error("the responder's certificate chain is unreadable: {0}")]
    UnreadableChain(String),
    /// The responder's certificate does not verify as a node certificate
    /// as of `now` (another root, expired, revoked, not a node …).
    #[error("the responder's certificate is not trusted as a node certificate: {0}")]
    UntrustedCertificate(VerifyError),
    /// The certificate is a node of another region than the one asked.
    #[error("the response is signed by {found}, not by a node of region {expected}")]
    WrongResponder {
        /// Who signed (a node and its region).
        found: String,
        /// The region that was asked.
        expected: RegionCode,
    },
    /// The signature does not verify over the body.
    #[error("the responder's signature does not verify: {0}")]
    BadSignature(SignatureError),
    /// The body names another responder than the signing certificate.
    #[error(
        "the response body names node {body_node} of region {body_region}, \
         but it is signed by node {cert_node} of region {cert_region}"
    )]
    ResponderMismatch {
        /// The node the body names.
        body_node: NodeName,
        /// The region the body names.
        body_region: RegionCode,
        /// The node the certificate names.
        cert_node: NodeName,
        /// The region the certificate names.
        cert_region: RegionCode,
    },
    /// The response answers another query.
    #[error("the response answers another query (its query digest differs)")]
    DigestMismatch,
    /// The body could not be encoded to check the signature.
    #[error("cannot encode the response body to verify it: {0}")]
    Encoding(String),
}

/// Sign a statement of a node (a federation message, an acknowledgement,
/// an evaluation attestation …) with its node key: the signature over
/// `domain` ‖ `message`, with the node's certificate chain so it can be
/// checked offline with [`verify_node_statement`].
pub fn sign_node_statement(
    domain: &[u8],
    message: &[u8],
    node_key: &SigningKey,
    node_chain: Vec<Vec<u8>>,
) -> Result<SignerProof, SignProofError> {
    make_proof(domain, message, node_key, node_chain)
}

/// Verify a node's statement signed with [`sign_node_statement`]: the chain
/// verifies as a node certificate as of `now`, the node is of
/// `expected_region` (if given), and the signature over `domain` ‖
/// `message` verifies. Returns the node's verified certificate (a shared
/// handle), its region and its name.
pub fn verify_node_statement(
    domain: &[u8],
    message: &[u8],
    proof: &SignerProof,
    trust: &TrustStore,
    now: UnixTime,
    expected_region: Option<RegionCode>,
) -> Result<(VerifiedCert, RegionCode, NodeName), ResponseError> {
    proof
        .validate()
        .map_err(|e| ResponseError::UnreadableChain(e.to_string()))?;
    if proof.chain.is_empty() {
        return Err(ResponseError::UnreadableChain(
            QueryBoundError::BadChain.to_string(),
        ));
    }
    let verified = trust
        .verify_chain(&proof.chain, now, Purpose::TlsServer)
        .map_err(ResponseError::UntrustedCertificate)?;
    let identity = verified.identity();
    let (region, node) = match &identity.subject {
        Subject::Node { region, name } if expected_region.is_none_or(|r| r == *region) => {
            (*region, name.clone())
        }
        other => {
            return Err(ResponseError::WrongResponder {
                found: other.to_string(),
                expected: expected_region.unwrap_or(RegionCode::NATIONAL),
            });
        }
    };
    verified
        .verify_signature(domain, message, &proof.signature)
        .map_err(ResponseError::BadSignature)?;
    Ok((verified, region, node))
}

/// Verify a response to the query whose digest is `expected_query_digest`,
/// sent to `expected_region`. Checks, in order: the responder's chain
/// verifies as a node certificate ([`Purpose::TlsServer`]: node certificates
/// carry serverAuth) as of `now`; it names a node of `expected_region`; the
/// signature over [`DOMAIN_RESPONSE`] ‖ encode(body) verifies; the body names
/// that same node; the body's `query_digest` is the expected one. Returns
/// the responder's verified certificate (a shared handle).
pub fn verify_response(
    resp: &QueryResponse,
    trust: &TrustStore,
    now: UnixTime,
    expected_region: RegionCode,
    expected_query_digest: [u8; 32],
) -> Result<VerifiedCert, ResponseError> {
    let body = &resp.body;
    let bytes = encode(body).map_err(ResponseError::Encoding)?;
    let (identity, cert_region, cert_node) = verify_node_statement(
        DOMAIN_RESPONSE,
        &bytes,
        &resp.responder,
        trust,
        now,
        Some(expected_region),
    )?;
    if body.responder_region != cert_region || body.responder_node != cert_node {
        return Err(ResponseError::ResponderMismatch {
            body_node: body.responder_node.clone(),
            body_region: body.responder_region,
            cert_node,
            cert_region,
        });
    }
    if body.query_digest != expected_query_digest {
        return Err(ResponseError::DigestMismatch);
    }
    Ok(identity)
}
