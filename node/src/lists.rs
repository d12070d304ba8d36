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
//!
//! The parts: [`policy`](ListsPolicy) (what is decided against), `state`
//! (the stored records and their keys), `service` ([`Lists`], the
//! operator's side), `receive` (the flow's registration: other regions'
//! messages), `status` (where each entry stands) and `offline` (the CLI's
//! access). This file holds the namespaces, the operator's draft and the
//! error.

use std::collections::BTreeMap;

use credex_policies::egress::EgressError;
use credex_protocol::lists::{ChangeKind, EntryId, ListKind, SubjectNotice};
use serde::{Deserialize, Serialize};

use crate::federation::PrepareError;
use crate::storage::StorageError;

mod filing;
mod offline;
mod outcomes;
mod policy;
mod procedures;
mod receive;
mod service;
mod state;
mod status;
mod watch;

pub use crate::rights::{CaseAnswer, EvidenceFile};
pub use offline::OfflineLists;
pub use policy::{ListsPolicy, list_type};
pub use procedures::{CaseView, overdue};
pub use receive::register;
pub use service::{Added, Lists};
pub use status::{
    ChangeView, EntryStatus, FeedbackView, HeldEntryView, HeldView, ObjectionView, Overdue,
    RegionStatus, Stage,
};
pub use watch::{OBJECTION_WATCH_EVERY, objection_watch_for, spawn_objection_watch};

pub use credex_flows::lists::{ENTRIES_NS, FEEDBACK_NS, OBJECTIONS_NS, RECEIVED_NS, TRACK_NS};

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
