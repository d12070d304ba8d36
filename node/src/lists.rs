//! Joint reward/punishment lists (联合奖惩名单), docs/design.md §9: list entries
//! made in this region and sent, initiate → respond → feedback
//! (发起—响应—反馈), to every region an agreement binds for the list type;
//! entries other regions sent here; exits, repairs, corrections and
//! objections. Decision 0502 explains the choices.
//!
//! Messages travel as [`Flow::Lists`] federation messages (wire types in
//! [`credex_protocol::lists`]): each is logged by the receiver (journal
//! kind 7) and its signed acknowledgement by the sender (kind 8). The
//! events that cause messages are this module's own journal entries
//! ([`kind`]); they hold digests and codes, never a subject's code in clear.
//!
//! At the origin, per entry and per region, the state lives under
//! [`TRACK_NS`] as one key per event (sent, responded, feedback, change
//! sent, change acknowledged, change confirmed), each written once by the
//! event that causes it, so concurrent receives and acknowledgements never
//! overwrite each other. [`Lists::status`] joins them, with deadlines from
//! the agreement's joint terms, for a `now` passed in.

use crate::ids::random_id;
use std::collections::BTreeMap;
use std::sync::Arc;

use credex_flows::calendar::{china_date_text, working_days_after};
use credex_pki::pseudonym::PseudonymKeyRing;
use credex_policies::egress::{
    EgressError, release_change, release_change_confirmed, release_feedback, release_listing,
    release_objection,
};
use credex_policies::reporting::HolidayCalendar;
use credex_policies::subject_id::SubjectId;
use credex_policies::{AgreementSet, Catalogue, ListType, MeasuresCatalogue, Uscc};
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow};
use credex_protocol::lists::{
    ChangeConfirmed, ChangeKind, EntryChange, EntryId, Feedback, ListEntry, ListKind, Objection,
    SubjectNotice, kind as msg,
};
use credex_protocol::query::{SubjectPseudonym, SubjectRef};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};

use crate::config::NodeConfig;
use crate::federation::{
    Effect, Federation, FederationContext, FlowFuture, FlowHandler, PrepareError, Refusal,
    WeakFederation,
};
use crate::service::StartError;
use crate::storage::{StateWrite, StorageError};
use crate::transport::PeerIdentity;
use credex_journal::{
    ChangeInitiated, ENTRY_VERSION, FeedbackSent, ListingInitiated, ObjectionRouted, sha256,
    subject_digest,
};

/// Entries this region made: entry id → `OwnEntry`.
pub const ENTRIES_NS: &str = "lists.entries";
/// Per entry and region, one key per event: `{entry}/{region}/{event}`.
pub const TRACK_NS: &str = "lists.track";
/// Entries other regions sent here: entry id → `HeldEntry`.
pub const RECEIVED_NS: &str = "lists.received";
/// Objections routed to this region: `{entry}/{region}/{message id}`.
pub const OBJECTIONS_NS: &str = "lists.objections";
/// Feedback this region gave: entry id → `FeedbackGiven`.
pub const FEEDBACK_NS: &str = "lists.feedback";

/// Rows read per state scan page.
const PAGE: u32 = 1024;

/// A list entry as an operator writes it (`credex lists add FILE.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryDraft {
    /// The subject: a unified social credit code (统一社会信用代码), a
    /// citizen ID (公民身份号码, turned into the current-epoch pseudonym
    /// with the node's key ring at once and never kept), or a pseudonym
    /// (`EPOCH:HEX`).
    pub subject: String,
    /// `red`, `serious_dishonesty` or `key_attention`.
    pub list_type: ListKind,
    /// The basis of the decision (认定依据).
    pub basis: String,
    /// The deciding authority (认定单位).
    pub authority: String,
    /// `YYYY-MM-DD`.
    pub entry_date: String,
    /// `YYYY-MM-DD`, not before `entry_date`.
    pub planned_exit: String,
    /// Measure codes of the measures catalogue that apply to the list type.
    pub measures: Vec<String>,
    /// The record that the subject was notified (主体告知): `{ "date":
    /// "YYYY-MM-DD", "means": "written" | "electronic" | "announcement" |
    /// "in_person" }`.
    pub notice: SubjectNotice,
    /// Further fields of the list's catalogue category (e.g. `facts`,
    /// `document_number`), code → value; each member receives those its
    /// agreement names ([`credex_policies::egress::release_listing`]).
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// Why a lists operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ListsError {
    /// The entry, feedback or change breaks a rule; says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// No entry with this id was made here.
    #[error("no entry {0} was made by this region")]
    UnknownEntry(EntryId),
    /// The entry was made by another region: only its origin changes it.
    #[error("entry {0} was made by region {origin}; only that region can change it", origin = .0.origin)]
    NotOrigin(EntryId),
    /// No entry with this id was received here.
    #[error("this region holds no entry {0} received from another region")]
    NotHeld(EntryId),
    /// The entry has ended (repaired, revoked or exited).
    #[error("entry {0} has ended ({1})")]
    Ended(EntryId, ChangeKind),
    /// The planned exit date is not reached yet.
    #[error(
        "entry {entry}: the planned exit date {planned_exit} is not reached (today is {today})"
    )]
    ExitNotReached {
        /// The entry.
        entry: EntryId,
        /// Its planned exit.
        planned_exit: String,
        /// Today (China Standard Time).
        today: String,
    },
    /// A message could not be prepared.
    #[error("{0}")]
    Prepare(#[from] PrepareError),
    /// The egress gate released nothing for a recipient.
    #[error("{0}")]
    Egress(#[from] EgressError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Stored state could not be read back.
    #[error("unreadable stored state {0}")]
    Corrupt(String),
}

/// What joint reward/punishment is decided against: the agreements (who
/// is bound for which list, and the deadlines), the measures catalogue and
/// the working-day calendar deadlines are counted in.
#[derive(Debug, Clone)]
pub struct ListsPolicy {
    /// The agreements.
    pub agreements: AgreementSet,
    /// The measures catalogue (联合奖惩措施清单).
    pub measures: MeasuresCatalogue,
    /// The working-day calendar (工作日历).
    pub calendar: HolidayCalendar,
    /// The catalogue entry details are checked against and the egress
    /// gate decides with.
    pub catalogue: Catalogue,
    /// The federation's pseudonym key ring, to name natural persons
    /// (none: only legal persons can be listed here).
    pub pseudonyms: Option<PseudonymKeyRing>,
}

impl ListsPolicy {
    /// The shipped agreements, measures catalogue and 2026 calendar.
    pub fn builtin() -> ListsPolicy {
        ListsPolicy {
            agreements: AgreementSet::builtin(),
            measures: MeasuresCatalogue::builtin(),
            calendar: HolidayCalendar::builtin_2026(),
            catalogue: Catalogue::base(),
            pseudonyms: None,
        }
    }

    /// What a node decides with: the shipped agreements plus the
    /// `agreements/*.toml` beside its configuration (as recognition uses,
    /// `eval::load_agreements`), the shipped measures catalogue, and the
    /// working-day calendar of `[upward] holidays` (the shipped 2026
    /// calendar when absent).
    pub fn for_node(config: &NodeConfig) -> Result<ListsPolicy, StartError> {
        let policy = crate::query::load_policy(config.region, &config.policy)?;
        ListsPolicy::with_catalogue(config, policy.catalogue())
    }

    /// [`ListsPolicy::for_node`] with the catalogue the node already loaded.
    pub fn with_catalogue(
        config: &NodeConfig,
        catalogue: &Catalogue,
    ) -> Result<ListsPolicy, StartError> {
        let agreements =
            crate::eval::load_agreements(config).map_err(|reason| StartError::Flow {
                flow: "lists",
                reason: format!("agreements: {reason}"),
            })?;
        let calendar = crate::upward::load_calendar(config)?;
        let catalogue = catalogue.clone();
        let pseudonyms = match &config.pseudonyms.keys {
            Some(path) => {
                Some(
                    crate::pseudonyms::load_ring(path).map_err(|e| StartError::Flow {
                        flow: "lists",
                        reason: format!("pseudonyms.keys: {e}"),
                    })?,
                )
            }
            None => None,
        };
        Ok(ListsPolicy {
            agreements,
            measures: MeasuresCatalogue::builtin(),
            calendar,
            catalogue,
            pseudonyms,
        })
    }

    /// The subject a draft names, as entries carry it: a citizen ID
    /// becomes its current-epoch pseudonym (the ID is not kept).
    pub fn subject(&self, text: &str) -> Result<SubjectRef, ListsError> {
        let text = text.trim();
        if let Ok(p) = text.parse::<SubjectPseudonym>() {
            return Ok(SubjectRef::NaturalPerson(p));
        }
        match SubjectId::parse(text).map_err(|e| ListsError::Invalid(format!("subject: {e}")))? {
            SubjectId::LegalPerson(u) => Ok(SubjectRef::LegalPerson(u.as_str().to_owned())),
            SubjectId::NaturalPerson(c) => {
                let ring = self.pseudonyms.as_ref().ok_or_else(|| {
                    ListsError::Invalid(
                        "subject: a natural person needs the federation's pseudonym key ring ([pseudonyms] keys)"
                            .into(),
                    )
                })?;
                ring.current_pseudonym(c.expose())
                    .map(SubjectRef::NaturalPerson)
                    .map_err(|e| ListsError::Invalid(format!("subject: {e}")))
            }
        }
    }

    /// The deadline `days` working days after `at_ms` (see
    /// [`working_days_after`]).
    pub fn deadline(&self, at_ms: i64, days: u32) -> i64 {
        working_days_after(&self.calendar, at_ms, days)
    }

    /// The deadlines for entries of `list_type` from `origin` to `member`:
    /// the joint terms of the first agreement (in precedence order) that
    /// has both and binds the list.
    fn terms(
        &self,
        origin: RegionCode,
        member: RegionCode,
        list_type: ListType,
    ) -> Option<&credex_policies::JointTerms> {
        self.agreements
            .agreements_between(origin, member)
            .into_iter()
            .find(|a| a.binds(list_type))
            .and_then(|a| a.joint.as_ref())
    }

    fn check_measures(&self, list_type: ListType, codes: &[String]) -> Result<(), String> {
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        self.measures
            .check(list_type, &codes)
            .map_err(|e| e.to_string())
    }

    /// Every rule an entry must meet, at the origin and at a receiver:
    /// bounds, the subject's check digit, measures that exist and apply.
    fn check_entry(&self, entry: &ListEntry) -> Result<(), String> {
        entry.validate().map_err(|e| e.to_string())?;
        if let SubjectRef::LegalPerson(code) = &entry.subject {
            Uscc::parse(code).map_err(|e| format!("subject: {e}"))?;
        }
        let lt = list_type(entry.list_type);
        self.check_measures(lt, &entry.measures)
            .map_err(|e| format!("measures: {e}"))?;
        let category = lt.catalogue_category();
        for (code, text) in &entry.details {
            let field = self
                .catalogue
                .field(category, code)
                .ok_or_else(|| format!("details: {code:?} is not a field of {category}"))?;
            field
                .parse_value(text)
                .map_err(|e| format!("details.{code}: {e}"))?;
        }
        Ok(())
    }
}

/// The policy list type of a wire list kind.
pub fn list_type(kind: ListKind) -> ListType {
    credex_policies::egress::list_type(kind)
}

// ---- stored state ----

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OwnEntry {
    entry: ListEntry,
    created_at_ms: i64,
    ended: Option<EndedAt>,
    no_peer: Vec<RegionCode>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct EndedAt {
    change: ChangeKind,
    revision: u32,
    at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SentTrack {
    at_ms: i64,
    respond_by_ms: i64,
    feedback_by_ms: i64,
    message_id: [u8; 16],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AckTrack {
    at_ms: i64,
    node: NodeName,
    refused: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FeedbackTrack {
    at_ms: i64,
    applied: Vec<String>,
    note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChangeTrack {
    change: ChangeKind,
    at_ms: i64,
    confirm_by_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConfirmTrack {
    at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HeldEntry {
    entry: ListEntry,
    received_at_ms: i64,
    from_node: NodeName,
    ended: Option<EndedAt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObjectionTrack {
    at_ms: i64,
    reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FeedbackGiven {
    at_ms: i64,
    applied: Vec<String>,
    note: String,
}

fn track_key(id: &EntryId, region: RegionCode, event: &str) -> String {
    format!("{id}/{region}/{event}")
}

fn rev_event(event: &str, revision: u32) -> String {
    format!("{event}/{revision:010}")
}

// ---- status ----

/// Where one region stands with one entry, as the origin sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Sent (发起), not yet acknowledged.
    Sent,
    /// Acknowledged: the region holds the entry (响应).
    Responded,
    /// The region refused the entry; the reason is in `refused`.
    Refused,
    /// The region reported the measures it applied (反馈).
    FeedbackReceived,
    /// A change (exit, repair, revocation, correction) was sent.
    ChangeSent,
    /// The region confirmed it applied the latest change.
    ChangeConfirmed,
}

/// A deadline that has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overdue {
    /// No response (acknowledgement) by `respond_by_ms`.
    Response,
    /// No feedback by `feedback_by_ms`.
    Feedback,
    /// The latest change not confirmed by its `confirm_by_ms`.
    ChangeConfirmation,
}

/// Feedback a region gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedbackView {
    /// When it arrived, Unix ms.
    pub at_ms: i64,
    /// The measures applied.
    pub applied: Vec<String>,
    /// The region's note.
    pub note: String,
}

/// The latest change sent to a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeView {
    /// The revision it made.
    pub revision: u32,
    /// What changed.
    pub change: ChangeKind,
    /// When sent, Unix ms.
    pub sent_at_ms: i64,
    /// Confirmation due by, Unix ms.
    pub confirm_by_ms: i64,
    /// The region refused the change (reason).
    pub refused: Option<String>,
    /// When the confirmation arrived, Unix ms.
    pub confirmed_at_ms: Option<i64>,
}

/// One region's state for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionStatus {
    /// The region.
    pub region: RegionCode,
    /// Where it stands.
    pub stage: Stage,
    /// When the entry was sent, Unix ms.
    pub sent_at_ms: i64,
    /// Response due by, Unix ms.
    pub respond_by_ms: i64,
    /// When it responded, Unix ms.
    pub responded_at_ms: Option<i64>,
    /// Why it refused the entry, if it did.
    pub refused: Option<String>,
    /// Feedback due by, Unix ms.
    pub feedback_by_ms: i64,
    /// Its feedback.
    pub feedback: Option<FeedbackView>,
    /// The latest change sent to it.
    pub change: Option<ChangeView>,
    /// The earliest deadline of what the region still owes (a response,
    /// feedback, a change confirmation), Unix ms; `None` when it owes nothing.
    pub next_deadline_ms: Option<i64>,
    /// Deadlines passed at the `now` of the status.
    pub overdue: Vec<Overdue>,
}

/// An objection routed to this region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectionView {
    /// The region that routed it.
    pub from_region: RegionCode,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
    /// The subject's grounds.
    pub reason: String,
}

/// An entry this region made, with every region's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryStatus {
    /// The entry id.
    #[serde(serialize_with = "as_text")]
    pub id: EntryId,
    /// Which list.
    pub list_type: ListKind,
    /// The subject's code (this region's own entry).
    pub subject: String,
    /// The current revision.
    pub revision: u32,
    /// How the entry ended, if it did.
    pub ended: Option<ChangeKind>,
    /// Per region.
    pub regions: Vec<RegionStatus>,
    /// Regions an agreement binds but no peer is configured for: the
    /// entry could not be sent to them.
    pub no_peer: Vec<RegionCode>,
    /// Objections routed back.
    pub objections: Vec<ObjectionView>,
}

impl EntryStatus {
    /// Whether any deadline has passed for any region.
    pub fn is_overdue(&self) -> bool {
        self.regions.iter().any(|r| !r.overdue.is_empty())
    }
}

/// An entry another region sent here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldView {
    /// The entry as last received (with corrections applied).
    pub entry: HeldEntryView,
    /// When first received, Unix ms.
    pub received_at_ms: i64,
    /// How it ended, if it did.
    pub ended: Option<ChangeKind>,
    /// The measures this region reported applying, if it did.
    pub feedback: Option<Vec<String>>,
}

/// The fields of a held entry shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldEntryView {
    /// The entry id (its origin first).
    #[serde(serialize_with = "as_text")]
    pub id: EntryId,
    /// The revision held.
    pub revision: u32,
    /// Which list.
    pub list_type: ListKind,
    /// The subject's code.
    pub subject: String,
    /// The measures the origin chose.
    pub measures: Vec<String>,
    /// The planned exit.
    pub planned_exit: String,
    /// The details the origin's egress gate released to this region.
    pub details: BTreeMap<String, String>,
}

/// What [`Lists::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The new entry's id.
    pub id: EntryId,
    /// The regions it was sent to.
    pub sent_to: Vec<RegionCode>,
    /// Regions an agreement binds but no peer is configured for.
    pub no_peer: Vec<RegionCode>,
}

// ---- service ----

/// Joint reward/punishment lists of one node: make entries, give feedback,
/// change entries, route objections, report status. Cheap to clone.
#[derive(Clone)]
pub struct Lists {
    federation: Federation,
    policy: Arc<ListsPolicy>,
    /// Serialises this process's changes to entries it made (read, then
    /// write the next revision).
    local: Arc<tokio::sync::Mutex<()>>,
}

impl Lists {
    /// The lists of the node whose messaging is `federation`.
    pub fn new(federation: Federation, policy: ListsPolicy) -> Lists {
        Lists {
            federation,
            policy: Arc::new(policy),
            local: Arc::default(),
        }
    }

    fn ctx(&self) -> &FederationContext {
        self.federation.context()
    }

    /// List a subject (名单认定) and send the entry to every region an
    /// agreement binds for the list type that has a configured peer. The
    /// entry, the messages and the [`kind::LISTING_INITIATED`] entry are
    /// committed together.
    pub async fn add(&self, draft: &EntryDraft, now_ms: i64) -> Result<Added, ListsError> {
        let ctx = self.ctx();
        let entry = ListEntry {
            id: EntryId {
                origin: ctx.region,
                id: random_id(),
            },
            revision: 0,
            list_type: draft.list_type,
            subject: self.policy.subject(&draft.subject)?,
            basis: draft.basis.clone(),
            authority: draft.authority.clone(),
            entry_date: draft.entry_date.clone(),
            planned_exit: draft.planned_exit.clone(),
            measures: draft.measures.clone(),
            notice: draft.notice.clone(),
            details: draft.details.clone(),
        };
        self.policy
            .check_entry(&entry)
            .map_err(ListsError::Invalid)?;
        let lt = list_type(entry.list_type);
        let bound = self.policy.agreements.joint_peers(ctx.region, lt);
        let (peers, no_peer): (Vec<RegionCode>, Vec<RegionCode>) =
            bound.into_iter().partition(|r| ctx.peers.knows(*r));
        let payload = encode(&entry)?;
        let mut writes = Vec::new();
        let mut sent_to = Vec::new();
        let mut withheld = Vec::new();
        for region in &peers {
            // Each member gets the entry as its agreement releases it.
            let (_, body) = release_listing(
                &self.policy.agreements,
                &self.policy.catalogue,
                ctx.region,
                *region,
                &entry,
            )?;
            if body.egress().withheld_count() > 0 {
                withheld.push((*region, body.egress().withheld.clone()));
            }
            let (signed, outbox) = self.federation.prepare(body, now_ms)?;
            writes.push(outbox);
            let (respond, feedback) = self
                .policy
                .terms(ctx.region, *region, lt)
                .map_or((0, 0), |t| (t.respond_within_days, t.feedback_within_days));
            let track = SentTrack {
                at_ms: now_ms,
                respond_by_ms: self.policy.deadline(now_ms, respond),
                feedback_by_ms: self.policy.deadline(now_ms, feedback),
                message_id: signed.envelope.message_id,
            };
            writes.push(StateWrite::put(
                TRACK_NS,
                track_key(&entry.id, *region, "sent"),
                encode(&track)?,
            ));
            sent_to.push((*region, signed.envelope.message_id));
        }
        let own = OwnEntry {
            entry: entry.clone(),
            created_at_ms: now_ms,
            ended: None,
            no_peer: no_peer.clone(),
        };
        writes.push(StateWrite::put(
            ENTRIES_NS,
            entry.id.to_string(),
            encode(&own)?,
        ));
        let body = ListingInitiated {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: entry.id,
            list_type: entry.list_type,
            subject_digest: subject_digest(&entry.subject),
            entry_digest: sha256(&payload),
            measures: entry.measures.clone(),
            sent_to,
            no_peer: no_peer.clone(),
            withheld,
        };
        ctx.storage.append_entry_with_state(&body, writes).await?;
        self.federation.wake();
        Ok(Added {
            id: entry.id,
            sent_to: peers,
            no_peer,
        })
    }

    /// Report to the origin the measures this region applied to an entry
    /// it received (反馈).
    pub async fn feedback(
        &self,
        id: &EntryId,
        applied: &[String],
        note: &str,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let ctx = self.ctx();
        let held: HeldEntry = read(&ctx.storage, RECEIVED_NS, &id.to_string())
            .await?
            .ok_or(ListsError::NotHeld(*id))?;
        if let Some(ended) = held.ended {
            return Err(ListsError::Ended(*id, ended.change));
        }
        let feedback = Feedback {
            entry: *id,
            applied: applied.to_vec(),
            note: note.to_owned(),
        };
        feedback
            .validate()
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        self.policy
            .check_measures(list_type(held.entry.list_type), applied)
            .map_err(|e| ListsError::Invalid(format!("applied: {e}")))?;
        let (signed, outbox) = self
            .federation
            .prepare(release_feedback(id.origin, &feedback)?, now_ms)?;
        let given = FeedbackGiven {
            at_ms: now_ms,
            applied: applied.to_vec(),
            note: note.to_owned(),
        };
        let body = FeedbackSent {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: *id,
            applied: applied.to_vec(),
            note_digest: sha256(note.as_bytes()),
            message_id: signed.envelope.message_id,
        };
        ctx.storage
            .append_entry_with_state(
                &body,
                vec![
                    outbox,
                    StateWrite::put(FEEDBACK_NS, id.to_string(), encode(&given)?),
                ],
            )
            .await?;
        self.federation.wake();
        Ok(())
    }

    /// Change an entry this region made — credit repair completed (信用修复),
    /// an objection upheld (revoke, or correct with `corrected`), or the
    /// planned exit reached — and send the change to every region the entry
    /// was sent to that did not refuse it. Returns those regions.
    pub async fn change(
        &self,
        id: &EntryId,
        change: ChangeKind,
        corrected: Option<&EntryDraft>,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<RegionCode>, ListsError> {
        let ctx = self.ctx();
        if id.origin != ctx.region {
            return Err(ListsError::NotOrigin(*id));
        }
        let _local = self.local.lock().await;
        let mut own: OwnEntry = read(&ctx.storage, ENTRIES_NS, &id.to_string())
            .await?
            .ok_or(ListsError::UnknownEntry(*id))?;
        if let Some(ended) = own.ended {
            return Err(ListsError::Ended(*id, ended.change));
        }
        let revision = own.entry.revision.saturating_add(1);
        if change == ChangeKind::Exit {
            let today = china_date_text(now_ms);
            if today.as_str() < own.entry.planned_exit.as_str() {
                return Err(ListsError::ExitNotReached {
                    entry: *id,
                    planned_exit: own.entry.planned_exit.clone(),
                    today,
                });
            }
        }
        let corrected = match (change, corrected) {
            (ChangeKind::Correct, Some(draft)) => {
                if draft.list_type != own.entry.list_type {
                    return Err(ListsError::Invalid(format!(
                        "a correction cannot move entry {id} from the {} list to the {} list; revoke it and list the subject again",
                        own.entry.list_type, draft.list_type
                    )));
                }
                let entry = ListEntry {
                    id: *id,
                    revision,
                    list_type: draft.list_type,
                    subject: self.policy.subject(&draft.subject)?,
                    basis: draft.basis.clone(),
                    authority: draft.authority.clone(),
                    entry_date: draft.entry_date.clone(),
                    planned_exit: draft.planned_exit.clone(),
                    measures: draft.measures.clone(),
                    notice: draft.notice.clone(),
                    details: draft.details.clone(),
                };
                self.policy
                    .check_entry(&entry)
                    .map_err(ListsError::Invalid)?;
                Some(entry)
            }
            (ChangeKind::Correct, None) => {
                return Err(ListsError::Invalid(
                    "a correction needs the corrected entry".into(),
                ));
            }
            (_, Some(_)) => {
                return Err(ListsError::Invalid(format!(
                    "only a correction carries an entry, not a {change}"
                )));
            }
            (_, None) => None,
        };
        let message = EntryChange {
            entry: *id,
            revision,
            change,
            corrected: corrected.clone(),
            reason: reason.to_owned(),
        };
        message
            .validate()
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        let payload = encode(&message)?;
        let lt = list_type(own.entry.list_type);
        let recipients = self.recipients(id).await?;
        let mut writes = Vec::new();
        let mut sent_to = Vec::new();
        for region in &recipients {
            let body = release_change(
                &self.policy.agreements,
                &self.policy.catalogue,
                ctx.region,
                *region,
                &message,
            )?;
            let (signed, outbox) = self.federation.prepare(body, now_ms)?;
            writes.push(outbox);
            let days = self
                .policy
                .terms(ctx.region, *region, lt)
                .map_or(0, |t| t.change_confirm_within_days);
            let track = ChangeTrack {
                change,
                at_ms: now_ms,
                confirm_by_ms: self.policy.deadline(now_ms, days),
            };
            writes.push(StateWrite::put(
                TRACK_NS,
                track_key(id, *region, &rev_event("change", revision)),
                encode(&track)?,
            ));
            sent_to.push((*region, signed.envelope.message_id));
        }
        match corrected {
            Some(entry) => own.entry = entry,
            None => own.entry.revision = revision,
        }
        if change.ends_entry() {
            own.ended = Some(EndedAt {
                change,
                revision,
                at_ms: now_ms,
            });
        }
        writes.push(StateWrite::put(ENTRIES_NS, id.to_string(), encode(&own)?));
        let body = ChangeInitiated {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: *id,
            revision,
            change,
            change_digest: sha256(&payload),
            sent_to,
        };
        ctx.storage.append_entry_with_state(&body, writes).await?;
        self.federation.wake();
        Ok(recipients)
    }

    /// The regions an entry was sent to that did not refuse it.
    async fn recipients(&self, id: &EntryId) -> Result<Vec<RegionCode>, ListsError> {
        let tracks = scan(&self.ctx().storage, TRACK_NS, &format!("{id}/")).await?;
        let mut sent: BTreeMap<RegionCode, bool> = BTreeMap::new();
        for (key, value) in &tracks {
            let Some((region, event)) = split_track(key, id) else {
                continue;
            };
            match event {
                "sent" => {
                    sent.entry(region).or_insert(true);
                }
                "responded" => {
                    let ack: AckTrack = decode_state(key, value)?;
                    if ack.refused.is_some() {
                        sent.insert(region, false);
                    }
                }
                _ => {}
            }
        }
        Ok(sent
            .into_iter()
            .filter_map(|(r, ok)| ok.then_some(r))
            .collect())
    }

    /// Route a subject's objection (异议) to an entry this region received
    /// back to the entry's origin, which alone can uphold it.
    pub async fn objection(
        &self,
        id: &EntryId,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let ctx = self.ctx();
        let _held: HeldEntry = read(&ctx.storage, RECEIVED_NS, &id.to_string())
            .await?
            .ok_or(ListsError::NotHeld(*id))?;
        let objection = Objection {
            entry: *id,
            reason: reason.to_owned(),
        };
        objection
            .validate()
            .map_err(|e| ListsError::Invalid(e.to_string()))?;
        let (signed, outbox) = self
            .federation
            .prepare(release_objection(id.origin, &objection)?, now_ms)?;
        let body = ObjectionRouted {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            entry: *id,
            reason_digest: sha256(reason.as_bytes()),
            message_id: signed.envelope.message_id,
        };
        ctx.storage
            .append_entry_with_state(&body, vec![outbox])
            .await?;
        self.federation.wake();
        Ok(())
    }

    /// Every entry this region made, with each region's state and what is
    /// overdue at `now_ms`.
    pub async fn status(&self, now_ms: i64) -> Result<Vec<EntryStatus>, ListsError> {
        let storage = &self.ctx().storage;
        let mut out = Vec::new();
        for (key, value) in scan(storage, ENTRIES_NS, "").await? {
            let own: OwnEntry = decode_state(&key, &value)?;
            let id = own.entry.id;
            let mut regions: BTreeMap<RegionCode, Parts> = BTreeMap::new();
            for (key, value) in scan(storage, TRACK_NS, &format!("{id}/")).await? {
                let Some((region, event)) = split_track(&key, &id) else {
                    continue;
                };
                let parts = regions.entry(region).or_default();
                let (event, revision) = match event.split_once('/') {
                    Some((e, r)) => (e, r.parse::<u32>().ok()),
                    None => (event, None),
                };
                match (event, revision) {
                    ("sent", _) => parts.sent = Some(decode_state(&key, &value)?),
                    ("responded", _) => parts.responded = Some(decode_state(&key, &value)?),
                    ("feedback", _) => parts.feedback = Some(decode_state(&key, &value)?),
                    ("change", Some(r)) => {
                        parts.changes.insert(r, decode_state(&key, &value)?);
                    }
                    ("changeack", Some(r)) => {
                        parts.change_acks.insert(r, decode_state(&key, &value)?);
                    }
                    ("confirm", Some(r)) => {
                        parts.confirms.insert(r, decode_state(&key, &value)?);
                    }
                    _ => {}
                }
            }
            let mut objections = Vec::new();
            for (key, value) in scan(storage, OBJECTIONS_NS, &format!("{id}/")).await? {
                let track: ObjectionTrack = decode_state(&key, &value)?;
                if let Some((region, _)) = split_track(&key, &id) {
                    objections.push(ObjectionView {
                        from_region: region,
                        at_ms: track.at_ms,
                        reason: track.reason,
                    });
                }
            }
            objections.sort_by_key(|o| o.at_ms);
            let regions = regions
                .into_iter()
                .filter_map(|(region, parts)| parts.view(region, own.ended.is_some(), now_ms))
                .collect();
            out.push(EntryStatus {
                id,
                list_type: own.entry.list_type,
                subject: crate::query::subject_key(&own.entry.subject),
                revision: own.entry.revision,
                ended: own.ended.map(|e| e.change),
                regions,
                no_peer: own.no_peer,
                objections,
            });
        }
        Ok(out)
    }

    /// Every entry other regions sent here.
    pub async fn received(&self) -> Result<Vec<HeldView>, ListsError> {
        let storage = &self.ctx().storage;
        let mut out = Vec::new();
        for (key, value) in scan(storage, RECEIVED_NS, "").await? {
            let held: HeldEntry = decode_state(&key, &value)?;
            let feedback: Option<FeedbackGiven> = read(storage, FEEDBACK_NS, &key).await?;
            out.push(HeldView {
                entry: HeldEntryView {
                    id: held.entry.id,
                    revision: held.entry.revision,
                    list_type: held.entry.list_type,
                    subject: crate::query::subject_key(&held.entry.subject),
                    measures: held.entry.measures,
                    details: held.entry.details,
                    planned_exit: held.entry.planned_exit,
                },
                received_at_ms: held.received_at_ms,
                ended: held.ended.map(|e| e.change),
                feedback: feedback.map(|f| f.applied),
            });
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Parts {
    sent: Option<SentTrack>,
    responded: Option<AckTrack>,
    feedback: Option<FeedbackTrack>,
    changes: BTreeMap<u32, ChangeTrack>,
    change_acks: BTreeMap<u32, AckTrack>,
    confirms: BTreeMap<u32, ConfirmTrack>,
}

impl Parts {
    fn view(self, region: RegionCode, ended: bool, now_ms: i64) -> Option<RegionStatus> {
        let sent = self.sent?;
        let refused = self.responded.as_ref().and_then(|r| r.refused.clone());
        let change = self.changes.iter().next_back().map(|(rev, c)| ChangeView {
            revision: *rev,
            change: c.change,
            sent_at_ms: c.at_ms,
            confirm_by_ms: c.confirm_by_ms,
            refused: self.change_acks.get(rev).and_then(|a| a.refused.clone()),
            confirmed_at_ms: self.confirms.get(rev).map(|c| c.at_ms),
        });
        let feedback = self.feedback.map(|f| FeedbackView {
            at_ms: f.at_ms,
            applied: f.applied,
            note: f.note,
        });
        let stage = match (&change, &refused, &feedback, &self.responded) {
            (Some(c), _, _, _) if c.confirmed_at_ms.is_some() => Stage::ChangeConfirmed,
            (Some(_), _, _, _) => Stage::ChangeSent,
            (None, Some(_), _, _) => Stage::Refused,
            (None, None, Some(_), _) => Stage::FeedbackReceived,
            (None, None, None, Some(_)) => Stage::Responded,
            (None, None, None, None) => Stage::Sent,
        };
        let mut owed = Vec::new();
        if self.responded.is_none() {
            owed.push((Overdue::Response, sent.respond_by_ms));
        }
        if !ended && refused.is_none() && feedback.is_none() {
            owed.push((Overdue::Feedback, sent.feedback_by_ms));
        }
        if let Some(c) = &change
            && c.confirmed_at_ms.is_none()
            && c.refused.is_none()
        {
            owed.push((Overdue::ChangeConfirmation, c.confirm_by_ms));
        }
        let next_deadline_ms = owed.iter().map(|(_, t)| *t).min();
        let overdue = owed
            .into_iter()
            .filter(|(_, due)| now_ms >= *due)
            .map(|(what, _)| what)
            .collect();
        Some(RegionStatus {
            region,
            stage,
            sent_at_ms: sent.at_ms,
            respond_by_ms: sent.respond_by_ms,
            responded_at_ms: self.responded.map(|r| r.at_ms),
            refused,
            feedback_by_ms: sent.feedback_by_ms,
            feedback,
            change,
            next_deadline_ms,
            overdue,
        })
    }
}

// ---- receiving ----

/// The lists flow's side of federation messaging.
pub struct ListsHandler {
    federation: WeakFederation,
    policy: Arc<ListsPolicy>,
}

impl ListsHandler {
    /// A handler deciding against `policy`, sending follow-up messages
    /// (change confirmations) through `federation`.
    pub fn new(federation: &Federation, policy: ListsPolicy) -> ListsHandler {
        ListsHandler {
            federation: federation.downgrade(),
            policy: Arc::new(policy),
        }
    }

    fn federation(&self) -> Result<Federation, Refusal> {
        self.federation
            .upgrade()
            .ok_or_else(|| Refusal::Transient("the node is shutting down".into()))
    }

    async fn receive_inner(
        &self,
        from: &PeerIdentity,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        let federation = self.federation()?;
        let ctx = federation.context();
        let now_ms = crate::service::now_ms();
        match envelope.kind {
            msg::LISTING => {
                let entry: ListEntry = decode_payload(envelope)?;
                self.policy
                    .check_entry(&entry)
                    .map_err(Refusal::Permanent)?;
                if entry.id.origin != from.region {
                    return Err(Refusal::Permanent(format!(
                        "entry {} names region {} as its origin, but was sent by region {}: a region sends only its own entries",
                        entry.id, entry.id.origin, from.region
                    )));
                }
                if entry.revision != 0 {
                    return Err(Refusal::Permanent(format!(
                        "a new entry has revision 0, not {}",
                        entry.revision
                    )));
                }
                let lt = list_type(entry.list_type);
                if !self
                    .policy
                    .agreements
                    .joint_peers(ctx.region, lt)
                    .contains(&from.region)
                {
                    return Err(Refusal::Permanent(format!(
                        "no agreement binds regions {} and {} for the {} list",
                        from.region, ctx.region, entry.list_type
                    )));
                }
                let key = entry.id.to_string();
                if read::<HeldEntry>(&ctx.storage, RECEIVED_NS, &key)
                    .await
                    .map_err(transient)?
                    .is_some()
                {
                    return Err(Refusal::Permanent(format!(
                        "entry {key} was already received"
                    )));
                }
                let summary = format!(
                    "listing {key} on the {} list, subject {}: held",
                    entry.list_type,
                    short_digest(&entry.subject)
                );
                let held = HeldEntry {
                    entry,
                    received_at_ms: now_ms,
                    from_node: from.name.clone(),
                    ended: None,
                };
                Ok(Effect {
                    state: vec![StateWrite::put(
                        RECEIVED_NS,
                        key,
                        encode(&held).map_err(transient)?,
                    )],
                    reply: Vec::new(),
                    summary,
                })
            }
            msg::CHANGE => {
                let change: EntryChange = decode_payload(envelope)?;
                change
                    .validate()
                    .map_err(|e| Refusal::Permanent(e.to_string()))?;
                let id = change.entry;
                if id.origin != from.region {
                    return Err(Refusal::Permanent(format!(
                        "entry {id} was made by region {}; region {} cannot change it",
                        id.origin, from.region
                    )));
                }
                let key = id.to_string();
                let mut held: HeldEntry = read(&ctx.storage, RECEIVED_NS, &key)
                    .await
                    .map_err(transient)?
                    .ok_or_else(|| {
                        Refusal::Permanent(format!("this region holds no entry {key}"))
                    })?;
                if change.revision <= held.entry.revision {
                    return Err(Refusal::Permanent(format!(
                        "entry {key}: revision {} is not newer than the held revision {}",
                        change.revision, held.entry.revision
                    )));
                }
                if let Some(ended) = held.ended {
                    return Err(Refusal::Permanent(format!(
                        "entry {key} has already ended ({})",
                        ended.change
                    )));
                }
                match &change.corrected {
                    Some(corrected) => {
                        self.policy
                            .check_entry(corrected)
                            .map_err(Refusal::Permanent)?;
                        if corrected.list_type != held.entry.list_type {
                            return Err(Refusal::Permanent(format!(
                                "a correction cannot move entry {key} to another list"
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
                let confirmation = ChangeConfirmed {
                    entry: id,
                    revision: change.revision,
                };
                let body = release_change_confirmed(from.region, &confirmation)
                    .map_err(|e| Refusal::Transient(e.to_string()))?;
                let (_, outbox) = federation
                    .prepare(body, now_ms)
                    .map_err(|e| Refusal::Transient(e.to_string()))?;
                federation.wake();
                Ok(Effect {
                    state: vec![
                        StateWrite::put(
                            RECEIVED_NS,
                            key.clone(),
                            encode(&held).map_err(transient)?,
                        ),
                        outbox,
                    ],
                    reply: Vec::new(),
                    summary: format!(
                        "change {} of entry {key} to revision {}: applied, confirmation queued",
                        change.change, change.revision
                    ),
                })
            }
            msg::FEEDBACK => {
                let feedback: Feedback = decode_payload(envelope)?;
                feedback
                    .validate()
                    .map_err(|e| Refusal::Permanent(e.to_string()))?;
                let own = self.own_sent_to(&feedback.entry, from.region).await?;
                self.policy
                    .check_measures(list_type(own.entry.list_type), &feedback.applied)
                    .map_err(|e| Refusal::Permanent(format!("applied: {e}")))?;
                let track = FeedbackTrack {
                    at_ms: now_ms,
                    applied: feedback.applied.clone(),
                    note: feedback.note,
                };
                Ok(Effect {
                    state: vec![StateWrite::put(
                        TRACK_NS,
                        track_key(&feedback.entry, from.region, "feedback"),
                        encode(&track).map_err(transient)?,
                    )],
                    reply: Vec::new(),
                    summary: format!(
                        "feedback on entry {}: applied {}",
                        feedback.entry,
                        feedback.applied.join(",")
                    ),
                })
            }
            msg::CHANGE_CONFIRMED => {
                let confirmed: ChangeConfirmed = decode_payload(envelope)?;
                self.own_sent_to(&confirmed.entry, from.region).await?;
                let change_key = track_key(
                    &confirmed.entry,
                    from.region,
                    &rev_event("change", confirmed.revision),
                );
                if read::<ChangeTrack>(&ctx.storage, TRACK_NS, &change_key)
                    .await
                    .map_err(transient)?
                    .is_none()
                {
                    return Err(Refusal::Permanent(format!(
                        "no change to revision {} of entry {} was sent to region {}",
                        confirmed.revision, confirmed.entry, from.region
                    )));
                }
                let track = ConfirmTrack { at_ms: now_ms };
                Ok(Effect {
                    state: vec![StateWrite::put(
                        TRACK_NS,
                        track_key(
                            &confirmed.entry,
                            from.region,
                            &rev_event("confirm", confirmed.revision),
                        ),
                        encode(&track).map_err(transient)?,
                    )],
                    reply: Vec::new(),
                    summary: format!(
                        "entry {} revision {} confirmed",
                        confirmed.entry, confirmed.revision
                    ),
                })
            }
            msg::OBJECTION => {
                let objection: Objection = decode_payload(envelope)?;
                objection
                    .validate()
                    .map_err(|e| Refusal::Permanent(e.to_string()))?;
                self.own_sent_to(&objection.entry, from.region).await?;
                let track = ObjectionTrack {
                    at_ms: now_ms,
                    reason: objection.reason,
                };
                Ok(Effect {
                    state: vec![StateWrite::put(
                        OBJECTIONS_NS,
                        format!(
                            "{}/{}/{}",
                            objection.entry,
                            from.region,
                            hex::encode(envelope.message_id)
                        ),
                        encode(&track).map_err(transient)?,
                    )],
                    reply: Vec::new(),
                    summary: format!("objection to entry {} recorded", objection.entry),
                })
            }
            other => Err(Refusal::Permanent(format!(
                "unknown lists message kind {other}"
            ))),
        }
    }

    /// The entry `id`, if this region made it and sent it to `region`.
    async fn own_sent_to(&self, id: &EntryId, region: RegionCode) -> Result<OwnEntry, Refusal> {
        let federation = self.federation()?;
        let ctx = federation.context();
        if id.origin != ctx.region {
            return Err(Refusal::Permanent(format!(
                "entry {id} was made by region {}, not by this region {}",
                id.origin, ctx.region
            )));
        }
        let own: OwnEntry = read(&ctx.storage, ENTRIES_NS, &id.to_string())
            .await
            .map_err(transient)?
            .ok_or_else(|| Refusal::Permanent(format!("no entry {id} was made here")))?;
        if read::<SentTrack>(&ctx.storage, TRACK_NS, &track_key(id, region, "sent"))
            .await
            .map_err(transient)?
            .is_none()
        {
            return Err(Refusal::Permanent(format!(
                "entry {id} was not sent to region {region}"
            )));
        }
        let responded: Option<AckTrack> =
            read(&ctx.storage, TRACK_NS, &track_key(id, region, "responded"))
                .await
                .map_err(transient)?;
        if responded.is_some_and(|r| r.refused.is_some()) {
            return Err(Refusal::Permanent(format!(
                "region {region} refused entry {id}; it holds no copy to answer for"
            )));
        }
        Ok(own)
    }
}

impl FlowHandler for ListsHandler {
    fn receive<'a>(
        &'a self,
        from: &'a PeerIdentity,
        envelope: &'a Envelope,
    ) -> FlowFuture<'a, Result<Effect, Refusal>> {
        Box::pin(self.receive_inner(from, envelope))
    }

    fn acknowledged<'a>(
        &'a self,
        envelope: &'a Envelope,
        ack: &'a DeliveryAck,
    ) -> FlowFuture<'a, Result<Vec<StateWrite>, String>> {
        Box::pin(async move {
            let refused = match &ack.status {
                DeliveryStatus::Refused { reason } => Some(reason.clone()),
                _ => None,
            };
            let track = AckTrack {
                at_ms: crate::service::now_ms(),
                node: ack.receiver_node.clone(),
                refused,
            };
            // A payload this node cannot read back was not made by this
            // module: nothing to track, and the acknowledgement is still
            // logged (an error here would retry the delivery forever).
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
            let value = encode(&track).map_err(|e| e.to_string())?;
            Ok(vec![StateWrite::put(TRACK_NS, key, value)])
        })
    }
}

/// Register the lists flow with `federation` (the shipped agreements and
/// measures catalogue).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
) -> Result<(), StartError> {
    federation.register(
        Flow::Lists,
        Arc::new(ListsHandler::new(
            federation,
            ListsPolicy::with_catalogue(config, catalogue)?,
        )),
    );
    Ok(())
}

// ---- offline use (the CLI) ----

/// The lists of a node's database, for one-shot commands while the node
/// runs (or not): messages are queued in the shared outbox and the running
/// node delivers them. Close with [`OfflineLists::close`].
pub struct OfflineLists {
    /// The lists.
    pub lists: Lists,
    storage: crate::storage::Storage,
    transport: crate::transport::Transport,
    shutdown: tokio_util::sync::CancellationToken,
    tracker: tokio_util::task::TaskTracker,
}

impl OfflineLists {
    /// Open the node's storage and keys.
    pub async fn open(config: &NodeConfig) -> Result<OfflineLists, StartError> {
        let creds = crate::boot::load_credentials(config)?;
        let chain: Vec<Vec<u8>> = creds.chain.iter().map(|c| c.to_vec()).collect();
        let node_key = Arc::new(crate::boot::load_node_signing_key(config)?);
        let transport = crate::service::client_transport(config)?;
        let storage = crate::service::open_storage(config).await?;
        let pem = std::fs::read_to_string(&config.tls.key).map_err(|e| StartError::TlsFile {
            path: config.tls.key.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        let log_key = Arc::new(crate::log::LogKey::from_pkcs8_pem(
            &pem,
            config.region,
            &config.name,
        )?);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let checkpoints =
            crate::log::Checkpoints::spawn(storage.clone(), log_key, &tracker, shutdown.clone())
                .await?;
        let federation = Federation::new(FederationContext {
            storage: storage.clone(),
            checkpoints,
            region: config.region,
            node: config.name.clone(),
            node_key,
            chain,
            trust: transport.trust().clone(),
            peers: crate::federation::PeerPool::new(transport.clone(), &config.peers),
        });
        Ok(OfflineLists {
            lists: Lists::new(federation, ListsPolicy::for_node(config)?),
            storage,
            transport,
            shutdown,
            tracker,
        })
    }

    /// Stop the background tasks and close storage and the endpoint.
    pub async fn close(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.storage.close().await;
        self.transport.close().await;
    }
}

// ---- helpers ----

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ListsError> {
    credex_protocol::encode(value).map_err(|e| ListsError::Corrupt(format!("cannot encode: {e}")))
}

fn decode_state<T: serde::de::DeserializeOwned>(key: &str, value: &[u8]) -> Result<T, ListsError> {
    credex_protocol::decode(value).map_err(|e| ListsError::Corrupt(format!("{key}: {e}")))
}

async fn read<T: serde::de::DeserializeOwned>(
    storage: &crate::storage::Storage,
    ns: &str,
    key: &str,
) -> Result<Option<T>, ListsError> {
    match storage.state(ns, key).await? {
        Some(value) => Ok(Some(decode_state(&format!("{ns}/{key}"), &value)?)),
        None => Ok(None),
    }
}

async fn scan(
    storage: &crate::storage::Storage,
    ns: &str,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, ListsError> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let after = out.last().map(|(k, _)| k.clone());
        let page = storage
            .state_scan(ns, prefix, after.as_deref(), PAGE)
            .await?;
        let full = page.len() == PAGE as usize;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// `{entry}/{region}/{event}` → (region, event) for `id`.
fn split_track<'k>(key: &'k str, id: &EntryId) -> Option<(RegionCode, &'k str)> {
    let rest = key.strip_prefix(&format!("{id}/"))?;
    let (region, event) = rest.split_once('/')?;
    Some((region.parse().ok()?, event))
}

fn decode_payload<T: serde::de::DeserializeOwned>(envelope: &Envelope) -> Result<T, Refusal> {
    credex_protocol::decode(&envelope.payload).map_err(|e| {
        Refusal::Permanent(format!(
            "lists message kind {} does not decode: {e}",
            envelope.kind
        ))
    })
}

fn as_text<S: serde::Serializer>(id: &EntryId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn transient(e: impl std::fmt::Display) -> Refusal {
    Refusal::Transient(e.to_string())
}

/// The first 8 bytes of a subject's digest, hex (for summaries).
fn short_digest(subject: &SubjectRef) -> String {
    hex::encode(&subject_digest(subject)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_stages_and_overdue() {
        let sent = SentTrack {
            at_ms: 0,
            respond_by_ms: 10,
            feedback_by_ms: 20,
            message_id: [0; 16],
        };
        let region: RegionCode = "440000".parse().expect("region");
        let parts = || Parts {
            sent: Some(sent.clone()),
            ..Parts::default()
        };
        let v = parts().view(region, false, 5).expect("view");
        assert_eq!((v.stage, v.overdue.clone()), (Stage::Sent, vec![]));
        assert_eq!(v.next_deadline_ms, Some(10));
        let v = parts().view(region, false, 20).expect("view");
        assert_eq!(v.overdue, vec![Overdue::Response, Overdue::Feedback]);
        let mut p = parts();
        p.responded = Some(AckTrack {
            at_ms: 1,
            node: "gz-1".parse().expect("node"),
            refused: Some("no agreement".into()),
        });
        let v = p.view(region, false, 30).expect("view");
        assert_eq!((v.stage, v.overdue), (Stage::Refused, vec![]));
        let mut p = parts();
        p.changes.insert(
            1,
            ChangeTrack {
                change: ChangeKind::Repair,
                at_ms: 2,
                confirm_by_ms: 40,
            },
        );
        let v = p.view(region, true, 50).expect("view");
        assert_eq!(v.stage, Stage::ChangeSent);
        // Ended: no feedback owed; the response and the confirmation are.
        assert_eq!(v.next_deadline_ms, Some(10));
        assert_eq!(
            v.overdue,
            vec![Overdue::Response, Overdue::ChangeConfirmation]
        );
        assert!(Parts::default().view(region, false, 0).is_none());
    }
}
