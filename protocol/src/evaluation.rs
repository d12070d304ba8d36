//! Credit evaluation attestations (信用评价结果), docs/design.md §8.
//!
//! A region that evaluates a legal person's credit under a scheme (public
//! credit, tax credit, environmental credit) publishes the result as an
//! [`EvaluationAttestation`] signed by its node key: a [`SignedAttestation`].
//! Members of a mutual-recognition agreement (信用评价结果互认协议) that hold
//! the result map its grade to their own scale (`credex_policies::agreement`).
//!
//! A re-evaluation (重新评价) or downgrade is a new attestation whose
//! `supersedes` names the previous attestation id; a revocation (撤销) is an
//! attestation with [`AttestationStatus::Revoked`] that supersedes the one it
//! revokes. Attestations are never edited in place.
//!
//! The signature is over [`DOMAIN_EVAL_ATTESTATION`] ‖ postcard(attestation)
//! and is made and checked by `credex_pki::signing`, not here. This module
//! only defines the values and their bounds ([`SignedAttestation::validate`]).
//!
//! The postcard encoding of an enum starts with the variant's index, so the
//! order of variants is part of the wire format: append, never insert.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{NodeName, RegionCode, Signature};

/// Domain tag of the issuer node's signature over an [`EvaluationAttestation`].
pub const DOMAIN_EVAL_ATTESTATION: &[u8] = b"credex/eval-attestation/v1";

/// Longest scheme version, in bytes (e.g. `"2024"`, `"GB/T 22117-2018"`).
pub const MAX_SCHEME_VERSION_LEN: usize = 64;
/// Longest grade, in bytes (e.g. `"A"`, `"优"`, `"AAA"`).
pub const MAX_GRADE_LEN: usize = 32;
/// Longest revocation reason, in bytes.
pub const MAX_REASON_LEN: usize = 512;
/// Length of a unified social credit code (统一社会信用代码), in bytes.
pub const USCC_LEN: usize = 18;
/// Longest signature accepted with an attestation (DER ECDSA P-256 is ≤ 72).
pub const MAX_SIGNATURE_LEN: usize = 128;

/// An evaluation scheme (评价体系) whose results members may recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Index 0. Public credit comprehensive evaluation (公共信用综合评价),
    /// made by the region's credit centre; code `public_credit`.
    PublicCredit,
    /// Index 1. Tax credit rating (纳税信用等级), made by the tax
    /// authority on the national A/B/M/C/D scale; code `tax_credit`.
    TaxCredit,
    /// Index 2. Environmental credit evaluation of enterprises (企业环保信用评价),
    /// made by the ecology and environment department; code `environmental_credit`.
    EnvironmentalCredit,
}

impl Scheme {
    /// Every scheme, in wire order.
    pub const ALL: [Scheme; 3] = [
        Scheme::PublicCredit,
        Scheme::TaxCredit,
        Scheme::EnvironmentalCredit,
    ];

    /// The stable snake_case code used in files and logs.
    pub fn code(self) -> &'static str {
        match self {
            Scheme::PublicCredit => "public_credit",
            Scheme::TaxCredit => "tax_credit",
            Scheme::EnvironmentalCredit => "environmental_credit",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Scheme::PublicCredit => "公共信用综合评价",
            Scheme::TaxCredit => "纳税信用等级",
            Scheme::EnvironmentalCredit => "环保信用评价",
        }
    }
}

/// A scheme code that names no [`Scheme`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown evaluation scheme {0:?} (expected public_credit, tax_credit or environmental_credit)"
)]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|k| k.code() == s)
            .ok_or_else(|| UnknownScheme(s.to_owned()))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether an attestation is in force or withdrawn by its issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttestationStatus {
    /// Index 0. The result stands (有效).
    Active,
    /// Index 1. The issuer revoked the result it supersedes (撤销), e.g. after
    /// an objection (异议) succeeded or the evaluation was found wrong.
    Revoked {
        /// Why, in the issuer's words; 1 to [`MAX_REASON_LEN`] bytes.
        reason: String,
    },
}

/// A credit evaluation result (信用评价结果) about a legal person, as issued
/// by a region's node. Signed as a whole; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationAttestation {
    /// Unique id chosen by the issuer.
    pub attestation_id: [u8; 16],
    /// The region whose authority made the evaluation.
    pub issuer_region: RegionCode,
    /// The node that signed it.
    pub issuer_node: NodeName,
    /// The evaluation scheme.
    pub scheme: Scheme,
    /// The version of the issuer's scheme rules (评价办法版本), e.g. `"2024"`;
    /// an agreement lists the versions it accepts.
    pub scheme_version: String,
    /// The evaluated legal person's unified social credit code (统一社会信用代码).
    pub subject: String,
    /// The grade on the issuer's own scale (e.g. `"A"`, `"优"`, `"绿"`).
    pub grade: String,
    /// First day of the evaluated period, `YYYY-MM-DD`.
    pub period_start: String,
    /// Last day of the evaluated period, `YYYY-MM-DD`, not before `period_start`.
    pub period_end: String,
    /// When the issuer issued the result, Unix milliseconds.
    pub issued_at_ms: i64,
    /// Last instant the issuer vouches for the result, Unix milliseconds
    /// (inclusive), not before `issued_at_ms`.
    pub valid_until_ms: i64,
    /// In force or revoked.
    pub status: AttestationStatus,
    /// The attestation this one replaces (re-evaluation, downgrade or
    /// revocation); never its own id. Required for a revocation.
    pub supersedes: Option<[u8; 16]>,
}

/// An attestation with the issuer node's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAttestation {
    /// The attestation.
    pub attestation: EvaluationAttestation,
    /// The issuer node's signature over [`DOMAIN_EVAL_ATTESTATION`] ‖
    /// postcard(attestation).
    pub signature: Signature,
}

/// A bound or format rule a decoded attestation breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationBoundError {
    /// The scheme version is empty or longer than [`MAX_SCHEME_VERSION_LEN`].
    #[error("scheme_version must be 1 to {MAX_SCHEME_VERSION_LEN} bytes, got {0}")]
    BadSchemeVersion(usize),
    /// The grade is empty or longer than [`MAX_GRADE_LEN`].
    #[error("grade must be 1 to {MAX_GRADE_LEN} bytes, got {0}")]
    BadGrade(usize),
    /// The subject is not 18 characters of `0-9` and `A-Z` (the shape of a
    /// unified social credit code; its check digit is checked by
    /// `credex_policies::Uscc`).
    #[error("subject must be an 18-character unified social credit code (0-9, A-Z)")]
    BadSubject,
    /// A period date is not a valid `YYYY-MM-DD` calendar date.
    #[error("{key} is not a valid calendar date YYYY-MM-DD")]
    BadDate {
        /// `period_start` or `period_end`.
        key: &'static str,
    },
    /// `period_end` is before `period_start`.
    #[error("period_end is before period_start")]
    PeriodReversed,
    /// `valid_until_ms` is before `issued_at_ms`.
    #[error("valid_until_ms is before issued_at_ms")]
    ValidityReversed,
    /// The revocation reason is empty or longer than [`MAX_REASON_LEN`].
    #[error("revocation reason must be 1 to {MAX_REASON_LEN} bytes, got {0}")]
    BadReason(usize),
    /// A revocation that names no attestation to revoke.
    #[error("a revocation must name the attestation it revokes in `supersedes`")]
    RevocationWithoutTarget,
    /// An attestation that supersedes itself.
    #[error("an attestation cannot supersede itself")]
    SupersedesItself,
    /// The signature is empty or longer than [`MAX_SIGNATURE_LEN`].
    #[error("signature must be 1 to {MAX_SIGNATURE_LEN} bytes, got {0}")]
    BadSignatureLength(usize),
}

/// Whether `s` is a strict `YYYY-MM-DD` Gregorian calendar date.
pub(crate) fn is_calendar_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

impl EvaluationAttestation {
    /// Check every bound and format rule decoding alone does not. Does not
    /// check the signature, the subject's check digit, or any agreement.
    pub fn validate(&self) -> Result<(), EvaluationBoundError> {
        let len = self.scheme_version.len();
        if !(1..=MAX_SCHEME_VERSION_LEN).contains(&len) {
            return Err(EvaluationBoundError::BadSchemeVersion(len));
        }
        let len = self.grade.len();
        if !(1..=MAX_GRADE_LEN).contains(&len) {
            return Err(EvaluationBoundError::BadGrade(len));
        }
        if self.subject.len() != USCC_LEN
            || !self
                .subject
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return Err(EvaluationBoundError::BadSubject);
        }
        if !is_calendar_date(&self.period_start) {
            return Err(EvaluationBoundError::BadDate {
                key: "period_start",
            });
        }
        if !is_calendar_date(&self.period_end) {
            return Err(EvaluationBoundError::BadDate { key: "period_end" });
        }
        // Same fixed-width format: byte order is date order.
        if self.period_end < self.period_start {
            return Err(EvaluationBoundError::PeriodReversed);
        }
        if self.valid_until_ms < self.issued_at_ms {
            return Err(EvaluationBoundError::ValidityReversed);
        }
        if let AttestationStatus::Revoked { reason } = &self.status {
            if !(1..=MAX_REASON_LEN).contains(&reason.len()) {
                return Err(EvaluationBoundError::BadReason(reason.len()));
            }
            if self.supersedes.is_none() {
                return Err(EvaluationBoundError::RevocationWithoutTarget);
            }
        }
        if self.supersedes == Some(self.attestation_id) {
            return Err(EvaluationBoundError::SupersedesItself);
        }
        Ok(())
    }
}

impl SignedAttestation {
    /// Check the attestation's bounds ([`EvaluationAttestation::validate`])
    /// and the signature's length. Does not verify the signature.
    pub fn validate(&self) -> Result<(), EvaluationBoundError> {
        let len = self.signature.bytes.len();
        if !(1..=MAX_SIGNATURE_LEN).contains(&len) {
            return Err(EvaluationBoundError::BadSignatureLength(len));
        }
        self.attestation.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SignatureAlgorithm;

    fn sample() -> SignedAttestation {
        SignedAttestation {
            attestation: EvaluationAttestation {
                attestation_id: [1; 16],
                issuer_region: "520000".parse().unwrap(),
                issuer_node: "gy-1".parse().unwrap(),
                scheme: Scheme::PublicCredit,
                scheme_version: "2024".into(),
                subject: "91520000MA6DKQ5X0B".into(),
                grade: "A".into(),
                period_start: "2025-01-01".into(),
                period_end: "2025-12-31".into(),
                issued_at_ms: 1_767_225_600_000,
                valid_until_ms: 1_798_761_599_000,
                status: AttestationStatus::Active,
                supersedes: None,
            },
            signature: Signature {
                algorithm: SignatureAlgorithm::Ed25519,
                bytes: vec![7; 64],
            },
        }
    }

    #[test]
    fn scheme_codes_round_trip() {
        for s in Scheme::ALL {
            assert_eq!(s.code().parse::<Scheme>().unwrap(), s);
            assert_eq!(s.to_string(), s.code());
        }
        assert_eq!(
            "credit".parse::<Scheme>().unwrap_err(),
            UnknownScheme("credit".into())
        );
    }

    #[test]
    fn scheme_wire_indices_are_stable() {
        // The postcard encoding of a unit variant is its index: part of the wire format.
        let bytes: Vec<u8> = Scheme::ALL
            .iter()
            .map(|s| crate::encode(s).unwrap()[0])
            .collect();
        assert_eq!(bytes, [0, 1, 2]);
    }

    #[test]
    fn a_valid_attestation_round_trips_through_postcard() {
        let mut s = sample();
        s.validate().unwrap();
        s.attestation.status = AttestationStatus::Revoked {
            reason: "异议成立".into(),
        };
        s.attestation.supersedes = Some([2; 16]);
        s.validate().unwrap();
        let bytes = crate::encode(&s).unwrap();
        let back: SignedAttestation = crate::decode(&bytes).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bounds_and_formats_are_enforced() {
        type E = EvaluationBoundError;
        type Case = (fn(&mut SignedAttestation), E);
        let cases: Vec<Case> = vec![
            (
                |s| s.attestation.scheme_version.clear(),
                E::BadSchemeVersion(0),
            ),
            (
                |s| s.attestation.scheme_version = "v".repeat(65),
                E::BadSchemeVersion(65),
            ),
            (|s| s.attestation.grade = "A".repeat(33), E::BadGrade(33)),
            (|s| s.attestation.grade.clear(), E::BadGrade(0)),
            (
                |s| s.attestation.subject = "91520000ma6dkq5x0b".into(),
                E::BadSubject,
            ),
            (|s| s.attestation.subject = "915200".into(), E::BadSubject),
            (
                |s| s.attestation.period_start = "2025-02-29".into(),
                E::BadDate {
                    key: "period_start",
                },
            ),
            (
                |s| s.attestation.period_end = "2025-13-01".into(),
                E::BadDate { key: "period_end" },
            ),
            (
                |s| s.attestation.period_end = "2025/12/31".into(),
                E::BadDate { key: "period_end" },
            ),
            (
                |s| s.attestation.period_end = "2024-12-31".into(),
                E::PeriodReversed,
            ),
            (
                |s| s.attestation.valid_until_ms = s.attestation.issued_at_ms - 1,
                E::ValidityReversed,
            ),
            (
                |s| {
                    s.attestation.status = AttestationStatus::Revoked {
                        reason: String::new(),
                    };
                    s.attestation.supersedes = Some([2; 16]);
                },
                E::BadReason(0),
            ),
            (
                |s| {
                    s.attestation.status = AttestationStatus::Revoked {
                        reason: "x".repeat(513),
                    };
                    s.attestation.supersedes = Some([2; 16]);
                },
                E::BadReason(513),
            ),
            (
                |s| {
                    s.attestation.status = AttestationStatus::Revoked {
                        reason: "wrong".into(),
                    }
                },
                E::RevocationWithoutTarget,
            ),
            (
                |s| s.attestation.supersedes = Some([1; 16]),
                E::SupersedesItself,
            ),
            (|s| s.signature.bytes.clear(), E::BadSignatureLength(0)),
            (
                |s| s.signature.bytes = vec![0; 129],
                E::BadSignatureLength(129),
            ),
        ];
        for (i, (break_it, expected)) in cases.into_iter().enumerate() {
            let mut s = sample();
            break_it(&mut s);
            assert_eq!(s.validate(), Err(expected), "case {i}");
        }
    }

    #[test]
    fn leap_days_are_calendar_dates() {
        assert!(is_calendar_date("2024-02-29") && is_calendar_date("2000-02-29"));
        assert!(!is_calendar_date("1900-02-29") && !is_calendar_date("2024-04-31"));
        assert!(!is_calendar_date("2024-00-10") && !is_calendar_date("2024-01-00"));
    }
}
