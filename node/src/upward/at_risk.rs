//! The upward deadline watch: a batch the national node has not yet
//! acknowledged may hold 双公示 records whose 7-working-day reporting
//! deadline (from their decision date, by the calendar) is the next working
//! day or already past. Once per such batch an
//! [`UpwardDeadlineAtRisk`](credex_journal::UpwardDeadlineAtRisk) entry is
//! written — the event feed shows it, so the province's systems and officers
//! hear of it while there is still time to act (reach the national platform
//! another way, escalate).

use credex_flows::upward::{DOUBLE_PUBLICITY_DAYS, decision_date};
use credex_policies::{HolidayCalendar, ReportingList};
use credex_protocol::RegionCode;
use credex_protocol::federation::Flow;
use credex_protocol::upward::{KIND_BATCH, UpwardBatch};
use time::Date;

use super::OUT_NS;
use crate::federation::Federation;
use crate::storage::{StateWrite, StorageError};

/// How the watch marks a batch it already reported.
fn marker(seq: u64) -> String {
    format!("at-risk/{seq:020}")
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
    let horizon = calendar.add_working_days(today, 1)?;
    let mut risk: Option<BatchRisk> = None;
    for r in &batch.records {
        if !list.item(&r.category).is_some_and(|i| i.double_publicity) {
            continue;
        }
        let Some(deadline) = decision_date(&r.body)
            .and_then(|d| calendar.add_working_days(d, DOUBLE_PUBLICITY_DAYS))
        else {
            continue;
        };
        if deadline > horizon {
            continue;
        }
        let r = risk.get_or_insert(BatchRisk {
            records: 0,
            earliest: deadline,
        });
        r.records += 1;
        r.earliest = r.earliest.min(deadline);
    }
    risk
}

/// Journal every unacknowledged upward batch newly at risk as of `now_ms`;
/// returns how many were journaled.
pub async fn watch(
    federation: &Federation,
    list: &ReportingList,
    calendar: &HolidayCalendar,
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
        let entry = credex_journal::UpwardDeadlineAtRisk {
            version: credex_journal::ENTRY_VERSION,
            at_ms: now_ms,
            seq: batch.seq,
            records_at_risk: risk.records,
            earliest_deadline: risk.earliest.to_string(),
            missed: risk.earliest < today,
        };
        tracing::warn!(batch = batch.seq, records = risk.records, deadline = %risk.earliest, "upward deadline at risk: the national node has not acknowledged the batch");
        storage
            .append_entry_with_state(&entry, vec![StateWrite::put(OUT_NS, key, vec![1])])
            .await?;
        written += 1;
    }
    Ok(written)
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
