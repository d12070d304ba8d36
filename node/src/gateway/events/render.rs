//! Which journal entries are events, and how each reads: a received
//! federation message that was applied, with its payload as the sender's
//! gate released it; a recognition decision; another region's query
//! answered. Everything else (the node's own bookkeeping, sends,
//! refusals) is not an event.

use credex_journal::{
    AccessEntry, Direction, MessageReceived, ReceivedOutcome, RecognitionDecided, kind,
};
use credex_protocol::federation::{Flow, SignedEnvelope};
use credex_protocol::query::SubjectRef;
use credex_protocol::{codec, lists, recognition, rights, upward};
use serde_json::{Value, json};

use super::{Event, Origin};
use crate::storage::{JournalRecord, Storage, StorageError};

/// The event a journal record is, if it is one.
pub async fn render(
    storage: &Storage,
    record: &JournalRecord,
) -> Result<Option<Event>, StorageError> {
    let event = |kind: &str, from: Option<Origin>, summary: String, details: Option<Value>| Event {
        cursor: (record.seq + 1).to_string(),
        at_ms: record.recorded_at_unix_ms,
        kind: kind.to_owned(),
        from,
        summary,
        details,
    };
    match record.kind {
        kind::MESSAGE_RECEIVED => {
            let Ok(m) = credex_journal::decode::<MessageReceived>(record.kind, &record.body) else {
                return Ok(None);
            };
            if m.outcome != ReceivedOutcome::Applied {
                return Ok(None);
            }
            let Some(name) = message_event(m.flow, m.message_kind) else {
                return Ok(None);
            };
            let details = match storage
                .entry_attachment(record.seq, &m.message_digest)
                .await?
            {
                Some(bytes) => payload_details(&bytes),
                None => None,
            };
            let from = Origin {
                region: m.from_region.to_string(),
                node: m.from_node.to_string(),
            };
            Ok(Some(event(name, Some(from), m.summary, details)))
        }
        kind::RECOGNITION_DECIDED => {
            let Ok(d) = credex_journal::decode::<RecognitionDecided>(record.kind, &record.body)
            else {
                return Ok(None);
            };
            let summary = if d.decision.recognised {
                format!(
                    "result {} of region {} recognised",
                    hex::encode(d.attestation_id),
                    d.issuer_region
                )
            } else {
                format!(
                    "result {} of region {} not recognised: {}",
                    hex::encode(d.attestation_id),
                    d.issuer_region,
                    d.decision.reason_code
                )
            };
            let details = serde_json::to_value(&d.decision).ok();
            Ok(Some(event("recognition.decided", None, summary, details)))
        }
        kind::UPWARD_DEADLINE_AT_RISK => {
            let Ok(r) = credex_journal::decode::<credex_journal::UpwardDeadlineAtRisk>(
                record.kind,
                &record.body,
            ) else {
                return Ok(None);
            };
            let summary = format!(
                "upward batch {}: {} record(s) {} their 7-working-day deadline {} without the national platform's acknowledgement",
                r.seq,
                r.records_at_risk,
                if r.missed { "missed" } else { "reach" },
                r.earliest_deadline
            );
            let details = json!({
                "batch_seq": r.seq,
                "records_at_risk": r.records_at_risk,
                "earliest_deadline": r.earliest_deadline,
                "missed": r.missed,
            });
            Ok(Some(event(
                "upward.deadline_at_risk",
                None,
                summary,
                Some(details),
            )))
        }
        kind::PROCEDURE_OVERDUE => {
            let Ok(o) = credex_journal::decode::<credex_journal::ProcedureOverdue>(
                record.kind,
                &record.body,
            ) else {
                return Ok(None);
            };
            let summary = format!(
                "{} {} about {}: the {} deadline {} passed unanswered",
                o.procedure.code(),
                hex::encode(o.case),
                o.about,
                o.missed.code(),
                o.deadline
            );
            let mut details = json!({
                "procedure": o.procedure.code(),
                "case": hex::encode(o.case),
                "missed": o.missed.code(),
                "deadline": o.deadline,
                "national_told": o.national_message.is_some(),
            });
            if let Some(d) = details.as_object_mut() {
                d.extend(about_json(&o.about));
            }
            let kind = match o.about {
                lists::CaseAbout::Entry(_) => "list.procedure_overdue",
                lists::CaseAbout::Record { .. } => "record.case_overdue",
            };
            Ok(Some(event(kind, None, summary, Some(details))))
        }
        kind::QUERY_RECEIVED => {
            let Ok(a) = credex_journal::decode::<AccessEntry>(record.kind, &record.body) else {
                return Ok(None);
            };
            if a.direction != Direction::Received {
                return Ok(None);
            }
            Ok(Some(query_answered(&a, event)))
        }
        _ => Ok(None),
    }
}

fn query_answered(
    a: &AccessEntry,
    event: impl Fn(&str, Option<Origin>, String, Option<Value>) -> Event,
) -> Event {
    let outcome = format!("{:?}", a.outcome).to_lowercase();
    let released: Vec<String> = a
        .released
        .iter()
        .flat_map(|c| c.fields.iter().map(move |f| format!("{}.{f}", c.category)))
        .collect();
    let from = Origin {
        region: a.requester_region.to_string(),
        node: a.requester_node.to_string(),
    };
    let summary = format!(
        "query from {}/{} for purpose {}: {outcome}, {} field(s) released",
        a.requester_region,
        a.requester_node,
        a.purpose,
        released.len()
    );
    let officers: Vec<String> = [&a.requester_officer, &a.approver_officer]
        .into_iter()
        .flatten()
        .map(|o| o.identity.clone())
        .collect();
    let details = json!({
        "purpose": a.purpose,
        "outcome": outcome,
        "subject_digest": hex::encode(a.subject_digest),
        "released": released,
        "officers": officers,
    });
    event("query.answered", Some(from), summary, Some(details))
}

/// The event name of an applied message of `flow` and `kind`.
fn message_event(flow: Flow, kind: u16) -> Option<&'static str> {
    Some(match (flow, kind) {
        (Flow::Lists, lists::kind::LISTING) => "list.entry_received",
        (Flow::Lists, lists::kind::FEEDBACK) => "list.feedback_received",
        (Flow::Lists, lists::kind::CHANGE) => "list.entry_changed",
        (Flow::Lists, lists::kind::CHANGE_CONFIRMED) => "list.change_confirmed",
        (Flow::Lists, lists::kind::OBJECTION) => "list.objection_received",
        (Flow::Lists, lists::kind::PROCEDURE_MARK) => "list.procedure_marked",
        (Flow::Lists, lists::kind::REPAIR_APPLICATION) => "list.repair_application_received",
        (Flow::Recognition, recognition::kind::RESULT_PUSH) => "recognition.result_received",
        (Flow::Upward, upward::KIND_BATCH) => "upward.batch_received",
        (Flow::Upward, upward::KIND_PROCEDURE_OVERDUE) => "upward.procedure_overdue",
        (Flow::Rights, rights::kind::CORRECTION) => "record.correction_received",
        (Flow::Rights, rights::kind::CASE_FILING) => "record.case_filed",
        (Flow::Rights, rights::kind::CASE_MARK) => "record.case_marked",
        _ => return None,
    })
}

/// The payload of a kept signed envelope, as JSON: the fields its sender's
/// egress gate released (signatures and certificate chains left out).
fn payload_details(envelope: &[u8]) -> Option<Value> {
    let signed: SignedEnvelope = codec::decode(envelope).ok()?;
    let e = &signed.envelope;
    let p = &e.payload;
    match (e.flow, e.kind) {
        (Flow::Lists, lists::kind::LISTING) => to_json(codec::decode::<lists::ListEntry>(p)),
        (Flow::Lists, lists::kind::FEEDBACK) => to_json(codec::decode::<lists::Feedback>(p)),
        (Flow::Lists, lists::kind::CHANGE) => to_json(codec::decode::<lists::EntryChange>(p)),
        (Flow::Lists, lists::kind::CHANGE_CONFIRMED) => {
            to_json(codec::decode::<lists::ChangeConfirmed>(p))
        }
        (Flow::Lists, lists::kind::OBJECTION) => to_json(codec::decode::<lists::Objection>(p)),
        (Flow::Lists, lists::kind::PROCEDURE_MARK) => {
            to_json(codec::decode::<lists::ProcedureMark>(p))
        }
        (Flow::Lists, lists::kind::REPAIR_APPLICATION) => {
            // The evidence files stay in the node (`credex lists evidence`):
            // the event names them and their digests.
            let a: lists::RepairApplication = codec::decode(p).ok()?;
            Some(json!({
                "entry": a.entry.to_string(),
                "statement": a.statement,
                "evidence": evidence_json(&a.evidence),
            }))
        }
        (Flow::Recognition, recognition::kind::RESULT_PUSH) => {
            let push: recognition::ResultPush = codec::decode(p).ok()?;
            serde_json::to_value(&push.result.attestation).ok()
        }
        (Flow::Upward, upward::KIND_BATCH) => {
            let batch: upward::UpwardBatch = codec::decode(p).ok()?;
            Some(json!({ "records": batch.records.len() }))
        }
        (Flow::Upward, upward::KIND_PROCEDURE_OVERDUE) => {
            let n: upward::ProcedureOverdueNotice = codec::decode(p).ok()?;
            let mut details = json!({
                "procedure": n.procedure.code(),
                "case": hex::encode(n.case),
                "filed_in": n.filed_in.to_string(),
                "late": n.about.decider().to_string(),
                "missed": n.missed.code(),
                "deadline": n.deadline,
            });
            details.as_object_mut()?.extend(about_json(&n.about));
            Some(details)
        }
        (Flow::Rights, rights::kind::CORRECTION) => {
            let c: rights::RecordCorrection = codec::decode(p).ok()?;
            Some(json!({
                "record": hex::encode(c.record),
                "change": c.change.code(),
                "changed_at_ms": c.changed_at_ms,
            }))
        }
        (Flow::Rights, rights::kind::CASE_FILING) => {
            // As with list repairs, the evidence files stay in the node
            // (`credex records evidence`).
            let f: rights::CaseFiling = codec::decode(p).ok()?;
            let subject = match &f.subject {
                SubjectRef::LegalPerson(code) => code.clone(),
                SubjectRef::NaturalPerson(p) => p.to_string(),
            };
            Some(json!({
                "procedure": f.procedure.code(),
                "record": hex::encode(f.record),
                "subject": subject,
                "statement": f.statement,
                "evidence": evidence_json(&f.evidence),
            }))
        }
        (Flow::Rights, rights::kind::CASE_MARK) => {
            let m: rights::CaseMark = codec::decode(p).ok()?;
            Some(json!({
                "procedure": m.procedure.code(),
                "record": hex::encode(m.record),
                "case": hex::encode(m.case),
                "filed_in": m.filed_in.to_string(),
                "stage": m.stage.code(),
                "pending": m.stage.pending().then(|| m.procedure.pending_zh()),
                "accept_by": m.accept_by,
                "decide_by": m.decide_by,
                "note": m.note,
            }))
        }
        _ => None,
    }
}

/// What a case is about, as event fields: `entry`, or `owner` and
/// `record` (the key's hex).
fn about_json(about: &lists::CaseAbout) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    match about {
        lists::CaseAbout::Entry(id) => {
            out.insert("entry".into(), json!(id.to_string()));
        }
        lists::CaseAbout::Record { owner, record } => {
            out.insert("owner".into(), json!(owner.to_string()));
            out.insert("record".into(), json!(hex::encode(record)));
        }
    }
    out
}

/// Evidence files as an event names them: kind, title, digest and size,
/// never their bytes.
fn evidence_json(evidence: &[lists::Evidence]) -> Vec<Value> {
    evidence
        .iter()
        .map(|e| {
            json!({
                "kind": e.kind.code(),
                "title": e.title,
                "sha256": hex::encode(e.digest),
                "bytes": e.content.len(),
            })
        })
        .collect()
}

fn to_json<T: serde::Serialize, E>(decoded: Result<T, E>) -> Option<Value> {
    serde_json::to_value(decoded.ok()?).ok()
}
