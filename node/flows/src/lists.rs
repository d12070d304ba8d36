//! Joint reward/punishment lists (联合奖惩名单), the receiving side: what a
//! node decides on another region's lists message (docs/design.md §9,
//! decision 0502) — a new listing held, a change applied and its
//! confirmation queued to the origin, and, at the origin, feedback, a
//! change confirmation and an objection recorded — and what it records
//! when another region acknowledges one of its own lists messages.
//!
//! Every decision is checked against the sender, the agreements, the
//! measures catalogue, the catalogue and what was sent, and returned as
//! state writes and gate-released follow-ups ([`Lists`]). The entry rules
//! the origin applies before sending are the same functions
//! ([`check_entry`], [`check_measures`]).
//!
//! Does not own: the operator's side (making, changing and sending
//! entries, giving feedback, routing objections), entry status, reading
//! the store — all the node's (`credex_node::lists`).

use credex_policies::egress::{list_type, release_change_confirmed};
use credex_policies::repair::{Deadlines, RightsRules};
use credex_policies::{
    AgreementSet, Catalogue, HolidayCalendar, ListType, MeasuresCatalogue, Uscc,
};
use credex_protocol::RegionCode;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow as FlowName};
use credex_protocol::lists::{
    ChangeConfirmed, EntryChange, EntryId, Feedback, ListEntry, Objection, Procedure,
    ProcedureMark, RepairApplication, kind as msg,
};
use credex_protocol::query::SubjectRef;
use serde::de::DeserializeOwned;

use crate::flow::{
    AckError, Context, Effect, Flow, Peer, Read, Refusal, Refused, StateKey, StateWrite, View,
};

mod procedures;

pub use procedures::LocalFiling;
pub(crate) use procedures::forward_only;
mod state;

pub use state::{
    AckTrack, CASES_NS, ChangeTrack, ConfirmTrack, ENTRIES_NS, EVIDENCE_NS, EndedAt, EvidenceHeld,
    FEEDBACK_NS, FILED_NS, FeedbackGiven, FeedbackTrack, FiledCase, HeldEntry, MARKS_NS, MarkHeld,
    OBJECTIONS_NS, OVERDUE_NS, ObjectionTrack, OwnEntry, ProcedureCase, RECEIVED_NS, REPAIRS_NS,
    RepairTrack, RestsOn, SentTrack, TRACK_NS, case_key, evidence_key, holders, mark_key,
    rev_event, split_track, track_key,
};

/// Check that `codes` are measures of `measures` that apply to `list`.
pub fn check_measures(
    measures: &MeasuresCatalogue,
    list: ListType,
    codes: &[String],
) -> Result<(), credex_policies::MeasureError> {
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    measures.check(list, &codes)
}

/// Every rule an entry must meet, at the origin and at a receiver: bounds,
/// the subject's check digit, measures of `measures` that exist and apply,
/// details that are fields of the list's category in `catalogue`.
pub fn check_entry(
    measures: &MeasuresCatalogue,
    catalogue: &Catalogue,
    entry: &ListEntry,
) -> Result<(), EntryRuleError> {
    entry.validate()?;
    if let SubjectRef::LegalPerson(code) = &entry.subject {
        Uscc::parse(code).map_err(EntryRuleError::Subject)?;
    }
    let lt = list_type(entry.list_type);
    check_measures(measures, lt, &entry.measures)?;
    let category = lt.catalogue_category();
    for (code, text) in &entry.details {
        let field = catalogue
            .field(category, code)
            .ok_or_else(|| EntryRuleError::NotAField {
                code: code.clone(),
                category: category.to_owned(),
            })?;
        field
            .parse_value(text)
            .map_err(|source| EntryRuleError::Detail {
                code: code.clone(),
                source,
            })?;
    }
    Ok(())
}

/// The rule of [`check_entry`] a list entry breaks, at its origin or as a
/// receiver reads it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EntryRuleError {
    /// A bound or format rule of the entry itself.
    #[error(transparent)]
    Bounds(#[from] credex_protocol::lists::ListsBoundError),
    /// The subject's USCC does not check.
    #[error("subject: {0}")]
    Subject(credex_policies::SubjectIdError),
    /// A measure that does not exist or does not apply to the list.
    #[error("measures: {0}")]
    Measures(#[from] credex_policies::MeasureError),
    /// A detail that is not a field of the list's catalogue category.
    #[error("details: {code:?} is not a field of {category}")]
    NotAField {
        /// The detail's code.
        code: String,
        /// The category.
        category: String,
    },
    /// A detail whose value is not of its field's type.
    #[error("details.{code}: {source}")]
    Detail {
        /// The detail's code.
        code: String,
        /// Why the value does not parse.
        source: credex_policies::ValueError,
    },
}

/// A lists message, decoded by its kind.
enum Message {
    Listing(ListEntry),
    Change(EntryChange),
    Feedback(Feedback),
    ChangeConfirmed(ChangeConfirmed),
    Objection(Objection),
    ProcedureMark(ProcedureMark),
    RepairApplication(RepairApplication),
}

impl Message {
    fn decode(envelope: &Envelope) -> Result<Message, Refused> {
        Ok(match envelope.kind {
            msg::LISTING => Message::Listing(body(envelope, "listing")?),
            msg::CHANGE => Message::Change(body(envelope, "entry change")?),
            msg::FEEDBACK => Message::Feedback(body(envelope, "feedback")?),
            msg::CHANGE_CONFIRMED => {
                Message::ChangeConfirmed(body(envelope, "change confirmation")?)
            }
            msg::OBJECTION => Message::Objection(body(envelope, "objection")?),
            msg::PROCEDURE_MARK => Message::ProcedureMark(body(envelope, "procedure mark")?),
            msg::REPAIR_APPLICATION => {
                Message::RepairApplication(body(envelope, "repair application")?)
            }
            kind => {
                return Err(Refused::UnknownKind {
                    flow: FlowName::Lists,
                    kind,
                });
            }
        })
    }
}

/// Decode a lists message body as `what`.
fn body<T: DeserializeOwned>(envelope: &Envelope, what: &'static str) -> Result<T, Refused> {
    credex_protocol::decode(&envelope.payload).map_err(|e| Refused::Unreadable {
        what,
        reason: format!("lists message kind {} does not decode: {e}", envelope.kind),
    })
}

/// The node's own state could not be encoded: try again later.
fn transient(e: impl std::fmt::Display) -> Refusal {
    Refusal::Transient(e.to_string())
}

/// The first 8 bytes of a subject's digest, hex (for summaries).
fn short_digest(subject: &SubjectRef) -> String {
    hex::encode(&credex_journal::subject_digest(subject)[..8])
}

/// The [`RECEIVED_NS`] key of entry `id`.
fn held_key(id: &EntryId) -> StateKey {
    StateKey::new(RECEIVED_NS, id.to_string())
}

/// The reads an answer from `region` on this region's entry `id` needs:
/// the entry, and whether and how it was sent to `region`.
/// What opening a case about entry `id` filed in `region` reads (the
/// origin's own region for one filed there, [`Lists::file_here`]).
pub fn case_reads(id: &EntryId, region: RegionCode) -> Vec<Read> {
    let mut reads = own_sent_reads(id, region);
    reads.push(Read::Prefix {
        ns: TRACK_NS.into(),
        prefix: format!("{id}/"),
    });
    reads
}

fn own_sent_reads(id: &EntryId, region: RegionCode) -> Vec<Read> {
    vec![
        Read::State(StateKey::new(ENTRIES_NS, id.to_string())),
        Read::State(StateKey::new(TRACK_NS, track_key(id, region, "sent"))),
        Read::State(StateKey::new(TRACK_NS, track_key(id, region, "responded"))),
    ]
}

/// The lists flow of one node: its region, and what it decides against —
/// the agreements (who is bound for which list), the measures catalogue
/// and the catalogue entry details are checked against.
#[derive(Debug, Clone)]
pub struct Lists {
    region: RegionCode,
    agreements: AgreementSet,
    measures: MeasuresCatalogue,
    catalogue: Catalogue,
    calendar: HolidayCalendar,
    rights: RightsRules,
}

impl Lists {
    /// The flow of a node of `region` deciding against `agreements`,
    /// `measures` and `catalogue`.
    pub fn new(
        region: RegionCode,
        agreements: AgreementSet,
        measures: MeasuresCatalogue,
        catalogue: Catalogue,
    ) -> Lists {
        Lists {
            region,
            agreements,
            measures,
            catalogue,
            calendar: HolidayCalendar::builtin_2026(),
            rights: RightsRules::national(),
        }
    }

    /// The same flow counting deadlines in `calendar`'s working days and
    /// judging repair applications under `rights` (by default the shipped
    /// 2026 calendar and the national rules, decision 0920).
    pub fn with_rights(mut self, calendar: HolidayCalendar, rights: RightsRules) -> Lists {
        self.calendar = calendar;
        self.rights = rights;
        self
    }

    /// The last day (`YYYY-MM-DD`, China time) to act on something that
    /// arrived at `at_ms`, `days` working days later.
    pub fn deadline_date(&self, at_ms: i64, days: u32) -> String {
        crate::calendar::deadline_date(&self.calendar, at_ms, days)
    }

    /// The deadlines of `procedure` in force.
    pub fn deadlines(&self, procedure: Procedure) -> Deadlines {
        self.rights.deadlines(procedure)
    }

    /// The rights rules in force.
    pub fn rights(&self) -> &RightsRules {
        &self.rights
    }

    /// A new listing from its origin: valid, sent by its origin, revision 0,
    /// from a region an agreement binds for the list, not held yet; held.
    fn listing(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        entry: ListEntry,
    ) -> Result<Effect, Refusal> {
        check_entry(&self.measures, &self.catalogue, &entry)
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        if entry.id.origin != from.region {
            return Err(Refused::NotEntitled(format!(
                "entry {} names region {} as its origin, but was sent by region {}: a region sends only its own entries",
                entry.id, entry.id.origin, from.region
            ))
            .into());
        }
        if entry.revision != 0 {
            return Err(Refused::Invalid(format!(
                "a new entry has revision 0, not {}",
                entry.revision
            ))
            .into());
        }
        let lt = list_type(entry.list_type);
        if !self
            .agreements
            .joint_peers(self.region, lt)
            .contains(&from.region)
        {
            return Err(Refused::NotEntitled(format!(
                "no agreement binds regions {} and {} for the {} list",
                from.region, self.region, entry.list_type
            ))
            .into());
        }
        let key = held_key(&entry.id);
        if view.decoded::<HeldEntry>(&key.ns, &key.key)?.is_some() {
            return Err(Refused::Stale(format!("entry {} was already received", key.key)).into());
        }
        let summary = format!(
            "listing {} on the {} list, subject {}: held",
            key.key,
            entry.list_type,
            short_digest(&entry.subject)
        );
        let held = HeldEntry {
            entry,
            received_at_ms: cx.now_ms,
            from_node: from.node.clone(),
            ended: None,
        };
        Ok(Effect {
            state: vec![StateWrite::encoded(key.ns, key.key, &held).map_err(transient)?],
            summary,
            ..Effect::default()
        })
    }

    /// A change to a held entry from its origin: newer than the held
    /// revision, the entry not ended; applied, and a confirmation queued
    /// to the origin.
    fn change(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        change: EntryChange,
    ) -> Result<Effect, Refusal> {
        change
            .validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let id = change.entry;
        if id.origin != from.region {
            return Err(Refused::NotEntitled(format!(
                "entry {id} was made by region {}; region {} cannot change it",
                id.origin, from.region
            ))
            .into());
        }
        let key = held_key(&id);
        let mut held: HeldEntry = view
            .decoded(&key.ns, &key.key)?
            .ok_or_else(|| Refused::NotHeld(format!("this region holds no entry {}", key.key)))?;
        self.apply_change(&mut held, &change, cx.now_ms)?;
        let confirmation = ChangeConfirmed {
            entry: id,
            revision: change.revision,
        };
        let body = release_change_confirmed(from.region, &confirmation).map_err(transient)?;
        Ok(Effect {
            summary: format!(
                "change {} of entry {} to revision {}: applied, confirmation queued",
                change.change, key.key, change.revision
            ),
            state: vec![StateWrite::encoded(key.ns, key.key, &held).map_err(transient)?],
            send: vec![body],
            ..Effect::default()
        })
    }

    /// Apply `change` to `held`: newer than the held revision, the entry
    /// not ended, a correction valid and on the same list.
    fn apply_change(
        &self,
        held: &mut HeldEntry,
        change: &EntryChange,
        now_ms: i64,
    ) -> Result<(), Refused> {
        let id = change.entry;
        if change.revision <= held.entry.revision {
            return Err(Refused::Stale(format!(
                "entry {id}: revision {} is not newer than the held revision {}",
                change.revision, held.entry.revision
            )));
        }
        if let Some(ended) = held.ended {
            return Err(Refused::Stale(format!(
                "entry {id} has already ended ({})",
                ended.change
            )));
        }
        match &change.corrected {
            Some(corrected) => {
                check_entry(&self.measures, &self.catalogue, corrected)
                    .map_err(|e| Refused::Invalid(e.to_string()))?;
                if corrected.list_type != held.entry.list_type {
                    return Err(Refused::Invalid(format!(
                        "a correction cannot move entry {id} to another list"
                    )));
                }
                held.entry = corrected.clone();
            }
            None => held.entry.revision = change.revision,
        }
        if change.change.ends_entry() {
            held.ended = Some(EndedAt {
                change: change.change,
                revision: change.revision,
                at_ms: now_ms,
            });
        }
        Ok(())
    }

    /// Feedback on an entry this region sent to the sender: the measures it
    /// applied, recorded.
    fn feedback(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        feedback: Feedback,
    ) -> Result<Effect, Refusal> {
        feedback
            .validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let own = self.own_sent_to(view, &feedback.entry, from.region)?;
        check_measures(
            &self.measures,
            list_type(own.entry.list_type),
            &feedback.applied,
        )
        .map_err(|e| Refused::Invalid(format!("applied: {e}")))?;
        let summary = format!(
            "feedback on entry {}: applied {}",
            feedback.entry,
            feedback.applied.join(",")
        );
        let key = track_key(&feedback.entry, from.region, "feedback");
        let track = FeedbackTrack {
            at_ms: cx.now_ms,
            applied: feedback.applied,
            note: feedback.note,
        };
        Ok(Effect {
            state: vec![StateWrite::encoded(TRACK_NS, key, &track).map_err(transient)?],
            summary,
            ..Effect::default()
        })
    }

    /// The sender confirms a change this region sent it: recorded.
    fn change_confirmed(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        confirmed: ChangeConfirmed,
    ) -> Result<Effect, Refusal> {
        let (id, revision) = (confirmed.entry, confirmed.revision);
        self.own_sent_to(view, &id, from.region)?;
        let change_key = track_key(&id, from.region, &rev_event("change", revision));
        if view
            .decoded::<ChangeTrack>(TRACK_NS, &change_key)?
            .is_none()
        {
            return Err(Refused::NotHeld(format!(
                "no change to revision {revision} of entry {id} was sent to region {}",
                from.region
            ))
            .into());
        }
        let key = track_key(&id, from.region, &rev_event("confirm", revision));
        let track = ConfirmTrack { at_ms: cx.now_ms };
        Ok(Effect {
            state: vec![StateWrite::encoded(TRACK_NS, key, &track).map_err(transient)?],
            summary: format!("entry {id} revision {revision} confirmed"),
            ..Effect::default()
        })
    }

    /// The entry `id`, if this region made it and sent it to `region`, and
    /// `region` did not refuse it ([`own_sent_reads`] read it).
    fn own_sent_to(
        &self,
        view: &View,
        id: &EntryId,
        region: RegionCode,
    ) -> Result<OwnEntry, Refusal> {
        if id.origin != self.region {
            return Err(Refused::NotHeld(format!(
                "entry {id} was made by region {}, not by this region {}",
                id.origin, self.region
            ))
            .into());
        }
        let own: OwnEntry = view
            .decoded(ENTRIES_NS, &id.to_string())?
            .ok_or_else(|| Refused::NotHeld(format!("no entry {id} was made here")))?;
        if region == self.region {
            // Filed at the origin itself: no copy was sent to check.
            return Ok(own);
        }
        if view
            .decoded::<SentTrack>(TRACK_NS, &track_key(id, region, "sent"))?
            .is_none()
        {
            return Err(Refused::NotEntitled(format!(
                "entry {id} was not sent to region {region}"
            ))
            .into());
        }
        let responded: Option<AckTrack> =
            view.decoded(TRACK_NS, &track_key(id, region, "responded"))?;
        if responded.is_some_and(|r| r.refused.is_some()) {
            return Err(Refused::NotEntitled(format!(
                "region {region} refused entry {id}; it holds no copy to answer for"
            ))
            .into());
        }
        Ok(own)
    }
}

impl Flow for Lists {
    fn name(&self) -> FlowName {
        FlowName::Lists
    }

    fn reads(&self, from: &Peer, envelope: &Envelope) -> Result<Vec<Read>, Refusal> {
        Ok(match Message::decode(envelope)? {
            Message::Listing(entry) => vec![Read::State(held_key(&entry.id))],
            Message::Change(change) => vec![Read::State(held_key(&change.entry))],
            Message::Feedback(feedback) => own_sent_reads(&feedback.entry, from.region),
            Message::Objection(Objection { entry: id, .. })
            | Message::RepairApplication(RepairApplication { entry: id, .. }) => {
                case_reads(&id, from.region)
            }
            Message::ProcedureMark(mark) => vec![
                Read::State(held_key(&mark.entry)),
                Read::State(StateKey::new(MARKS_NS, mark_key(&mark.entry, &mark.case))),
            ],
            Message::ChangeConfirmed(confirmed) => {
                let id = &confirmed.entry;
                let mut reads = own_sent_reads(id, from.region);
                reads.push(Read::State(StateKey::new(
                    TRACK_NS,
                    track_key(id, from.region, &rev_event("change", confirmed.revision)),
                )));
                reads
            }
        })
    }

    fn receive(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        match Message::decode(envelope)? {
            Message::Listing(entry) => self.listing(cx, view, from, entry),
            Message::Change(change) => self.change(cx, view, from, change),
            Message::Feedback(feedback) => self.feedback(cx, view, from, feedback),
            Message::ChangeConfirmed(confirmed) => self.change_confirmed(cx, view, from, confirmed),
            Message::Objection(objection) => {
                let filed = procedures::Filed {
                    region: from.region,
                    case: envelope.message_id,
                };
                self.objection(cx.now_ms, view, filed, objection)
            }
            Message::ProcedureMark(mark) => self.procedure_mark(cx, view, from, mark),
            Message::RepairApplication(application) => {
                let filed = procedures::Filed {
                    region: from.region,
                    case: envelope.message_id,
                };
                self.repair_application(cx.now_ms, view, filed, application)
            }
        }
    }

    /// A member acknowledged (or refused) a listing or a change this region
    /// sent: the `responded` or `changeack/{revision}` track event.
    fn acknowledged(
        &self,
        cx: &Context<'_>,
        _view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError> {
        // A payload this node cannot read back was not made by this flow:
        // nothing to track, and the acknowledgement is still logged (an
        // error here would retry the delivery forever).
        let key = match envelope.kind {
            msg::LISTING => match credex_protocol::decode::<ListEntry>(&envelope.payload) {
                Ok(entry) => track_key(&entry.id, envelope.to_region, "responded"),
                Err(_) => return Ok(Vec::new()),
            },
            msg::CHANGE => match credex_protocol::decode::<EntryChange>(&envelope.payload) {
                Ok(change) => track_key(
                    &change.entry,
                    envelope.to_region,
                    &rev_event("changeack", change.revision),
                ),
                Err(_) => return Ok(Vec::new()),
            },
            _ => return Ok(Vec::new()),
        };
        let track = AckTrack {
            at_ms: cx.now_ms,
            node: ack.receiver_node.clone(),
            refused: match &ack.status {
                DeliveryStatus::Refused { reason } => Some(reason.clone()),
                _ => None,
            },
        };
        let write = StateWrite::encoded(TRACK_NS, key, &track)
            .map_err(|e| AckError(format!("cannot encode the acknowledgement track: {e}")))?;
        Ok(vec![write])
    }
}
