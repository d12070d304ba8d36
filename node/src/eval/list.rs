//! The operator's listing ([`list`], [`Listed`]): the results this node
//! issued (its region's current ones) and the results of other regions it
//! decided on, as stored.
//!
//! It shows what is stored, not what counts: the effective grade is
//! `effective`'s; issuing and recognising are `issue`'s, `found`'s and
//! `credex_flows::recognition`'s.

use credex_protocol::evaluation::{AttestationStatus, EvaluationAttestation, Scheme};
use serde::Serialize;

use super::{EvalError, ISSUED_NS, IssuedRecord, RECEIVED_NS, ReceivedRecord, stored};
use crate::storage::Storage;

/// One line of [`list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// `issued` (this region's current results) or `received`.
    pub kind: &'static str,
    /// The subject's USCC.
    pub subject: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The issuer region.
    pub issuer_region: String,
    /// The grade on the issuer's scale.
    pub grade: String,
    /// `active` or `revoked`.
    pub status: &'static str,
    /// Issued (Unix ms).
    pub issued_at_ms: i64,
    /// Valid until (Unix ms).
    pub valid_until_ms: i64,
    /// For received results: the decision when received.
    pub decision: Option<String>,
    /// For issued results: where pushed.
    pub pushed_to: Vec<String>,
}

/// The results this node issued and received (at most
/// [`crate::storage::MAX_STATE_SCAN`] of each).
pub async fn list(storage: &Storage) -> Result<Vec<Listed>, EvalError> {
    let mut out = Vec::new();
    for r in stored::<IssuedRecord>(storage, ISSUED_NS, "").await? {
        out.push(Listed {
            pushed_to: r.pushed_to.iter().map(|r| r.to_string()).collect(),
            ..Listed::of("issued", &r.result.attestation)
        });
    }
    for r in stored::<ReceivedRecord>(storage, RECEIVED_NS, "").await? {
        out.push(Listed {
            decision: Some(match (&r.decision.agreement, &r.decision.local_grade) {
                (Some(ag), Some(g)) => format!("recognised under {ag} as {g}"),
                _ => format!("not recognised: {}", r.decision.reason_code),
            }),
            ..Listed::of("received", &r.result.attestation)
        });
    }
    Ok(out)
}

impl Listed {
    /// The line of `kind` for `a`, with no decision and no pushes.
    fn of(kind: &'static str, a: &EvaluationAttestation) -> Listed {
        Listed {
            kind,
            subject: a.subject.clone(),
            scheme: a.scheme,
            issuer_region: a.issuer_region.to_string(),
            grade: a.grade.clone(),
            status: match a.status {
                AttestationStatus::Active => "active",
                AttestationStatus::Revoked { .. } => "revoked",
            },
            issued_at_ms: a.issued_at_ms,
            valid_until_ms: a.valid_until_ms,
            decision: None,
            pushed_to: Vec::new(),
        }
    }
}
