//! The pure decision whether a receiving region recognises another
//! region's credit evaluation result (互认, docs/design.md §8): the checks in
//! order, and the reason that got furthest when no shared agreement
//! recognises it.
//!
//! Owns: [`recognise`], [`RecognitionDecision`] and [`NotRecognisedReason`].
//! Does not own loading agreements ([`super::parse`]) nor verifying the
//! attestation's signature (the caller's, with `credex-pki`).

use credex_protocol::RegionCode;
use credex_protocol::evaluation::{
    AttestationStatus, EvaluationAttestation, EvaluationBoundError, Scheme,
};

use super::{Agreement, AgreementSet, Treatment};
use crate::subject_id::Uscc;

/// Milliseconds in a day: `max_age_days` is counted in 24-hour days.
pub(super) const DAY_MS: i64 = 86_400_000;

/// Whether a receiving region recognises an evaluation result (互认结果).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecognitionDecision {
    /// The result is recognised under `agreement`.
    Recognised {
        /// The agreement's code.
        agreement: String,
        /// The issuer's grade on the agreement's common scale.
        common_grade: String,
        /// The grade on the receiver's own scale.
        local_grade: String,
        /// What the receiver grants for it.
        treatment: Treatment,
        /// The last instant (Unix ms, inclusive) the recognition holds:
        /// min(valid_until_ms, issued_at_ms + max_age_days).
        counts_until_ms: i64,
    },
    /// The result is not recognised, for one reason.
    NotRecognised(NotRecognisedReason),
}

/// Why a result is not recognised: one variant per rule, in the order they
/// are checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRecognisedReason {
    /// The attestation breaks a bound or format rule.
    #[error("malformed attestation: {0}")]
    Malformed(EvaluationBoundError),
    /// The subject is not a valid unified social credit code (check digit).
    #[error("the subject is not a valid unified social credit code")]
    InvalidSubject,
    /// The receiver issued the result itself: nothing to recognise.
    #[error("the issuer is the receiving region itself")]
    IssuerIsReceiver,
    /// Issuer and receiver share no agreement.
    #[error("issuer {issuer} and receiver {receiver} share no mutual-recognition agreement")]
    NoAgreement {
        /// The issuing region.
        issuer: RegionCode,
        /// The receiving region.
        receiver: RegionCode,
    },
    /// No shared agreement recognises the scheme.
    #[error("no shared agreement recognises scheme {0}")]
    SchemeNotRecognised(Scheme),
    /// The scheme is recognised, but not in this version.
    #[error("scheme {scheme} version {version:?} is not accepted")]
    SchemeVersionNotAccepted {
        /// The scheme.
        scheme: Scheme,
        /// The attestation's version.
        version: String,
    },
    /// The issuer revoked the result.
    #[error("the result was revoked: {reason}")]
    Revoked {
        /// The issuer's reason.
        reason: String,
    },
    /// The grade is not on the issuer's scale in the agreement.
    #[error("grade {grade:?} is not on the issuer's scale")]
    UnknownGrade {
        /// The grade as attested.
        grade: String,
    },
    /// `now` is before the result was issued.
    #[error("the result is issued in the future (issued_at_ms {issued_at_ms})")]
    NotYetValid {
        /// The attestation's issue time.
        issued_at_ms: i64,
    },
    /// `now` is past the issuer's `valid_until`.
    #[error("the result expired at {valid_until_ms}")]
    Expired {
        /// The attestation's end of validity.
        valid_until_ms: i64,
    },
    /// `now` is past the agreement's maximum age, counted from issued_at.
    #[error("the result is older than the agreement's {max_age_days} days")]
    TooOld {
        /// The agreement's maximum age.
        max_age_days: u32,
    },
}

impl NotRecognisedReason {
    /// A short stable name for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            NotRecognisedReason::Malformed(_) => "malformed",
            NotRecognisedReason::InvalidSubject => "invalid_subject",
            NotRecognisedReason::IssuerIsReceiver => "issuer_is_receiver",
            NotRecognisedReason::NoAgreement { .. } => "no_agreement",
            NotRecognisedReason::SchemeNotRecognised(_) => "scheme_not_recognised",
            NotRecognisedReason::SchemeVersionNotAccepted { .. } => "scheme_version_not_accepted",
            NotRecognisedReason::Revoked { .. } => "revoked",
            NotRecognisedReason::UnknownGrade { .. } => "unknown_grade",
            NotRecognisedReason::NotYetValid { .. } => "not_yet_valid",
            NotRecognisedReason::Expired { .. } => "expired",
            NotRecognisedReason::TooOld { .. } => "too_old",
        }
    }

    /// How far the checks got before this reason: when several agreements
    /// apply and none recognises, the reason that got furthest is reported.
    fn stage(&self) -> u8 {
        match self {
            NotRecognisedReason::Malformed(_) => 0,
            NotRecognisedReason::InvalidSubject => 1,
            NotRecognisedReason::IssuerIsReceiver => 2,
            NotRecognisedReason::NoAgreement { .. } => 3,
            NotRecognisedReason::SchemeNotRecognised(_) => 4,
            NotRecognisedReason::SchemeVersionNotAccepted { .. } => 5,
            NotRecognisedReason::Revoked { .. } => 6,
            NotRecognisedReason::UnknownGrade { .. } => 7,
            NotRecognisedReason::NotYetValid { .. } => 8,
            NotRecognisedReason::Expired { .. } => 9,
            NotRecognisedReason::TooOld { .. } => 10,
        }
    }
}

/// Decide whether `receiver` recognises `attestation` at `now_ms` (Unix ms).
///
/// The caller has already verified the attestation's signature (over
/// `DOMAIN_EVAL_ATTESTATION` ‖ postcard(attestation), `credex_pki::signing`)
/// and that the signing node belongs to `issuer_region`; this function trusts
/// the attestation's content. It is pure: the node and the auditor run it
/// alike.
///
/// Checks, in order: bounds ([`EvaluationAttestation::validate`]), the
/// subject's check digit, issuer ≠ receiver, a shared agreement, then per
/// shared agreement: scheme recognised, version accepted, not revoked, grade
/// on the issuer's scale, issued_at ≤ now, now ≤ valid_until, now ≤
/// issued_at + max_age_days. When several agreements are shared, they are
/// tried in [`AgreementSet::agreements_between`] order (fewest members, then
/// code) and the first that recognises wins; if none does, the reason of the
/// agreement whose checks got furthest is returned (ties: the first in that
/// order).
pub fn recognise(
    set: &AgreementSet,
    receiver: RegionCode,
    attestation: &EvaluationAttestation,
    now_ms: i64,
) -> RecognitionDecision {
    use RecognitionDecision::NotRecognised;
    if let Err(e) = attestation.validate() {
        return NotRecognised(NotRecognisedReason::Malformed(e));
    }
    if Uscc::parse(&attestation.subject).is_err() {
        return NotRecognised(NotRecognisedReason::InvalidSubject);
    }
    let issuer = attestation.issuer_region;
    if issuer == receiver {
        return NotRecognised(NotRecognisedReason::IssuerIsReceiver);
    }
    let mut best: Option<NotRecognisedReason> = None;
    for agreement in set.agreements_between(issuer, receiver) {
        match recognise_under(agreement, receiver, attestation, now_ms) {
            Ok(decision) => return decision,
            Err(reason) => {
                if best.as_ref().is_none_or(|b| reason.stage() > b.stage()) {
                    best = Some(reason);
                }
            }
        }
    }
    NotRecognised(best.unwrap_or(NotRecognisedReason::NoAgreement { issuer, receiver }))
}

/// The checks of [`recognise`] under one agreement that has both regions.
fn recognise_under(
    agreement: &Agreement,
    receiver: RegionCode,
    a: &EvaluationAttestation,
    now_ms: i64,
) -> Result<RecognitionDecision, NotRecognisedReason> {
    let terms = agreement
        .schemes
        .get(&a.scheme)
        .ok_or(NotRecognisedReason::SchemeNotRecognised(a.scheme))?;
    if !terms.versions.contains(&a.scheme_version) {
        return Err(NotRecognisedReason::SchemeVersionNotAccepted {
            scheme: a.scheme,
            version: a.scheme_version.clone(),
        });
    }
    if let AttestationStatus::Revoked { reason } = &a.status {
        return Err(NotRecognisedReason::Revoked {
            reason: reason.clone(),
        });
    }
    let unknown = || NotRecognisedReason::UnknownGrade {
        grade: a.grade.clone(),
    };
    // Validation makes every member's mappings total, so the receiver's
    // to_local and the treatment always exist for a common grade; a lookup
    // that fails anyway is reported as an unknown grade rather than a panic.
    let common_grade = terms
        .members
        .get(&a.issuer_region)
        .and_then(|m| m.to_common.get(&a.grade))
        .ok_or_else(unknown)?;
    let local_grade = terms
        .members
        .get(&receiver)
        .and_then(|m| m.to_local.get(common_grade))
        .ok_or_else(unknown)?;
    let treatment = terms.treatments.get(common_grade).ok_or_else(unknown)?;
    if now_ms < a.issued_at_ms {
        return Err(NotRecognisedReason::NotYetValid {
            issued_at_ms: a.issued_at_ms,
        });
    }
    if now_ms > a.valid_until_ms {
        return Err(NotRecognisedReason::Expired {
            valid_until_ms: a.valid_until_ms,
        });
    }
    let max_age_end = a
        .issued_at_ms
        .saturating_add(i64::from(terms.max_age_days).saturating_mul(DAY_MS));
    if now_ms > max_age_end {
        return Err(NotRecognisedReason::TooOld {
            max_age_days: terms.max_age_days,
        });
    }
    Ok(RecognitionDecision::Recognised {
        agreement: agreement.code.clone(),
        common_grade: common_grade.clone(),
        local_grade: local_grade.clone(),
        treatment: treatment.clone(),
        counts_until_ms: a.valid_until_ms.min(max_age_end),
    })
}
