//! The responder's verification of an [`AuthorizedQuery`] as a whole:
//! what it knows of the query's arrival ([`QueryContext`]), the cheap
//! addressing checks (rules 1–3), the order of all seven rules, and the
//! proof token [`AuthorizationVerified`] that only
//! [`verify_authorized_query`] builds.
//!
//! It does not check a signer's chain, role or signature itself
//! ([`super::signers`]) nor the subject's authorization ([`super::subject`]);
//! it does not sign anything ([`super::sign`]).

use credex_protocol::query::{
    AuthorizedQuery, DOMAIN_APPROVAL, DOMAIN_REQUEST, QueryRequest, SignerProof, approval_message,
};
use credex_protocol::{NodeName, RegionCode, Role};
use rustls_pki_types::UnixTime;

use super::error::{AuthorizationError, Signer};
use super::signers::{check_different_officers, check_officer, verify_signer};
use super::subject::{VerifiedSubjectAuthorization, check_bound, verify_subject_authorization};
use super::{encode, sha256, unix_ms};
use crate::identity::CertIdentity;
use crate::trust::{TrustStore, VerifiedCert};

/// What the responder knows about the query's arrival, besides the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryContext {
    /// This node's region.
    pub responder_region: RegionCode,
    /// The region of the mTLS-authenticated node that sent the query.
    pub peer_region: RegionCode,
    /// The name of the mTLS-authenticated node that sent the query.
    pub peer_node: NodeName,
    /// The verification time: certificates and CRLs are judged as of it, and
    /// (in whole seconds, as Unix milliseconds) the request's time is
    /// compared with it.
    pub now: UnixTime,
    /// How far, in milliseconds, the request's `issued_at_ms` may lie from
    /// `now` in either direction (e.g. `300_000`). Negative refuses all.
    pub max_clock_skew_ms: i64,
}

/// Proof that an [`AuthorizedQuery`] passed every check of
/// [`verify_authorized_query`]. Only that function builds one.
#[derive(Debug, Clone)]
pub struct AuthorizationVerified {
    requester: VerifiedCert,
    approver: VerifiedCert,
    subject_authorization: Option<VerifiedSubjectAuthorization>,
    query_digest: [u8; 32],
    bundle: Vec<u8>,
}

impl AuthorizationVerified {
    /// The officer who signed the request (经办人): a verified operator
    /// certificate with the `requester` role, of the requesting region.
    pub fn requester(&self) -> &CertIdentity {
        self.requester.identity()
    }

    /// The different officer who countersigned it (审核人): a verified
    /// operator certificate with the `approver` role, of the requesting region.
    pub fn approver(&self) -> &CertIdentity {
        self.approver.identity()
    }

    /// The subject's verified electronic authorization, if the query carried
    /// one (otherwise the request may cite a legal basis, which the policy
    /// judges).
    pub fn subject_authorization(&self) -> Option<&VerifiedSubjectAuthorization> {
        self.subject_authorization.as_ref()
    }

    /// SHA-256 of the encoded [`AuthorizedQuery`]: what the response's
    /// `query_digest` and the access log refer to.
    pub fn query_digest(&self) -> [u8; 32] {
        self.query_digest
    }

    /// The encoded [`AuthorizedQuery`] that [`Self::query_digest`] is the
    /// digest of: the bundle an auditor re-checks, kept with the entry.
    pub fn bundle(&self) -> &[u8] {
        &self.bundle
    }
}

/// Verify both authorizations of `q` (see the module docs for the rules and
/// their order) against `trust` as of `ctx.now`.
pub fn verify_authorized_query(
    q: &AuthorizedQuery,
    trust: &TrustStore,
    ctx: &QueryContext,
) -> Result<AuthorizationVerified, AuthorizationError> {
    let request = &q.request;

    // 1.–3. From the peer, to us, fresh.
    check_arrival(request, ctx)?;
    // 4. Two different people.
    check_different_officers(trust, &q.requester, &q.approver)?;

    // 5. The requester.
    let request_bytes = encode(request).map_err(AuthorizationError::Encoding)?;
    let requesting_region = request.requester_region;
    let requester = verify_signer(
        trust,
        ctx.now,
        &q.requester,
        Signer::Requester,
        |id| check_officer(id, Signer::Requester, Role::Requester, requesting_region),
        DOMAIN_REQUEST,
        &request_bytes,
    )?;

    // 6. The approver, over the request and the requester's signature.
    let approval = approval_message(&request_bytes, &q.requester.signature);
    let approver = verify_signer(
        trust,
        ctx.now,
        &q.approver,
        Signer::Approver,
        |id| check_officer(id, Signer::Approver, Role::Approver, requesting_region),
        DOMAIN_APPROVAL,
        &approval,
    )?;

    // 7. The subject's authorization.
    check_bound(request, q.subject_authorization.as_ref())?;
    let subject_authorization = q
        .subject_authorization
        .as_ref()
        .map(|signed| verify_subject_authorization(signed, request, trust, ctx.now))
        .transpose()?;

    let bundle = encode(q).map_err(AuthorizationError::Encoding)?;
    Ok(AuthorizationVerified {
        requester,
        approver,
        subject_authorization,
        query_digest: sha256(&bundle),
        bundle,
    })
}

/// Rule 5 alone, as an officer's signature is collected one at a time
/// outside credex (the gateway, decision 0840): `proof` is a requester of
/// the request's region signing `request`. Returns the verified identity.
pub fn verify_requester(
    request: &QueryRequest,
    proof: &SignerProof,
    trust: &TrustStore,
    now: UnixTime,
) -> Result<CertIdentity, AuthorizationError> {
    let request_bytes = encode(request).map_err(AuthorizationError::Encoding)?;
    let region = request.requester_region;
    verify_signer(
        trust,
        now,
        proof,
        Signer::Requester,
        |id| check_officer(id, Signer::Requester, Role::Requester, region),
        DOMAIN_REQUEST,
        &request_bytes,
    )
    .map(VerifiedCert::into_identity)
}

/// Rules 4 and 6, as the approver's signature is collected after the
/// requester's: another person than `requester`, an approver of the
/// request's region, countersigning the request and the requester's
/// signature. Returns the verified identity.
pub fn verify_approver(
    request: &QueryRequest,
    requester: &SignerProof,
    approver: &SignerProof,
    trust: &TrustStore,
    now: UnixTime,
) -> Result<CertIdentity, AuthorizationError> {
    check_different_officers(trust, requester, approver)?;
    let request_bytes = encode(request).map_err(AuthorizationError::Encoding)?;
    let approval = approval_message(&request_bytes, &requester.signature);
    let region = request.requester_region;
    verify_signer(
        trust,
        now,
        approver,
        Signer::Approver,
        |id| check_officer(id, Signer::Approver, Role::Approver, region),
        DOMAIN_APPROVAL,
        &approval,
    )
    .map(VerifiedCert::into_identity)
}

/// Rules 1–3, which need no cryptography: the request comes from the
/// authenticated peer, is addressed to this node's region, and its time is
/// within the clock-skew window of `ctx.now`.
fn check_arrival(request: &QueryRequest, ctx: &QueryContext) -> Result<(), AuthorizationError> {
    // 1. The request comes from the authenticated peer.
    if request.requester_region != ctx.peer_region || request.requester_node != ctx.peer_node {
        return Err(AuthorizationError::NotFromPeer {
            claimed_region: request.requester_region,
            claimed_node: request.requester_node.clone(),
            peer_region: ctx.peer_region,
            peer_node: ctx.peer_node.clone(),
        });
    }
    // 2. It is addressed to us.
    if request.target_region != ctx.responder_region {
        return Err(AuthorizationError::WrongTarget {
            target: request.target_region,
            responder: ctx.responder_region,
        });
    }
    // 3. It is fresh.
    let offset_ms = i128::from(request.issued_at_ms) - i128::from(unix_ms(ctx.now));
    if offset_ms.abs() > i128::from(ctx.max_clock_skew_ms) {
        return Err(AuthorizationError::Stale {
            offset_ms,
            max_clock_skew_ms: ctx.max_clock_skew_ms,
        });
    }
    Ok(())
}
