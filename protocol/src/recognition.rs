//! Messages of the mutual-recognition flow (信用评价结果互认, docs/design.md §8),
//! carried in a federation [`Envelope`](crate::federation::Envelope) of
//! [`Flow::Recognition`](crate::federation::Flow::Recognition).
//!
//! An issued result travels as an [`IssuedAttestation`]: the
//! [`EvaluationAttestation`] with the issuer node's [`SignerProof`] (its
//! signature over [`DOMAIN_EVAL_ATTESTATION`] ‖ postcard(attestation) and
//! its certificate chain), so that anyone holding the federation root can
//! verify it offline — the receiver of a push, the requester who found it
//! in a query response, an auditor years later — whoever relayed it.
//!
//! One message kind so far: [`kind::RESULT_PUSH`], an issuer telling a
//! member of a new, updated or revoked result; the member answers in the
//! acknowledgement's reply with its [`RecognitionReply`].

use serde::{Deserialize, Serialize};

use crate::evaluation::{EvaluationAttestation, EvaluationBoundError};
use crate::query::{QueryBoundError, SignerProof};

pub use crate::evaluation::DOMAIN_EVAL_ATTESTATION;

/// Longest reason code in a [`RecognitionReply`], in bytes.
pub const MAX_REASON_CODE_LEN: usize = 64;
/// Longest text field (agreement code, grades) in a [`RecognitionReply`].
pub const MAX_REPLY_TEXT_LEN: usize = 128;

/// Message kinds of the recognition flow (`Envelope.kind`). Never reuse one.
pub mod kind {
    /// A [`super::ResultPush`]: a new, updated or revoked result.
    pub const RESULT_PUSH: u16 = 1;
}

/// An evaluation attestation with its issuer node's signature and chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedAttestation {
    /// The result.
    pub attestation: EvaluationAttestation,
    /// The issuer node's signature over [`DOMAIN_EVAL_ATTESTATION`] ‖
    /// postcard(attestation), with its certificate chain (leaf first).
    pub issuer: SignerProof,
}

/// A bound an [`IssuedAttestation`] breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuedBoundError {
    /// The attestation breaks a bound or format rule.
    #[error("attestation: {0}")]
    Attestation(#[from] EvaluationBoundError),
    /// The issuer's proof breaks a bound.
    #[error("issuer proof: {0}")]
    Proof(#[from] QueryBoundError),
}

impl IssuedAttestation {
    /// Check the bounds decoding alone does not. Does not verify the
    /// signature (that needs the trust store: `credex_pki`).
    pub fn validate(&self) -> Result<(), IssuedBoundError> {
        self.attestation.validate()?;
        self.issuer.validate()?;
        Ok(())
    }
}

/// Payload of a [`kind::RESULT_PUSH`] message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultPush {
    /// The result pushed.
    pub result: IssuedAttestation,
}

/// The member's recognition decision, returned in the acknowledgement's
/// reply to a [`ResultPush`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecognitionReply {
    /// The attestation decided on.
    pub attestation_id: [u8; 16],
    /// Whether the member recognises it now.
    pub recognised: bool,
    /// `recognised`, or the reason code it is not
    /// (`credex_policies::NotRecognisedReason::code`, or `superseded` when
    /// the member already holds a newer result of the issuer).
    pub reason_code: String,
    /// The agreement it is recognised under.
    pub agreement: Option<String>,
    /// The grade on the member's own scale.
    pub local_grade: Option<String>,
}

impl RecognitionReply {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), ReplyBoundError> {
        if self.reason_code.is_empty() || self.reason_code.len() > MAX_REASON_CODE_LEN {
            return Err(ReplyBoundError::ReasonCode(self.reason_code.len()));
        }
        for (field, text) in [
            ("agreement", &self.agreement),
            ("local_grade", &self.local_grade),
        ] {
            if let Some(len) = text.as_ref().map(String::len)
                && len > MAX_REPLY_TEXT_LEN
            {
                return Err(ReplyBoundError::TooLong { field, len });
            }
        }
        Ok(())
    }
}

/// A bound a decoded [`RecognitionReply`] breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyBoundError {
    /// The reason code is empty or longer than [`MAX_REASON_CODE_LEN`].
    #[error("reason_code is {0} bytes; it must be 1 to {MAX_REASON_CODE_LEN}")]
    ReasonCode(usize),
    /// A text field is longer than [`MAX_REPLY_TEXT_LEN`].
    #[error("{field} is {len} bytes, longer than {MAX_REPLY_TEXT_LEN}")]
    TooLong {
        /// `agreement` or `local_grade`.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::{AttestationStatus, Scheme};
    use crate::ids::{Signature, SignatureAlgorithm};

    fn sample() -> ResultPush {
        ResultPush {
            result: IssuedAttestation {
                attestation: EvaluationAttestation {
                    attestation_id: [1; 16],
                    issuer_region: "520000".parse().expect("region"),
                    issuer_node: "gy-1".parse().expect("node"),
                    scheme: Scheme::PublicCredit,
                    scheme_version: "2024".into(),
                    subject: "91520000MA6DKQ5X0B".into(),
                    grade: "优".into(),
                    period_start: "2025-01-01".into(),
                    period_end: "2025-12-31".into(),
                    issued_at_ms: 1,
                    valid_until_ms: 2,
                    status: AttestationStatus::Active,
                    supersedes: None,
                },
                issuer: SignerProof {
                    chain: vec![vec![0; 10]],
                    signature: Signature {
                        algorithm: SignatureAlgorithm::Ed25519,
                        bytes: vec![7; 64],
                    },
                },
            },
        }
    }

    #[test]
    fn push_round_trips_and_is_bounded() {
        let p = sample();
        p.result.validate().expect("valid");
        let back: ResultPush = crate::decode(&crate::encode(&p).expect("encode")).expect("decode");
        assert_eq!(back, p);
        let mut bad = p.clone();
        bad.result.attestation.grade.clear();
        assert!(matches!(
            bad.result.validate(),
            Err(IssuedBoundError::Attestation(_))
        ));
        let mut bad = p;
        bad.result.issuer.chain.clear();
        assert!(matches!(
            bad.result.validate(),
            Err(IssuedBoundError::Proof(_))
        ));
    }

    #[test]
    fn reply_bounds() {
        let mut r = RecognitionReply {
            attestation_id: [0; 16],
            recognised: true,
            reason_code: "recognised".into(),
            agreement: Some("chongqing-guizhou".into()),
            local_grade: Some("B".into()),
        };
        assert!(r.validate().is_ok());
        r.reason_code.clear();
        assert_eq!(r.validate(), Err(ReplyBoundError::ReasonCode(0)));
        r.reason_code = "x".repeat(MAX_REASON_CODE_LEN + 1);
        assert_eq!(
            r.validate(),
            Err(ReplyBoundError::ReasonCode(MAX_REASON_CODE_LEN + 1))
        );
        r.reason_code = "recognised".into();
        r.local_grade = Some("B".repeat(MAX_REPLY_TEXT_LEN + 1));
        assert_eq!(
            r.validate(),
            Err(ReplyBoundError::TooLong {
                field: "local_grade",
                len: MAX_REPLY_TEXT_LEN + 1
            })
        );
        r.local_grade = Some("B".repeat(MAX_REPLY_TEXT_LEN));
        assert!(r.validate().is_ok());
    }
}
