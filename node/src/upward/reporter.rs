//! The province's reporter: the task that follows the records table in
//! import order and packs records of the reporting list into batches of
//! consecutive sequence numbers (0, 1, 2 …) for the national node.
//!
//! Two cursors are kept in flow state ([`ReporterState`]): the *due*
//! cursor counts every imported record of a listed category as due; the
//! *batch* cursor packs the same records into batches. Each batch is
//! committed with a [`kind::BATCH_PREPARED`](credex_journal::kind::BATCH_PREPARED)
//! journal entry together with its outbox message ([`Flow::Upward`]) and
//! the advanced cursor, so a batch exists exactly when its entry does. The
//! federation layer delivers the outbox in creation order and retries
//! until acknowledged, across restarts of either side. Backpressure: the
//! reporter makes a new batch only while fewer than `max_in_flight`
//! messages for the national node wait in the outbox.
//!
//! What the acknowledgement changes is the flow's
//! ([`credex_flows::upward`]), not this module's.
//!
//! [`Flow::Upward`]: credex_protocol::federation::Flow::Upward

use std::collections::BTreeMap;
use std::time::Duration;

use credex_journal::{BatchPrepared, DisclosedBy, ENTRY_VERSION};
use credex_policies::egress::{UpwardCandidate, release_upward_batch};
use credex_policies::{Catalogue, HolidayCalendar, Record, ReportingList};
use credex_protocol::RegionCode;
use credex_protocol::upward::records_digest;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::position::{REPORTER_KEY, ReporterState};
use super::{MAX_BATCH_BYTES, OUT_NS, load_rules, read_state, record_weight};
use crate::boot::StartError;
use crate::config::{NodeConfig, UpwardConfig};
use crate::federation::Federation;
use crate::storage::{ImportCursor, ImportedRecord, StateWrite, Storage, StorageError};

/// Key written as a barrier before each scan (see [`Reporter::scan_limit`]).
const BARRIER_KEY: &str = "barrier";

/// Records imported less than this long ago are left for the next pass, so
/// an import committing late by another process is not skipped.
pub const SETTLE: Duration = Duration::from_secs(2);
/// Most records the due cursor counts per pass.
const DUE_PAGES_PER_PASS: usize = 20;
/// Records read per page.
const PAGE: u32 = 1000;

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
    calendar: HolidayCalendar,
    catalogue: Catalogue,
    config: UpwardConfig,
    /// The deadline watch's last scan of records not yet batched.
    held: std::sync::Arc<super::at_risk::HeldWatch>,
}

impl Reporter {
    /// This reporter with its writes fenced by the region's duties lease
    /// (decision 1020): once another process took the duties, its next
    /// batch fails instead of numbering a batch that process numbers too.
    pub fn fenced(&self, fence: crate::storage::Fence) -> Reporter {
        Reporter {
            federation: self.federation.fenced(fence),
            list: self.list.clone(),
            calendar: self.calendar.clone(),
            catalogue: self.catalogue.clone(),
            config: self.config.clone(),
            held: std::sync::Arc::clone(&self.held),
        }
    }
}

/// The node's reporter, if `[upward]` enables it; its rules are loaded
/// now, so that a bad reporting list stops the start.
pub fn node_reporter(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
) -> Result<Option<std::sync::Arc<Reporter>>, StartError> {
    if !config.upward.enabled {
        return Ok(None);
    }
    let rules = load_rules(config, catalogue)?;
    Ok(Some(std::sync::Arc::new(Reporter {
        federation: federation.clone(),
        list: rules.list,
        calendar: rules.calendar,
        catalogue: catalogue.clone(),
        config: config.upward.clone(),
        held: std::sync::Arc::default(),
    })))
}

/// Start the reporter if `config` enables upward reporting. Cancel-safe
/// with respect to `shutdown`: a pass is never interrupted between making
/// a batch and committing it (the commit is one transaction).
pub fn spawn_reporter(
    reporter: std::sync::Arc<Reporter>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    tracker.spawn(async move {
        loop {
            match reporter.pass().await {
                Ok(made) if made > 0 => tracing::debug!(batches = made, "upward batches queued"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "upward reporting pass failed; will retry"),
            }
            if let Err(e) = reporter.watch_deadlines().await {
                tracing::warn!(error = %e, "upward deadline watch failed; will retry");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(reporter.config.interval) => {}
            }
        }
    });
}

impl Reporter {
    /// A reporter over `federation` (for tests and tools; the node uses
    /// [`spawn_reporter`]).
    /// It decides egress against the base catalogue.
    pub fn new(federation: Federation, list: ReportingList, config: UpwardConfig) -> Reporter {
        Reporter {
            federation,
            list,
            calendar: HolidayCalendar::builtin_2026(),
            catalogue: Catalogue::base(),
            config,
            held: std::sync::Arc::default(),
        }
    }

    /// Journal the unacknowledged batches whose 双公示 deadline is at risk,
    /// and once a day the records held behind them ([`super::at_risk`]);
    /// returns how many entries were newly journaled.
    pub async fn watch_deadlines(&self) -> Result<u32, StorageError> {
        let now = self.federation.context().storage.clock().now_ms();
        super::at_risk::watch(
            &self.federation,
            &self.list,
            &self.calendar,
            &self.held,
            now,
        )
        .await
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
        let now = storage.clock().now_ms();
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
        let Gathered { records, cursor } = self.gather(storage, state, limit).await?;
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
        self.queue_batch(storage, state, records, cursor).await?;
        Ok(true)
    }

    /// Read the records counted as due after the batch cursor, up to a
    /// batch's size and [`MAX_BATCH_BYTES`]; records that cannot be
    /// reported are counted in [`ReporterState::unreportable`] and passed.
    async fn gather(
        &self,
        storage: &Storage,
        state: &mut ReporterState,
        limit: i64,
    ) -> Result<Gathered, ReportError> {
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
                if self.list.item(&r.category).is_none() {
                    cursor = position;
                    continue;
                }
                if r.record_id.len() > credex_protocol::upward::MAX_RECORD_ID_LEN {
                    tracing::warn!(
                        category = %r.category,
                        len = r.record_id.len(),
                        "record id too long to report upward; skipped"
                    );
                    state.unreportable += 1;
                    cursor = position;
                    continue;
                }
                let weight = record_weight(&r.category, &r.record_id, &r.subject_key, &r.body);
                if !records.is_empty() && bytes + weight > MAX_BATCH_BYTES {
                    break 'scan;
                }
                bytes += weight;
                cursor = position;
                match candidate(storage, r).await? {
                    Some(c) => records.push(c),
                    None => state.unreportable += 1,
                }
                if records.len() >= size {
                    break 'scan;
                }
            }
            if !full_page {
                break;
            }
        }
        Ok(Gathered { records, cursor })
    }

    /// Release `records` through the egress gate as batch
    /// `state.next_seq` and commit it: the [`BatchPrepared`] entry, its
    /// outbox message and the reporter's position advanced to `cursor`, in
    /// one transaction.
    async fn queue_batch(
        &self,
        storage: &Storage,
        state: &mut ReporterState,
        records: Vec<UpwardCandidate>,
        cursor: ImportCursor,
    ) -> Result<(), ReportError> {
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
        let now = self.federation.now_ms().max(state.last_created_ms + 1);
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
        // The records are entered as disclosed to the national platform
        // before their batch can leave (a crash in between re-makes the
        // same batch, and the ledger rows are idempotent).
        let disclosed: Vec<[u8; 32]> = batch
            .records
            .iter()
            .map(|r| credex_journal::record_key(&r.category, &r.record_id))
            .collect();
        crate::disclosures::disclose(
            storage,
            DisclosedBy::Upward { seq: batch.seq },
            vec![RegionCode::NATIONAL],
            &disclosed,
            now,
        )
        .await?;
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
        Ok(())
    }
}

/// Records gathered for the next batch, and the batch cursor after them.
struct Gathered {
    records: Vec<UpwardCandidate>,
    cursor: ImportCursor,
}

/// The record `r` as a candidate for the egress gate, `None` if it is a
/// natural person's with no pseudonym to report under.
async fn candidate(
    storage: &Storage,
    r: ImportedRecord,
) -> Result<Option<UpwardCandidate>, ReportError> {
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
        return Ok(None);
    };
    Ok(Some(UpwardCandidate {
        record_id: r.record_id,
        subject_key,
        record,
        imported_at_ms: r.imported_at_unix_ms,
    }))
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
