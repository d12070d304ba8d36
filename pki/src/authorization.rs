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

use credex_protocol::query::{
    AuthorizedQuery, DOMAIN_APPROVAL, DOMAIN_REQUEST, DOMAIN_RESPONSE,
    DOMAIN_SUBJECT_AUTHORIZATION, QueryBoundError, QueryReason, QueryRequest, QueryResponse,
    QueryResponseBody, SignedSubjectAuthorization, SignerProof, SubjectAuthorization,
    approval_message,
};
use credex_protocol::{NodeName, RegionCode, Role};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use crate::identity::{CertIdentity, ParsedCert, Subject, parse_certificate};
use crate::signing::{KeyError, SignError, SignatureError, SigningKey, verify_signature};
use crate::trust::{Purpose, TrustStore, VerifyError};

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
    request: QueryRequest,
    requester: CertIdentity,
    approver: CertIdentity,
    subject_authorization: Option<VerifiedSubjectAuthorization>,
    query_digest: [u8; 32],
}

impl AuthorizationVerified {
    /// The officer who signed the request (经办人): a verified operator
    /// certificate with the `requester` role, of the requesting region.
    pub fn requester(&self) -> &CertIdentity {
        &self.requester
    }

    /// The different officer who countersigned it (审核人): a verified
    /// operator certificate with the `approver` role, of the requesting region.
    pub fn approver(&self) -> &CertIdentity {
        &self.approver
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

    /// The verified request.
    pub fn request(&self) -> &QueryRequest {
        &self.request
    }
}

/// A subject's electronic authorization (电子授权) whose signature and
/// signer verified and which names the request's subject and requesting
/// region. Its time window, purposes, categories and uses are not checked
/// yet: policy evaluation and the use counter judge them from
/// [`authorization`](Self::authorization).
#[derive(Debug, Clone)]
pub struct VerifiedSubjectAuthorization {
    signer: CertIdentity,
    authorization: SubjectAuthorization,
}

impl VerifiedSubjectAuthorization {
    /// The authorization authority that signed it (verified certificate).
    pub fn signer(&self) -> &CertIdentity {
        &self.signer
    }

    /// The authorization and its scope: grantee, purposes, categories,
    /// validity window, number of uses.
    pub fn authorization(&self) -> &SubjectAuthorization {
        &self.authorization
    }

    /// The authorization's id, against which uses are counted.
    pub fn id(&self) -> [u8; 16] {
        self.authorization.authorization_id
    }
}

/// Which signature of an [`AuthorizedQuery`] an error is about.
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

/// Why an [`AuthorizedQuery`] was refused. One variant per rule; the
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

/// Verify both authorizations of `q` (see the module docs for the rules and
/// their order) against `trust` as of `ctx.now`.
pub fn verify_authorized_query(
    q: &AuthorizedQuery,
    trust: &TrustStore,
    ctx: &QueryContext,
) -> Result<AuthorizationVerified, AuthorizationError> {
    let request = &q.request;

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
    // 4. Two different people.
    let requester_leaf = read_leaf(&q.requester, Signer::Requester)?;
    let approver_leaf = read_leaf(&q.approver, Signer::Approver)?;
    if let Some(evidence) = same_officer(&requester_leaf, &approver_leaf) {
        return Err(AuthorizationError::SameOfficer { evidence });
    }

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
    let attached = match &q.subject_authorization {
        Some(signed) => Some(
            signed
                .digest()
                .map_err(|e| AuthorizationError::Encoding(e.to_string()))?,
        ),
        None => None,
    };
    match (request.subject_authorization_digest, attached) {
        (None, None) => {}
        (Some(named), Some(sent)) if named == sent => {}
        (None, Some(_)) => {
            return Err(AuthorizationError::AuthorizationNotBound(
                "one is attached, but the request the officers signed names none",
            ));
        }
        (Some(_), None) => {
            return Err(AuthorizationError::AuthorizationNotBound(
                "the request the officers signed names one, but none is attached",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(AuthorizationError::AuthorizationNotBound(
                "the one attached is not the one the request the officers signed names",
            ));
        }
    }
    let subject_authorization = q
        .subject_authorization
        .as_ref()
        .map(|signed| verify_subject_authorization(signed, request, trust, ctx.now))
        .transpose()?;

    let query_digest = sha256(&encode(q).map_err(AuthorizationError::Encoding)?);
    Ok(AuthorizationVerified {
        request: request.clone(),
        requester,
        approver,
        subject_authorization,
        query_digest,
    })
}

fn verify_subject_authorization(
    signed: &SignedSubjectAuthorization,
    request: &QueryRequest,
    trust: &TrustStore,
    now: UnixTime,
) -> Result<VerifiedSubjectAuthorization, AuthorizationError> {
    let authorization = &signed.authorization;
    let bytes = encode(authorization).map_err(AuthorizationError::Encoding)?;
    let signer = verify_signer(
        trust,
        now,
        &signed.signer,
        Signer::SubjectAuthorization,
        |id| match id.subject {
            // Never the requesting region's own authority; which others a
            // responder accepts is its policy's (decision 0640).
            Subject::Authority { region, .. } if region == request.requester_region => {
                Err(AuthorizationError::ConsentFromRequestingRegion {
                    authority_region: region,
                })
            }
            Subject::Authority { .. } => Ok(()),
            ref other => Err(AuthorizationError::WrongRole {
                signer: Signer::SubjectAuthorization,
                found: describe(other),
                expected: "an authorization-authority certificate",
            }),
        },
        DOMAIN_SUBJECT_AUTHORIZATION,
        &bytes,
    )?;
    if authorization.subject != request.subject {
        return Err(AuthorizationError::AuthorizationForOtherSubject);
    }
    if authorization.grantee_region != request.requester_region {
        return Err(AuthorizationError::AuthorizationForOtherGrantee {
            grantee: authorization.grantee_region,
            requester_region: request.requester_region,
        });
    }
    if authorization.not_before_ms > authorization.not_after_ms {
        return Err(AuthorizationError::AuthorizationWindowEmpty);
    }
    Ok(VerifiedSubjectAuthorization {
        signer,
        authorization: authorization.clone(),
    })
}

/// Rule 4's input: the signer's first certificate, read but not verified.
fn read_leaf(proof: &SignerProof, signer: Signer) -> Result<ParsedCert, AuthorizationError> {
    let unreadable = |reason: String| AuthorizationError::UnreadableChain { signer, reason };
    proof.validate().map_err(|e| unreadable(e.to_string()))?;
    let leaf = proof
        .chain
        .first()
        .ok_or_else(|| unreadable(QueryBoundError::BadChain.to_string()))?;
    parse_certificate(leaf).map_err(|e| unreadable(e.to_string()))
}

fn same_officer(a: &ParsedCert, b: &ParsedCert) -> Option<SameOfficerEvidence> {
    if a.identity.fingerprint == b.identity.fingerprint {
        return Some(SameOfficerEvidence::SameCertificate);
    }
    if a.public_key == b.public_key {
        return Some(SameOfficerEvidence::SameKey);
    }
    match (&a.identity.subject, &b.identity.subject) {
        (
            Subject::Operator {
                region: ra,
                name: na,
                ..
            },
            Subject::Operator {
                region: rb,
                name: nb,
                ..
            },
        ) if ra == rb && na == nb => Some(SameOfficerEvidence::SameName),
        _ => None,
    }
}

/// Chain check, then `check_identity`, then the signature over `domain` ‖
/// `message`. Returns the verified identity.
fn verify_signer(
    trust: &TrustStore,
    now: UnixTime,
    proof: &SignerProof,
    signer: Signer,
    check_identity: impl FnOnce(&CertIdentity) -> Result<(), AuthorizationError>,
    domain: &[u8],
    message: &[u8],
) -> Result<CertIdentity, AuthorizationError> {
    let unreadable = |reason: String| AuthorizationError::UnreadableChain { signer, reason };
    proof.validate().map_err(|e| unreadable(e.to_string()))?;
    let (leaf, rest) = proof
        .chain
        .split_first()
        .ok_or_else(|| unreadable(QueryBoundError::BadChain.to_string()))?;
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let verified = trust
        .verify(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            now,
            Purpose::Signing,
        )
        .map_err(|error| AuthorizationError::UntrustedCertificate { signer, error })?;
    check_identity(verified.identity())?;
    verify_signature(leaf, domain, message, &proof.signature)
        .map_err(|error| AuthorizationError::BadSignature { signer, error })?;
    Ok(verified.into_identity())
}

fn check_officer(
    identity: &CertIdentity,
    signer: Signer,
    role: Role,
    requesting_region: RegionCode,
) -> Result<(), AuthorizationError> {
    match identity.subject {
        Subject::Operator {
            region, role: held, ..
        } if held == role => {
            if region == requesting_region {
                Ok(())
            } else {
                Err(AuthorizationError::SignerFromOtherRegion {
                    signer,
                    signer_region: region,
                    requester_region: requesting_region,
                })
            }
        }
        ref other => Err(AuthorizationError::WrongRole {
            signer,
            found: describe(other),
            expected: match role {
                Role::Requester => "an operator certificate with the requester role",
                Role::Approver => "an operator certificate with the approver role",
                Role::Auditor => "an operator certificate with the auditor role",
                Role::Admin => "an operator certificate with the admin role",
            },
        }),
    }
}

/// A certificate's kind and role, without its names.
fn describe(subject: &Subject) -> String {
    match subject {
        Subject::Operator { role, region, .. } => {
            format!("an operator certificate with the {role} role (region {region})")
        }
        other => match other.region() {
            Some(region) => format!("{} certificate (region {region})", other.kind()),
            None => format!("{} certificate", other.kind()),
        },
    }
}

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

fn make_proof(
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
/// `message` verifies. Returns the node's verified identity, its region and
/// its name.
pub fn verify_node_statement(
    domain: &[u8],
    message: &[u8],
    proof: &SignerProof,
    trust: &TrustStore,
    now: UnixTime,
    expected_region: Option<RegionCode>,
) -> Result<(CertIdentity, RegionCode, NodeName), ResponseError> {
    proof
        .validate()
        .map_err(|e| ResponseError::UnreadableChain(e.to_string()))?;
    let (leaf, rest) = proof
        .chain
        .split_first()
        .ok_or_else(|| ResponseError::UnreadableChain(QueryBoundError::BadChain.to_string()))?;
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let identity = trust
        .verify(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            now,
            Purpose::TlsServer,
        )
        .map_err(ResponseError::UntrustedCertificate)?
        .into_identity();
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
    verify_signature(leaf, domain, message, &proof.signature)
        .map_err(ResponseError::BadSignature)?;
    Ok((identity, region, node))
}

/// Verify a response to the query whose digest is `expected_query_digest`,
/// sent to `expected_region`. Checks, in order: the responder's chain
/// verifies as a node certificate ([`Purpose::TlsServer`]: node certificates
/// carry serverAuth) as of `now`; it names a node of `expected_region`; the
/// signature over [`DOMAIN_RESPONSE`] ‖ encode(body) verifies; the body names
/// that same node; the body's `query_digest` is the expected one. Returns
/// the responder's verified identity.
pub fn verify_response(
    resp: &QueryResponse,
    trust: &TrustStore,
    now: UnixTime,
    expected_region: RegionCode,
    expected_query_digest: [u8; 32],
) -> Result<CertIdentity, ResponseError> {
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

/// SHA-256 of the encoded query: what [`AuthorizationVerified::query_digest`]
/// gives, for the requester to compare a response with.
pub fn query_digest(q: &AuthorizedQuery) -> Result<[u8; 32], SignProofError> {
    Ok(sha256(&encode(q).map_err(SignProofError::Encoding)?))
}

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
