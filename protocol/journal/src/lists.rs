//! Entries of joint reward/punishment lists (联合奖惩): listings this
//! region made, feedback it gave, changes it made, objections it routed.

use credex_protocol::RegionCode;
use credex_protocol::lists::{ChangeKind, EntryId, ListKind, ObjectionDeadline, ObjectionStage};
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

/// Journal body of [`kind::OBJECTION_MARKED`]: the origin moved an
/// objection to one of its entries (accepted, refused, decided) and told
/// every holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionMarked {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The entry.
    pub entry: EntryId,
    /// The objection (the message id that filed it).
    pub objection: [u8; 16],
    /// Where it stands now.
    pub stage: ObjectionStage,
    /// SHA-256 of the origin's note.
    pub note_digest: [u8; 32],
    /// The holders told, with the message ids.
    pub sent_to: Vec<(RegionCode, [u8; 16])>,
}

/// Which side of an objection found a deadline missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectionSide {
    /// The entry's origin, which owed the answer.
    Origin,
    /// The region the subject filed in.
    FiledHere,
}

/// Journal body of [`kind::OBJECTION_OVERDUE`]: a deadline of an objection
/// passed without the answer it called for; written once per objection and
/// deadline, on the origin and on the region the subject filed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionOverdue {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When it was found, Unix ms.
    pub at_ms: i64,
    /// The entry.
    pub entry: EntryId,
    /// The objection.
    pub objection: [u8; 16],
    /// The deadline missed.
    pub missed: ObjectionDeadline,
    /// Its last day (China time).
    pub deadline: String,
    /// This node's side.
    pub side: ObjectionSide,
    /// The notice sent to the national platform, if this node sent one.
    pub national_message: Option<[u8; 16]>,
}

crate::frame::fixed_kind! {
    ListingInitiated => LISTING_INITIATED,
    FeedbackSent => FEEDBACK_SENT,
    ChangeInitiated => CHANGE_INITIATED,
    ObjectionRouted => OBJECTION_ROUTED,
    ObjectionMarked => OBJECTION_MARKED,
    ObjectionOverdue => OBJECTION_OVERDUE,
}
