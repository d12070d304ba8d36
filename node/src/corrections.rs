//! Corrections to every recipient (经手必有责): when one of this node's
//! records is replaced or deleted, every region that received it — by a
//! query answer or an upward batch, as the disclosures ledger says — is
//! sent a correction, and confirms it with its signed acknowledgement.
//!
//! The record feed writes a `records_changed` entry with the change
//! ([`credex_journal::RecordsChanged`]). The correction sweep follows the
//! log from a cursor and, for each changed record that any region received
//! before the change, queues one correction per recipient through the
//! egress gate and writes `corrections_sent` — correction messages, their
//! tracks and the advanced cursor in one transaction, so a crash neither
//! loses nor repeats one. [`sent`] is the owner's view of who has not
//! confirmed; [`received`] a recipient's view of the copies it must treat
//! as stale. [`Sweep::pass`] is what the node's sweep task runs.

use std::collections::BTreeSet;
use std::time::Duration;

use credex_flows::rights::{CorrectionReceived, CorrectionTrack, RECEIVED_NS, SENT_NS, sent_key};
use credex_journal::{CorrectionsSent, ENTRY_VERSION, RecordsChanged, kind};
use credex_policies::egress::release_record_correction;
use credex_protocol::RegionCode;
use credex_protocol::rights::{RecordChange, RecordCorrection};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::federation::{Federation, PrepareError};
use crate::storage::{MAX_RANGE_LIMIT, StateWrite, Storage, StorageError};

/// Flow-state namespace of the sweep's cursor.
const CURSOR_NS: &str = "rights.cursor";
/// Key of the [`Cursor`].
const CURSOR_KEY: &str = "journal";
/// How often the sweep looks when no write wakes it.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// The least time between two passes (a busy node writes all the time).
const SWEEP_PAUSE: Duration = Duration::from_millis(200);

/// Where the sweep stands: the next log entry to read, and how many of its
/// changed records are done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    seq: u64,
    done: u32,
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A correction could not be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The gate refused a correction (a bug: it carries no record data).
    #[error(transparent)]
    Egress(#[from] credex_policies::egress::EgressError),
    /// The ledger or a stored value could not be read.
    #[error("{0}")]
    Corrupt(String),
}

/// The correction sweep of one node: its cursor over the log, kept in
/// memory between passes and persisted with every correction it queues
/// (and every [`PERSIST_EVERY`] entries otherwise).
#[derive(Debug, Default)]
pub struct Sweep {
    cursor: Option<Cursor>,
    persisted: Option<Cursor>,
}

/// Entries the cursor may move past without being persisted (a restart
/// rereads at most these, harmlessly: they hold no change it missed).
const PERSIST_EVERY: u64 = 4096;

impl Sweep {
    /// Queue the corrections of every record change logged since the last
    /// pass. Returns the corrections queued. Not cancel-safe in effect: a
    /// record's corrections queued before the future is dropped are
    /// committed anyway (and the persisted cursor says so).
    pub async fn pass(&mut self, federation: &Federation) -> Result<usize, CorrectionError> {
        let storage = &federation.context().storage;
        let here = federation.context().region;
        let mut cursor = match self.cursor {
            Some(c) => c,
            None => {
                let stored: Cursor = match storage.state(CURSOR_NS, CURSOR_KEY).await? {
                    Some(v) => credex_protocol::decode(&v).map_err(|e| {
                        CorrectionError::Corrupt(format!("{CURSOR_NS}/{CURSOR_KEY}: {e}"))
                    })?,
                    None => Cursor::default(),
                };
                self.persisted = Some(stored);
                stored
            }
        };
        let mut queued = 0;
        // The journal as it is now (other processes of the region included):
        // entries appended during the pass wait for the next one.
        let end = storage.journal_len().await?;
        loop {
            let page = storage
                .journal_of_kind(cursor.seq, end, kind::RECORDS_CHANGED, MAX_RANGE_LIMIT)
                .await?;
            for r in &page {
                let changed: RecordsChanged = credex_journal::decode(r.kind, &r.body)
                    .map_err(|e| CorrectionError::Corrupt(format!("log entry {}: {e}", r.seq)))?;
                let records = changed
                    .replaced
                    .iter()
                    .map(|k| (k, RecordChange::Replaced))
                    .chain(changed.deleted.iter().map(|k| (k, RecordChange::Deleted)))
                    .chain(changed.repaired.iter().map(|k| (k, RecordChange::Repaired)));
                for (i, (record, change)) in records.enumerate() {
                    if r.seq == cursor.seq && (i as u64) < u64::from(cursor.done) {
                        continue;
                    }
                    let to = recipients_before(storage, here, record, changed.at_ms).await?;
                    if to.is_empty() {
                        continue;
                    }
                    let correction = RecordCorrection {
                        record: *record,
                        change,
                        changed_at_ms: changed.at_ms,
                    };
                    let position = Cursor {
                        seq: r.seq,
                        done: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    };
                    send(federation, &correction, r.seq, &to, position).await?;
                    self.persisted = Some(position);
                    queued += to.len();
                }
            }
            let full = page.len() == MAX_RANGE_LIMIT as usize;
            cursor = match page.last() {
                Some(last) if full => Cursor {
                    seq: last.seq + 1,
                    done: 0,
                },
                // Every entry of the kind before `end` is handled.
                _ => Cursor {
                    seq: end.max(cursor.seq),
                    done: 0,
                },
            };
            if !full {
                break;
            }
        }
        self.cursor = Some(cursor);
        let behind = self
            .persisted
            .map_or(u64::MAX, |p| cursor.seq.saturating_sub(p.seq));
        if behind >= PERSIST_EVERY {
            let encoded = credex_protocol::encode(&cursor)
                .map_err(|e| CorrectionError::Corrupt(format!("cursor: {e}")))?;
            storage
                .write_state(vec![StateWrite::put(CURSOR_NS, CURSOR_KEY, encoded)])
                .await?;
            self.persisted = Some(cursor);
        }
        if queued > 0 {
            federation.wake();
        }
        Ok(queued)
    }
}

/// The regions (other than `here`) the ledger says received `record` at or
/// before `changed_at_ms`: those whose copy the change makes stale. A
/// region that received it again later holds the new version.
async fn recipients_before(
    storage: &Storage,
    here: RegionCode,
    record: &[u8; 32],
    changed_at_ms: i64,
) -> Result<Vec<RegionCode>, CorrectionError> {
    let rows = crate::disclosures::recipients(storage, record)
        .await
        .map_err(|e| CorrectionError::Corrupt(e.to_string()))?;
    let later: BTreeSet<RegionCode> = rows
        .iter()
        .filter(|d| d.at_ms > changed_at_ms)
        .map(|d| d.recipient)
        .collect();
    let to: BTreeSet<RegionCode> = rows
        .iter()
        .filter(|d| d.recipient != here && !later.contains(&d.recipient))
        .map(|d| d.recipient)
        .collect();
    Ok(to.into_iter().collect())
}

/// One record's corrections to `to`, with their tracks, the journal entry
/// and the cursor past it, in one transaction.
async fn send(
    federation: &Federation,
    correction: &RecordCorrection,
    changed_at_index: u64,
    to: &[RegionCode],
    position: Cursor,
) -> Result<(), CorrectionError> {
    let now = federation.now_ms();
    let mut writes = Vec::new();
    let mut sent_to = Vec::new();
    for region in to {
        let (signed, outbox) =
            federation.prepare(release_record_correction(*region, correction)?, now)?;
        let track = CorrectionTrack {
            change: correction.change,
            sent_at_ms: now,
            message_id: signed.envelope.message_id,
            confirmed_at_ms: None,
            refused: None,
        };
        writes.push(outbox);
        writes.push(
            StateWrite::encoded(
                SENT_NS,
                sent_key(&correction.record, correction.changed_at_ms, *region),
                &track,
            )
            .map_err(|e| CorrectionError::Corrupt(e.to_string()))?,
        );
        sent_to.push((*region, signed.envelope.message_id));
    }
    writes.push(
        StateWrite::encoded(CURSOR_NS, CURSOR_KEY, &position)
            .map_err(|e| CorrectionError::Corrupt(e.to_string()))?,
    );
    let entry = CorrectionsSent {
        version: ENTRY_VERSION,
        at_ms: now,
        record: correction.record,
        change: correction.change,
        changed_at_index,
        sent_to,
    };
    federation
        .context()
        .storage
        .append_entry_with_state(&entry, writes)
        .await?;
    Ok(())
}

/// One correction this node sent, as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrectionStatus {
    /// The record (hex of its key).
    pub record: String,
    /// The recipient.
    pub recipient: RegionCode,
    /// `replaced` or `deleted`.
    pub change: &'static str,
    /// When it changed, Unix ms.
    pub changed_at_ms: i64,
    /// When the correction was queued, Unix ms.
    pub sent_at_ms: i64,
    /// When the recipient confirmed it, if it did.
    pub confirmed_at_ms: Option<i64>,
    /// The recipient's reason, if it refused it.
    pub refused: Option<String>,
}

/// Every correction this node sent, by record and time. Cancel-safe.
pub async fn sent(storage: &Storage) -> Result<Vec<CorrectionStatus>, CorrectionError> {
    let mut out = Vec::new();
    for (key, value) in storage.state_scan_all(SENT_NS, "").await? {
        let track: CorrectionTrack = credex_protocol::decode(&value)
            .map_err(|e| CorrectionError::Corrupt(format!("{SENT_NS}/{key}: {e}")))?;
        let mut parts = key.split('/');
        let (Some(record), Some(at), Some(region)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CorrectionError::Corrupt(format!(
                "{SENT_NS}/{key}: bad key"
            )));
        };
        let bad = |what: &str| CorrectionError::Corrupt(format!("{SENT_NS}/{key}: bad {what}"));
        out.push(CorrectionStatus {
            record: record.to_owned(),
            recipient: region.parse().map_err(|_| bad("region"))?,
            change: track.change.code(),
            changed_at_ms: at.parse().map_err(|_| bad("time"))?,
            sent_at_ms: track.sent_at_ms,
            confirmed_at_ms: track.confirmed_at_ms,
            refused: track.refused,
        });
    }
    Ok(out)
}

/// The corrections this node received: which of its copies of other
/// regions' records are stale or gone. Cancel-safe.
pub async fn received(
    storage: &Storage,
) -> Result<Vec<(RegionCode, String, CorrectionReceived)>, CorrectionError> {
    let mut out = Vec::new();
    for (key, value) in storage.state_scan_all(RECEIVED_NS, "").await? {
        let c: CorrectionReceived = credex_protocol::decode(&value)
            .map_err(|e| CorrectionError::Corrupt(format!("{RECEIVED_NS}/{key}: {e}")))?;
        let Some((owner, record)) = key.split_once('/') else {
            return Err(CorrectionError::Corrupt(format!(
                "{RECEIVED_NS}/{key}: bad key"
            )));
        };
        let owner: RegionCode = owner
            .parse()
            .map_err(|_| CorrectionError::Corrupt(format!("{RECEIVED_NS}/{key}: bad region")))?;
        out.push((owner, record.to_owned(), c));
    }
    Ok(out)
}

/// Start the correction sweep: a pass after writes to the store (at most
/// one per [`SWEEP_PAUSE`]) and every [`SWEEP_EVERY`], until shutdown. Each
/// pass also withdraws the copies held here of records their owner deleted
/// or repaired (`crate::rights::RecordCases::withdraw_stale_copies`).
pub fn spawn_sweep(
    federation: &Federation,
    copies: crate::rights::RecordCases,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let federation = federation.clone();
    tracker.spawn(async move {
        let mut writes = federation.context().storage.subscribe_writes();
        let mut sweep = Sweep::default();
        loop {
            writes.borrow_and_update();
            if let Err(e) = sweep.pass(&federation).await {
                tracing::error!(error = %e, "correction sweep failed; trying again later");
            }
            if let Err(e) = copies.withdraw_stale_copies(federation.now_ms()).await {
                tracing::error!(error = %e, "withdrawing corrected copies failed; trying again later");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(SWEEP_PAUSE) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = writes.changed() => {}
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
        }
    });
}
