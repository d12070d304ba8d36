//! What a decided case does at the entry's origin (decision 0960): an
//! objection upheld (异议成立) revokes the entry on every holder; a repair
//! granted (准予信用修复) ends it on every holder with a `repair` change, and
//! ends the publication of the record it rests on here.
//!
//! Ending a record's publication withdraws it from release
//! (`crate::rights::withdraw`): the correction sweep then tells every
//! region that received the record that its copy is no longer published
//! (decision 0950).
//!
//! Every step is idempotent, so deciding a case again with the outcome it
//! has finishes what a crash left undone.

use credex_flows::lists::{OwnEntry, RestsOn};
use credex_protocol::lists::{ChangeKind, EntryId, Procedure, ProcedureOutcome};

use super::state::read;
use super::{ENTRIES_NS, Lists, ListsError};
use crate::rights::{Withdrawal, withdraw};
use crate::storage::RecordKey;

impl Lists {
    /// Carry out `outcome` of case `case` (hex) of `procedure` about entry
    /// `id`, made here.
    pub(super) async fn carry_out(
        &self,
        id: &EntryId,
        procedure: Procedure,
        case: &str,
        outcome: ProcedureOutcome,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let change = match (procedure, outcome) {
            (Procedure::Objection, ProcedureOutcome::Upheld) => ChangeKind::Revoke,
            (Procedure::Repair, ProcedureOutcome::Granted) => ChangeKind::Repair,
            _ => return Ok(()),
        };
        let own: OwnEntry = read(&self.ctx().storage, ENTRIES_NS, &id.to_string())
            .await?
            .ok_or(ListsError::UnknownEntry(*id))?;
        if own.ended.is_none() {
            let reason = match change {
                ChangeKind::Repair => format!("准予信用修复 (repair {case} granted)"),
                _ => format!("异议成立 (objection {case} upheld)"),
            };
            self.change(id, change, None, &reason, now_ms).await?;
        }
        if let (ChangeKind::Repair, Some(record)) = (change, &own.rests_on) {
            self.end_publication(&own, record, case, now_ms).await?;
        }
        Ok(())
    }

    /// Withdraw `record`, which `own` rests on, from release: its
    /// publication ended with the repair granted in case `case`.
    async fn end_publication(
        &self,
        own: &OwnEntry,
        record: &RestsOn,
        case: &str,
        now_ms: i64,
    ) -> Result<(), ListsError> {
        let ctx = self.ctx();
        let Some(subject_key) =
            crate::pseudonyms::stored_subject_key(&ctx.storage, &own.entry.subject).await?
        else {
            return Err(ListsError::Invalid(format!(
                "entry {} rests on {} record {:?}, but its subject has no records here",
                own.entry.id, record.category, record.record_id
            )));
        };
        let key = RecordKey {
            category: record.category.clone(),
            record_id: record.record_id.clone(),
            subject_key,
        };
        withdraw(
            ctx,
            &key,
            Withdrawal::Repaired,
            &format!("repair/{case}"),
            now_ms,
        )
        .await
        .map_err(|e| ListsError::Invalid(format!("entry {}: {e}", own.entry.id)))
    }
}
