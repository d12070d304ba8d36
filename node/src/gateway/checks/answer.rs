//! What a credit check answers: per subject, what the node holds as the
//! gate released it for the purpose ([`SubjectAnswer`], from
//! `crate::holdings`) — and, for the whole check, the release decision and
//! the journal entries that record it.

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::holdings::{
    CaseAnswer, EvaluationAnswer, ListAnswer, MeasureAnswer, RecordAnswer, SubjectAnswer,
};

/// The answer to a check (single or batch): one result per subject, in
/// the order asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "purpose": "administrative_approval",
    "officer": "王芳 (审批科)",
    "checked_at_ms": 1796371200000_i64,
    "release": {
        "policy_hash": "9c1f…",
        "withheld": [{"category": "admin_penalty", "field": "case_notes", "reason": "internal"}]
    },
    "journal": [{"seq": 812, "part": 1, "parts": 1, "subjects": 1}],
    "results": [{
        "subject": "91520100MA6DKXXXX1",
        "subject_kind": "legal_person",
        "records": [{"category": "admin_penalty", "record_id": "黔市监罚〔2026〕7号",
                     "fields": {"decision_number": "黔市监罚〔2026〕7号", "amount": "5.00"}}],
        "evaluations": [],
        "lists": [{"entry_id": "440000-7f…", "origin_region": "440000", "revision": 0,
                   "list_type": "serious_dishonesty", "basis": "…", "deciding_authority": "…",
                   "entry_date": "2026-11-02", "planned_exit": "2029-11-01",
                   "measures": [{"code": "restrict_government_procurement",
                                 "name_zh": "限制参与政府采购", "kind": "punishment"}],
                   "applied_here": null, "details": {}}],
        "objections": []
    }]
}))]
pub struct CheckAnswer {
    /// The purpose code checked for.
    pub purpose: String,
    /// The accountable officer the calling system named.
    pub officer: String,
    /// When the node answered, Unix ms.
    pub checked_at_ms: i64,
    /// The gate's decision for the purpose.
    pub release: ReleaseSummary,
    /// The `CreditChecked` journal entries that record this check, durable
    /// before the answer was sent.
    pub journal: Vec<JournalPart>,
    /// One result per subject, in the order asked.
    pub results: Vec<SubjectAnswer>,
}

/// The release decision a check's answer was built by.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseSummary {
    /// SHA-256 of the sharing policy in force (hex).
    pub policy_hash: String,
    /// Every catalogue field the purpose does not release, with why; no
    /// result carries any of them.
    pub withheld: Vec<WithheldField>,
}

/// A field withheld from every result of the check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WithheldField {
    /// The catalogue category.
    pub category: String,
    /// The field code.
    pub field: String,
    /// `internal`, `restricted_needs_subject_authorization` or
    /// `not_shared_for_purpose`.
    pub reason: &'static str,
}

/// One `CreditChecked` entry of the check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JournalPart {
    /// Its sequence number (leaf index) in the node's log.
    pub seq: u64,
    /// Its part, 1-based.
    pub part: u32,
    /// The number of parts.
    pub parts: u32,
    /// How many subjects it names (the results of this part are the next
    /// `subjects` of `results`; its `answers_digest` is the SHA-256 of
    /// their JSON array).
    pub subjects: u32,
}
