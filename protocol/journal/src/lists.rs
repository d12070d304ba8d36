//! Entries of joint reward/punishment lists (联合奖惩): listings this
//! region made, feedback it gave, changes it made, objections it routed.

use credex_protocol::RegionCode;
use credex_protocol::lists::{
    CaseAbout, ChangeKind, EntryId, EvidenceKind, ListKind, Procedure, ProcedureDeadline,
    ProcedureStage,
};
use credex_protocol::query::CategoryFields;
use serde::{Deserialize, Serialize};

/// Journal body of [`kind::LISTING_INITIATED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingInitiated {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The entry.
    pub entry: EntryId,
    /// Which list.
    pub list_type: ListKind,
    /// The subject, as [`crate::subject_digest`].
    pub subject_digest: [u8; 32],
    /// SHA-256 of encode(ListEntry) as sent.
    pub entry_digest: [u8; 32],
    /// The measures chosen.
    pub measures: Vec<String>,
    /// The regions sent to, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
    /// Regions an agreement binds but no peer is configured for.
    pub no_peer: Vec<RegionCode>,
    /// Per region sent to, the entry's fields the egress gate withheld
    /// (regions that received everything are not listed).
    pub withheld: Vec<(RegionCode, Vec<CategoryFields>)>,
}

/// Journal body of [`kind::FEEDBACK_SENT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackSent {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The entry (its origin receives the feedback).
    pub entry: EntryId,
    /// The measures applied.
    pub applied: Vec<String>,
    /// SHA-256 of the note.
    pub note_digest: [u8; 32],
    /// The message id.
    pub message_id: [u8; 16],
}

/// Journal body of [`kind::CHANGE_INITIATED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeInitiated {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The entry.
    pub entry: EntryId,
    /// The revision after the change.
    pub revision: u32,
    /// What changed.
    pub change: ChangeKind,
    /// SHA-256 of encode(EntryChange) as sent.
    pub change_digest: [u8; 32],
    /// The regions sent to, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
}

/// Journal body of [`kind::OBJECTION_ROUTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionRouted {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The entry (its origin receives the objection).
    pub entry: EntryId,
    /// SHA-256 of the reason.
    pub reason_digest: [u8; 32],
    /// The message id.
    pub message_id: [u8; 16],
}

/// Journal body of [`kind::REPAIR_ROUTED`]: this region routed a
/// subject's credit repair application to the entry's origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairRouted {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The entry (its origin receives the application).
    pub entry: EntryId,
    /// SHA-256 of the subject's statement.
    pub statement_digest: [u8; 32],
    /// Each evidence file's kind and SHA-256, in the order sent.
    pub evidence: Vec<(EvidenceKind, [u8; 32])>,
    /// The message id (the case's id).
    pub message_id: [u8; 16],
}

/// Journal body of [`kind::PROCEDURE_MARKED`]: the origin moved an
/// objection or a repair application about one of its entries (accepted,
/// refused, decided) and told every holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureMarked {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Objection or repair.
    pub procedure: Procedure,
    /// The entry.
    pub entry: EntryId,
    /// The case (the message id that filed it).
    pub case: [u8; 16],
    /// Where it stands now.
    pub stage: ProcedureStage,
    /// SHA-256 of the origin's note.
    pub note_digest: [u8; 32],
    /// The holders told, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
}

/// Which side of a case found a deadline missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseSide {
    /// The entry's origin, which owed the answer.
    Origin,
    /// The region the subject filed in.
    FiledHere,
}

/// Journal body of [`kind::PROCEDURE_OVERDUE`]: a deadline of a case
/// passed without the answer it called for; written once per case and
/// deadline, on the origin and on the region the subject filed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureOverdue {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When it was found, Unix ms.
    pub at_ms: i64,
    /// Objection or repair.
    pub procedure: Procedure,
    /// What the case is about (a list entry, or a record of this or
    /// another region).
    pub about: CaseAbout,
    /// The case.
    pub case: [u8; 16],
    /// The deadline missed.
    pub missed: ProcedureDeadline,
    /// Its last day (China time).
    pub deadline: String,
    /// This node's side.
    pub side: CaseSide,
    /// The notice sent to the national platform, if this node sent one.
    pub national_message: Option<[u8; 16]>,
}

crate::frame::fixed_kind! {
    ListingInitiated => LISTING_INITIATED,
    FeedbackSent => FEEDBACK_SENT,
    ChangeInitiated => CHANGE_INITIATED,
    ObjectionRouted => OBJECTION_ROUTED,
    ProcedureMarked => PROCEDURE_MARKED,
    ProcedureOverdue => PROCEDURE_OVERDUE,
    RepairRouted => REPAIR_ROUTED,
}
