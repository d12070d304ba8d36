//! The upward channel (数据报送): each provincial node reports its credit
//! records to the national platform's node (region `000000`, the same
//! binary), according to the reporting list (数据报送清单), and measures the
//! reporting rate and 双公示 timeliness. Decision 0503 explains the design.
//!
//! # Province
//!
//! A reporter task ([`spawn_reporter`]) follows the records table in import
//! order (import time, category, record id) with two cursors kept in flow
//! state: the *due* cursor counts every imported record of a listed
//! category as due; the *batch* cursor packs the same records into batches
//! of consecutive sequence numbers (0, 1, 2 …). Each batch is committed
//! with a [`kind::BATCH_PREPARED`] journal entry together with its outbox
//! message ([`Flow::Upward`]) and the advanced cursor, so a batch exists
//! exactly when its entry does. The federation layer delivers the outbox
//! in creation order and retries until acknowledged, across restarts of
//! either side. Backpressure: the reporter makes a new batch only while
//! fewer than `max_in_flight` messages for the national node wait in the
//! outbox.
//!
//! When the acknowledgement arrives, [`UpwardFlow::acknowledged`] verifies
//! the national node's signed [`BatchReceipt`] (sequence, count, digest) and
//! counts the records as reported on the receipt's date, classifying
//! `admin_license` / `admin_penalty` records as on time or late against 7
//! working days from their `decision_date` with the configured calendar.
//!
//! # National node
//!
//! [`UpwardFlow::receive`] applies a batch only if its sequence number is
//! the next expected from that province: it stores the records under
//! region-qualified ids (`520000:AP-0001`), so the national node's own
//! query path answers for them under its own policy, and advances the
//! province's sequence and counts in the same transaction as the
//! federation log entry. A batch ahead of the expected number is refused
//! for now (the sender retries); one behind it is refused for good.

use credex_flows::calendar::{china_date, parse_date, unix_time};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use credex_pki::authorization::{sign_node_statement, verify_node_statement};
use credex_pki::signing::SigningKey;
use credex_policies::Uscc;
use credex_policies::egress::{UpwardCandidate, release_upward_batch};
use credex_policies::{
    Catalogue, Deadline, FieldValue, HolidayCalendar, Record, ReportingList, Timeliness,
};
use credex_protocol::egress::{EgressBasis, EgressRecord};
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow};
use credex_protocol::query::SubjectPseudonym;
use credex_protocol::upward::{
    BatchReceipt, DOMAIN_UPWARD_RECEIPT, KIND_BATCH, ReportedRecord, SignedBatchReceipt,
    UpwardBatch, records_digest,
};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};
use time::Date;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{NodeConfig, UpwardConfig};
use crate::federation::{Effect, Federation, FlowFuture, FlowHandler, Refusal};
use crate::service::StartError;
use crate::storage::{ImportCursor, RecordRow, StateWrite, Storage, StorageError};
use crate::transport::PeerIdentity;
use credex_journal::{BatchPrepared, ENTRY_VERSION};

/// State namespace of the province's side.
pub const OUT_NS: &str = "upward.out";
/// State namespace of the national node's side (one key per province).
pub const IN_NS: &str = "upward.in";
/// Key of the reporter's [`ReporterState`] in [`OUT_NS`].
const REPORTER_KEY: &str = "reporter";
/// Key of the [`ReportedTotals`] in [`OUT_NS`].
const REPORTED_KEY: &str = "reported";
/// Key written as a barrier before each scan (see [`Reporter::scan_limit`]).
const BARRIER_KEY: &str = "barrier";

/// Records imported less than this long ago are left for the next pass, so
/// an import committing late by another process is not skipped.
pub const SETTLE: Duration = Duration::from_secs(2);
/// Most records the due cursor counts per pass.
const DUE_PAGES_PER_PASS: usize = 20;
/// Records read per page.
const PAGE: u32 = 1000;
/// Most bytes of records ([`record_weight`]) in one batch, so a batch of
/// large records stays under the envelope's payload limit
/// ([`credex_protocol::federation::MAX_PAYLOAD`]) with room for framing.
pub const MAX_BATCH_BYTES: usize = 448 * 1024;
// Room for the batch's own framing within the payload limit.
const _: () = assert!(MAX_BATCH_BYTES + 16 * 1024 < credex_protocol::federation::MAX_PAYLOAD);

/// An upper bound of a record's share of an encoded batch: its bytes plus
/// the length prefixes and the import time.
pub fn record_weight(category: &str, record_id: &str, subject_key: &str, body: &[u8]) -> usize {
    category.len() + record_id.len() + subject_key.len() + body.len() + 32
}
/// Most late records listed in the status.
pub const MAX_LATE_LISTED: usize = 100;
/// The double-publicity limit (双公示), in working days.
pub const DOUBLE_PUBLICITY_DAYS: u32 = credex_policies::reporting::DOUBLE_PUBLICITY_WORKING_DAYS;

/// The province's reporter position (in [`OUT_NS`]).
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

/// What the national node acknowledged (in [`OUT_NS`]).
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

/// The upward flow's handler (both sides): see the module documentation.
pub struct UpwardFlow {
    storage: Storage,
    region: RegionCode,
    node: NodeName,
    node_key: Arc<SigningKey>,
    chain: Vec<Vec<u8>>,
    trust: crate::tls::FederationTrust,
    list: ReportingList,
    calendar: HolidayCalendar,
    /// The catalogue whose field types a received record must fit.
    catalogue: credex_policies::Catalogue,
}

/// What the upward channel decides with: the reporting list and calendar
/// of a node's configuration (built-ins when not configured), and its
/// policy's catalogue.
pub struct UpwardRules {
    /// The reporting list (数据报送清单).
    pub list: ReportingList,
    /// The working-day calendar.
    pub calendar: HolidayCalendar,
    /// The catalogue the policy is written against.
    pub catalogue: credex_policies::Catalogue,
}

/// The [`UpwardRules`] of `config`.
pub fn load_rules(config: &NodeConfig, catalogue: &Catalogue) -> Result<UpwardRules, StartError> {
    let list = match &config.upward.reporting_list {
        Some(path) => ReportingList::load_file(path, catalogue).map_err(|e| StartError::Flow {
            flow: "upward",
            reason: format!("upward.reporting_list: {e}"),
        })?,
        None => ReportingList::builtin(),
    };
    Ok(UpwardRules {
        list,
        calendar: load_calendar(config)?,
        catalogue: catalogue.clone(),
    })
}

/// The working-day calendar of `[upward] holidays` (the shipped 2026
/// calendar when absent).
pub fn load_calendar(config: &NodeConfig) -> Result<HolidayCalendar, StartError> {
    match &config.upward.holidays {
        Some(path) => HolidayCalendar::load_file(path).map_err(|e| StartError::Flow {
            flow: "upward",
            reason: format!("upward.holidays: {e}"),
        }),
        None => Ok(HolidayCalendar::builtin_2026()),
    }
}

/// Register the upward flow with `federation`; received records must fit
/// `catalogue` (the node's policy's).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
) -> Result<(), StartError> {
    let UpwardRules {
        list,
        calendar,
        catalogue,
    } = load_rules(config, catalogue)?;
    let ctx = federation.context();
    let flow = UpwardFlow {
        storage: ctx.storage.clone(),
        region: ctx.region,
        node: ctx.node.clone(),
        node_key: Arc::clone(&ctx.node_key),
        chain: ctx.chain.clone(),
        trust: ctx.trust.clone(),
        list,
        calendar,
        catalogue,
    };
    federation.register(Flow::Upward, Arc::new(flow));
    Ok(())
}

impl FlowHandler for UpwardFlow {
    fn receive<'a>(
        &'a self,
        from: &'a PeerIdentity,
        envelope: &'a Envelope,
    ) -> FlowFuture<'a, Result<Effect, Refusal>> {
        Box::pin(self.receive_batch(from, envelope))
    }

    fn acknowledged<'a>(
        &'a self,
        envelope: &'a Envelope,
        ack: &'a DeliveryAck,
    ) -> FlowFuture<'a, Result<Vec<StateWrite>, String>> {
        Box::pin(self.batch_acknowledged(envelope, ack))
    }
}

impl UpwardFlow {
    async fn receive_batch(
        &self,
        from: &PeerIdentity,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        if !self.region.is_national() {
            return Err(Refusal::Permanent(format!(
                "region {} is not the national platform; upward reports go to 000000",
                self.region
            )));
        }
        if from.region.is_national() {
            return Err(Refusal::Permanent(
                "the national platform does not report upward".into(),
            ));
        }
        if envelope.kind != KIND_BATCH {
            return Err(Refusal::Permanent(format!(
                "unknown upward message kind {}",
                envelope.kind
            )));
        }
        let batch: UpwardBatch = credex_protocol::decode(&envelope.payload)
            .map_err(|e| Refusal::Permanent(format!("unreadable batch: {e}")))?;
        batch
            .validate()
            .map_err(|e| Refusal::Permanent(format!("batch {}: {e}", batch.seq)))?;
        self.check_collected(&batch, &envelope.egress)
            .map_err(|e| Refusal::Permanent(format!("batch {}: {e}", batch.seq)))?;
        let key = from.region.to_string();
        let mut province: ProvinceReceived = read_state(&self.storage, IN_NS, &key)
            .await
            .map_err(|e| Refusal::Transient(e.to_string()))?
            .unwrap_or_default();
        if batch.seq > province.next_seq {
            return Err(Refusal::Transient(format!(
                "batch {} arrived before batch {}; send that first",
                batch.seq, province.next_seq
            )));
        }
        if batch.seq < province.next_seq {
            return Err(Refusal::Permanent(format!(
                "batch {} of {} was already applied; the next expected is {}",
                batch.seq, from.region, province.next_seq
            )));
        }
        self.check_subject_caps(&batch, from.region).await?;
        let digest = records_digest(&batch.records)
            .map_err(|e| Refusal::Transient(format!("cannot digest the batch: {e}")))?;
        let rows: Vec<RecordRow> = batch
            .records
            .iter()
            .map(|r| RecordRow {
                category: r.category.clone(),
                record_id: format!("{}:{}", from.region, r.record_id),
                subject_key: r.subject_key.clone(),
                body: r.body.clone(),
            })
            .collect();
        // Storing the records is an upsert keyed by the region-qualified id:
        // if the node stops before the log entry below commits, the batch
        // is delivered again and stored again to the same rows, and only
        // then is its sequence number advanced (decision 0503).
        self.storage
            .import_records(rows)
            .await
            .map_err(|e| match e {
                StorageError::InvalidRecord { .. } => {
                    Refusal::Permanent(format!("batch {}: {e}", batch.seq))
                }
                e => Refusal::Transient(format!("cannot store batch {}: {e}", batch.seq)),
            })?;
        let now = crate::service::now_ms();
        let count = u32::try_from(batch.records.len()).unwrap_or(u32::MAX);
        for r in &batch.records {
            *province.categories.entry(r.category.clone()).or_default() += 1;
        }
        province.records += u64::from(count);
        province.next_seq += 1;
        province.last_at_ms = now;
        let receipt = BatchReceipt {
            reporting_region: from.region,
            seq: batch.seq,
            record_count: count,
            records_digest: digest,
            national_node: self.node.clone(),
            received_at_ms: now,
        };
        let bytes = credex_protocol::encode(&receipt)
            .map_err(|e| Refusal::Transient(format!("cannot encode the receipt: {e}")))?;
        let signer = sign_node_statement(
            DOMAIN_UPWARD_RECEIPT,
            &bytes,
            &self.node_key,
            self.chain.clone(),
        )
        .map_err(|e| Refusal::Transient(format!("cannot sign the receipt: {e}")))?;
        let reply = credex_protocol::encode(&SignedBatchReceipt { receipt, signer })
            .map_err(|e| Refusal::Transient(format!("cannot encode the receipt: {e}")))?;
        let value = credex_protocol::encode(&province)
            .map_err(|e| Refusal::Transient(format!("cannot encode state: {e}")))?;
        Ok(Effect {
            state: vec![StateWrite::put(IN_NS, key, value)],
            reply,
            summary: format!(
                "upward batch {}#{}: {count} records stored, digest {}",
                from.region,
                batch.seq,
                hex::encode(&digest[..8])
            ),
            ..Effect::default()
        })
    }

    /// A batch must be made under the reporting catalogue this node holds,
    /// and each record may carry only fields that catalogue collects for
    /// its category.
    fn check_collected(&self, batch: &UpwardBatch, egress: &EgressRecord) -> Result<(), String> {
        let ours = self.list.content_hash();
        if egress.basis != EgressBasis::ReportingCatalogue || egress.basis_hash != ours {
            return Err(format!(
                "made under {:?} {}, but this node collects under reporting catalogue {}; \
                 both sides must hold the same reporting catalogue file",
                egress.basis,
                hex::encode(&egress.basis_hash[..8]),
                hex::encode(&ours[..8]),
            ));
        }
        for (index, r) in batch.records.iter().enumerate() {
            if Uscc::parse(&r.subject_key).is_err()
                && r.subject_key.parse::<SubjectPseudonym>().is_err()
            {
                return Err(format!(
                    "record {index}: the subject key is neither a unified social credit code nor a pseudonym (EPOCH:HEX)"
                ));
            }
            let Some(item) = self.list.item(&r.category) else {
                return Err(format!(
                    "record {index}: category {} is not in the reporting catalogue",
                    r.category
                ));
            };
            let record: Record = credex_protocol::decode(&r.body)
                .map_err(|e| format!("record {index}: unreadable body: {e}"))?;
            if record.category != r.category {
                return Err(format!(
                    "record {index}: body of category {} filed under {}",
                    record.category, r.category
                ));
            }
            if let Some(f) = record.fields.keys().find(|f| !item.fields.contains(*f)) {
                return Err(format!(
                    "record {index}: {}.{f} is not collected by the reporting catalogue",
                    r.category
                ));
            }
            // Every value fits its field in the catalogue: a body the
            // national node cannot serve is refused now, not at query time.
            for (f, value) in &record.fields {
                let field = self.catalogue.field(&r.category, f).ok_or_else(|| {
                    format!("record {index}: {}.{f} is not in the catalogue", r.category)
                })?;
                field
                    .check_value(value)
                    .map_err(|e| format!("record {index}: {}.{f}: {e}", r.category))?;
            }
        }
        Ok(())
    }

    /// No subject may end up with more records at this node than a query
    /// returns ([`MAX_RECORDS_PER_QUERY`](crate::storage::MAX_RECORDS_PER_QUERY)):
    /// otherwise one province's batches could make every query on a company
    /// fail. Counts what is held plus what `batch` would add (re-reported
    /// records replace their earlier copies and add nothing).
    async fn check_subject_caps(
        &self,
        batch: &UpwardBatch,
        from: RegionCode,
    ) -> Result<(), Refusal> {
        let max = crate::storage::MAX_RECORDS_PER_QUERY;
        let categories: Vec<String> = self.list.iter().map(|i| i.category.clone()).collect();
        let mut adding: BTreeMap<&str, BTreeSet<(String, String)>> = BTreeMap::new();
        for r in &batch.records {
            adding
                .entry(r.subject_key.as_str())
                .or_default()
                .insert((r.category.clone(), format!("{from}:{}", r.record_id)));
        }
        for (subject, new) in adding {
            let held = match self.storage.records_for(subject, &categories).await {
                Ok(held) => held,
                Err(StorageError::TooManyRecords { .. }) => {
                    return Err(Refusal::Permanent(format!(
                        "batch {}: subject {subject} already holds more than {max} records here",
                        batch.seq
                    )));
                }
                Err(e) => return Err(Refusal::Transient(e.to_string())),
            };
            let mut all: BTreeSet<(String, String)> = held
                .into_iter()
                .map(|r| (r.category, r.record_id))
                .collect();
            all.extend(new);
            if all.len() > max {
                return Err(Refusal::Permanent(format!(
                    "batch {}: subject {subject} would hold {} records here, more than the {max} a query returns",
                    batch.seq,
                    all.len()
                )));
            }
        }
        Ok(())
    }

    async fn batch_acknowledged(
        &self,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, String> {
        let batch: UpwardBatch = credex_protocol::decode(&envelope.payload)
            .map_err(|e| format!("our own batch is unreadable: {e}"))?;
        let mut totals: ReportedTotals = read_state(&self.storage, OUT_NS, REPORTED_KEY)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let now = crate::service::now_ms();
        totals.last_ack_ms = now;
        match &ack.status {
            DeliveryStatus::Refused { reason } => {
                tracing::error!(seq = batch.seq, %reason, "the national node refused an upward batch");
                totals.batches_refused += 1;
                totals.records_refused += batch.records.len() as u64;
            }
            DeliveryStatus::Applied | DeliveryStatus::AlreadyApplied => {
                let signed: SignedBatchReceipt = credex_protocol::decode(&ack.reply)
                    .map_err(|e| format!("batch {}: unreadable receipt: {e}", batch.seq))?;
                let receipt = self.verify_receipt(&batch, &signed, now)?;
                let reported = china_date(receipt.received_at_ms)
                    .ok_or("the receipt's time is out of range")?;
                totals.batches_acked += 1;
                for r in &batch.records {
                    self.count_reported(&mut totals, r, reported, receipt.received_at_ms);
                }
            }
        }
        let value = credex_protocol::encode(&totals).map_err(|e| e.to_string())?;
        Ok(vec![StateWrite::put(OUT_NS, REPORTED_KEY, value)])
    }

    /// Check the national node's signed receipt against the batch sent.
    fn verify_receipt(
        &self,
        batch: &UpwardBatch,
        signed: &SignedBatchReceipt,
        now_ms: i64,
    ) -> Result<BatchReceipt, String> {
        let bytes = credex_protocol::encode(&signed.receipt).map_err(|e| e.to_string())?;
        let (_, region, node) = verify_node_statement(
            DOMAIN_UPWARD_RECEIPT,
            &bytes,
            &signed.signer,
            &self.trust.current(),
            unix_time(now_ms),
            Some(RegionCode::NATIONAL),
        )
        .map_err(|e| format!("batch {}: the receipt's signature: {e}", batch.seq))?;
        let r = &signed.receipt;
        let digest = records_digest(&batch.records).map_err(|e| e.to_string())?;
        if r.reporting_region != self.region
            || r.seq != batch.seq
            || r.record_count as usize != batch.records.len()
            || r.records_digest != digest
            || r.national_node != node
            || !region.is_national()
        {
            return Err(format!(
                "batch {}: the receipt is for batch {} of {} ({} records) and does not match what was sent",
                batch.seq, r.seq, r.reporting_region, r.record_count
            ));
        }
        Ok(r.clone())
    }

    fn count_reported(
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
        let within = match item.deadline {
            Deadline::Hours(h) => {
                Some(received_at_ms - r.imported_at_ms <= i64::from(h) * 3_600_000)
            }
            Deadline::WorkingDays(n) => {
                decided.map(|d| self.calendar.timeliness(d, reported, n) == Timeliness::OnTime)
            }
        };
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

async fn read_state<T: serde::de::DeserializeOwned>(
    storage: &Storage,
    ns: &str,
    key: &str,
) -> Result<Option<T>, StorageError> {
    match storage.state(ns, key).await? {
        None => Ok(None),
        Some(bytes) => {
            credex_protocol::decode(&bytes)
                .map(Some)
                .map_err(|e| StorageError::InvalidState {
                    reason: format!("{ns}/{key} is unreadable: {e}"),
                })
        }
    }
}

// ---------------------------------------------------------------------------
// The province's reporter.

/// Why a reporter pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A batch could not be made.
    #[error("{0}")]
    Batch(String),
}

/// The province's reporter: packs imported records into batches.
pub struct Reporter {
    federation: Federation,
    list: ReportingList,
    catalogue: Catalogue,
    config: UpwardConfig,
}

/// Start the reporter if `config` enables upward reporting. Cancel-safe
/// with respect to `shutdown`: a pass is never interrupted between making
/// a batch and committing it (the commit is one transaction).
pub fn spawn_reporter(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    if !config.upward.enabled {
        return Ok(());
    }
    let list = load_rules(config, catalogue)?.list;
    let reporter = Reporter {
        federation: federation.clone(),
        list,
        catalogue: catalogue.clone(),
        config: config.upward.clone(),
    };
    tracker.spawn(async move {
        loop {
            match reporter.pass().await {
                Ok(made) if made > 0 => tracing::debug!(batches = made, "upward batches queued"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "upward reporting pass failed; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(reporter.config.interval) => {}
            }
        }
    });
    Ok(())
}

impl Reporter {
    /// A reporter over `federation` (for tests and tools; the node uses
    /// [`spawn_reporter`]).
    /// It decides egress against the base catalogue.
    pub fn new(federation: Federation, list: ReportingList, config: UpwardConfig) -> Reporter {
        Reporter {
            federation,
            list,
            catalogue: Catalogue::base(),
            config,
        }
    }

    /// One pass: count newly due records, then make batches while the
    /// outbox has room. Returns how many batches were queued.
    pub async fn pass(&self) -> Result<u32, ReportError> {
        let storage = &self.federation.context().storage;
        let limit = self.scan_limit(storage).await?;
        let mut state: ReporterState = read_state(storage, OUT_NS, REPORTER_KEY)
            .await?
            .unwrap_or_default();
        if self.count_due(storage, &mut state, limit).await? {
            storage
                .write_state(vec![StateWrite::put(OUT_NS, REPORTER_KEY, encode(&state)?)])
                .await?;
        }
        let mut made = 0;
        while self.federation.pending_for(RegionCode::NATIONAL).await?
            < self.config.max_in_flight as usize
        {
            if !self.make_batch(storage, &mut state, limit).await? {
                break;
            }
            made += 1;
        }
        Ok(made)
    }

    /// The import time below which the records table is complete: imports
    /// by this node's writer before the barrier write have committed, and
    /// records imported within [`SETTLE`] are left for later.
    async fn scan_limit(&self, storage: &Storage) -> Result<i64, ReportError> {
        let now = crate::service::now_ms();
        storage
            .write_state(vec![StateWrite::put(
                OUT_NS,
                BARRIER_KEY,
                now.to_be_bytes().to_vec(),
            )])
            .await?;
        Ok(now - i64::try_from(SETTLE.as_millis()).unwrap_or(0))
    }

    /// Advance the due cursor; whether anything changed.
    async fn count_due(
        &self,
        storage: &Storage,
        state: &mut ReporterState,
        limit: i64,
    ) -> Result<bool, ReportError> {
        let mut changed = false;
        for _ in 0..DUE_PAGES_PER_PASS {
            let page = storage
                .records_imported(&state.due_cursor, limit, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            state.due_cursor = ImportCursor {
                imported_at_unix_ms: last.imported_at_unix_ms,
                category: last.category.clone(),
                record_id: last.record_id.clone(),
            };
            for r in &page {
                if self.list.item(&r.category).is_some() {
                    *state.due.entry(r.category.clone()).or_default() += 1;
                }
            }
            changed = true;
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(changed)
    }

    /// Make and queue the next batch from records already counted as due;
    /// whether one was made.
    async fn make_batch(
        &self,
        storage: &Storage,
        state: &mut ReporterState,
        limit: i64,
    ) -> Result<bool, ReportError> {
        if state.batch_cursor == state.due_cursor {
            return Ok(false);
        }
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut cursor = state.batch_cursor.clone();
        let size = self.config.batch_size as usize;
        'scan: loop {
            let page = storage.records_imported(&cursor, limit, PAGE).await?;
            if page.is_empty() {
                break;
            }
            let full_page = page.len() == PAGE as usize;
            for r in page {
                let position = ImportCursor {
                    imported_at_unix_ms: r.imported_at_unix_ms,
                    category: r.category.clone(),
                    record_id: r.record_id.clone(),
                };
                if position > state.due_cursor {
                    break 'scan;
                }
                if self.list.item(&r.category).is_some()
                    && r.record_id.len() > credex_protocol::upward::MAX_RECORD_ID_LEN
                {
                    tracing::warn!(
                        category = %r.category,
                        len = r.record_id.len(),
                        "record id too long to report upward; skipped"
                    );
                    state.unreportable += 1;
                    cursor = position;
                } else if self.list.item(&r.category).is_some() {
                    let weight = record_weight(&r.category, &r.record_id, &r.subject_key, &r.body);
                    if !records.is_empty() && bytes + weight > MAX_BATCH_BYTES {
                        break 'scan;
                    }
                    bytes += weight;
                    cursor = position;
                    let record: Record = credex_protocol::decode(&r.body).map_err(|e| {
                        ReportError::Batch(format!(
                            "record {}/{} is unreadable: {e}",
                            r.category, r.record_id
                        ))
                    })?;
                    let Some(subject_key) = reported_subject(storage, &r.subject_key).await? else {
                        tracing::warn!(
                            category = %r.category,
                            "a natural person's record has no pseudonym to report under; skipped"
                        );
                        state.unreportable += 1;
                        continue;
                    };
                    records.push(UpwardCandidate {
                        record_id: r.record_id,
                        subject_key,
                        record,
                        imported_at_ms: r.imported_at_unix_ms,
                    });
                    if records.len() >= size {
                        break 'scan;
                    }
                } else {
                    cursor = position;
                }
            }
            if !full_page {
                break;
            }
        }
        if records.is_empty() {
            if cursor != state.batch_cursor {
                // Only unlisted records: move past them.
                state.batch_cursor = cursor;
                storage
                    .write_state(vec![StateWrite::put(OUT_NS, REPORTER_KEY, encode(state)?)])
                    .await?;
            }
            return Ok(false);
        }
        // The egress gate projects each record onto the fields the
        // reporting catalogue collects: nothing else goes upward.
        let (batch, body) =
            release_upward_batch(&self.list, &self.catalogue, state.next_seq, records)
                .map_err(|e| ReportError::Batch(format!("batch {}: {e}", state.next_seq)))?;
        batch
            .validate()
            .map_err(|e| ReportError::Batch(format!("batch {}: {e}", batch.seq)))?;
        let digest =
            records_digest(&batch.records).map_err(|e| ReportError::Batch(e.to_string()))?;
        let mut categories: BTreeMap<String, u32> = BTreeMap::new();
        for r in &batch.records {
            *categories.entry(r.category.clone()).or_default() += 1;
        }
        let now = crate::service::now_ms().max(state.last_created_ms + 1);
        let withheld = body.egress().withheld.clone();
        let (signed, outbox) = self
            .federation
            .prepare(body, now)
            .map_err(|e| ReportError::Batch(e.to_string()))?;
        let mut next = state.clone();
        next.next_seq += 1;
        next.batch_cursor = cursor;
        next.last_created_ms = now;
        for (c, n) in &categories {
            *next.batched.entry(c.clone()).or_default() += u64::from(*n);
        }
        let entry = BatchPrepared {
            version: ENTRY_VERSION,
            at_ms: now,
            seq: batch.seq,
            record_count: u32::try_from(batch.records.len()).unwrap_or(u32::MAX),
            records_digest: digest,
            message_id: signed.envelope.message_id,
            categories,
            catalogue_hash: self.list.content_hash(),
            withheld,
        };
        storage
            .append_entry_with_state(
                &entry,
                vec![
                    outbox,
                    StateWrite::put(OUT_NS, REPORTER_KEY, encode(&next)?),
                ],
            )
            .await?;
        *state = next;
        self.federation.wake();
        Ok(true)
    }
}

/// How a record's subject is named upward: a legal person by its USCC; a
/// natural person, stored under this node's local key, by its pseudonym of
/// the highest epoch (`None` if it has none).
async fn reported_subject(
    storage: &Storage,
    subject_key: &str,
) -> Result<Option<String>, StorageError> {
    if !subject_key.starts_with(crate::pseudonyms::LOCAL_KEY_PREFIX) {
        return Ok(Some(subject_key.to_owned()));
    }
    Ok(storage
        .latest_alias(subject_key)
        .await?
        .map(|p| p.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ReportError> {
    credex_protocol::encode(value).map_err(|e| ReportError::Batch(format!("cannot encode: {e}")))
}

// ---------------------------------------------------------------------------
// Status, for `credex upward status|received` and the metrics endpoint.

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
    /// 双公示 records on time / (on time + late) (1 when none).
    pub timeliness_rate: f64,
    /// Per category.
    pub categories: Vec<CategoryStatus>,
    /// The most recent late records.
    pub late: Vec<LateRecord>,
}

/// Read the province's status from `storage`. Cancel-safe (read only).
pub async fn status(storage: &Storage) -> Result<UpwardStatus, StorageError> {
    let state: ReporterState = read_state(storage, OUT_NS, REPORTER_KEY)
        .await?
        .unwrap_or_default();
    let totals: ReportedTotals = read_state(storage, OUT_NS, REPORTED_KEY)
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
    let mut names: Vec<&String> = state.due.keys().chain(totals.categories.keys()).collect();
    names.sort();
    names.dedup();
    let categories: Vec<CategoryStatus> = names
        .into_iter()
        .map(|c| {
            let r = totals.categories.get(c).cloned().unwrap_or_default();
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
            }
        })
        .collect();
    let due: u64 = categories.iter().map(|c| c.due).sum();
    let reported: u64 = categories.iter().map(|c| c.reported).sum();
    let on_time: u64 = categories.iter().map(|c| c.on_time).sum();
    let late: u64 = categories.iter().map(|c| c.late).sum();
    Ok(UpwardStatus {
        next_seq: state.next_seq,
        batches_acked: totals.batches_acked,
        batches_refused: totals.batches_refused,
        batches_pending: pending,
        due,
        reported,
        unreportable: state.unreportable,
        reporting_rate: ratio(reported, due),
        timeliness_rate: ratio(on_time, on_time + late),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        parse_date(s).unwrap_or_else(|| panic!("date {s}"))
    }

    #[test]
    fn timeliness_counts_working_days_with_weekends_and_holidays() {
        // Decision 2026-09-28 (Mon). 09-29 and 09-30 are working days 1
        // and 2; 国庆 10-01..10-07 (holidays, with a weekend inside) are not;
        // 10-08 (Thu) is 3, 10-09 4, 10-10 (make-up Saturday) 5, 10-12 6,
        // 10-13 7: the deadline.
        let cal = HolidayCalendar::builtin_2026();
        let decided = d("2026-09-28");
        assert_eq!(classify(&cal, decided, d("2026-10-13")), Timeliness::OnTime);
        assert_eq!(
            classify(&cal, decided, d("2026-10-14")),
            Timeliness::Late { working_days: 1 }
        );
        // Without the holidays the deadline is 10-07, so 10-13 is late.
        let plain =
            HolidayCalendar::parse("years = [2026]\nholidays = []\n", "plain.toml").unwrap();
        assert_eq!(
            classify(&plain, decided, d("2026-10-07")),
            Timeliness::OnTime
        );
        assert_eq!(
            classify(&plain, decided, d("2026-10-13")),
            Timeliness::Late { working_days: 4 }
        );
    }

    #[test]
    fn a_batch_of_the_largest_records_fits_in_an_envelope() {
        use credex_protocol::upward::{MAX_BODY_LEN, MAX_KEY_LEN};
        let big = ReportedRecord {
            category: "c".repeat(MAX_KEY_LEN),
            record_id: "r".repeat(credex_protocol::upward::MAX_RECORD_ID_LEN),
            subject_key: "s".repeat(MAX_KEY_LEN),
            body: vec![0xff; MAX_BODY_LEN],
            imported_at_ms: i64::MIN,
        };
        let w = record_weight(&big.category, &big.record_id, &big.subject_key, &big.body);
        let n = MAX_BATCH_BYTES / w;
        assert!(n >= 1);
        let batch = UpwardBatch {
            seq: u64::MAX,
            records: vec![big; n],
        };
        let encoded = credex_protocol::encode(&batch).unwrap().len();
        assert!(encoded <= MAX_BATCH_BYTES, "{encoded}");
    }

    #[test]
    fn decision_date_is_read_from_the_record_body() {
        let mut fields = BTreeMap::new();
        fields.insert(
            "decision_date".to_owned(),
            FieldValue::Date("2026-03-15".into()),
        );
        let body = credex_protocol::encode(&Record {
            category: "admin_penalty".into(),
            fields,
        })
        .unwrap();
        assert_eq!(decision_date(&body), Some(d("2026-03-15")));
        assert_eq!(decision_date(b"junk"), None);
    }
}
