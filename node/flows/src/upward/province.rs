//! The province's side of the upward channel: what an acknowledgement of
//! one of its batches changes — the national node's signed receipt checked
//! against the batch sent, and the batch's records counted as reported on
//! the receipt's date, on time or late by the working-day calendar (the
//! reporting list's deadline and the 双公示 limit).
//!
//! Making and sending batches is the node's reporter, not this module's.

use credex_pki::authorization::verify_node_statement;
use credex_policies::{Deadline, FieldValue, HolidayCalendar, Record, Timeliness};
use credex_protocol::RegionCode;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope};
use credex_protocol::upward::{
    BatchReceipt, DOMAIN_UPWARD_RECEIPT, ReportedRecord, SignedBatchReceipt, UpwardBatch,
    records_digest,
};
use time::Date;

use super::Upward;
use super::state::{LateRecord, MAX_LATE_LISTED, OUT_NS, REPORTED_KEY, ReportedTotals};
use crate::calendar::{china_date, parse_date, unix_time};
use crate::flow::{AckError, Context, StateWrite, View};
use credex_pki::TrustStore;

/// The double-publicity limit (双公示), in working days.
pub const DOUBLE_PUBLICITY_DAYS: u32 = credex_policies::reporting::DOUBLE_PUBLICITY_WORKING_DAYS;

impl Upward {
    /// Take in the national node's `ack` of the batch in `envelope`: the
    /// totals in `view` advanced (see the module documentation).
    pub(super) fn batch_acknowledged(
        &self,
        cx: &Context<'_>,
        view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError> {
        let batch: UpwardBatch = credex_protocol::decode(&envelope.payload)
            .map_err(|e| AckError(format!("our own batch is unreadable: {e}")))?;
        let mut totals: ReportedTotals = view
            .decoded(OUT_NS, REPORTED_KEY)
            .map_err(|e| AckError(e.to_string()))?
            .unwrap_or_default();
        totals.last_ack_ms = cx.now_ms;
        match &ack.status {
            // The federation layer logs the refusal with its reason.
            DeliveryStatus::Refused { .. } => {
                totals.batches_refused += 1;
                totals.records_refused += batch.records.len() as u64;
            }
            DeliveryStatus::Applied | DeliveryStatus::AlreadyApplied => {
                let signed: SignedBatchReceipt =
                    credex_protocol::decode(&ack.reply).map_err(|e| {
                        AckError(format!("batch {}: unreadable receipt: {e}", batch.seq))
                    })?;
                let receipt = verify_receipt(cx.trust, self.region, &batch, &signed, cx.now_ms)
                    .map_err(AckError)?;
                let reported = china_date(receipt.received_at_ms)
                    .ok_or_else(|| AckError("the receipt's time is out of range".into()))?;
                totals.batches_acked += 1;
                for r in &batch.records {
                    self.count_reported(&mut totals, r, reported, receipt.received_at_ms);
                }
            }
        }
        let write = StateWrite::encoded(OUT_NS, REPORTED_KEY, &totals)
            .map_err(|e| AckError(e.to_string()))?;
        Ok(vec![write])
    }

    /// Count `r`, acknowledged on `reported` (received at
    /// `received_at_ms`), in `totals`: reported, and on time or late by the
    /// reporting list's deadline and, for 双公示 categories, by
    /// [`DOUBLE_PUBLICITY_DAYS`].
    pub fn count_reported(
        &self,
        totals: &mut ReportedTotals,
        r: &ReportedRecord,
        reported: Date,
        received_at_ms: i64,
    ) {
        let entry = totals.categories.entry(r.category.clone()).or_default();
        entry.reported += 1;
        let Some(item) = self.list.item(&r.category) else {
            return;
        };
        let decided = decision_date(&r.body);
        // The reporting list's own deadline (报送时限).
        let within = within_list_deadline(
            &self.calendar,
            item.deadline,
            decided,
            reported,
            received_at_ms - r.imported_at_ms,
        );
        match within {
            Some(true) => entry.within_deadline += 1,
            Some(false) => entry.past_deadline += 1,
            None => entry.deadline_undated += 1,
        }
        if !item.double_publicity {
            return;
        }
        let Some(decided) = decided else {
            entry.undated += 1;
            return;
        };
        match classify(&self.calendar, decided, reported) {
            Timeliness::OnTime => entry.on_time += 1,
            Timeliness::Late { working_days } => {
                entry.late += 1;
                if totals.late.len() >= MAX_LATE_LISTED {
                    totals.late.remove(0);
                }
                totals.late.push(LateRecord {
                    category: r.category.clone(),
                    record_id: r.record_id.clone(),
                    decision_date: decided.to_string(),
                    reported_date: reported.to_string(),
                    working_days_late: working_days,
                });
            }
        }
    }
}

/// Whether a record reported on `reported`, `elapsed_ms` after its import,
/// met the reporting list's `deadline` (报送时限); `None` when the deadline
/// counts from a decision date the record does not carry.
fn within_list_deadline(
    calendar: &HolidayCalendar,
    deadline: Deadline,
    decided: Option<Date>,
    reported: Date,
    elapsed_ms: i64,
) -> Option<bool> {
    match deadline {
        Deadline::Hours(h) => Some(elapsed_ms <= i64::from(h) * 3_600_000),
        Deadline::WorkingDays(n) => {
            decided.map(|d| calendar.timeliness(d, reported, n) == Timeliness::OnTime)
        }
    }
}

/// Where a record the national node has not acknowledged stands at
/// `now_ms`: what [`Upward::count_reported`] would count, were it
/// acknowledged now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overdue {
    /// Past the reporting list's deadline (报送时限).
    pub past_deadline: bool,
    /// A 双公示 record past its [`DOUBLE_PUBLICITY_DAYS`] working days: late
    /// however soon it is acknowledged.
    pub late: bool,
}

/// Where a record of `category` with `body`, imported at `imported_at_ms`
/// and not yet acknowledged, stands at `now_ms` under `list` and
/// `calendar` (China time); `None` for a category the list does not name.
pub fn overdue(
    list: &credex_policies::ReportingList,
    calendar: &HolidayCalendar,
    category: &str,
    body: &[u8],
    imported_at_ms: i64,
    now_ms: i64,
) -> Option<Overdue> {
    let item = list.item(category)?;
    let today = china_date(now_ms)?;
    let decided = decision_date(body);
    let within = within_list_deadline(
        calendar,
        item.deadline,
        decided,
        today,
        now_ms - imported_at_ms,
    );
    let late = item.double_publicity
        && decided.is_some_and(|d| classify(calendar, d, today) != Timeliness::OnTime);
    Some(Overdue {
        past_deadline: within == Some(false),
        late,
    })
}

/// Check the national node's signed receipt against the batch `region`
/// sent: signed by a node of the national region as of `now_ms`, naming
/// the same region, sequence number, count and records digest.
pub fn verify_receipt(
    trust: &TrustStore,
    region: RegionCode,
    batch: &UpwardBatch,
    signed: &SignedBatchReceipt,
    now_ms: i64,
) -> Result<BatchReceipt, String> {
    let bytes = credex_protocol::encode(&signed.receipt).map_err(|e| e.to_string())?;
    let (_, signer_region, node) = verify_node_statement(
        DOMAIN_UPWARD_RECEIPT,
        &bytes,
        &signed.signer,
        trust,
        unix_time(now_ms),
        Some(RegionCode::NATIONAL),
    )
    .map_err(|e| format!("batch {}: the receipt's signature: {e}", batch.seq))?;
    let r = &signed.receipt;
    let digest = records_digest(&batch.records).map_err(|e| e.to_string())?;
    if r.reporting_region != region
        || r.seq != batch.seq
        || r.record_count as usize != batch.records.len()
        || r.records_digest != digest
        || r.national_node != node
        || !signer_region.is_national()
    {
        return Err(format!(
            "batch {}: the receipt is for batch {} of {} ({} records) and does not match what was sent",
            batch.seq, r.seq, r.reporting_region, r.record_count
        ));
    }
    Ok(r.clone())
}

/// Whether a 双公示 record decided on `decided` and reported (acknowledged
/// by the national node) on `reported` was on time: within
/// [`DOUBLE_PUBLICITY_DAYS`] working days of the decision by `calendar`.
pub fn classify(calendar: &HolidayCalendar, decided: Date, reported: Date) -> Timeliness {
    calendar.timeliness(decided, reported, DOUBLE_PUBLICITY_DAYS)
}

/// The `decision_date` of an encoded record, if it has a valid one.
pub fn decision_date(body: &[u8]) -> Option<Date> {
    let record: Record = credex_protocol::decode(body).ok()?;
    match record.fields.get("decision_date")? {
        FieldValue::Date(s) | FieldValue::Text(s) => parse_date(s),
        _ => None,
    }
}
