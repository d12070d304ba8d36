//! Objections (异议) to list entries, both sides of the procedure.
//!
//! At the origin: every objection a holder routed here, where it stands
//! and what is overdue ([`Lists::objection_cases`]); accepting, refusing
//! and deciding it ([`Lists::answer_objection`]). Each move is marked on
//! every region holding the entry, through the egress gate, in one
//! transaction with its journal entry (`objection_marked`); an objection
//! upheld also revokes the entry on every holder. At a holder (the region
//! the subject filed in included): the origin's latest mark of each
//! objection ([`Lists::objection_marks`]) — "异议处理中" while pending,
//! with the deadlines it must meet, overdue once they pass.
//!
//! The receiving side (the origin recording an objection and marking it
//! filed, a holder recording a mark) is the pure flow's
//! (`credex_flows::lists`).

use credex_flows::calendar::{china_date_text, deadline_date};
use credex_flows::lists::{
    MARKS_NS, MarkHeld, OBJECTION_CASES_NS, OBJECTIONS_NS, ObjectionCase, ObjectionTrack,
};
use credex_journal::{ENTRY_VERSION, ObjectionMarked, sha256};
use credex_policies::egress::release_objection_mark;
use credex_protocol::RegionCode;
use credex_protocol::lists::{
    ChangeKind, EntryId, ObjectionMark, ObjectionOutcome, ObjectionStage,
};
use serde::Serialize;

use super::state::{decode_state, encode, read, scan};
use super::{Lists, ListsError};
use crate::storage::StateWrite;

/// What the origin does with an objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectionAnswer {
    /// Accept it for review (受理); the decision is due within the
    /// decision deadline.
    Accept,
    /// Refuse it without review (不予受理).
    Refuse,
    /// Decide it (办结). `Upheld` also revokes the entry everywhere.
    Decide(ObjectionOutcome),
}

/// A deadline of the procedure that has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionOverdue {
    /// Neither accepted nor refused by `accept_by`.
    Acceptance,
    /// Accepted but not decided by `decide_by`.
    Decision,
}

/// An objection as the origin or a holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectionCaseView {
    /// The entry objected to.
    #[serde(serialize_with = "super::status::as_text")]
    pub entry: EntryId,
    /// The objection's id (hex of the message that filed it).
    pub objection: String,
    /// The region the subject filed it in.
    pub filed_in: RegionCode,
    /// Where it stands (`filed`, `accepted`, `refused`, or the outcome).
    pub stage: &'static str,
    /// Whether it is still being handled (异议处理中).
    pub pending: bool,
    /// The last day to accept or refuse it (China time).
    pub accept_by: String,
    /// The last day to decide it, once accepted.
    pub decide_by: Option<String>,
    /// The origin's note.
    pub note: String,
    /// The subject's grounds (at the origin only).
    pub reason: Option<String>,
    /// The deadline that has passed at the `now` asked about, if one has.
    pub overdue: Option<ObjectionOverdue>,
}

impl ObjectionCaseView {
    fn of(mark: &ObjectionMark, reason: Option<String>, now_ms: i64) -> ObjectionCaseView {
        ObjectionCaseView {
            entry: mark.entry,
            objection: hex::encode(mark.objection),
            filed_in: mark.filed_in,
            stage: mark.stage.code(),
            pending: mark.stage.pending(),
            accept_by: mark.accept_by.clone(),
            decide_by: mark.decide_by.clone(),
            note: mark.note.clone(),
            reason,
            overdue: overdue(mark, now_ms),
        }
    }
}

/// The deadline of `mark` that has passed on the China day of `now_ms`.
pub fn overdue(mark: &ObjectionMark, now_ms: i64) -> Option<ObjectionOverdue> {
    let today = china_date_text(now_ms);
    match mark.stage {
        ObjectionStage::Filed if today > mark.accept_by => Some(ObjectionOverdue::Acceptance),
        ObjectionStage::Accepted if mark.decide_by.as_ref().is_some_and(|by| &today > by) => {
            Some(ObjectionOverdue::Decision)
        }
        _ => None,
    }
}

impl Lists {
    /// Every objection to an entry this region made, with its grounds and
    /// what is overdue at `now_ms`.
    pub async fn objection_cases(&self, now_ms: i64) -> Result<Vec<ObjectionCaseView>, ListsError> {
        let storage = &self.ctx().storage;
        let mut out = Vec::new();
        for (key, value) in scan(storage, OBJECTION_CASES_NS, "").await? {
            let case: ObjectionCase = decode_state(&key, &value)?;
            let track: Option<ObjectionTrack> = read(storage, OBJECTIONS_NS, &key).await?;
            out.push(ObjectionCaseView::of(
                &case.mark,
                track.map(|t| t.reason),
                now_ms,
            ));
        }
        Ok(out)
    }

    /// The origin's latest mark of every objection to an entry held here.
    pub async fn objection_marks(&self, now_ms: i64) -> Result<Vec<ObjectionCaseView>, ListsError> {
        let storage = &self.ctx().storage;
        let mut out = Vec::new();
        for (key, value) in scan(storage, MARKS_NS, "").await? {
            let held: MarkHeld = decode_state(&key, &value)?;
            out.push(ObjectionCaseView::of(&held.mark, None, now_ms));
        }
        Ok(out)
    }

    /// Accept, refuse or decide objection `objection` (hex id) to entry
    /// `id` this region made, with a `note` for the holders, and mark it
    /// on every region holding the entry. An objection upheld also
    /// revokes the entry. Returns the regions told.
    pub async fn answer_objection(
        &self,
        id: &EntryId,
        objection: &str,
        answer: ObjectionAnswer,
        note: &str,
        now_ms: i64,
    ) -> Result<Vec<RegionCode>, ListsError> {
        let ctx = self.ctx();
        if id.origin != ctx.region {
            return Err(ListsError::NotOrigin(*id));
        }
        let recipients = {
            let _local = self.local.lock().await;
            let (key, mut case) = self.case(id, objection).await?;
            let mark = &mut case.mark;
            mark.stage = next_stage(mark.stage, answer).ok_or_else(|| {
                ListsError::Invalid(format!(
                    "objection {objection} to entry {id} is {}; it cannot be {}",
                    mark.stage.code(),
                    answer_name(answer)
                ))
            })?;
            if answer == ObjectionAnswer::Accept {
                let days = self.policy.objections.decide_working_days;
                mark.decide_by = Some(deadline_date(&self.policy.calendar, now_ms, days));
            }
            mark.note = note.to_owned();
            mark.validate()
                .map_err(|e| ListsError::Invalid(e.to_string()))?;
            case.updated_at_ms = now_ms;
            let recipients = self.recipients(id).await?;
            let mut writes = vec![StateWrite::put(OBJECTION_CASES_NS, key, encode(&case)?)];
            let mut sent_to = Vec::new();
            for region in &recipients {
                let body = release_objection_mark(*region, &case.mark)?;
                let (signed, outbox) = self.federation.prepare(body, now_ms)?;
                writes.push(outbox);
                sent_to.push((*region, signed.envelope.message_id));
            }
            let entry = ObjectionMarked {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                entry: *id,
                objection: case.mark.objection,
                stage: case.mark.stage,
                note_digest: sha256(note.as_bytes()),
                sent_to,
            };
            ctx.storage.append_entry_with_state(&entry, writes).await?;
            recipients
        };
        self.federation.wake();
        if answer == ObjectionAnswer::Decide(ObjectionOutcome::Upheld) {
            let reason = format!("异议成立 (objection {objection} upheld)");
            self.change(id, ChangeKind::Revoke, None, &reason, now_ms)
                .await?;
        }
        Ok(recipients)
    }

    /// The stored case of objection `objection` (hex) to `id`, with its key.
    async fn case(
        &self,
        id: &EntryId,
        objection: &str,
    ) -> Result<(String, ObjectionCase), ListsError> {
        let storage = &self.ctx().storage;
        let suffix = format!("/{}", objection.to_ascii_lowercase());
        for (key, value) in scan(storage, OBJECTION_CASES_NS, &format!("{id}/")).await? {
            if key.ends_with(&suffix) {
                return Ok((key.clone(), decode_state(&key, &value)?));
            }
        }
        Err(ListsError::Invalid(format!(
            "no objection {objection} to entry {id} was filed here"
        )))
    }
}

/// The stage `answer` moves `stage` to, if it may.
fn next_stage(stage: ObjectionStage, answer: ObjectionAnswer) -> Option<ObjectionStage> {
    match (stage, answer) {
        (ObjectionStage::Filed, ObjectionAnswer::Accept) => Some(ObjectionStage::Accepted),
        (ObjectionStage::Filed, ObjectionAnswer::Refuse) => Some(ObjectionStage::Refused),
        // A subject may withdraw before acceptance; anything else is
        // decided only after review.
        (ObjectionStage::Filed, ObjectionAnswer::Decide(ObjectionOutcome::Withdrawn))
        | (ObjectionStage::Accepted, ObjectionAnswer::Decide(ObjectionOutcome::Withdrawn)) => {
            Some(ObjectionStage::Decided(ObjectionOutcome::Withdrawn))
        }
        (ObjectionStage::Accepted, ObjectionAnswer::Decide(outcome)) => {
            Some(ObjectionStage::Decided(outcome))
        }
        _ => None,
    }
}

fn answer_name(answer: ObjectionAnswer) -> String {
    match answer {
        ObjectionAnswer::Accept => "accepted".into(),
        ObjectionAnswer::Refuse => "refused".into(),
        ObjectionAnswer::Decide(o) => format!("decided {}", o.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_objection_moves_forward_only() {
        use ObjectionAnswer::*;
        use ObjectionOutcome::*;
        use ObjectionStage::*;
        assert_eq!(next_stage(Filed, Accept), Some(Accepted));
        assert_eq!(next_stage(Filed, Refuse), Some(Refused));
        assert_eq!(next_stage(Filed, Decide(Upheld)), None, "review first");
        assert_eq!(
            next_stage(Filed, Decide(Withdrawn)),
            Some(Decided(Withdrawn))
        );
        assert_eq!(
            next_stage(Accepted, Decide(Dismissed)),
            Some(Decided(Dismissed))
        );
        assert_eq!(next_stage(Accepted, Accept), None);
        assert_eq!(next_stage(Refused, Accept), None);
        assert_eq!(next_stage(Decided(Upheld), Decide(Dismissed)), None);
    }
}
