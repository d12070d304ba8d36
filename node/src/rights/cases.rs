//! Cases about records as the owner decides them and every other region
//! sees them.
//!
//! At the owner: every case about its records, with the subject's
//! statement and evidence ([`RecordCases::cases`]); accepting, refusing
//! and deciding one ([`RecordCases::answer`]), each move marked on every
//! region that received the record (the disclosures ledger, read again at
//! each move, so a region that received the record since is told too) and
//! on the filer, in one transaction with `case_marked`. A decision for the
//! subject is then carried out: an objection upheld removes the record, a
//! repair granted ends its publication (`withdraw`). At any other region:
//! the owner's latest mark of each case it was told of, and the cases filed
//! here not yet marked, with this region's own acceptance deadline
//! ([`RecordCases::marks`]).

use credex_flows::calendar::china_date_text;
use credex_flows::rights::{
    CASES_NS, CaseMarkHeld, EVIDENCE_NS, FILED_NS, FiledRecordCase, MARKS_NS, RecordCase,
    case_recipients, evidence_key,
};
use credex_journal::{CaseMarked, ENTRY_VERSION, sha256};
use credex_policies::egress::{evaluation_of_record, release_case_mark};
use credex_protocol::RegionCode;
use credex_protocol::lists::{Procedure, ProcedureDeadline, ProcedureOutcome, ProcedureStage};
use credex_protocol::rights::CaseMark;
use serde::Serialize;

use super::procedure::{CaseAnswer, move_case};
use super::withdraw::{Withdrawal, withdraw};
use super::{RecordCases, RightsError};
use crate::storage::{RecordKey, StateWrite};

/// A case about a record, as the owner or another region sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordCaseView {
    /// `objection` or `repair`.
    pub procedure: &'static str,
    /// The region that owns the record and decides the case.
    pub owner: RegionCode,
    /// The record's key (hex).
    pub record: String,
    /// The record's category (at the owner only).
    pub category: Option<String>,
    /// The record's id (at the owner only).
    pub record_id: Option<String>,
    /// The case's id (hex).
    pub case: String,
    /// The region the subject filed in.
    pub filed_in: RegionCode,
    /// Where it stands (`filed`, `accepted`, `refused`, or the outcome).
    pub stage: &'static str,
    /// "异议处理中" or "信用修复审核中" while it is being handled.
    pub pending: Option<&'static str>,
    /// The last day to accept or refuse it (China time).
    pub accept_by: String,
    /// The last day to decide it, once accepted.
    pub decide_by: Option<String>,
    /// The owner's note.
    pub note: String,
    /// The subject's grounds or statement (at the owner only).
    pub statement: Option<String>,
    /// The evidence as `kind: title (bytes, sha256)` (at the owner only).
    pub evidence: Vec<String>,
    /// The deadline that has passed, if one has.
    pub overdue: Option<&'static str>,
}

impl RecordCaseView {
    pub(super) fn of(owner: RegionCode, mark: &CaseMark, now_ms: i64) -> RecordCaseView {
        RecordCaseView {
            procedure: mark.procedure.code(),
            owner,
            record: hex::encode(mark.record),
            category: None,
            record_id: None,
            case: hex::encode(mark.case),
            filed_in: mark.filed_in,
            stage: mark.stage.code(),
            pending: mark.stage.pending().then(|| mark.procedure.pending_zh()),
            accept_by: mark.accept_by.clone(),
            decide_by: mark.decide_by.clone(),
            note: mark.note.clone(),
            statement: None,
            evidence: Vec::new(),
            overdue: overdue(mark, now_ms).map(ProcedureDeadline::code),
        }
    }
}

/// An evidence file of a case, as the owner keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCaseFile {
    /// Its description.
    pub held: credex_flows::lists::EvidenceHeld,
    /// The file, checked against the digest it arrived with.
    pub content: Vec<u8>,
}

/// The deadline of `mark` that has passed on the China day of `now_ms`.
pub(super) fn overdue(mark: &CaseMark, now_ms: i64) -> Option<ProcedureDeadline> {
    super::procedure::overdue_stage(
        mark.stage,
        &mark.accept_by,
        mark.decide_by.as_deref(),
        &china_date_text(now_ms),
    )
}

impl RecordCases {
    /// Every case about a record of this region, with the subject's
    /// statement and evidence, and what is overdue at `now_ms`.
    pub async fn cases(&self, now_ms: i64) -> Result<Vec<RecordCaseView>, RightsError> {
        let mut out = Vec::new();
        for (key, value) in self.ctx().storage.state_scan_all(CASES_NS, "").await? {
            let case: RecordCase = decode(&key, &value)?;
            let mut view = RecordCaseView::of(self.region(), &case.mark, now_ms);
            view.category = Some(case.category);
            view.record_id = Some(case.record_id);
            view.statement = Some(case.statement);
            view.evidence = case.evidence.iter().map(|e| e.describe()).collect();
            out.push(view);
        }
        Ok(out)
    }

    /// The cases about other regions' records this region was told of (it
    /// received the record, or the subject filed here), each at the
    /// owner's latest mark; a case filed here and not yet marked stands at
    /// `filed` with this region's own acceptance deadline.
    pub async fn marks(&self, now_ms: i64) -> Result<Vec<RecordCaseView>, RightsError> {
        let storage = &self.ctx().storage;
        let mut out = std::collections::BTreeMap::new();
        for (key, value) in storage.state_scan_all(FILED_NS, "").await? {
            let filed: FiledRecordCase = decode(&key, &value)?;
            let Some((owner, mark)) = unmarked(&key, &filed, self.region()) else {
                return Err(RightsError::Corrupt(format!("{FILED_NS}/{key}: bad key")));
            };
            let mut view = RecordCaseView::of(owner, &mark, now_ms);
            if let Some(reason) = filed.refused {
                // The owner's node refused the filing outright.
                view.stage = "refused";
                view.pending = None;
                view.overdue = None;
                view.note = reason;
            }
            out.insert(key, view);
        }
        for (key, value) in storage.state_scan_all(MARKS_NS, "").await? {
            let held: CaseMarkHeld = decode(&key, &value)?;
            let owner = key
                .split('/')
                .next()
                .and_then(|r| r.parse().ok())
                .ok_or_else(|| RightsError::Corrupt(format!("{MARKS_NS}/{key}: bad key")))?;
            out.insert(key, RecordCaseView::of(owner, &held.mark, now_ms));
        }
        Ok(out.into_values().collect())
    }

    /// Accept, refuse or decide case `case` (hex) about a record of this
    /// region, with a `note`, and mark it on every region that received
    /// the record and on the filer. A decision for the subject is then
    /// carried out: an objection upheld removes the record from release, a
    /// repair granted ends its publication; either way the correction
    /// sweep tells every recipient. Deciding a case again with the outcome
    /// it has finishes what a crash left undone, without marking it again.
    /// Returns the regions told.
    pub async fn answer(
        &self,
        case: &str,
        answer: CaseAnswer,
        note: &str,
        now_ms: i64,
    ) -> Result<Vec<RegionCode>, RightsError> {
        let storage = &self.ctx().storage;
        let (recipients, stored) = {
            let _local = self.local.lock().await;
            let (key, mut stored) = self.case(case).await?;
            let procedure = stored.mark.procedure;
            if let CaseAnswer::Decide(outcome) = answer
                && stored.mark.stage == ProcedureStage::Decided(outcome)
            {
                drop(_local);
                self.carry_out(case, &stored, outcome, now_ms).await?;
                return Ok(Vec::new());
            }
            let mark = &mut stored.mark;
            let (stage, decide_by) = move_case(
                procedure,
                mark.stage,
                answer,
                now_ms,
                &self.calendar,
                &self.rules,
            )
            .map_err(|why| RightsError::Invalid(format!("{} {case} {why}", procedure.code())))?;
            mark.stage = stage;
            if decide_by.is_some() {
                mark.decide_by = decide_by;
            }
            mark.note = note.to_owned();
            mark.validate()
                .map_err(|e| RightsError::Invalid(e.to_string()))?;
            stored.updated_at_ms = now_ms;
            let view = crate::federation::read_view(
                storage,
                &credex_flows::rights::case_reads(&stored.subject, &stored.mark.record),
            )
            .await?;
            let recipients = case_recipients(
                &view,
                &stored.mark.record,
                (&stored.category, &stored.record_id),
                stored.mark.filed_in,
                self.region(),
            )
            .map_err(|e| RightsError::Corrupt(e.to_string()))?;
            let mut writes = vec![
                StateWrite::encoded(CASES_NS, key, &stored)
                    .map_err(|e| RightsError::Corrupt(e.to_string()))?,
            ];
            let bodies = recipients
                .iter()
                .map(|region| release_case_mark(*region, &stored.mark))
                .collect::<Result<Vec<_>, _>>()?;
            let (outbox, sent_to) = self.federation.prepare_all(bodies, now_ms)?;
            writes.extend(outbox);
            let entry = CaseMarked {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                procedure,
                record: stored.mark.record,
                case: stored.mark.case,
                stage: stored.mark.stage,
                text_digest: sha256(note.as_bytes()),
                sent_to,
            };
            storage.append_entry_with_state(&entry, writes).await?;
            (recipients.into_iter().collect::<Vec<_>>(), stored)
        };
        self.federation.wake();
        if let CaseAnswer::Decide(outcome) = answer {
            self.carry_out(case, &stored, outcome, now_ms).await?;
        }
        Ok(recipients)
    }

    /// What `outcome` of `stored` does to the record: an objection upheld
    /// removes it (an evaluation result is revoked first, reaching every
    /// region that recognised it), a repair granted ends its publication;
    /// nothing else touches it.
    async fn carry_out(
        &self,
        case: &str,
        stored: &RecordCase,
        outcome: ProcedureOutcome,
        now_ms: i64,
    ) -> Result<(), RightsError> {
        let why = match (stored.mark.procedure, outcome) {
            (Procedure::Objection, ProcedureOutcome::Upheld) => Withdrawal::ObjectionUpheld,
            (Procedure::Repair, ProcedureOutcome::Granted) => Withdrawal::Repaired,
            _ => return Ok(()),
        };
        if let Some((scheme, subject)) = evaluation_of_record(&stored.category, &stored.record_id) {
            // An evaluation result is revoked (撤销) first, so every region
            // that recognised it drops it and lifts what it granted.
            match crate::eval::revoke(
                &self.federation,
                &self.agreements,
                &self.catalogue,
                subject,
                scheme,
                &format!("异议成立 (objection {case} upheld)"),
                now_ms,
            )
            .await
            {
                Ok(_) | Err(crate::eval::EvalError::AlreadyRevoked(_)) => {}
                Err(e) => return Err(RightsError::Invalid(format!("revoking the result: {e}"))),
            }
        }
        let record = RecordKey {
            category: stored.category.clone(),
            record_id: stored.record_id.clone(),
            subject_key: stored.subject_key.clone(),
        };
        let key = format!("{}/{case}", stored.mark.procedure.code());
        withdraw(self.ctx(), &record, why, &key, now_ms).await
    }

    /// The evidence files of case `case` (hex) about a record of this
    /// region, each checked again against the digest it arrived with (a
    /// file changed in the database is refused).
    pub async fn evidence(&self, case: &str) -> Result<Vec<RecordCaseFile>, RightsError> {
        let storage = &self.ctx().storage;
        let (_, stored) = self.case(case).await?;
        let mut out = Vec::new();
        for (index, held) in stored.evidence.into_iter().enumerate() {
            let file_key = evidence_key(&stored.mark.case, index);
            let content = super::procedure::evidence_file(
                storage,
                (EVIDENCE_NS, &file_key),
                &held.digest,
                &held.title,
                RightsError::Corrupt,
            )
            .await?;
            out.push(RecordCaseFile { held, content });
        }
        Ok(out)
    }

    /// The stored case `case` (hex), with its key.
    async fn case(&self, case: &str) -> Result<(String, RecordCase), RightsError> {
        let suffix = format!("/{}", case.to_ascii_lowercase());
        for (key, value) in self.ctx().storage.state_scan_all(CASES_NS, "").await? {
            if key.ends_with(&suffix) {
                let stored = decode(&key, &value)?;
                return Ok((key, stored));
            }
        }
        Err(RightsError::UnknownCase(case.to_owned()))
    }
}

/// The mark a case filed here stands at before the owner marks it: filed,
/// with this region's own acceptance deadline. `None` when the key is not
/// `{owner}/{record hex}/{case hex}`.
pub(super) fn unmarked(
    key: &str,
    filed: &FiledRecordCase,
    here: RegionCode,
) -> Option<(RegionCode, CaseMark)> {
    let mut parts = key.split('/');
    let owner: RegionCode = parts.next()?.parse().ok()?;
    let mut record = [0u8; 32];
    hex::decode_to_slice(parts.next()?, &mut record).ok()?;
    let mut case = [0u8; 16];
    hex::decode_to_slice(parts.next()?, &mut case).ok()?;
    Some((
        owner,
        CaseMark {
            procedure: filed.procedure,
            record,
            case,
            filed_in: here,
            stage: ProcedureStage::Filed,
            accept_by: filed.accept_by.clone(),
            decide_by: None,
            note: String::new(),
        },
    ))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    key: &str,
    value: &[u8],
) -> Result<T, RightsError> {
    credex_protocol::decode(value).map_err(|e| RightsError::Corrupt(format!("{key}: {e}")))
}
