//! Where each entry stands: at the origin, per region, the stage it
//! reached (sent, responded, fed back, changed, confirmed) and what is
//! overdue against the agreement's deadlines, for a `now` passed in; and
//! the entries other regions sent here.
//!
//! Owns: the status views, [`Lists::status`] and [`Lists::received`], and
//! joining the event tracks into a region's view. Does not own writing
//! those tracks ([`super::service`], [`super::receive`]).

use std::collections::BTreeMap;

use credex_protocol::RegionCode;
use credex_protocol::lists::{ChangeKind, EntryId, ListKind};
use serde::Serialize;

use super::Lists;
use super::state::*;
use super::{ENTRIES_NS, FEEDBACK_NS, ListsError, OBJECTIONS_NS, RECEIVED_NS, TRACK_NS};

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

impl Lists {
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

/// Serialize an entry id as its text form.
pub(super) fn as_text<S: serde::Serializer>(id: &EntryId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
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
