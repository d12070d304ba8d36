//! The upward deadline watch: a batch the national node has not yet
//! acknowledged may hold 双公示 records whose 7-working-day reporting
//! deadline (from their decision date, by the calendar) is the next working
//! day or already past. Once per such batch an
//! [`UpwardDeadlineAtRisk`](credex_journal::UpwardDeadlineAtRisk) entry is
//! written — the event feed shows it, so the province's systems and officers
//! hear of it while there is still time to act (reach the national platform
//! another way, escalate).
//!
//! Records counted as due but not yet batched (held behind the outbox's
//! window while the national node does not acknowledge) are watched too:
//! once per China day while any of them is at risk, an entry names the
//! sequence number of the next batch, the one that will carry them. So an
//! outage raises the alarm for every record, not only for the few batches
//! the window let out, and repeats it daily while it lasts.

use credex_flows::upward::{DOUBLE_PUBLICITY_DAYS, decision_date};
use credex_policies::{HolidayCalendar, ReportingList};
use credex_protocol::RegionCode;
use credex_protocol::federation::Flow;
use credex_protocol::upward::{KIND_BATCH, UpwardBatch};
use time::Date;

use super::position::{REPORTER_KEY, ReporterState};
use super::{OUT_NS, read_state};
use crate::federation::Federation;
use crate::storage::{ImportCursor, StateWrite, Storage, StorageError};

/// How the watch marks a batch it already reported.
fn marker(seq: u64) -> String {
    format!("at-risk/{seq:020}")
}

/// How the watch marks the day it reported records not yet batched.
fn held_marker(today: Date) -> String {
    format!("at-risk/held/{today}")
}

/// What one batch's records say about their deadlines, as of `today`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRisk {
    /// Records at risk.
    pub records: u32,
    /// The earliest deadline among them.
    pub earliest: Date,
}

/// The records of `batch` whose deadline is at most one working day after
/// `today` (or past), if any.
pub fn batch_risk(
    batch: &UpwardBatch,
    list: &ReportingList,
    calendar: &HolidayCalendar,
    today: Date,
) -> Option<BatchRisk> {
    let mut risk = RiskCount::new(list, calendar, today)?;
    for r in &batch.records {
        risk.add(&r.category, &r.body);
    }
    risk.risk
}

/// [`batch_risk`] over records met one at a time.
struct RiskCount<'a> {
    list: &'a ReportingList,
    calendar: &'a HolidayCalendar,
    /// The last deadline counted as at risk: the next working day.
    horizon: Date,
    risk: Option<BatchRisk>,
}

impl<'a> RiskCount<'a> {
    fn new(
        list: &'a ReportingList,
        calendar: &'a HolidayCalendar,
        today: Date,
    ) -> Option<RiskCount<'a>> {
        Some(RiskCount {
            list,
            calendar,
            horizon: calendar.add_working_days(today, 1)?,
            risk: None,
        })
    }

    fn add(&mut self, category: &str, body: &[u8]) {
        if !self.list.item(category).is_some_and(|i| i.double_publicity) {
            return;
        }
        let Some(deadline) = decision_date(body)
            .and_then(|d| self.calendar.add_working_days(d, DOUBLE_PUBLICITY_DAYS))
        else {
            return;
        };
        if deadline > self.horizon {
            return;
        }
        let r = self.risk.get_or_insert(BatchRisk {
            records: 0,
            earliest: deadline,
        });
        r.records = r.records.saturating_add(1);
        r.earliest = r.earliest.min(deadline);
    }
}

/// What the last scan of the records not yet batched saw: the span held
/// (the reporter's batch and due cursors) and the day. Their risk depends
/// on nothing else, so while these stay the same no scan is needed (during
/// an outage the span can hold up to 100,000 records, and the watch runs
/// every reporter pass).
#[derive(Default)]
pub struct HeldWatch(std::sync::Mutex<Option<HeldSpan>>);

type HeldSpan = (ImportCursor, ImportCursor, Date);

impl HeldWatch {
    fn last(&self) -> Option<HeldSpan> {
        // A poisoned lock only means a panic elsewhere; the value is whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn remember(&self, span: HeldSpan) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(span);
    }
}

/// Journal every unacknowledged upward batch newly at risk as of `now_ms`,
/// and, once a day, the records not yet batched that are at risk (under
/// the next batch's number); returns how many entries were journaled.
pub async fn watch(
    federation: &Federation,
    list: &ReportingList,
    calendar: &HolidayCalendar,
    held: &HeldWatch,
    now_ms: i64,
) -> Result<u32, StorageError> {
    let Some(today) = credex_flows::calendar::china_date(now_ms) else {
        return Ok(0);
    };
    let storage = &federation.context().storage;
    let mut written = 0;
    for (flow, kind, payload) in federation.pending_payloads(RegionCode::NATIONAL).await? {
        if flow != Flow::Upward || kind != KIND_BATCH {
            continue;
        }
        let Ok(batch) = credex_protocol::decode::<UpwardBatch>(&payload) else {
            continue;
        };
        let Some(risk) = batch_risk(&batch, list, calendar, today) else {
            continue;
        };
        let key = marker(batch.seq);
        if storage.state(OUT_NS, &key).await?.is_some() {
            continue;
        }
        tracing::warn!(batch = batch.seq, records = risk.records, deadline = %risk.earliest, "upward deadline at risk: the national node has not acknowledged the batch");
        journal_risk(storage, batch.seq, &risk, key, today, now_ms).await?;
        written += 1;
    }
    // Records not yet batched, once a day.
    let state: ReporterState = read_state(storage, OUT_NS, REPORTER_KEY)
        .await?
        .unwrap_or_default();
    let span = (state.batch_cursor.clone(), state.due_cursor.clone(), today);
    let key = held_marker(today);
    if held.last().as_ref() != Some(&span)
        && storage.state(OUT_NS, &key).await?.is_none()
        && let Some(mut risk) = RiskCount::new(list, calendar, today)
    {
        super::overdue::for_each_held(storage, &state, |category, body, _| {
            risk.add(category, body)
        })
        .await?;
        if let Some(risk) = risk.risk {
            tracing::warn!(next_batch = state.next_seq, records = risk.records, deadline = %risk.earliest, "upward deadline at risk: records wait unbatched behind unacknowledged batches");
            journal_risk(storage, state.next_seq, &risk, key, today, now_ms).await?;
            written += 1;
        }
    }
    held.remember(span);
    Ok(written)
}

/// Journal `risk` for the batch `seq`, marking `key` done in the same
/// append.
async fn journal_risk(
    storage: &Storage,
    seq: u64,
    risk: &BatchRisk,
    key: String,
    today: Date,
    now_ms: i64,
) -> Result<(), StorageError> {
    let entry = credex_journal::UpwardDeadlineAtRisk {
        version: credex_journal::ENTRY_VERSION,
        at_ms: now_ms,
        seq,
        records_at_risk: risk.records,
        earliest_deadline: risk.earliest.to_string(),
        missed: risk.earliest < today,
    };
    storage
        .append_entry_with_state(&entry, vec![StateWrite::put(OUT_NS, key, vec![1])])
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use credex_policies::{FieldValue, Record};
    use credex_protocol::upward::ReportedRecord;
    use time::macros::date;

    use super::*;

    fn record(category: &str, decided: &str) -> ReportedRecord {
        let body = Record {
            category: category.into(),
            fields: [("decision_date".to_owned(), FieldValue::Date(decided.into()))]
                .into_iter()
                .collect(),
        };
        ReportedRecord {
            category: category.into(),
            record_id: format!("{category}-{decided}"),
            subject_key: "91520000100052019T".into(),
            body: credex_protocol::encode(&body).unwrap(),
            imported_at_ms: 0,
        }
    }

    #[test]
    fn only_double_publicity_records_near_or_past_their_deadline_are_at_risk() {
        let calendar = HolidayCalendar::builtin_2026();
        let list = ReportingList::builtin();
        // Thursday 2026-03-12: a penalty decided on Tuesday 3 March is due
        // on Thursday the 12th (7 working days): at risk today.
        let today = date!(2026 - 03 - 12);
        let batch = |records| UpwardBatch { seq: 7, records };
        let at_risk = batch_risk(
            &batch(vec![
                record("admin_penalty", "2026-03-03"),
                record("admin_penalty", "2026-03-11"),
            ]),
            &list,
            &calendar,
            today,
        )
        .unwrap();
        assert_eq!(at_risk.records, 1);
        assert_eq!(at_risk.earliest, date!(2026 - 03 - 12));
        // Decided yesterday: six working days left.
        assert_eq!(
            batch_risk(
                &batch(vec![record("admin_penalty", "2026-03-11")]),
                &list,
                &calendar,
                today
            ),
            None
        );
        // A category without 双公示 never is.
        assert_eq!(
            batch_risk(
                &batch(vec![record("tax_credit_rating", "2026-01-05")]),
                &list,
                &calendar,
                today
            ),
            None
        );
    }
}
