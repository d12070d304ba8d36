//! What a decided case does at the entry's origin (decision 0960): an
//! objection upheld (异议成立) revokes the entry on every holder; a repair
//! granted (准予信用修复) ends it on every holder with a `repair` change, and
//! ends the publication of the record it rests on here.
//!
//! Ending a record's publication withdraws it from release in one
//! transaction with a `records_changed` entry naming it `repaired`, applied
//! like a record feed batch from the node's own source `credex.repairs`
//! under the idempotency key of the case: the correction sweep then tells
//! every region that received the record — by query, list push or upward
//! batch — that its copy is no longer published (decision 0950).
//!
//! Every step is idempotent, so deciding a case again with the outcome it
//! has finishes what a crash left undone.

use credex_flows::lists::{OwnEntry, RestsOn};
use credex_journal::{RecordsChanged, record_key, sha256};
use credex_protocol::lists::{ChangeKind, EntryId, Procedure, ProcedureOutcome};

use super::state::read;
use super::{ENTRIES_NS, Lists, ListsError};
use crate::storage::{FeedBatch, FeedOutcome, RecordKey, SourceAdvance};

/// The record feed source under which granted repairs withdraw records.
pub const REPAIRS_SOURCE: &str = "credex.repairs";

/// How often a repair's withdrawal retries when another process moved the
/// source's sequence under it.
const SEQUENCE_RETRIES: usize = 8;

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
        let storage = &ctx.storage;
        let Some(subject_key) =
            crate::pseudonyms::stored_subject_key(storage, &own.entry.subject).await?
        else {
            return Err(ListsError::Invalid(format!(
                "entry {} rests on {} record {:?}, but its subject has no records here",
                own.entry.id, record.category, record.record_id
            )));
        };
        let key = record_key(&record.category, &record.record_id);
        let changed = credex_journal::encode(&RecordsChanged::repaired(now_ms, vec![key]))
            .map_err(|e| ListsError::Corrupt(format!("records_changed entry: {e}")))?;
        let idempotency_key = format!("repair/{case}");
        for _ in 0..SEQUENCE_RETRIES {
            let next = storage.feed_last_seq(REPAIRS_SOURCE).await? + 1;
            let batch = FeedBatch {
                client: format!("urn:credex:node:{}:repairs", ctx.region),
                idempotency_key: idempotency_key.clone(),
                request_digest: sha256(idempotency_key.as_bytes()),
                answer: Vec::new(),
                upserts: Vec::new(),
                deletes: vec![RecordKey {
                    category: record.category.clone(),
                    record_id: record.record_id.clone(),
                    subject_key: subject_key.clone(),
                }],
                subjects: Vec::new(),
                sequences: vec![SourceAdvance {
                    source: REPAIRS_SOURCE.to_owned(),
                    first: next,
                    last: next,
                }],
                entries: vec![(changed.kind, changed.body.clone())],
            };
            match storage.feed_records(batch).await? {
                FeedOutcome::Applied { .. } | FeedOutcome::Replay { .. } => {
                    tracing::info!(entry = %own.entry.id, category = %record.category, "record's publication ended by a granted repair");
                    return Ok(());
                }
                FeedOutcome::SequenceMoved { .. } => continue,
                FeedOutcome::KeyReused => {
                    return Err(ListsError::Corrupt(format!(
                        "the repair key {idempotency_key} was used for another withdrawal"
                    )));
                }
            }
        }
        Err(ListsError::Invalid(format!(
            "the record behind entry {} could not be withdrawn: {REPAIRS_SOURCE} kept moving",
            own.entry.id
        )))
    }
}
