//! What a message body carries, field by field, whatever its sender's gate
//! recorded: the auditor compares it with the body's [`EgressRecord`] and
//! flags any field beyond it.

use std::collections::BTreeMap;

use credex_protocol::egress::EgressRecord;
use credex_protocol::federation::Flow;
use credex_protocol::lists::{
    ChangeConfirmed, EntryChange, Feedback, ListEntry, Objection, ProcedureMark, RepairApplication,
    kind as list_kind,
};
use credex_protocol::query::CategoryFields;
use credex_protocol::recognition::{ResultPush, kind as recognition_kind};
use credex_protocol::rights::{
    AccessReportPart, AccessReportRequest, CaseFiling, CaseMark, RecordCorrection,
    kind as rights_kind,
};
use credex_protocol::upward::{
    KIND_BATCH, KIND_PROCEDURE_OVERDUE, ProcedureOverdueNotice, UpwardBatch,
};

use super::{EgressError, attestation_fields, decode, entry_fields, fields_of, to_category_fields};
use crate::catalogue::Record;

/// Which fields of which categories a message body carries, by category:
/// what the auditor compares with the body's [`EgressRecord`].
pub fn carried_fields(
    flow: Flow,
    kind: u16,
    payload: &[u8],
) -> Result<Vec<CategoryFields>, EgressError> {
    let map = match (flow, kind) {
        (Flow::Upward, KIND_BATCH) => {
            let batch: UpwardBatch = decode(payload)?;
            let mut records = Vec::with_capacity(batch.records.len());
            for r in &batch.records {
                records.push(decode::<Record>(&r.body)?);
            }
            fields_of(records.iter())
        }
        (Flow::Lists, list_kind::LISTING) => entry_fields(&decode::<ListEntry>(payload)?),
        (Flow::Lists, list_kind::CHANGE) => match decode::<EntryChange>(payload)?.corrected {
            Some(entry) => entry_fields(&entry),
            None => BTreeMap::new(),
        },
        (Flow::Recognition, recognition_kind::RESULT_PUSH) => {
            let push: ResultPush = decode(payload)?;
            attestation_fields(push.result.attestation.scheme)
        }
        (Flow::Lists, list_kind::FEEDBACK) => {
            decode::<Feedback>(payload)?;
            BTreeMap::new()
        }
        (Flow::Lists, list_kind::CHANGE_CONFIRMED) => {
            decode::<ChangeConfirmed>(payload)?;
            BTreeMap::new()
        }
        (Flow::Lists, list_kind::OBJECTION) => {
            decode::<Objection>(payload)?;
            BTreeMap::new()
        }
        (Flow::Lists, list_kind::REPAIR_APPLICATION) => {
            decode::<RepairApplication>(payload)?;
            BTreeMap::new()
        }
        (Flow::Lists, list_kind::PROCEDURE_MARK) => {
            decode::<ProcedureMark>(payload)?;
            BTreeMap::new()
        }
        (Flow::Upward, KIND_PROCEDURE_OVERDUE) => {
            decode::<ProcedureOverdueNotice>(payload)?;
            BTreeMap::new()
        }
        (Flow::Rights, rights_kind::CORRECTION) => {
            decode::<RecordCorrection>(payload)?;
            BTreeMap::new()
        }
        // A case names a record by key, the subject as queries do, and
        // carries the subject's own statement and evidence: no field.
        (Flow::Rights, rights_kind::CASE_FILING) => {
            decode::<CaseFiling>(payload)?;
            BTreeMap::new()
        }
        (Flow::Rights, rights_kind::CASE_MARK) => {
            decode::<CaseMark>(payload)?;
            BTreeMap::new()
        }
        (Flow::Rights, rights_kind::ACCESS_REPORT_REQUEST) => {
            decode::<AccessReportRequest>(payload)?;
            BTreeMap::new()
        }
        // Access metadata (who, when, why, field names) and record keys.
        (Flow::Rights, rights_kind::ACCESS_REPORT_PART) => {
            decode::<AccessReportPart>(payload)?;
            BTreeMap::new()
        }
        (flow, kind) => {
            return Err(EgressError::Malformed(format!(
                "no gate releases {flow} message kind {kind}"
            )));
        }
    };
    Ok(to_category_fields(&map))
}

/// The fields (`category.field`) a message body carries that its record
/// does not release: empty when the body keeps to its record; an error when
/// it cannot be read as its kind.
pub fn beyond_record(
    flow: Flow,
    kind: u16,
    payload: &[u8],
    record: &EgressRecord,
) -> Result<Vec<String>, EgressError> {
    Ok(carried_fields(flow, kind, payload)?
        .iter()
        .flat_map(|c| {
            c.fields
                .iter()
                .filter(|f| !record.releases(&c.category, f))
                .map(move |f| format!("{}.{f}", c.category))
        })
        .collect())
}
