//! Where the province's reporter stands: the state it keeps in the
//! upward outbox namespace between passes. The reporter writes it; the
//! status, the overdue count and the deadline watch read it.
//!
//! Owns: [`ReporterState`], [`REPORTER_KEY`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::storage::ImportCursor;

/// Key of the reporter's [`ReporterState`] in [`OUT_NS`](super::OUT_NS).
pub(super) const REPORTER_KEY: &str = "reporter";

/// The province's reporter position (in [`OUT_NS`](super::OUT_NS)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReporterState {
    /// The next batch's sequence number.
    pub next_seq: u64,
    /// Last record packed into a batch.
    pub batch_cursor: ImportCursor,
    /// Last record counted as due.
    pub due_cursor: ImportCursor,
    /// Records due, per category (imported, on the reporting list).
    pub due: BTreeMap<String, u64>,
    /// Records batched (queued or sent), per category.
    pub batched: BTreeMap<String, u64>,
    /// Creation time of the last batch's message (kept increasing so the
    /// outbox delivers batches in sequence order).
    pub last_created_ms: i64,
    /// Due records that cannot be reported (a record id longer than
    /// [`credex_protocol::upward::MAX_RECORD_ID_LEN`]).
    pub unreportable: u64,
}
