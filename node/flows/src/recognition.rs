//! Mutual recognition (互认), the receiving side: what a member decides on
//! another region's signed evaluation result, pushed to it or found in a
//! query response (docs/design.md §8, decision 0501).
//!
//! The decision is [`credex_policies::recognise`] under the node's
//! agreements, unless a newer result of the same issuer is already held for
//! the subject and scheme (then `superseded`, and nothing changes). The
//! issuing side (import, signing, pushes) and the effective grade are the
//! node's (`credex_node::eval`).

use credex_journal::{Origin, StoredDecision, subject_digest};
use credex_pki::TrustStore;
use credex_pki::authorization::verify_node_statement;
use credex_policies::{AgreementSet, RecognitionDecision, recognise};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::DOMAIN_EVAL_ATTESTATION;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow as FlowName};
use credex_protocol::query::SubjectRef;
use credex_protocol::recognition::{
    IssuedAttestation, RecognitionReply, ResultPush, kind as message_kind,
};
use serde::{Deserialize, Serialize};

use crate::calendar::unix_time;
use crate::flow::{
    AckError, Context, Effect, Flow, Peer, Read, Refusal, Refused, StateKey, StateWrite, View,
    decode_body,
};

/// Flow state: members that recognised a result of this region (key
/// `{scheme}/{subject}/{region}`, value the attestation id recognised).
pub const HOLDERS_NS: &str = "recognition.holders";
/// Flow state: results of other regions this node decided on (key
/// `{subject}/{scheme}/{issuer region}`, value [`ReceivedRecord`]).
pub const RECEIVED_NS: &str = "recognition.received";

/// A result of another region this node decided on (the latest one held
/// per issuer, subject and scheme).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRecord {
    /// The signed result.
    pub result: IssuedAttestation,
    /// The decision when it arrived.
    pub decision: StoredDecision,
    /// How it arrived.
    pub origin: Origin,
}

/// The [`RECEIVED_NS`] key of `result`.
pub fn received_key(result: &IssuedAttestation) -> StateKey {
    let a = &result.attestation;
    StateKey::new(
        RECEIVED_NS,
        format!("{}/{}/{}", a.subject, a.scheme, a.issuer_region),
    )
}

/// A recognition decision as stored and reported.
pub fn stored_decision(
    set: &AgreementSet,
    decision: &RecognitionDecision,
    now_ms: i64,
) -> StoredDecision {
    match decision {
        RecognitionDecision::Recognised {
            agreement,
            common_grade,
            local_grade,
            treatment,
            counts_until_ms,
        } => StoredDecision {
            recognised: true,
            reason_code: "recognised".into(),
            reason: String::new(),
            agreement: Some(agreement.clone()),
            common_grade: Some(common_grade.clone()),
            local_grade: Some(local_grade.clone()),
            supervision_tier: Some(treatment.supervision_tier.clone()),
            green_channel: treatment.green_channel,
            counts_until_ms: Some(*counts_until_ms),
            decided_at_ms: now_ms,
            agreement_set_hash: set.content_hash(),
        },
        RecognitionDecision::NotRecognised(reason) => refused_decision(
            reason.code(),
            reason.to_string(),
            set.content_hash(),
            now_ms,
        ),
    }
}

/// A decision not to recognise a result, for `code` and `reason`.
fn refused_decision(code: &str, reason: String, hash: [u8; 32], now_ms: i64) -> StoredDecision {
    StoredDecision {
        recognised: false,
        reason_code: code.into(),
        reason,
        agreement: None,
        common_grade: None,
        local_grade: None,
        supervision_tier: None,
        green_channel: false,
        counts_until_ms: None,
        decided_at_ms: now_ms,
        agreement_set_hash: hash,
    }
}

/// Verify `result`'s signature: a node certificate of the attestation's
/// issuer region, chaining to the federation root, naming the attestation's
/// issuer node, over [`DOMAIN_EVAL_ATTESTATION`] ‖ encode(attestation).
pub fn verify_attestation(
    trust: &TrustStore,
    result: &IssuedAttestation,
    now_ms: i64,
) -> Result<(), AttestationRejected> {
    result.validate().map_err(AttestationRejected::Invalid)?;
    let a = &result.attestation;
    let bytes = credex_protocol::encode(a).map_err(AttestationRejected::Encode)?;
    let (_, region, node) = verify_node_statement(
        DOMAIN_EVAL_ATTESTATION,
        &bytes,
        &result.issuer,
        trust,
        unix_time(now_ms),
        Some(a.issuer_region),
    )
    .map_err(AttestationRejected::Signature)?;
    if region != a.issuer_region || node != a.issuer_node {
        return Err(AttestationRejected::SignerMismatch {
            named: format!("{}/{}", a.issuer_region, a.issuer_node),
            signer: format!("{region}/{node}"),
        });
    }
    Ok(())
}

/// Why a signed evaluation result is not accepted: one variant per rule.
#[derive(Debug, thiserror::Error)]
pub enum AttestationRejected {
    /// The attestation breaks its own bounds (lengths, dates, codes).
    #[error("{0}")]
    Invalid(#[source] credex_protocol::recognition::IssuedBoundError),
    /// The attestation could not be re-encoded to check its signature.
    #[error("the attestation does not encode: {0}")]
    Encode(#[source] credex_protocol::FrameError),
    /// The signature does not verify under a node certificate of the
    /// issuer region chaining to the federation root.
    #[error("the attestation's signature does not verify: {0}")]
    Signature(#[source] credex_pki::authorization::ResponseError),
    /// The attestation names one issuer node and another signed it.
    #[error("the attestation names issuer {named}, but is signed by {signer}")]
    SignerMismatch {
        /// The issuer region/node the attestation names.
        named: String,
        /// The region/node whose certificate signed it.
        signer: String,
    },
}

/// What deciding on a result changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The state writes (none when superseded).
    pub writes: Vec<StateWrite>,
    /// The answer for the issuer.
    pub reply: RecognitionReply,
    /// The decision, as stored and journaled.
    pub decision: StoredDecision,
    /// The journal summary (digests and codes only).
    pub summary: String,
}

/// Decide on a verified `result`, given the result `held` from the same
/// issuer for the same subject and scheme. A result older than the held
/// one is answered `superseded` and changes nothing.
pub fn decide(
    agreements: &AgreementSet,
    region: RegionCode,
    held: Option<&ReceivedRecord>,
    result: &IssuedAttestation,
    origin: Origin,
    now_ms: i64,
) -> Result<Decided, credex_protocol::FrameError> {
    let a = &result.attestation;
    // Newer: a later issue time (then id), unless the incoming result
    // names the held one as the result it supersedes (a re-evaluation
    // dated earlier than a revocation still replaces it).
    let newer_held = held.is_some_and(|h| {
        let ha = &h.result.attestation;
        a.supersedes != Some(ha.attestation_id)
            && ((ha.issued_at_ms, ha.attestation_id) > (a.issued_at_ms, a.attestation_id)
                || ha.supersedes == Some(a.attestation_id))
    });
    let decision = if newer_held {
        refused_decision(
            "superseded",
            "a newer result of the issuer is held".into(),
            agreements.content_hash(),
            now_ms,
        )
    } else {
        stored_decision(
            agreements,
            &recognise(agreements, region, a, now_ms),
            now_ms,
        )
    };
    let mut writes = Vec::new();
    if !newer_held {
        let record = ReceivedRecord {
            result: result.clone(),
            decision: decision.clone(),
            origin,
        };
        let key = received_key(result);
        writes.push(StateWrite::encoded(key.ns, key.key, &record)?);
    }
    let summary = format!(
        "recognition: attestation {} issuer {}/{} scheme {} v{} subject {} grade {:?}{} → {}{}; agreements {}",
        hex::encode(a.attestation_id),
        a.issuer_region,
        a.issuer_node,
        a.scheme,
        a.scheme_version,
        hex::encode(subject_digest(&SubjectRef::LegalPerson(a.subject.clone()))),
        a.grade,
        a.supersedes
            .map(|s| format!(" supersedes {}", hex::encode(s)))
            .unwrap_or_default(),
        decision.reason_code,
        match (&decision.agreement, &decision.local_grade) {
            (Some(ag), Some(g)) => format!(" under {ag} as {g:?}"),
            _ if !decision.reason.is_empty() => format!(" ({})", decision.reason),
            _ => String::new(),
        },
        hex::encode(decision.agreement_set_hash),
    );
    let reply = RecognitionReply {
        attestation_id: a.attestation_id,
        recognised: decision.recognised,
        reason_code: decision.reason_code.clone(),
        agreement: decision.agreement.clone(),
        local_grade: decision.local_grade.clone(),
    };
    Ok(Decided {
        writes,
        reply,
        decision,
        summary,
    })
}

/// The recognition flow of one node: its region and the agreements it
/// applies.
#[derive(Debug, Clone)]
pub struct Recognition {
    region: RegionCode,
    agreements: AgreementSet,
}

impl Recognition {
    /// The flow of a node of `region` applying `agreements`.
    pub fn new(region: RegionCode, agreements: AgreementSet) -> Recognition {
        Recognition { region, agreements }
    }

    /// The agreements applied.
    pub fn agreements(&self) -> &AgreementSet {
        &self.agreements
    }

    fn push(envelope: &Envelope) -> Result<ResultPush, Refused> {
        if envelope.kind != message_kind::RESULT_PUSH {
            return Err(Refused::UnknownKind {
                flow: FlowName::Recognition,
                kind: envelope.kind,
            });
        }
        decode_body(envelope, "result push")
    }
}

impl Flow for Recognition {
    fn name(&self) -> FlowName {
        FlowName::Recognition
    }

    fn reads(&self, _from: &Peer, envelope: &Envelope) -> Result<Vec<Read>, Refusal> {
        let push = Recognition::push(envelope)?;
        Ok(vec![Read::State(received_key(&push.result))])
    }

    fn receive(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        let push = Recognition::push(envelope)?;
        verify_attestation(cx.trust, &push.result, cx.now_ms).map_err(|e| {
            Refused::NotVerified(format!(
                "attestation {} not accepted: {e}",
                hex::encode(push.result.attestation.attestation_id)
            ))
        })?;
        let key = received_key(&push.result);
        let held: Option<ReceivedRecord> = view.decoded(&key.ns, &key.key)?;
        let origin = Origin::Pushed {
            from: from.region,
            message_id: envelope.message_id,
        };
        let decided = decide(
            &self.agreements,
            self.region,
            held.as_ref(),
            &push.result,
            origin,
            cx.now_ms,
        )
        .map_err(|e| Refusal::Transient(format!("cannot encode the decision: {e}")))?;
        let relay = if from.region != push.result.attestation.issuer_region {
            format!(" (relayed by {})", from.region)
        } else {
            String::new()
        };
        Ok(Effect {
            state: decided.writes,
            reply: credex_protocol::encode(&decided.reply)
                .map_err(|e| Refusal::Transient(format!("the reply does not encode: {e}")))?,
            summary: format!("{}{relay}", decided.summary),
            ..Effect::default()
        })
    }

    fn acknowledged(
        &self,
        _cx: &Context<'_>,
        _view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError> {
        if envelope.kind != message_kind::RESULT_PUSH
            || matches!(ack.status, DeliveryStatus::Refused { .. })
        {
            return Ok(Vec::new());
        }
        let Ok(push) = credex_protocol::decode::<ResultPush>(&envelope.payload) else {
            return Ok(Vec::new());
        };
        // An unreadable or foreign reply records no holder: the result is
        // pushed again with its next change, and the holder answers then.
        let reply = match credex_protocol::decode::<RecognitionReply>(&ack.reply) {
            Ok(r) if r.validate().is_ok() => r,
            _ => return Ok(Vec::new()),
        };
        let a = &push.result.attestation;
        if !reply.recognised || reply.attestation_id != a.attestation_id {
            return Ok(Vec::new());
        }
        Ok(vec![StateWrite::put(
            HOLDERS_NS,
            format!("{}/{}/{}", a.scheme, a.subject, ack.receiver_region),
            a.attestation_id.to_vec(),
        )])
    }
}
