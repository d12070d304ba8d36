//! The upward channel at a glance, read from the store: the province's
//! status (due, batched, reported, timeliness, the outbox's backlog) and
//! what the national node received per province, for `credex upward
//! status|received` and the metrics endpoint. Read only; what the numbers
//! mean is decided by the flow ([`credex_flows::upward`]) and the reporter.

use std::collections::BTreeMap;

use credex_protocol::RegionCode;
use serde::Serialize;

use super::position::{REPORTER_KEY, ReporterState};
use super::{
    IN_NS, LateRecord, OUT_NS, OVERDUE_NS, OverdueReported, ProvinceReceived, ReportedTotals,
    UpwardRules, read_state,
};
use crate::storage::{Storage, StorageError};

/// Per category: due, reported and timeliness.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CategoryStatus {
    /// Category code.
    pub category: String,
    /// Records due (imported, on the reporting list).
    pub due: u64,
    /// Records batched (queued or sent).
    pub batched: u64,
    /// Records the national node acknowledged.
    pub reported: u64,
    /// 双公示: reported within 7 working days.
    pub on_time: u64,
    /// 双公示: reported later.
    pub late: u64,
    /// 双公示: without a readable decision date.
    pub undated: u64,
    /// Reported within the reporting list's deadline.
    pub within_deadline: u64,
    /// Reported after the reporting list's deadline.
    pub past_deadline: u64,
    /// 双公示: not yet acknowledged and past 7 working days already, so
    /// late whenever acknowledged ([`super::overdue`]).
    pub overdue: u64,
    /// Not yet acknowledged and past the reporting list's deadline already.
    pub past_deadline_waiting: u64,
}

/// The province's upward channel at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpwardStatus {
    /// The next batch number.
    pub next_seq: u64,
    /// Batches acknowledged.
    pub batches_acked: u64,
    /// Batches refused by the national node.
    pub batches_refused: u64,
    /// Batches waiting in the outbox (sent or not, unacknowledged).
    pub batches_pending: u64,
    /// Records due in all.
    pub due: u64,
    /// Records reported in all.
    pub reported: u64,
    /// Due records that cannot be reported (record id too long).
    pub unreportable: u64,
    /// reported / due (1 when nothing is due).
    pub reporting_rate: f64,
    /// 双公示 records on time / (on time + late + overdue) (1 when none):
    /// a record still waiting past its deadline counts as late now, not
    /// only once acknowledged.
    pub timeliness_rate: f64,
    /// 双公示 records waiting past 7 working days, in all.
    pub overdue: u64,
    /// Whether the waiting records were too many to read them all, so that
    /// the overdue counts are a lower bound
    /// ([`super::overdue::Waiting::scan_capped`]).
    pub overdue_at_least: bool,
    /// Per category.
    pub categories: Vec<CategoryStatus>,
    /// The most recent late records.
    pub late: Vec<LateRecord>,
}

/// Read the province's status from `storage`, judging the records still
/// waiting for an acknowledgement by `rules` as of the store's clock.
/// Cancel-safe (read only).
pub async fn status(storage: &Storage, rules: &UpwardRules) -> Result<UpwardStatus, StorageError> {
    let state: ReporterState = read_state(storage, OUT_NS, REPORTER_KEY)
        .await?
        .unwrap_or_default();
    let totals: ReportedTotals = read_state(storage, OUT_NS, credex_flows::upward::REPORTED_KEY)
        .await?
        .unwrap_or_default();
    let pending = storage
        .state_scan(
            crate::federation::OUTBOX_NS,
            &format!("{}/", RegionCode::NATIONAL),
            None,
            crate::storage::MAX_STATE_SCAN,
        )
        .await?
        .len() as u64;
    let waiting = super::overdue::waiting(storage, rules, storage.clock().now_ms()).await?;
    let mut names: Vec<&String> = state.due.keys().chain(totals.categories.keys()).collect();
    names.sort();
    names.dedup();
    let categories: Vec<CategoryStatus> = names
        .into_iter()
        .map(|c| {
            let r = totals.categories.get(c).cloned().unwrap_or_default();
            let w = waiting.categories.get(c).copied().unwrap_or_default();
            CategoryStatus {
                category: c.clone(),
                due: state.due.get(c).copied().unwrap_or(0),
                batched: state.batched.get(c).copied().unwrap_or(0),
                reported: r.reported,
                on_time: r.on_time,
                late: r.late,
                undated: r.undated,
                within_deadline: r.within_deadline,
                past_deadline: r.past_deadline,
                overdue: w.late,
                past_deadline_waiting: w.past_deadline,
            }
        })
        .collect();
    let due: u64 = categories.iter().map(|c| c.due).sum();
    let reported: u64 = categories.iter().map(|c| c.reported).sum();
    let on_time: u64 = categories.iter().map(|c| c.on_time).sum();
    let late: u64 = categories.iter().map(|c| c.late).sum();
    let overdue: u64 = categories.iter().map(|c| c.overdue).sum();
    Ok(UpwardStatus {
        next_seq: state.next_seq,
        batches_acked: totals.batches_acked,
        batches_refused: totals.batches_refused,
        batches_pending: pending,
        due,
        reported,
        unreportable: state.unreportable,
        reporting_rate: ratio(reported, due),
        timeliness_rate: ratio(on_time, on_time + late + overdue),
        overdue,
        overdue_at_least: waiting.scan_capped,
        categories,
        late: totals.late,
    })
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// What the national node received from one province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedFrom {
    /// The province.
    pub region: String,
    /// The next batch expected from it (= batches applied).
    pub batches: u64,
    /// Records in all.
    pub records: u64,
    /// Records per category.
    pub categories: BTreeMap<String, u64>,
    /// When the last batch was applied, Unix ms.
    pub last_at_ms: i64,
}

/// Read what the national node received, per province. Cancel-safe.
pub async fn received(storage: &Storage) -> Result<Vec<ReceivedFrom>, StorageError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = storage
            .state_scan(IN_NS, "", after.as_deref(), crate::storage::MAX_STATE_SCAN)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        let full = page.len() == crate::storage::MAX_STATE_SCAN as usize;
        for (region, value) in page {
            let p: ProvinceReceived =
                credex_protocol::decode(&value).map_err(|e| StorageError::InvalidState {
                    reason: format!("{IN_NS}/{region} is unreadable: {e}"),
                })?;
            out.push(ReceivedFrom {
                region,
                batches: p.next_seq,
                records: p.records,
                categories: p.categories,
                last_at_ms: p.last_at_ms,
            });
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Read the missed objection deadlines regions reported to the national
/// node, late region first. Cancel-safe.
pub async fn objections_overdue(storage: &Storage) -> Result<Vec<OverdueReported>, StorageError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = storage
            .state_scan(
                OVERDUE_NS,
                "",
                after.as_deref(),
                crate::storage::MAX_STATE_SCAN,
            )
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        let full = page.len() == crate::storage::MAX_STATE_SCAN as usize;
        for (key, value) in page {
            out.push(
                credex_protocol::decode(&value).map_err(|e| StorageError::InvalidState {
                    reason: format!("{OVERDUE_NS}/{key} is unreadable: {e}"),
                })?,
            );
        }
        if !full {
            break;
        }
    }
    Ok(out)
}
