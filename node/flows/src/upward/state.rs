//! The upward channel's stored state that the flow decides against and
//! changes: the national node's per-province position ([`ProvinceReceived`],
//! in [`IN_NS`]) and the province's acknowledged totals
//! ([`ReportedTotals`], in [`OUT_NS`]).
//!
//! The reporter's own position (its cursors over the records table) is the
//! node's: it lives in the same namespace but is never read by the flow.

use std::collections::BTreeMap;

use credex_protocol::RegionCode;
use credex_protocol::lists::CaseAbout;
use credex_protocol::upward::ProcedureOverdueNotice;
use serde::{Deserialize, Serialize};

/// A missed objection deadline a region reported to the national node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueReported {
    /// The notice.
    pub notice: ProcedureOverdueNotice,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
}

/// The [`OVERDUE_NS`] key of a notice: `{decider}/{about}/{case}/{deadline}`
/// (`about` an entry id or `record-{key hex}`), so the national node lists
/// the late regions first.
pub fn overdue_key(notice: &ProcedureOverdueNotice) -> String {
    let about = match &notice.about {
        CaseAbout::Entry(id) => id.to_string(),
        CaseAbout::Record { record, .. } => format!("record-{}", hex::encode(record)),
    };
    format!(
        "{}/{}/{}/{}",
        notice.about.decider(),
        about,
        hex::encode(notice.case),
        notice.missed.code()
    )
}

/// State namespace of the national node's copies of reported records, by
/// the key their owner names them by ([`copy_key`] → [`UpwardCopy`]), as
/// they were stored before each copy carried that key on its own row
/// (`RecordRow::copy_of`, migration 9). Read, never written: copies
/// taken in before then are still found by corrections.
pub const COPIES_NS: &str = "upward.copies";

/// A record the national node stores for a province, as it stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpwardCopy {
    /// The category.
    pub category: String,
    /// The stored (region-qualified) record id.
    pub record_id: String,
    /// The stored subject key.
    pub subject_key: String,
}

/// The [`COPIES_NS`] key of `owner`'s record `record` (its
/// `credex_journal::record_key`).
pub fn copy_key(owner: RegionCode, record: &[u8; 32]) -> String {
    format!("{owner}/{}", hex::encode(record))
}

/// State namespace of the province's side.
pub const OUT_NS: &str = "upward.out";
/// State namespace of the national node's side (one key per province, the
/// province's region code).
pub const IN_NS: &str = "upward.in";
/// State namespace of the national node's missed objection deadlines
/// ([`overdue_key`] → [`OverdueReported`]).
pub const OVERDUE_NS: &str = "upward.objections_overdue";
/// Key of the [`ReportedTotals`] in [`OUT_NS`].
pub const REPORTED_KEY: &str = "reported";
/// Most late records listed in [`ReportedTotals::late`].
pub const MAX_LATE_LISTED: usize = 100;

/// Per category: what the national node acknowledged and how timely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryReported {
    /// Records acknowledged by the national node.
    pub reported: u64,
    /// 双公示 records reported within 7 working days of the decision.
    pub on_time: u64,
    /// 双公示 records reported later.
    pub late: u64,
    /// 双公示 records without a readable `decision_date`.
    pub undated: u64,
    /// Records reported within the reporting list's deadline (working days
    /// from `decision_date`, or hours from import).
    pub within_deadline: u64,
    /// Records reported after it.
    pub past_deadline: u64,
    /// Records with a working-day deadline but no readable `decision_date`.
    pub deadline_undated: u64,
}

/// A late 双公示 record (ids and dates only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateRecord {
    /// Category.
    pub category: String,
    /// Record id in this region.
    pub record_id: String,
    /// Decision date (YYYY-MM-DD).
    pub decision_date: String,
    /// Date the national node acknowledged it (YYYY-MM-DD, China time).
    pub reported_date: String,
    /// Working days past the deadline.
    pub working_days_late: u32,
}

/// What the national node acknowledged (in [`OUT_NS`], key
/// [`REPORTED_KEY`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedTotals {
    /// Batches acknowledged as stored.
    pub batches_acked: u64,
    /// Batches the national node refused for good.
    pub batches_refused: u64,
    /// Records of refused batches.
    pub records_refused: u64,
    /// Per category.
    pub categories: BTreeMap<String, CategoryReported>,
    /// The most recent late records (at most [`MAX_LATE_LISTED`]).
    pub late: Vec<LateRecord>,
    /// When the last acknowledgement arrived, Unix ms.
    pub last_ack_ms: i64,
}

/// What the national node holds from one province (in [`IN_NS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceReceived {
    /// The next batch number expected.
    pub next_seq: u64,
    /// Records received, per category.
    pub categories: BTreeMap<String, u64>,
    /// Records received in all.
    pub records: u64,
    /// When the last batch was applied, Unix ms.
    pub last_at_ms: i64,
}
