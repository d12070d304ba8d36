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
use std::collections::BTreeMap;

use credex_flows::lists::{
    FILED_NS, FiledObjection, MARKS_NS, MarkHeld, OBJECTION_CASES_NS, OBJECTIONS_NS, OVERDUE_NS,
    ObjectionCase, ObjectionTrack, mark_key,
};
use credex_journal::{ENTRY_VERSION, ObjectionMarked, ObjectionOverdue, ObjectionSide, sha256};
use credex_policies::egress::{release_objection_mark, release_objection_overdue};
use credex_protocol::RegionCode;
use credex_protocol::lists::{
    ChangeKind, EntryId, ObjectionDeadline, ObjectionMark, ObjectionOutcome, ObjectionStage,
};
use credex_protocol::upward::ObjectionOverdueNotice;

use crate::federation::PrepareError;
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
    pub overdue: Option<ObjectionDeadline>,
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
pub fn overdue(mark: &ObjectionMark, now_ms: i64) -> Option<ObjectionDeadline> {
    let today = china_date_text(now_ms);
    match mark.stage {
        ObjectionStage::Filed if today > mark.accept_by => Some(ObjectionDeadline::Acceptance),
        ObjectionStage::Accepted if mark.decide_by.as_ref().is_some_and(|by| &today > by) => {
            Some(ObjectionDeadline::Decision)
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

    /// The origin's latest mark of every objection to an entry held here;
    /// an objection filed here that the origin has not marked yet shows as
    /// filed, with this region's own count of its acceptance deadline.
    pub async fn objection_marks(&self, now_ms: i64) -> Result<Vec<ObjectionCaseView>, ListsError> {
        Ok(self
            .latest_marks()
            .await?
            .into_iter()
            .map(|(_, mark, _)| ObjectionCaseView::of(&mark, None, now_ms))
            .collect())
    }

    /// Every objection to an entry held here, by [`mark_key`]: its latest
    /// mark and whether it was filed here.
    async fn latest_marks(&self) -> Result<Vec<(String, ObjectionMark, bool)>, ListsError> {
        let storage = &self.ctx().storage;
        let mut marks: BTreeMap<String, (ObjectionMark, bool)> = BTreeMap::new();
        for (key, value) in scan(storage, MARKS_NS, "").await? {
            let held: MarkHeld = decode_state(&key, &value)?;
            marks.insert(key, (held.mark, false));
        }
        for (key, value) in scan(storage, FILED_NS, "").await? {
            let filed: FiledObjection = decode_state(&key, &value)?;
            match marks.get_mut(&key) {
                Some((_, here)) => *here = true,
                None => {
                    let Some(mark) = unmarked(&key, &filed, self.ctx().region) else {
                        return Err(ListsError::Corrupt(format!(
                            "{FILED_NS}/{key}: not ENTRY/OBJECTION"
                        )));
                    };
                    marks.insert(key, (mark, true));
                }
            }
        }
        Ok(marks
            .into_iter()
            .map(|(k, (m, here))| (k, m, here))
            .collect())
    }

    /// Report every objection deadline that has passed at `now_ms` and was
    /// not reported yet: journaled (`objection_overdue`) on the origin for
    /// its own entries, and on the region the subject filed in — which
    /// also tells the national platform, when it has a peer for it.
    /// Returns the deadlines reported now. Called by the node's objection
    /// watch; idempotent.
    pub async fn report_overdue(&self, now_ms: i64) -> Result<Vec<ObjectionCaseView>, ListsError> {
        let storage = &self.ctx().storage;
        let mut found: Vec<(String, ObjectionMark, ObjectionSide)> = Vec::new();
        for (key, value) in scan(storage, OBJECTION_CASES_NS, "").await? {
            let case: ObjectionCase = decode_state(&key, &value)?;
            found.push((
                mark_key(&case.mark.entry, &case.mark.objection),
                case.mark,
                ObjectionSide::Origin,
            ));
        }
        for (key, mark, filed_here) in self.latest_marks().await? {
            if filed_here {
                found.push((key, mark, ObjectionSide::FiledHere));
            }
        }
        let mut reported = Vec::new();
        for (key, mark, side) in found {
            let Some(missed) = overdue(&mark, now_ms) else {
                continue;
            };
            let flag = format!("{key}/{}", missed.code());
            if storage.state(OVERDUE_NS, &flag).await?.is_some() {
                continue;
            }
            let deadline = match missed {
                ObjectionDeadline::Acceptance => mark.accept_by.clone(),
                ObjectionDeadline::Decision => mark.decide_by.clone().unwrap_or_default(),
            };
            let mut writes = vec![StateWrite::put(
                OVERDUE_NS,
                flag,
                now_ms.to_be_bytes().to_vec(),
            )];
            let mut national_message = None;
            if side == ObjectionSide::FiledHere {
                let notice = ObjectionOverdueNotice {
                    entry: mark.entry,
                    objection: mark.objection,
                    filed_in: mark.filed_in,
                    missed,
                    deadline: deadline.clone(),
                };
                match self.federation.prepare(
                    release_objection_overdue(RegionCode::NATIONAL, &notice)?,
                    now_ms,
                ) {
                    Ok((signed, outbox)) => {
                        writes.push(outbox);
                        national_message = Some(signed.envelope.message_id);
                    }
                    Err(PrepareError::UnknownPeer(_)) => {
                        tracing::warn!(entry = %mark.entry, "objection overdue: no national peer to tell");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let entry = ObjectionOverdue {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                entry: mark.entry,
                objection: mark.objection,
                missed,
                deadline,
                side,
                national_message,
            };
            storage.append_entry_with_state(&entry, writes).await?;
            reported.push(ObjectionCaseView::of(&mark, None, now_ms));
        }
        if !reported.is_empty() {
            self.federation.wake();
        }
        Ok(reported)
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

/// The mark an objection filed here stands at before the origin marks it:
/// filed, with this region's own acceptance deadline. `None` when the key
/// is not `{entry}/{objection hex}`.
fn unmarked(key: &str, filed: &FiledObjection, here: RegionCode) -> Option<ObjectionMark> {
    let (entry, objection) = key.split_once('/')?;
    let mut id = [0u8; 16];
    hex::decode_to_slice(objection, &mut id).ok()?;
    Some(ObjectionMark {
        entry: entry.parse().ok()?,
        objection: id,
        filed_in: here,
        stage: ObjectionStage::Filed,
        accept_by: filed.accept_by.clone(),
        decide_by: None,
        note: String::new(),
    })
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
