//! What `POST /v1/records` takes and answers, as the API document shows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One change of the provincial platform's database (one NDJSON line, or
/// the whole `application/json` body).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "source": "market-regulation",
    "seq": 42,
    "op": "upsert",
    "record": {
        "category": "admin_penalty",
        "record_id": "520000-AP-0001",
        "subject": "91520000MA6DKXYZ1Q",
        "decision_number": "黔市监罚〔2026〕1号",
        "penalty_type": "罚款",
        "amount": "5000.00",
        "decision_date": "2026-01-15"
    }
}))]
pub struct RecordChange {
    /// The feeding source (提供方), e.g. the department whose system the
    /// change comes from; 1 to 64 bytes. Each source has its own sequence.
    pub source: String,
    /// The source's sequence number: exactly one more than the last one
    /// applied for it (the first is 1).
    pub seq: u64,
    /// What the change does.
    pub op: ChangeOp,
    /// The record, shaped as a row of `credex records import` plus its
    /// `category`: `category`, `record_id`, `subject` (a unified social
    /// credit code or citizen ID) and one member per catalogue field. A
    /// delete names only `category`, `record_id` and `subject`.
    #[schema(value_type = Object)]
    pub record: serde_json::Map<String, serde_json::Value>,
}

/// What a change does to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    /// Insert the record, or replace the stored one with the same
    /// category and record id.
    Upsert,
    /// Delete the stored record of the subject with this category and
    /// record id (nothing if there is none).
    Delete,
}

/// A batch applied (or, for a retry with the same `Idempotency-Key`, the
/// answer given when it was applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "applied": 3,
    "upserted": 2,
    "deleted": 1,
    "sources": [{"source": "market-regulation", "last_seq": 44}]
}))]
pub struct FeedAnswer {
    /// Changes applied (every line of the batch).
    pub applied: u64,
    /// Of them, upserts.
    pub upserted: u64,
    /// Of them, deletes (a delete of a record not stored here is applied
    /// and changes nothing).
    pub deleted: u64,
    /// Each source of the batch and its last sequence number now.
    pub sources: Vec<SourceProgress>,
}

/// Where a source's sequence stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceProgress {
    /// The source (提供方).
    pub source: String,
    /// The last sequence number applied; the next change must carry one
    /// more.
    pub last_seq: u64,
}
