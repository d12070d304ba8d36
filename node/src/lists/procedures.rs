//! The subject's cases against list entries — objections (异议) and credit
//! repair applications (信用修复) — as the origin decides them and the
//! holders see them.
//!
//! At the origin: every case a holder routed here, where it stands and
//! what is overdue ([`Lists::cases`]); accepting, refusing and deciding it
//! ([`Lists::answer_case`]). Each move is marked on every region holding
//! the entry, through the egress gate, in one transaction with its journal
//! entry (`procedure_marked`). An objection upheld revokes the entry on
//! every holder; a repair granted ends it with a `repair` change, and ends
//! the publication of the record it rests on (`records_changed`, so the
//! correction sweep tells every recipient of the record, the national
//! platform included). At a holder (the region the subject filed in
//! included): the origin's latest mark of each case ([`Lists::case_marks`])
//! — "异议处理中" or "信用修复审核中" while pending, with the deadlines it
//! must meet, overdue once they pass.
//!
//! Filing a case is `filing`'s; the receiving side (the origin opening a
//! case, a holder recording a mark) is the pure flow's
//! (`credex_flows::lists`).

use crate::rights::procedure::{
    CaseAnswer, evidence_file, move_case, overdue_stage, tell_national,
};
use credex_flows::calendar::china_date_text;
use std::collections::BTreeMap;

use credex_flows::lists::{
    CASES_NS, EVIDENCE_NS, EvidenceHeld, FILED_NS, FiledCase, MARKS_NS, MarkHeld, OBJECTIONS_NS,
    OVERDUE_NS, ObjectionTrack, ProcedureCase, REPAIRS_NS, RepairTrack, evidence_key, mark_key,
};
use credex_journal::{CaseSide, ENTRY_VERSION, ProcedureMarked, ProcedureOverdue, sha256};
use credex_policies::egress::release_procedure_mark;
use credex_protocol::RegionCode;
use credex_protocol::lists::{
    CaseAbout, EntryId, Procedure, ProcedureDeadline, ProcedureMark, ProcedureStage,
};
use credex_protocol::upward::ProcedureOverdueNotice;

use serde::Serialize;

use super::state::{decode_state, encode, read, scan};
use super::{Lists, ListsError};
use crate::storage::StateWrite;

/// A case as the origin or a holder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseView {
    /// `objection` or `repair`.
    pub procedure: &'static str,
    /// The entry the case is about.
    #[serde(serialize_with = "super::status::as_text")]
    pub entry: EntryId,
    /// The case's id (hex of the message that filed it).
    pub case: String,
    /// The region the subject filed it in.
    pub filed_in: RegionCode,
    /// Where it stands (`filed`, `accepted`, `refused`, or the outcome).
    pub stage: &'static str,
    /// Whether it is still being handled (异议处理中, 信用修复审核中).
    pub pending: bool,
    /// The last day to accept or refuse it (China time).
    pub accept_by: String,
    /// The last day to decide it, once accepted.
    pub decide_by: Option<String>,
    /// The origin's note.
    pub note: String,
    /// The subject's grounds or statement (at the origin only).
    pub reason: Option<String>,
    /// The evidence files as `kind: title (bytes, sha256)` (at the origin
    /// only; repairs only).
    pub evidence: Vec<String>,
    /// The deadline that has passed at the `now` asked about, if one has.
    pub overdue: Option<ProcedureDeadline>,
}

impl CaseView {
    fn of(mark: &ProcedureMark, reason: Option<String>, now_ms: i64) -> CaseView {
        CaseView {
            procedure: mark.procedure.code(),
            entry: mark.entry,
            case: hex::encode(mark.case),
            filed_in: mark.filed_in,
            stage: mark.stage.code(),
            pending: mark.stage.pending(),
            accept_by: mark.accept_by.clone(),
            decide_by: mark.decide_by.clone(),
            note: mark.note.clone(),
            reason,
            evidence: Vec::new(),
            overdue: overdue(mark, now_ms),
        }
    }
}

/// The deadline of `mark` that has passed on the China day of `now_ms`.
pub fn overdue(mark: &ProcedureMark, now_ms: i64) -> Option<ProcedureDeadline> {
    overdue_stage(
        mark.stage,
        &mark.accept_by,
        mark.decide_by.as_deref(),
        &china_date_text(now_ms),
    )
}

impl Lists {
    /// Every case about an entry this region made, with its grounds or
    /// statement and evidence, and what is overdue at `now_ms`.
    pub async fn cases(&self, now_ms: i64) -> Result<Vec<CaseView>, ListsError> {
        let storage = &self.ctx().storage;
        let mut out = Vec::new();
        for (key, value) in scan(storage, CASES_NS, "").await? {
            let case: ProcedureCase = decode_state(&key, &value)?;
            let view = match case.mark.procedure {
                Procedure::Objection => {
                    let track: Option<ObjectionTrack> = read(storage, OBJECTIONS_NS, &key).await?;
                    CaseView::of(&case.mark, track.map(|t| t.reason), now_ms)
                }
                Procedure::Repair => {
                    let track: Option<RepairTrack> = read(storage, REPAIRS_NS, &key).await?;
                    let mut view = CaseView::of(
                        &case.mark,
                        track.as_ref().map(|t| t.statement.clone()),
                        now_ms,
                    );
                    view.evidence = track
                        .iter()
                        .flat_map(|t| &t.evidence)
                        .map(|e| e.describe())
                        .collect();
                    view
                }
            };
            out.push(view);
        }
        Ok(out)
    }

    /// The origin's latest mark of every case about an entry held here; a
    /// case filed here that the origin has not marked yet shows as filed,
    /// with this region's own count of its acceptance deadline.
    pub async fn case_marks(&self, now_ms: i64) -> Result<Vec<CaseView>, ListsError> {
        Ok(self
            .latest_marks()
            .await?
            .into_iter()
            .map(|(_, mark, _)| CaseView::of(&mark, None, now_ms))
            .collect())
    }

    /// Every case about an entry held here, by [`mark_key`]: its latest
    /// mark and whether it was filed here.
    async fn latest_marks(&self) -> Result<Vec<(String, ProcedureMark, bool)>, ListsError> {
        let storage = &self.ctx().storage;
        let mut marks: BTreeMap<String, (ProcedureMark, bool)> = BTreeMap::new();
        for (key, value) in scan(storage, MARKS_NS, "").await? {
            let held: MarkHeld = decode_state(&key, &value)?;
            marks.insert(key, (held.mark, false));
        }
        for (key, value) in scan(storage, FILED_NS, "").await? {
            let filed: FiledCase = decode_state(&key, &value)?;
            match marks.get_mut(&key) {
                Some((_, here)) => *here = true,
                None => {
                    let Some(mark) = unmarked(&key, &filed, self.ctx().region) else {
                        return Err(ListsError::Corrupt(format!(
                            "{FILED_NS}/{key}: not ENTRY/CASE"
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

    /// Report every case deadline that has passed at `now_ms` and was not
    /// reported yet: journaled (`procedure_overdue`) on the origin for
    /// its own entries, and on the region the subject filed in — which
    /// also tells the national platform, when it has a peer for it.
    /// Returns the deadlines reported now. Called by the node's case watch;
    /// idempotent.
    pub async fn report_overdue(&self, now_ms: i64) -> Result<Vec<CaseView>, ListsError> {
        let storage = &self.ctx().storage;
        let mut found: Vec<(String, ProcedureMark, CaseSide)> = Vec::new();
        for (key, value) in scan(storage, CASES_NS, "").await? {
            let case: ProcedureCase = decode_state(&key, &value)?;
            found.push((
                mark_key(&case.mark.entry, &case.mark.case),
                case.mark,
                CaseSide::Origin,
            ));
        }
        for (key, mark, filed_here) in self.latest_marks().await? {
            if filed_here {
                found.push((key, mark, CaseSide::FiledHere));
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
                ProcedureDeadline::Acceptance => mark.accept_by.clone(),
                ProcedureDeadline::Decision => mark.decide_by.clone().unwrap_or_default(),
            };
            let mut writes = vec![StateWrite::put(
                OVERDUE_NS,
                flag,
                now_ms.to_be_bytes().to_vec(),
            )];
            let mut national_message = None;
            if side == CaseSide::FiledHere {
                let notice = ProcedureOverdueNotice {
                    procedure: mark.procedure,
                    about: CaseAbout::Entry(mark.entry),
                    case: mark.case,
                    filed_in: mark.filed_in,
                    missed,
                    deadline: deadline.clone(),
                };
                if let Some((id, outbox)) =
                    tell_national::<ListsError>(&self.federation, &notice, now_ms)?
                {
                    writes.push(outbox);
                    national_message = Some(id);
                }
            }
            let entry = ProcedureOverdue {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                procedure: mark.procedure,
                about: CaseAbout::Entry(mark.entry),
                case: mark.case,
                missed,
                deadline,
                side,
                national_message,
            };
            storage.append_entry_with_state(&entry, writes).await?;
            reported.push(CaseView::of(&mark, None, now_ms));
        }
        if !reported.is_empty() {
            self.federation.wake();
        }
        Ok(reported)
    }

    /// Accept, refuse or decide case `case` (hex id) about entry `id` this
    /// region made, with a `note` for the holders, and mark it on every
    /// region holding the entry. A decision then takes effect
    /// ([`Lists::carry_out`]): an objection upheld revokes the entry, a
    /// repair granted ends it and the publication of the record it rests
    /// on. Deciding a case again with the outcome it already has finishes
    /// what a crash may have left undone, without marking it again.
    /// Returns the regions told.
    pub async fn answer_case(
        &self,
        id: &EntryId,
        case: &str,
        answer: CaseAnswer,
        note: &str,
        now_ms: i64,
    ) -> Result<Vec<RegionCode>, ListsError> {
        let ctx = self.ctx();
        if id.origin != ctx.region {
            return Err(ListsError::NotOrigin(*id));
        }
        let (recipients, procedure) = {
            let _local = self.local.lock().await;
            let (key, mut stored) = self.case(id, case).await?;
            let procedure = stored.mark.procedure;
            if let CaseAnswer::Decide(outcome) = answer
                && stored.mark.stage == ProcedureStage::Decided(outcome)
            {
                drop(_local);
                self.carry_out(id, procedure, case, outcome, now_ms).await?;
                return Ok(Vec::new());
            }
            let mark = &mut stored.mark;
            let (stage, decide_by) = move_case(
                procedure,
                mark.stage,
                answer,
                now_ms,
                &self.policy.calendar,
                &self.policy.rights,
            )
            .map_err(|why| {
                ListsError::Invalid(format!(
                    "{} {case} about entry {id} {why}",
                    procedure.code()
                ))
            })?;
            mark.stage = stage;
            if decide_by.is_some() {
                mark.decide_by = decide_by;
            }
            mark.note = note.to_owned();
            mark.validate()
                .map_err(|e| ListsError::Invalid(e.to_string()))?;
            stored.updated_at_ms = now_ms;
            let recipients = self.recipients(id).await?;
            let mut writes = vec![StateWrite::put(CASES_NS, key, encode(&stored)?)];
            let bodies = recipients
                .iter()
                .map(|region| release_procedure_mark(*region, &stored.mark))
                .collect::<Result<Vec<_>, _>>()?;
            let (outbox, sent_to) = self.federation.prepare_all(bodies, now_ms)?;
            writes.extend(outbox);
            let entry = ProcedureMarked {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                procedure,
                entry: *id,
                case: stored.mark.case,
                stage: stored.mark.stage,
                note_digest: sha256(note.as_bytes()),
                sent_to,
            };
            ctx.storage.append_entry_with_state(&entry, writes).await?;
            (recipients, procedure)
        };
        self.federation.wake();
        if let CaseAnswer::Decide(outcome) = answer {
            self.carry_out(id, procedure, case, outcome, now_ms).await?;
        }
        Ok(recipients)
    }

    /// The evidence files of repair application `case` (hex) about entry
    /// `id` made here, as received, each checked again against the digest
    /// it arrived with (a file changed in the database is refused).
    pub async fn evidence(
        &self,
        id: &EntryId,
        case: &str,
    ) -> Result<Vec<(EvidenceHeld, Vec<u8>)>, ListsError> {
        let storage = &self.ctx().storage;
        let (key, stored) = self.case(id, case).await?;
        if stored.mark.procedure != Procedure::Repair {
            return Err(ListsError::Invalid(format!(
                "case {case} about entry {id} is an objection: it has no evidence"
            )));
        }
        let track: RepairTrack = read(storage, REPAIRS_NS, &key)
            .await?
            .ok_or_else(|| ListsError::Corrupt(format!("{REPAIRS_NS}/{key} is missing")))?;
        let mut out = Vec::new();
        for (index, held) in track.evidence.into_iter().enumerate() {
            let file_key = evidence_key(&stored.mark.case, index);
            let content = evidence_file(
                storage,
                (EVIDENCE_NS, &file_key),
                &held.digest,
                &held.title,
                ListsError::Corrupt,
            )
            .await?;
            out.push((held, content));
        }
        Ok(out)
    }

    /// The stored case `case` (hex) about `id`, with its key.
    async fn case(&self, id: &EntryId, case: &str) -> Result<(String, ProcedureCase), ListsError> {
        let storage = &self.ctx().storage;
        let suffix = format!("/{}", case.to_ascii_lowercase());
        for (key, value) in scan(storage, CASES_NS, &format!("{id}/")).await? {
            if key.ends_with(&suffix) {
                return Ok((key.clone(), decode_state(&key, &value)?));
            }
        }
        Err(ListsError::Invalid(format!(
            "no case {case} about entry {id} was filed here"
        )))
    }
}

/// The mark a case filed here stands at before the origin marks it:
/// filed, with this region's own acceptance deadline. `None` when the key
/// is not `{entry}/{case hex}`.
fn unmarked(key: &str, filed: &FiledCase, here: RegionCode) -> Option<ProcedureMark> {
    let (entry, case) = key.split_once('/')?;
    let mut id = [0u8; 16];
    hex::decode_to_slice(case, &mut id).ok()?;
    Some(ProcedureMark {
        procedure: filed.procedure,
        entry: entry.parse().ok()?,
        case: id,
        filed_in: here,
        stage: ProcedureStage::Filed,
        accept_by: filed.accept_by.clone(),
        decide_by: None,
        note: String::new(),
    })
}
