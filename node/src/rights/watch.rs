//! Missed deadlines of cases about records (异议, 信用修复), reported once
//! per case and deadline on both sides, as for list entries (decision
//! 0940): the owner journals `procedure_overdue` for its own cases; the
//! region the subject filed in journals it for the cases it filed and
//! tells the national platform (`ProcedureOverdueNotice` about the record),
//! even if the owner never marked the case. Run by the node's case watch
//! (`crate::lists::spawn_objection_watch`).

use credex_flows::rights::{
    CASES_NS, CaseMarkHeld, FILED_NS, FiledRecordCase, MARKS_NS, RecordCase, mark_key,
};
use credex_journal::{CaseSide, ENTRY_VERSION, ProcedureOverdue};
use credex_protocol::RegionCode;
use credex_protocol::lists::{CaseAbout, ProcedureDeadline};
use credex_protocol::rights::CaseMark;
use credex_protocol::upward::ProcedureOverdueNotice;

use super::cases::{RecordCaseView, decode, overdue, unmarked};
use super::{RecordCases, RightsError};
use crate::storage::StateWrite;

/// Flags of the deadlines reported, `{mark key}/{deadline}`.
pub const OVERDUE_NS: &str = "rights.overdue";

impl RecordCases {
    /// Report every deadline of a case about a record that has passed at
    /// `now_ms` and was not reported yet. Returns the cases reported now.
    /// Idempotent.
    pub async fn report_overdue(&self, now_ms: i64) -> Result<Vec<RecordCaseView>, RightsError> {
        let storage = &self.ctx().storage;
        let here = self.region();
        let mut found: Vec<(String, RegionCode, CaseMark, CaseSide)> = Vec::new();
        for (key, value) in storage.state_scan_all(CASES_NS, "").await? {
            let case: RecordCase = decode(&key, &value)?;
            let key = mark_key(here, &case.mark.record, &case.mark.case);
            found.push((key, here, case.mark, CaseSide::Origin));
        }
        for (key, value) in storage.state_scan_all(FILED_NS, "").await? {
            let filed: FiledRecordCase = decode(&key, &value)?;
            if filed.refused.is_some() {
                continue;
            }
            let Some((owner, unmarked)) = unmarked(&key, &filed, here) else {
                return Err(RightsError::Corrupt(format!("{FILED_NS}/{key}: bad key")));
            };
            let mark = match storage.state(MARKS_NS, &key).await? {
                Some(v) => decode::<CaseMarkHeld>(&key, &v)?.mark,
                None => unmarked,
            };
            found.push((key, owner, mark, CaseSide::FiledHere));
        }
        let mut reported = Vec::new();
        for (key, owner, mark, side) in found {
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
            let about = CaseAbout::Record {
                owner,
                record: mark.record,
            };
            let mut writes = vec![StateWrite::put(
                OVERDUE_NS,
                flag,
                now_ms.to_be_bytes().to_vec(),
            )];
            let mut national_message = None;
            if side == CaseSide::FiledHere && !here.is_national() {
                let notice = ProcedureOverdueNotice {
                    procedure: mark.procedure,
                    about,
                    case: mark.case,
                    filed_in: here,
                    missed,
                    deadline: deadline.clone(),
                };
                if let Some((id, outbox)) = super::procedure::tell_national::<RightsError>(
                    &self.federation,
                    &notice,
                    now_ms,
                )? {
                    writes.push(outbox);
                    national_message = Some(id);
                }
            }
            let entry = ProcedureOverdue {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                procedure: mark.procedure,
                about,
                case: mark.case,
                missed,
                deadline,
                side,
                national_message,
            };
            storage.append_entry_with_state(&entry, writes).await?;
            reported.push(RecordCaseView::of(owner, &mark, now_ms));
        }
        if !reported.is_empty() {
            self.federation.wake();
        }
        Ok(reported)
    }
}
