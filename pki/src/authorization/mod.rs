//! Dual authorization (双授权, docs/design.md §5): verifying an
//! [`AuthorizedQuery`] before anything is read, signing its parts, and
//! signing and verifying the responder's [`QueryResponse`].
//!
//! # What it does
//!
//! [`verify_authorized_query`] checks a query's institutional authorization
//! (a `requester` officer's signature and a different `approver` officer's
//! countersignature, both of the requesting region) and, when present, the
//! subject's electronic authorization (电子授权) signed by an authorization
//! authority. On success it returns an [`AuthorizationVerified`] proof token,
//! which only this module can build: the responder cannot reach "read
//! records" without one.
//!
//! The checks run in this order, and the first that fails decides the
//! error (and so the [`QueryReason`] a peer sees):
//!
//! 1. the request's requesting region and node are the mTLS-authenticated
//!    peer's ([`AuthorizationError::NotFromPeer`] → `WrongRegion`);
//! 2. the request is addressed to this node's region
//!    ([`AuthorizationError::WrongTarget`] → `WrongTarget`);
//! 3. the request's time is within the clock-skew window of `now`
//!    ([`AuthorizationError::Stale`] → `Stale`);
//! 4. the requester's and the approver's certificates (read, not yet
//!    verified) name different people: not one certificate, not one key, not
//!    the same operator name in the same region
//!    ([`AuthorizationError::SameOfficer`] → `SameOfficer`);
//! 5. the requester: the chain verifies to the federation root as of `now`,
//!    with the CRLs and the region rule (else `BadSignature`); the
//!    certificate is an operator with the `requester` role (else
//!    `WrongRole`) of the requesting region (else `WrongRegion`); the
//!    signature over [`DOMAIN_REQUEST`] ‖ encode(request) verifies (else
//!    `BadSignature`);
//! 6. the approver: the same, with the `approver` role, over
//!    [`DOMAIN_APPROVAL`] ‖ [`approval_message`]`(encode(request),
//!    requester signature)`;
//! 7. the subject authorization: the one attached is the one the request
//!    names by digest, which both officers signed — none attached when none
//!    is named (else `AuthorizationNotBound`); if present, the chain
//!    verifies; the signer is an authorization authority (else `WrongRole`)
//!    of another region than the requesting one (else
//!    `ConsentAuthorityNotAccepted`: the requesting side never vouches for
//!    its own consent); the signature over [`DOMAIN_SUBJECT_AUTHORIZATION`]
//!    ‖ encode(authorization) verifies; the authorization names the
//!    request's subject and the requesting region as grantee, and its
//!    validity window does not end before it starts (else
//!    `AuthorizationOutOfScope`). Which authorities a responder accepts
//!    beyond that is its policy's `consent_from`
//!    (`docs/decisions/0640-consent-authorities.md`).
//!
//! The cheap checks that need no cryptography come first, so a misaddressed
//! or stale request costs no signature verification. Rule 4 runs on
//! certificates that have not been verified yet so that "a requester
//! approving their own request" is reported as such even when one
//! certificate signs twice (which would otherwise surface as a wrong role);
//! a forged certificate can at most change which denial is reported.
//!
//! # What it does not do
//!
//! No I/O and no clock: `now` comes in with the [`QueryContext`]. It does not
//! check the nonce against replays (the node's nonce store does), whether a
//! legal basis may replace the subject's authorization, or the
//! authorization's time window, purposes, categories and uses: the policy
//! evaluation in credex-policies and the node's use counter decide those,
//! from the scope the token exposes
//! ([`VerifiedSubjectAuthorization::authorization`]). It does not bound
//! decoded messages either: call [`AuthorizedQuery::validate`] after
//! decoding (signer chains are bounds-checked here again).
//!
//! The reasons for the order, the authority rule and the scope split are in
//! `docs/decisions/0200`–`0203`.
//!
//! Everything signed is signed over its postcard encoding
//! ([`credex_protocol::encode`], deterministic for these types) under a
//! domain tag, as [`crate::signing`] describes.
//!
//! # Where it lives
//!
//! - `query`: [`QueryContext`], [`AuthorizationVerified`] and
//!   [`verify_authorized_query`] (the order of the rules, rules 1–3);
//! - `signers`: one signer's certificate, role, region and signature
//!   (rules 4–6, and the chain and signature part of rule 7);
//! - `subject`: the subject's authorization (rule 7);
//! - `error`: [`AuthorizationError`] and its wire codes;
//! - `sign`: signing a query's parts and a response body;
//! - `response`: node statements and the requester's check of a response.
//!
//! [`AuthorizedQuery`]: credex_protocol::query::AuthorizedQuery
//! [`AuthorizedQuery::validate`]: credex_protocol::query::AuthorizedQuery::validate
//! [`QueryResponse`]: credex_protocol::query::QueryResponse
//! [`QueryReason`]: credex_protocol::query::QueryReason
//! [`DOMAIN_REQUEST`]: credex_protocol::query::DOMAIN_REQUEST
//! [`DOMAIN_APPROVAL`]: credex_protocol::query::DOMAIN_APPROVAL
//! [`DOMAIN_SUBJECT_AUTHORIZATION`]: credex_protocol::query::DOMAIN_SUBJECT_AUTHORIZATION
//! [`approval_message`]: credex_protocol::query::approval_message

use rustls_pki_types::UnixTime;
use serde::Serialize;

mod error;
mod query;
mod response;
mod sign;
mod signers;
mod subject;

pub use error::{AuthorizationError, SameOfficerEvidence, Signer};
pub use query::{
    AuthorizationVerified, QueryContext, verify_approver, verify_authorized_query, verify_requester,
};
pub use response::{ResponseError, sign_node_statement, verify_node_statement, verify_response};
pub use sign::{
    SignProofError, approve_request, query_digest, sign_request, sign_response,
    sign_subject_authorization,
};
pub use subject::VerifiedSubjectAuthorization;

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    credex_protocol::encode(value).map_err(|e| e.to_string())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    to_array(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn to_array(digest: ring::digest::Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `now` as Unix milliseconds (whole seconds; saturating).
fn unix_ms(now: UnixTime) -> i64 {
    i64::try_from(now.as_secs())
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}
