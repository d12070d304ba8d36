//! Subjects' rights (信用主体权益), the federation side: a recipient
//! taking in a correction of a record it received (marking its copy), and
//! the owner recording each recipient's signed acknowledgement as its
//! confirmation (经手必有责).
//!
//! Corrections carry the record's key only, so a recipient matches them
//! against what it holds by key; nothing in them is record data
//! (`credex_policies::egress::release_record_correction`).
//!
//! Cases about records — a subject's objection or repair application,
//! decided by the record's owner and marked on every region that received
//! the record — are [`cases`]'.

mod access;
mod cases;

pub use access::{
    ASKED_NS, AccessAsked, AccessRequested, PARTS_NS, PartReceived, REFUSED_NS, REQUESTS_NS,
    may_gather, part_key, request_key,
};
pub use cases::{
    CASES_NS, CaseMarkHeld, EVIDENCE_NS, FILED_NS, FiledRecordCase, MARKS_NS, RecordCase, case_key,
    case_reads, case_recipients, evidence_key, mark_key,
};

use credex_policies::HolidayCalendar;
use credex_policies::repair::RightsRules;
use credex_protocol::RegionCode;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow as FlowName};
use credex_protocol::rights::{
    AccessReportPart, AccessReportRequest, CaseFiling, CaseMark, RecordChange, RecordCorrection,
    kind,
};
use serde::{Deserialize, Serialize};

use crate::flow::{
    AckError, Context, CopyOf, Effect, Flow, Peer, Read, Refusal, Refused, StateKey, StateWrite,
    View, decode_body,
};

/// At a recipient: corrections received, `{owner}/{record hex}` →
/// [`CorrectionReceived`] (the latest per record).
pub const RECEIVED_NS: &str = "rights.corrections_received";
/// At a node that stores copies of other regions' records (the national
/// node): the copies to withdraw because their owner deleted or repaired
/// the record, [`received_key`] → the correction's `changed_at_ms`
/// (big-endian).
pub const COPIES_PENDING_NS: &str = "rights.copies_pending";
/// At the owner: each correction sent, [`sent_key`] → [`CorrectionTrack`].
pub const SENT_NS: &str = "rights.corrections_sent";

/// A correction this region received: its copy of the record is stale
/// (replaced) or gone (deleted) at the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionReceived {
    /// How the record changed.
    pub change: RecordChange,
    /// When it changed at the owner, Unix ms.
    pub changed_at_ms: i64,
    /// When the correction arrived, Unix ms.
    pub received_at_ms: i64,
}

/// A correction this region sent, and whether the recipient confirmed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionTrack {
    /// How the record changed.
    pub change: RecordChange,
    /// When it was queued, Unix ms.
    pub sent_at_ms: i64,
    /// The message id.
    pub message_id: [u8; 16],
    /// When the recipient's signed acknowledgement was taken in.
    pub confirmed_at_ms: Option<i64>,
    /// The recipient's reason, if it refused the correction.
    pub refused: Option<String>,
}

/// The [`SENT_NS`] key of the correction of `record` changed at
/// `changed_at_ms`, to `region`: record first, so a record's corrections
/// list together, in time order.
pub fn sent_key(record: &[u8; 32], changed_at_ms: i64, region: RegionCode) -> String {
    format!(
        "{}/{:020}/{region}",
        hex::encode(record),
        changed_at_ms.max(0)
    )
}

/// The [`RECEIVED_NS`] key of a correction of `record` from `owner`.
pub fn received_key(owner: RegionCode, record: &[u8; 32]) -> String {
    format!("{owner}/{}", hex::encode(record))
}

/// The rights flow of one node.
#[derive(Debug, Clone)]
pub struct Rights {
    region: RegionCode,
    calendar: HolidayCalendar,
    rules: RightsRules,
}

/// A rights message, decoded by its kind.
enum Message {
    Correction(RecordCorrection),
    Filing(CaseFiling),
    Mark(CaseMark),
    AccessRequest(AccessReportRequest),
    AccessPart(AccessReportPart),
}

impl Rights {
    /// The flow of a node of `region`, counting deadlines in `calendar`'s
    /// working days under `rules`.
    pub fn new(region: RegionCode, calendar: HolidayCalendar, rules: RightsRules) -> Rights {
        Rights {
            region,
            calendar,
            rules,
        }
    }

    /// The message `envelope` carries, refused when this region cannot
    /// take it from `from`.
    fn message(&self, from: &Peer, envelope: &Envelope) -> Result<Message, Refused> {
        if from.region == self.region {
            return Err(Refused::NotEntitled(
                "a region does not send rights messages to itself".into(),
            ));
        }
        match envelope.kind {
            kind::CORRECTION => decode_body(envelope, "record correction").map(Message::Correction),
            kind::CASE_FILING => decode_body(envelope, "case filing").map(Message::Filing),
            kind::CASE_MARK => decode_body(envelope, "case mark").map(Message::Mark),
            kind::ACCESS_REPORT_REQUEST => {
                decode_body(envelope, "access report request").map(Message::AccessRequest)
            }
            kind::ACCESS_REPORT_PART => {
                decode_body(envelope, "access report part").map(Message::AccessPart)
            }
            other => Err(Refused::UnknownKind {
                flow: FlowName::Rights,
                kind: other,
            }),
        }
    }

    /// A correction of a record the sender owns: kept unless an equally
    /// recent or newer one of the same record is held (corrections may
    /// arrive late, never go back).
    fn correction(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        c: RecordCorrection,
    ) -> Result<Effect, Refusal> {
        let key = received_key(from.region, &c.record);
        if let Some(held) = view.decoded::<CorrectionReceived>(RECEIVED_NS, &key)?
            && held.changed_at_ms > c.changed_at_ms
        {
            return Err(Refused::Stale(format!(
                "record {} of {} changed again at {}, after this correction",
                &hex::encode(c.record)[..16],
                from.region,
                held.changed_at_ms
            ))
            .into());
        }
        let received = CorrectionReceived {
            change: c.change,
            changed_at_ms: c.changed_at_ms,
            received_at_ms: cx.now_ms,
        };
        let mut state = vec![
            StateWrite::encoded(RECEIVED_NS, key.clone(), &received)
                .map_err(|e| Refusal::Transient(format!("cannot encode state: {e}")))?,
        ];
        // A copy stored here (the national node's, reported upward) of a
        // record its owner deleted or repaired is withdrawn by the node.
        let copy = CopyOf {
            owner: from.region,
            record: c.record,
        };
        let held =
            view.copy(&copy).is_some() || view.state(crate::upward::COPIES_NS, &key).is_some();
        if matches!(c.change, RecordChange::Deleted | RecordChange::Repaired) && held {
            state.push(StateWrite::put(
                COPIES_PENDING_NS,
                key,
                c.changed_at_ms.to_be_bytes().to_vec(),
            ));
        }
        Ok(Effect {
            state,
            summary: format!(
                "record {} of {} {}: the copy held here is marked",
                &hex::encode(c.record)[..16],
                from.region,
                c.change.code()
            ),
            ..Effect::default()
        })
    }
}

impl Flow for Rights {
    fn name(&self) -> FlowName {
        FlowName::Rights
    }

    fn reads(&self, from: &Peer, envelope: &Envelope) -> Result<Vec<Read>, Refusal> {
        Ok(match self.message(from, envelope)? {
            Message::Correction(c) => vec![
                Read::State(StateKey::new(
                    RECEIVED_NS,
                    received_key(from.region, &c.record),
                )),
                Read::Copy(CopyOf {
                    owner: from.region,
                    record: c.record,
                }),
                // Copies taken in before migration 9 (`upward::COPIES_NS`).
                Read::State(StateKey::new(
                    crate::upward::COPIES_NS,
                    received_key(from.region, &c.record),
                )),
            ],
            Message::Filing(f) => case_reads(&f.subject, &f.record),
            Message::Mark(m) => Rights::mark_reads(from.region, &m),
            Message::AccessRequest(r) => Rights::access_reads(from.region, &r.request, false),
            Message::AccessPart(p) => Rights::access_reads(from.region, &p.request, true),
        })
    }

    fn receive(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        match self.message(from, envelope)? {
            Message::Correction(c) => self.correction(cx, view, from, c),
            Message::Filing(f) => {
                self.open_case(cx.now_ms, view, f, envelope.message_id, from.region)
            }
            Message::Mark(m) => self.case_mark(cx.now_ms, view, from.region, m),
            Message::AccessRequest(r) => self.access_request(cx.now_ms, view, from.region, r),
            Message::AccessPart(p) => self.access_part(cx.now_ms, view, from.region, p),
        }
    }

    fn acknowledged_reads(&self, envelope: &Envelope, _ack: &DeliveryAck) -> Vec<Read> {
        if let Some(key) = sent_filing_key(envelope) {
            return vec![Read::State(StateKey::new(FILED_NS, key))];
        }
        match sent_correction(envelope) {
            Some(c) => vec![Read::State(StateKey::new(
                SENT_NS,
                sent_key(&c.record, c.changed_at_ms, envelope.to_region),
            ))],
            None => Vec::new(),
        }
    }

    /// The recipient confirmed (or refused) a correction: recorded on its
    /// track.
    fn acknowledged(
        &self,
        cx: &Context<'_>,
        view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError> {
        if envelope.kind == kind::ACCESS_REPORT_REQUEST {
            // A region that refuses to answer says why; the home region
            // shows it beside the parts.
            let request: Option<AccessReportRequest> =
                credex_protocol::decode(&envelope.payload).ok();
            return Ok(match (&ack.status, request) {
                (DeliveryStatus::Refused { reason }, Some(r)) => vec![StateWrite::put(
                    REFUSED_NS,
                    part_key(&r.request, envelope.to_region),
                    reason.clone().into_bytes(),
                )],
                _ => Vec::new(),
            });
        }
        if let Some(key) = sent_filing_key(envelope) {
            return match &ack.status {
                DeliveryStatus::Refused { reason } => {
                    Rights::filing_acknowledged(view, &key, reason).map_err(AckError)
                }
                _ => Ok(Vec::new()),
            };
        }
        // Only corrections are tracked besides; a payload this node cannot
        // read back was not made by this flow.
        let Some(c) = sent_correction(envelope) else {
            return Ok(Vec::new());
        };
        let key = sent_key(&c.record, c.changed_at_ms, envelope.to_region);
        let mut track = view
            .decoded::<CorrectionTrack>(SENT_NS, &key)
            .map_err(|e| AckError(format!("{SENT_NS}/{key}: {e:?}")))?
            .unwrap_or(CorrectionTrack {
                change: c.change,
                sent_at_ms: envelope.created_at_ms,
                message_id: envelope.message_id,
                confirmed_at_ms: None,
                refused: None,
            });
        match &ack.status {
            DeliveryStatus::Refused { reason } => track.refused = Some(reason.clone()),
            _ => track.confirmed_at_ms = Some(cx.now_ms),
        }
        let write = StateWrite::encoded(SENT_NS, key, &track)
            .map_err(|e| AckError(format!("cannot encode the correction track: {e}")))?;
        Ok(vec![write])
    }
}

/// The correction `envelope` (sent by this node) carries, if it is one.
fn sent_correction(envelope: &Envelope) -> Option<RecordCorrection> {
    (envelope.kind == kind::CORRECTION)
        .then(|| credex_protocol::decode(&envelope.payload).ok())
        .flatten()
}

/// The [`FILED_NS`] key of the case filing `envelope` (sent by this node)
/// carries, if it is one.
fn sent_filing_key(envelope: &Envelope) -> Option<String> {
    if envelope.kind != kind::CASE_FILING {
        return None;
    }
    let filing: CaseFiling = credex_protocol::decode(&envelope.payload).ok()?;
    Some(mark_key(filing.owner, &filing.record, &envelope.message_id))
}
