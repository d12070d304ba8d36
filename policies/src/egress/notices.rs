//! The gate's releases of bodies that carry no record field — feedback,
//! confirmations, objections and repair applications and their marks and
//! notices, record corrections, cases about records: each is released as `NoRecordData` to its
//! one recipient (an overdue notice to the national platform only, an
//! application to the entry's origin only).

use credex_protocol::RegionCode;
use credex_protocol::egress::EgressRecord;
use credex_protocol::federation::Flow;
use credex_protocol::lists::{
    ChangeConfirmed, Feedback, Objection, ProcedureMark, RepairApplication, kind as list_kind,
};
use credex_protocol::rights::{
    AccessReportPart, AccessReportRequest, CaseFiling, CaseMark, RecordCorrection,
    kind as rights_kind,
};
use credex_protocol::upward::{KIND_PROCEDURE_OVERDUE, ProcedureOverdueNotice};

use super::{EgressError, ReleasedBody, released};

/// Release feedback (反馈): measure codes and a note, no record field.
pub fn release_feedback(to: RegionCode, feedback: &Feedback) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Lists,
        list_kind::FEEDBACK,
        to,
        feedback,
        EgressRecord::no_record_data(),
    )
}

/// Release a change confirmation: an entry id and revision only.
pub fn release_change_confirmed(
    to: RegionCode,
    confirmed: &ChangeConfirmed,
) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Lists,
        list_kind::CHANGE_CONFIRMED,
        to,
        confirmed,
        EgressRecord::no_record_data(),
    )
}

/// Release an objection routed to the entry's origin: an entry id and the
/// subject's grounds, no record field.
pub fn release_objection(
    to: RegionCode,
    objection: &Objection,
) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Lists,
        list_kind::OBJECTION,
        to,
        objection,
        EgressRecord::no_record_data(),
    )
}

/// Release a subject's credit repair application (信用修复申请) to the
/// entry's origin: the subject's own statement and evidence, no record
/// field; refused for any other recipient.
pub fn release_repair_application(
    to: RegionCode,
    application: &RepairApplication,
) -> Result<ReleasedBody, EgressError> {
    if to != application.entry.origin {
        return Err(EgressError::NotOrigin {
            entry: application.entry.to_string(),
            to,
        });
    }
    released(
        Flow::Lists,
        list_kind::REPAIR_APPLICATION,
        to,
        application,
        EgressRecord::no_record_data(),
    )
}

/// Release where an objection or a repair application stands to a region
/// holding the entry: an entry id, a stage, dates and the origin's note, no
/// record field.
pub fn release_procedure_mark(
    to: RegionCode,
    mark: &ProcedureMark,
) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Lists,
        list_kind::PROCEDURE_MARK,
        to,
        mark,
        EgressRecord::no_record_data(),
    )
}

/// Release a missed objection deadline to the national platform (and to
/// no one else): ids, a deadline and its day, no record field.
pub fn release_procedure_overdue(
    to: RegionCode,
    notice: &ProcedureOverdueNotice,
) -> Result<ReleasedBody, EgressError> {
    if to != RegionCode::NATIONAL {
        return Err(EgressError::NotNational(to));
    }
    released(
        Flow::Upward,
        KIND_PROCEDURE_OVERDUE,
        to,
        notice,
        EgressRecord::no_record_data(),
    )
}

/// Release a record's correction to a region that received the record: its
/// key, how it changed and when — no id, no field.
pub fn release_record_correction(
    to: RegionCode,
    correction: &RecordCorrection,
) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Rights,
        rights_kind::CORRECTION,
        to,
        correction,
        EgressRecord::no_record_data(),
    )
}

/// Release a subject's case about a record (异议, 信用修复申请) to the
/// record's owner: the record's key, the subject as queries name it, the
/// subject's own statement and evidence — no record field; refused for any
/// other recipient.
pub fn release_case_filing(
    to: RegionCode,
    filing: &CaseFiling,
) -> Result<ReleasedBody, EgressError> {
    if to != filing.owner {
        return Err(EgressError::NotOwner {
            record: hex_prefix(&filing.record),
            owner: filing.owner,
            to,
        });
    }
    released(
        Flow::Rights,
        rights_kind::CASE_FILING,
        to,
        filing,
        EgressRecord::no_record_data(),
    )
}

/// Release where a case about a record stands to a region that received
/// the record or filed the case: the record's key, a stage, dates and the
/// owner's note, no record field.
pub fn release_case_mark(to: RegionCode, mark: &CaseMark) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Rights,
        rights_kind::CASE_MARK,
        to,
        mark,
        EgressRecord::no_record_data(),
    )
}

/// Release a request for a region's part of a subject's access report:
/// the request id and the subject as queries name it, no record field.
pub fn release_access_report_request(
    to: RegionCode,
    request: &AccessReportRequest,
) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Rights,
        rights_kind::ACCESS_REPORT_REQUEST,
        to,
        request,
        EgressRecord::no_record_data(),
    )
}

/// Release a region's part of a subject's access report to the region that
/// asked: who accessed the subject, when, why and which fields (names, not
/// values), and which regions received the subject's records (by key) — no
/// record field.
pub fn release_access_report_part(
    to: RegionCode,
    part: &AccessReportPart,
) -> Result<ReleasedBody, EgressError> {
    released(
        Flow::Rights,
        rights_kind::ACCESS_REPORT_PART,
        to,
        part,
        EgressRecord::no_record_data(),
    )
}

/// The first 16 hex digits of a record key, as messages name it.
fn hex_prefix(key: &[u8; 32]) -> String {
    key[..8].iter().map(|b| format!("{b:02x}")).collect()
}
