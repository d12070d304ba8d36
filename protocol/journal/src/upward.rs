//! Entries of the upward channel (数据报送): batches made for the national
//! platform.

use std::collections::BTreeMap;

use credex_protocol::query::CategoryFields;
use serde::{Deserialize, Serialize};

/// Journal body of [`kind::BATCH_PREPARED`]: digests and counts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPrepared {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The batch's sequence number.
    pub seq: u64,
    /// Records in it.
    pub record_count: u32,
    /// `records_digest` of its records.
    pub records_digest: [u8; 32],
    /// The federation message carrying it.
    pub message_id: [u8; 16],
    /// Records per category.
    pub categories: BTreeMap<String, u32>,
    /// Content hash of the reporting catalogue the egress gate decided
    /// under.
    pub catalogue_hash: [u8; 32],
    /// Fields the records held and the gate withheld (not reported), by
    /// category.
    pub withheld: Vec<CategoryFields>,
}

/// Journal body of [`kind::UPWARD_DEADLINE_AT_RISK`]: a batch the national
/// node has not acknowledged holds 双公示 records whose 7-working-day
/// deadline is the next working day or already past. Written once per
/// batch; the event feed and the console raise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpwardDeadlineAtRisk {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The batch's sequence number: the unacknowledged batch that holds
    /// the records, or, for records not yet batched (held behind the
    /// outbox's window), the next batch's, the first that will carry them
    /// (raised once a day while they wait).
    pub seq: u64,
    /// Records of the batch at risk.
    pub records_at_risk: u32,
    /// The earliest of their deadlines (China date, `YYYY-MM-DD`).
    pub earliest_deadline: String,
    /// Whether that deadline has already passed.
    pub missed: bool,
}

crate::frame::fixed_kind! {
    BatchPrepared => BATCH_PREPARED,
    UpwardDeadlineAtRisk => UPWARD_DEADLINE_AT_RISK,
}
