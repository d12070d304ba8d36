//! The lists flow's stored state: what each namespace holds (the entries
//! made here, the per-region event tracks, the entries held from other
//! regions, objections, feedback given) and the keys it is held under.
//!
//! Owns: the stored record types, the namespaces and the key formats.
//! Does not own reading or scanning the store (the node's `lists::state`)
//! nor what an event means for an entry's status (the node's
//! `lists::status`).

use credex_protocol::lists::{
    ChangeKind, EntryId, EvidenceKind, ListEntry, Procedure, ProcedureMark,
};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};

/// Entries this region made: entry id → [`OwnEntry`].
pub const ENTRIES_NS: &str = "lists.entries";
/// Per entry and region, one key per event: `{entry}/{region}/{event}`
/// ([`track_key`]).
pub const TRACK_NS: &str = "lists.track";
/// Entries other regions sent here: entry id → [`HeldEntry`].
pub const RECEIVED_NS: &str = "lists.received";
/// Objections routed to this region: `{entry}/{region}/{message id}` →
/// [`ObjectionTrack`].
pub const OBJECTIONS_NS: &str = "lists.objections";
/// Feedback this region gave: entry id → [`FeedbackGiven`].
pub const FEEDBACK_NS: &str = "lists.feedback";
/// Repair applications routed to this region: `{entry}/{region}/{message
/// id}` ([`case_key`]) → [`RepairTrack`].
pub const REPAIRS_NS: &str = "lists.repairs";
/// The evidence files of the repair applications routed here, kept for
/// the reviewers and the auditor: `{case hex}/{index}` ([`evidence_key`])
/// → the file's bytes, as received and digest-checked.
pub const EVIDENCE_NS: &str = "lists.evidence";
/// At the origin, where each objection or repair application stands: its
/// [`case_key`] → [`ProcedureCase`].
pub const CASES_NS: &str = "lists.cases";
/// At the region a subject filed a case in: the cases it routed,
/// `{entry}/{case hex}` ([`mark_key`]) → [`FiledCase`].
pub const FILED_NS: &str = "lists.cases_filed";
/// Missed deadlines already reported, one key per case and deadline:
/// `{entry}/{case hex}/{deadline}` → the report time (8 bytes, big-endian
/// Unix ms).
pub const OVERDUE_NS: &str = "lists.cases_overdue";
/// At a holder, the origin's latest mark of each case about a held entry:
/// `{entry}/{case hex}` ([`mark_key`]) → [`MarkHeld`].
pub const MARKS_NS: &str = "lists.case_marks";

/// An entry this region made (认定), as the origin keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnEntry {
    /// The entry at its latest revision.
    pub entry: ListEntry,
    /// When it was made, Unix ms.
    pub created_at_ms: i64,
    /// The change that ended it, if one did.
    pub ended: Option<EndedAt>,
    /// Regions an agreement binds for the list but no peer is configured
    /// for (the entry was not sent to them).
    pub no_peer: Vec<RegionCode>,
    /// The record of this region the entry rests on (e.g. the penalty
    /// decision behind a serious-dishonesty listing), if it was named: a
    /// granted repair ends that record's publication too.
    pub rests_on: Option<RestsOn>,
}

/// One of this region's records, by category and id (never sent in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestsOn {
    /// Catalogue category.
    pub category: String,
    /// The record's id within its category.
    pub record_id: String,
}

/// The change that ended an entry (repair, revocation or exit).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EndedAt {
    /// The change.
    pub change: ChangeKind,
    /// The revision it made.
    pub revision: u32,
    /// When it was made (at the origin) or applied (at a member), Unix ms.
    pub at_ms: i64,
}

/// Track event `sent`: the entry was sent to the region (发起).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentTrack {
    /// When, Unix ms.
    pub at_ms: i64,
    /// The response deadline under the agreement's joint terms, Unix ms.
    pub respond_by_ms: i64,
    /// The feedback deadline under the agreement's joint terms, Unix ms.
    pub feedback_by_ms: i64,
    /// The listing message's id.
    pub message_id: [u8; 16],
}

/// Track events `responded` and `changeack/{revision}`: the region
/// acknowledged a listing or a change (响应), or refused it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckTrack {
    /// When the acknowledgement was taken in, Unix ms.
    pub at_ms: i64,
    /// The node that acknowledged.
    pub node: NodeName,
    /// The region's reason, when it refused the message.
    pub refused: Option<String>,
}

/// Track event `feedback`: the measures the region applied (反馈).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedbackTrack {
    /// When it arrived, Unix ms.
    pub at_ms: i64,
    /// The measures applied (codes of the measures catalogue).
    pub applied: Vec<String>,
    /// The region's note.
    pub note: String,
}

/// Track event `change/{revision}`: a change was sent to the region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeTrack {
    /// The change.
    pub change: ChangeKind,
    /// When it was sent, Unix ms.
    pub at_ms: i64,
    /// The confirmation deadline under the agreement's joint terms, Unix ms.
    pub confirm_by_ms: i64,
}

/// Track event `confirm/{revision}`: the region confirmed it applied a
/// change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfirmTrack {
    /// When the confirmation arrived, Unix ms.
    pub at_ms: i64,
}

/// An entry another region sent here, as this member holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldEntry {
    /// The entry at the latest revision applied.
    pub entry: ListEntry,
    /// When the listing arrived, Unix ms.
    pub received_at_ms: i64,
    /// The origin's node that sent it.
    pub from_node: NodeName,
    /// The change that ended it, if one did.
    pub ended: Option<EndedAt>,
}

/// An objection a member routed to this region (异议).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectionTrack {
    /// When it arrived, Unix ms.
    pub at_ms: i64,
    /// The subject's grounds.
    pub reason: String,
}

/// A repair application a member routed to this region (信用修复申请): the
/// statement and what each evidence file is; the files themselves are
/// under [`EVIDENCE_NS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepairTrack {
    /// When it arrived, Unix ms.
    pub at_ms: i64,
    /// The subject's statement.
    pub statement: String,
    /// The evidence, in the order received.
    pub evidence: Vec<EvidenceHeld>,
}

/// One evidence file of a case (a repair application, or any case about a
/// record), as the deciding region keeps it; the bytes are kept beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceHeld {
    /// What it is.
    pub kind: EvidenceKind,
    /// Its title.
    pub title: String,
    /// Its SHA-256 (checked on arrival).
    pub digest: [u8; 32],
    /// Its length in bytes.
    pub len: u64,
}

impl EvidenceHeld {
    /// `kind: title (bytes, sha256 hex)`, as case listings show a file.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} ({} bytes, sha256 {})",
            self.kind.code(),
            self.title,
            self.len,
            hex::encode(self.digest)
        )
    }
}

/// Where an objection or a repair application about an entry this region
/// made stands (办理), and what every holder was last told.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcedureCase {
    /// The latest mark sent to the holders.
    pub mark: ProcedureMark,
    /// When the objection arrived, Unix ms.
    pub filed_at_ms: i64,
    /// When the mark last moved, Unix ms.
    pub updated_at_ms: i64,
}

/// An objection or repair application this region routed to an entry's
/// origin, with the acceptance deadline it counts on its own calendar (so
/// a missed deadline shows even if the origin never marks it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiledCase {
    /// Objection or repair.
    pub procedure: Procedure,
    /// When it was routed, Unix ms.
    pub at_ms: i64,
    /// The last day for the origin to accept or refuse it.
    pub accept_by: String,
}

/// The origin's latest mark of a case about an entry held here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkHeld {
    /// The mark.
    pub mark: ProcedureMark,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
}

/// Feedback this region gave on a held entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedbackGiven {
    /// When it was sent, Unix ms.
    pub at_ms: i64,
    /// The measures applied.
    pub applied: Vec<String>,
    /// The note sent.
    pub note: String,
}

/// The [`TRACK_NS`] key of `event` for entry `id` and `region`.
pub fn track_key(id: &EntryId, region: RegionCode, event: &str) -> String {
    format!("{id}/{region}/{event}")
}

/// An event name for a revision (`change/0000000003`): zero-padded, so a
/// scan returns the revisions in order.
pub fn rev_event(event: &str, revision: u32) -> String {
    format!("{event}/{revision:010}")
}

/// `{entry}/{region}/{event}` → (region, event) for `id`.
pub fn split_track<'k>(key: &'k str, id: &EntryId) -> Option<(RegionCode, &'k str)> {
    let rest = key.strip_prefix(&format!("{id}/"))?;
    let (region, event) = rest.split_once('/')?;
    Some((region.parse().ok()?, event))
}

/// The [`OBJECTIONS_NS`], [`REPAIRS_NS`] and [`CASES_NS`] key of a case
/// about `id` routed by `region` in message `message_id`.
pub fn case_key(id: &EntryId, region: RegionCode, message_id: &[u8; 16]) -> String {
    format!("{id}/{region}/{}", hex::encode(message_id))
}

/// The [`MARKS_NS`] key of case `case` about entry `id`.
pub fn mark_key(id: &EntryId, case: &[u8; 16]) -> String {
    format!("{id}/{}", hex::encode(case))
}

/// The [`EVIDENCE_NS`] key of evidence file `index` of case `case`.
pub fn evidence_key(case: &[u8; 16], index: usize) -> String {
    format!("{}/{index:02}", hex::encode(case))
}

/// The regions entry `id` was sent to that did not refuse it — the regions
/// that hold it — from its [`TRACK_NS`] events (any order).
pub fn holders<'a>(
    id: &EntryId,
    tracks: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<RegionCode>, credex_protocol::FrameError> {
    let mut sent = std::collections::BTreeMap::new();
    for (key, value) in tracks {
        let Some((region, event)) = split_track(key, id) else {
            continue;
        };
        match event {
            "sent" => {
                sent.entry(region).or_insert(true);
            }
            "responded" => {
                let ack: AckTrack = credex_protocol::decode(value)?;
                if ack.refused.is_some() {
                    sent.insert(region, false);
                }
            }
            _ => {}
        }
    }
    Ok(sent
        .into_iter()
        .filter_map(|(r, holds)| holds.then_some(r))
        .collect())
}
