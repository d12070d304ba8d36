//! One signer of a query (requester, approver or authorization authority):
//! reading its certificate before trusting it, telling two officers apart
//! (rule 4), verifying its chain, identity and signature (rules 5–7), and
//! the officer role and region check (rules 5–6).
//!
//! It does not know the order of the rules nor what each signer signs over
//! ([`super::query`], [`super::subject`]), and it verifies no node's
//! signature ([`super::response`]).

use credex_protocol::RegionCode;
use credex_protocol::Role;
use credex_protocol::query::{QueryBoundError, SignerProof};
use rustls_pki_types::UnixTime;

use super::error::{AuthorizationError, SameOfficerEvidence, Signer};
use std::sync::Arc;

use crate::identity::{CertIdentity, ParsedCert, Subject};
use crate::trust::{Purpose, TrustStore, VerifiedCert};

/// Rule 4: the requester's and the approver's first certificates, read but
/// not verified yet, name different people: not one certificate, not one
/// key, not the same operator name in the same region.
pub(super) fn check_different_officers(
    trust: &TrustStore,
    requester: &SignerProof,
    approver: &SignerProof,
) -> Result<(), AuthorizationError> {
    let requester_leaf = read_leaf(trust, requester, Signer::Requester)?;
    let approver_leaf = read_leaf(trust, approver, Signer::Approver)?;
    match same_officer(&requester_leaf, &approver_leaf) {
        Some(evidence) => Err(AuthorizationError::SameOfficer { evidence }),
        None => Ok(()),
    }
}

/// Rule 4's input: the signer's first certificate, read but not verified.
fn read_leaf(
    trust: &TrustStore,
    proof: &SignerProof,
    signer: Signer,
) -> Result<Arc<ParsedCert>, AuthorizationError> {
    let unreadable = |reason: String| AuthorizationError::UnreadableChain { signer, reason };
    proof.validate().map_err(|e| unreadable(e.to_string()))?;
    let leaf = proof
        .chain
        .first()
        .ok_or_else(|| unreadable(QueryBoundError::BadChain.to_string()))?;
    trust
        .read_certificate(leaf)
        .map_err(|e| unreadable(e.to_string()))
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
/// `message`. Returns the verified certificate (a shared handle: no copy of
/// its identity).
pub(super) fn verify_signer(
    trust: &TrustStore,
    now: UnixTime,
    proof: &SignerProof,
    signer: Signer,
    check_identity: impl FnOnce(&CertIdentity) -> Result<(), AuthorizationError>,
    domain: &[u8],
    message: &[u8],
) -> Result<VerifiedCert, AuthorizationError> {
    let unreadable = |reason: String| AuthorizationError::UnreadableChain { signer, reason };
    proof.validate().map_err(|e| unreadable(e.to_string()))?;
    if proof.chain.is_empty() {
        return Err(unreadable(QueryBoundError::BadChain.to_string()));
    }
    let verified = trust
        .verify_chain(&proof.chain, now, Purpose::Signing)
        .map_err(|error| AuthorizationError::UntrustedCertificate { signer, error })?;
    check_identity(verified.identity())?;
    verified
        .verify_signature(domain, message, &proof.signature)
        .map_err(|error| AuthorizationError::BadSignature { signer, error })?;
    Ok(verified)
}

pub(super) fn check_officer(
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
pub(super) fn describe(subject: &Subject) -> String {
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
