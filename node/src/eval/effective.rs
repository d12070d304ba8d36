//! The effective grade ([`effective`]): a subject's grade and treatment
//! per scheme at a given time, with every input and its provenance
//! ([`Effective`], [`SchemeEffective`], [`Input`]).
//!
//! A local result that is in force beats any recognised one; among
//! recognised results that count now (each re-decided with the current
//! clock), the most recently issued wins (ties: the lower issuer region
//! code). It only reads: issuing results is `issue`'s, deciding on them
//! when they arrive is `credex_flows::recognition`'s and `found`'s, and the
//! plain listing of results is `list`'s.

use credex_journal::Origin;
use credex_policies::{
    AgreementSet, NotRecognisedReason, RecognitionDecision, Treatment, Uscc, recognise,
};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::{AttestationStatus, EvaluationAttestation, Scheme};
use serde::Serialize;

use super::issue::current_issued;
use super::{EvalError, IssuedRecord, RECEIVED_NS, ReceivedRecord, stored};
use crate::storage::Storage;

/// One input of an effective-grade answer, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    /// `local` (this region's own result) or `recognised`.
    pub source: &'static str,
    /// The attestation's id (hex).
    pub attestation_id: String,
    /// The issuing region.
    pub issuer_region: String,
    /// The issuing node.
    pub issuer_node: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme version.
    pub scheme_version: String,
    /// The grade on the issuer's scale.
    pub grade: String,
    /// The grade on the agreement's common scale.
    pub common_grade: Option<String>,
    /// The grade on this region's scale.
    pub local_grade: Option<String>,
    /// The agreement applied.
    pub agreement: Option<String>,
    /// When issued (Unix ms).
    pub issued_at_ms: i64,
    /// Until when it counts (Unix ms, inclusive).
    pub counts_until_ms: Option<i64>,
    /// Whether it counts now.
    pub counts: bool,
    /// `counts`, or why not (a reason code).
    pub status: String,
    /// How it reached this node: `issued here`, `pushed by R` or `query`.
    pub via: String,
}

/// The effective result for one scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemeEffective {
    /// The scheme.
    pub scheme: Scheme,
    /// The grade on this region's scale, if any input counts.
    pub grade: Option<String>,
    /// Its common grade.
    pub common_grade: Option<String>,
    /// The supervision tier granted.
    pub supervision_tier: Option<String>,
    /// Whether the green channel is granted.
    pub green_channel: bool,
    /// The index in `inputs` of the input that decides.
    pub decided_by: Option<usize>,
    /// Every input, local first, then recognised by issue time (newest first).
    pub inputs: Vec<Input>,
}

/// A subject's effective grades here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// This region.
    pub region: String,
    /// Evaluated at (Unix ms).
    pub at_ms: i64,
    /// Per scheme with at least one input.
    pub schemes: Vec<SchemeEffective>,
}

/// (agreement code, common grade, treatment) of a local result.
type LocalTreatment = (String, String, Treatment);

/// The treatment of `grade` (on `region`'s scale) for a local result: the
/// common grade and treatment of the most specific agreement that gives
/// `region` a scale for the scheme.
fn local_treatment(
    set: &AgreementSet,
    region: RegionCode,
    scheme: Scheme,
    grade: &str,
) -> Option<LocalTreatment> {
    let mut agreements: Vec<_> = set
        .iter()
        .filter(|a| a.has_member(region) && a.schemes.contains_key(&scheme))
        .collect();
    agreements.sort_by(|x, y| {
        x.members
            .len()
            .cmp(&y.members.len())
            .then_with(|| x.code.cmp(&y.code))
    });
    agreements.into_iter().find_map(|a| {
        let terms = a.schemes.get(&scheme)?;
        let common = terms.members.get(&region)?.to_common.get(grade)?;
        let t = terms.treatments.get(common)?;
        Some((a.code.clone(), common.clone(), t.clone()))
    })
}

/// The subject's effective grade and treatment per scheme at `now_ms`
/// (precedence in the module documentation).
pub async fn effective(
    storage: &Storage,
    agreements: &AgreementSet,
    region: RegionCode,
    subject: &str,
    now_ms: i64,
) -> Result<Effective, EvalError> {
    let uscc = Uscc::parse(subject).map_err(|e| EvalError::Invalid(format!("subject: {e}")))?;
    let subject = uscc.as_str();
    let received: Vec<ReceivedRecord> =
        stored(storage, RECEIVED_NS, &format!("{subject}/")).await?;
    let mut schemes = Vec::new();
    for scheme in Scheme::ALL {
        let own = current_issued(storage, scheme, subject).await?;
        let by_scheme = Inputs {
            agreements,
            region,
            scheme,
            now_ms,
        };
        if let Some(eff) = by_scheme.effective(own.as_ref(), &received) {
            schemes.push(eff);
        }
    }
    Ok(Effective {
        region: region.to_string(),
        at_ms: now_ms,
        schemes,
    })
}

/// The input that decides a scheme's effective result, and what it grants.
struct Decider {
    /// Its index in the inputs.
    index: usize,
    /// The grade on this region's scale.
    grade: String,
    /// Its common grade, if known.
    common_grade: Option<String>,
    /// The treatment, if known.
    treatment: Option<Treatment>,
}

/// What a scheme's inputs are weighed against: the agreements, this
/// region, the scheme and the time.
struct Inputs<'a> {
    agreements: &'a AgreementSet,
    region: RegionCode,
    scheme: Scheme,
    now_ms: i64,
}

impl Inputs<'_> {
    /// The scheme's effective result from this region's own result and the
    /// received ones (of every scheme); `None` if there is no input.
    fn effective(
        &self,
        own: Option<&IssuedRecord>,
        received: &[ReceivedRecord],
    ) -> Option<SchemeEffective> {
        let mut inputs = Vec::new();
        let mut local_best = None;
        if let Some(own) = own {
            let (input, best) = self.local(&own.result.attestation);
            inputs.push(input);
            local_best = best;
        }
        let mut recognised_best = None;
        for (r, decision) in self.recognised_now(received) {
            let (input, best) = self.recognised(r, decision, inputs.len());
            if recognised_best.is_none() {
                recognised_best = best;
            }
            inputs.push(input);
        }
        if inputs.is_empty() {
            return None;
        }
        Some(decided(self.scheme, inputs, local_best.or(recognised_best)))
    }

    /// This region's own result as input 0, and the decider if it is in
    /// force now.
    fn local(&self, a: &EvaluationAttestation) -> (Input, Option<Decider>) {
        let status = local_status(a, self.now_ms);
        let treat = local_treatment(self.agreements, self.region, self.scheme, &a.grade);
        let mut input = Input::of("local", self.scheme, a, "issued here".into());
        input.common_grade = treat.as_ref().map(|t| t.1.clone());
        input.local_grade = Some(a.grade.clone());
        input.agreement = treat.as_ref().map(|t| t.0.clone());
        input.counts_until_ms = Some(a.valid_until_ms);
        input.counts = status == "counts";
        input.status = status.into();
        let best = (status == "counts").then(|| Decider {
            index: 0,
            grade: a.grade.clone(),
            common_grade: treat.as_ref().map(|t| t.1.clone()),
            treatment: treat.map(|t| t.2),
        });
        (input, best)
    }

    /// The received results of the scheme, each decided again at `now_ms`,
    /// the most recently issued first (ties: the lower issuer region).
    fn recognised_now<'r>(
        &self,
        received: &'r [ReceivedRecord],
    ) -> Vec<(&'r ReceivedRecord, RecognitionDecision)> {
        let mut recog: Vec<(&ReceivedRecord, RecognitionDecision)> = received
            .iter()
            .filter(|r| r.result.attestation.scheme == self.scheme)
            .map(|r| {
                (
                    r,
                    recognise(
                        self.agreements,
                        self.region,
                        &r.result.attestation,
                        self.now_ms,
                    ),
                )
            })
            .collect();
        recog.sort_by(|(x, _), (y, _)| {
            let (x, y) = (&x.result.attestation, &y.result.attestation);
            y.issued_at_ms
                .cmp(&x.issued_at_ms)
                .then_with(|| x.issuer_region.cmp(&y.issuer_region))
        });
        recog
    }

    /// A received result as the input at `index`, and the decider if it
    /// counts now.
    fn recognised(
        &self,
        r: &ReceivedRecord,
        decision: RecognitionDecision,
        index: usize,
    ) -> (Input, Option<Decider>) {
        let a = &r.result.attestation;
        let via = match &r.origin {
            Origin::Pushed { from, .. } => format!("pushed by {from}"),
            Origin::Query { .. } => "query".into(),
        };
        let mut input = Input::of("recognised", self.scheme, a, via);
        let mut best = None;
        match decision {
            RecognitionDecision::Recognised {
                agreement,
                common_grade,
                local_grade,
                treatment,
                counts_until_ms,
            } => {
                input.common_grade = Some(common_grade.clone());
                input.local_grade = Some(local_grade.clone());
                input.agreement = Some(agreement);
                input.counts_until_ms = Some(counts_until_ms);
                input.counts = true;
                input.status = "counts".into();
                best = Some(Decider {
                    index,
                    grade: local_grade,
                    common_grade: Some(common_grade),
                    treatment: Some(treatment),
                });
            }
            RecognitionDecision::NotRecognised(reason) => {
                input.status = reason.code().into();
                if let NotRecognisedReason::Expired { valid_until_ms } = reason {
                    input.counts_until_ms = Some(valid_until_ms);
                }
            }
        }
        (input, best)
    }
}

impl Input {
    /// An input of `source` from `a` that does not count (yet): what every
    /// input says about the attestation.
    fn of(source: &'static str, scheme: Scheme, a: &EvaluationAttestation, via: String) -> Input {
        Input {
            source,
            attestation_id: hex::encode(a.attestation_id),
            issuer_region: a.issuer_region.to_string(),
            issuer_node: a.issuer_node.to_string(),
            scheme,
            scheme_version: a.scheme_version.clone(),
            grade: a.grade.clone(),
            common_grade: None,
            local_grade: None,
            agreement: None,
            issued_at_ms: a.issued_at_ms,
            counts_until_ms: None,
            counts: false,
            status: String::new(),
            via,
        }
    }
}

/// Where this region's own result stands at `now_ms`: `revoked`,
/// `not_yet_valid`, `expired` or `counts`.
fn local_status(a: &EvaluationAttestation, now_ms: i64) -> &'static str {
    if matches!(a.status, AttestationStatus::Revoked { .. }) {
        "revoked"
    } else if now_ms < a.issued_at_ms {
        "not_yet_valid"
    } else if now_ms > a.valid_until_ms {
        "expired"
    } else {
        "counts"
    }
}

/// The scheme's effective result: `inputs`, with what `decider` (if any)
/// grants.
fn decided(scheme: Scheme, inputs: Vec<Input>, decider: Option<Decider>) -> SchemeEffective {
    let mut eff = SchemeEffective {
        scheme,
        grade: None,
        common_grade: None,
        supervision_tier: None,
        green_channel: false,
        decided_by: None,
        inputs,
    };
    if let Some(d) = decider {
        eff.decided_by = Some(d.index);
        eff.grade = Some(d.grade);
        eff.common_grade = d.common_grade;
        if let Some(t) = d.treatment {
            eff.supervision_tier = Some(t.supervision_tier);
            eff.green_channel = t.green_channel;
        }
    }
    eff
}
