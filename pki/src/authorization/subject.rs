//! Rule 7: the subject's electronic authorization (电子授权) attached to a
//! query — that it is the one the officers signed for, that an
//! authorization authority of another region than the requesting one signed
//! it, and that it names the request's subject and requesting region — and
//! the [`VerifiedSubjectAuthorization`] that results.
//!
//! It does not judge the authorization's time window, purposes, categories
//! or uses (policy evaluation and the node's use counter do), nor which
//! other authorities a responder accepts (its policy's `consent_from`).

use credex_protocol::query::{
    DOMAIN_SUBJECT_AUTHORIZATION, QueryRequest, SignedSubjectAuthorization, SubjectAuthorization,
};
use rustls_pki_types::UnixTime;

use super::encode;
use super::error::{AuthorizationError, Signer};
use super::signers::{describe, verify_signer};
use crate::identity::{CertIdentity, Subject};
use crate::trust::{TrustStore, VerifiedCert};

/// A subject's electronic authorization (电子授权) whose signature and
/// signer verified and which names the request's subject and requesting
/// region. Its time window, purposes, categories and uses are not checked
/// yet: policy evaluation and the use counter judge them from
/// [`authorization`](Self::authorization).
#[derive(Debug, Clone)]
pub struct VerifiedSubjectAuthorization {
    signer: VerifiedCert,
    authorization: SubjectAuthorization,
}

impl VerifiedSubjectAuthorization {
    /// The authorization authority that signed it (verified certificate).
    pub fn signer(&self) -> &CertIdentity {
        self.signer.identity()
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

pub(super) fn verify_subject_authorization(
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

/// Rule 7's binding: the authorization attached is the one the request
/// names by digest (which both officers signed), and none is attached when
/// none is named.
pub(super) fn check_bound(
    request: &QueryRequest,
    attached: Option<&SignedSubjectAuthorization>,
) -> Result<(), AuthorizationError> {
    let attached = match attached {
        Some(signed) => Some(
            signed
                .digest()
                .map_err(|e| AuthorizationError::Encoding(e.to_string()))?,
        ),
        None => None,
    };
    match (request.subject_authorization_digest, attached) {
        (None, None) => Ok(()),
        (Some(named), Some(sent)) if named == sent => Ok(()),
        (None, Some(_)) => Err(AuthorizationError::AuthorizationNotBound(
            "one is attached, but the request the officers signed names none",
        )),
        (Some(_), None) => Err(AuthorizationError::AuthorizationNotBound(
            "the request the officers signed names one, but none is attached",
        )),
        (Some(_), Some(_)) => Err(AuthorizationError::AuthorizationNotBound(
            "the one attached is not the one the request the officers signed names",
        )),
    }
}
