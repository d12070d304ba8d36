//! Records the national node has not acknowledged whose deadline has
//! already passed. The reported totals count a record on time or late
//! only once its batch is acknowledged ([`credex_flows::upward`]), so
//! without this a province whose batches never arrive would read as
//! punctual. Here each record still waiting — in a batch the outbox holds,
//! or counted as due and not yet batched — is judged as if acknowledged
//! now ([`credex_flows::upward::overdue`]): a 双公示 record past its 7
//! working days is late whenever it arrives.
//!
//! Read only; nothing is written, and the counts are not kept: they change
//! with the date alone.

use std::collections::BTreeMap;

use credex_protocol::RegionCode;
use credex_protocol::federation::Flow;
use credex_protocol::upward::{KIND_BATCH, UpwardBatch};

use super::position::{REPORTER_KEY, ReporterState};
use super::{OUT_NS, UpwardRules, read_state};
use crate::storage::{ImportCursor, Storage, StorageError};

/// Most records not yet batched that one count reads (pages of
/// [`PAGE`]). Past it the count is a lower bound
/// ([`Waiting::scan_capped`]): a long outage of the national node leaves
/// records unbatched behind the reporter's backpressure, and a metrics
/// scrape should not read them all.
const MAX_UNBATCHED: usize = 100_000;
/// Records read per page.
const PAGE: u32 = 1000;

/// Per category, records not acknowledged and already past a deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverdueCounts {
    /// 双公示 records past their 7 working days.
    pub late: u64,
    /// Records past the reporting list's deadline (报送时限).
    pub past_deadline: u64,
}

/// What waits unacknowledged and is already overdue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waiting {
    /// Per category.
    pub categories: BTreeMap<String, OverdueCounts>,
    /// Whether the records not yet batched were more than
    /// [`MAX_UNBATCHED`], so that the counts are a lower bound.
    pub scan_capped: bool,
}

/// Count the records `storage` has not had acknowledged by the national
/// node that are overdue at `now_ms` under `rules`. Cancel-safe (read only).
pub async fn waiting(
    storage: &Storage,
    rules: &UpwardRules,
    now_ms: i64,
) -> Result<Waiting, StorageError> {
    let mut out = Waiting::default();
    let mut count = |category: &str, body: &[u8], imported_at_ms: i64| {
        let Some(o) = credex_flows::upward::overdue(
            &rules.list,
            &rules.calendar,
            category,
            body,
            imported_at_ms,
            now_ms,
        ) else {
            return;
        };
        if o.late || o.past_deadline {
            let c = out.categories.entry(category.to_owned()).or_default();
            c.late += u64::from(o.late);
            c.past_deadline += u64::from(o.past_deadline);
        }
    };
    // Batches in the outbox: queued or sent, not acknowledged.
    for (flow, kind, payload) in
        crate::federation::pending_payloads_in(storage, RegionCode::NATIONAL).await?
    {
        if flow != Flow::Upward || kind != KIND_BATCH {
            continue;
        }
        let batch: UpwardBatch =
            credex_protocol::decode(&payload).map_err(|e| StorageError::InvalidState {
                reason: format!("an upward batch in the outbox is unreadable: {e}"),
            })?;
        for r in &batch.records {
            count(&r.category, &r.body, r.imported_at_ms);
        }
    }
    // Records counted as due and not yet batched.
    let state: ReporterState = read_state(storage, OUT_NS, REPORTER_KEY)
        .await?
        .unwrap_or_default();
    out.scan_capped = for_each_held(storage, &state, |category, body, imported_at_ms| {
        count(category, body, imported_at_ms)
    })
    .await?;
    Ok(out)
}

/// Calls `each` with (category, body, import time) of every record the
/// reporter (as of `state`) counted as due and has not yet batched (held
/// behind the outbox's window while the national node does not
/// acknowledge), in import order, at most [`MAX_UNBATCHED`] of them.
/// Returns whether there were more. Cancel-safe (read only).
pub(super) async fn for_each_held(
    storage: &Storage,
    state: &ReporterState,
    mut each: impl FnMut(&str, &[u8], i64),
) -> Result<bool, StorageError> {
    let mut cursor: ImportCursor = state.batch_cursor.clone();
    let mut read = 0usize;
    while cursor < state.due_cursor {
        if read >= MAX_UNBATCHED {
            return Ok(true);
        }
        let page = storage.records_imported(&cursor, i64::MAX, PAGE).await?;
        let full = page.len() == PAGE as usize;
        for r in page {
            cursor = ImportCursor {
                imported_at_unix_ms: r.imported_at_unix_ms,
                category: r.category,
                record_id: r.record_id,
            };
            if cursor > state.due_cursor {
                return Ok(false);
            }
            read += 1;
            each(&cursor.category, &r.body, r.imported_at_unix_ms);
        }
        if !full {
            break;
        }
    }
    Ok(false)
}
