//! The node's disclosures ledger (经手必有责): records are entered before
//! they leave, and the ledger answers "who received this record".
//!
//! [`disclose`] appends a [`RecordsDisclosed`] entry with its ledger rows
//! ([`credex_flows::disclosures`]) in one transaction and returns once both
//! are durable; the sending paths call it before the bytes leave (the upward
//! batch, a list push), and a query's answer writes the same entries in its
//! access entry's transaction ([`on_claim`]), so the ledger never misses a
//! recipient — at
//! worst, after a crash between the entry and the send, it names one that
//! never received the record, and a correction reaches it needlessly.
//! [`check`] recomputes the ledger from the log and compares it with the
//! stored one; [`rebuild`] makes the stored one equal to the log's.

use std::collections::BTreeMap;

use credex_flows::disclosures::{
    BadRow, Difference, Disclosure, Ledger, NS, ledger_writes, parse_row, record_prefix,
};
use credex_journal::disclosures::MAX_RECORDS_PER_ENTRY;
use credex_journal::{DisclosedBy, ENTRY_VERSION, RecordsDisclosed, kind};
use credex_protocol::RegionCode;

use crate::storage::{EntryOnClaim, MAX_RANGE_LIMIT, Storage, StorageError};

/// Enter `records` (record keys) as disclosed to `recipients` by `by`, in
/// entries of at most [`MAX_RECORDS_PER_ENTRY`] records each. Returns once
/// every entry and its ledger rows are durable. Nothing is written for no
/// records.
///
/// Not cancel-safe in effect: an entry queued before the future is dropped
/// is written anyway (which is the safe side).
pub async fn disclose(
    storage: &Storage,
    by: DisclosedBy,
    recipients: Vec<RegionCode>,
    records: &[[u8; 32]],
    at_ms: i64,
) -> Result<(), StorageError> {
    for entry in entries(by, recipients, records, at_ms) {
        let rows = ledger_writes(&entry);
        storage.append_entry_with_state(&entry, rows).await?;
    }
    Ok(())
}

/// The entries that enter `records` as disclosed, each with its ledger
/// rows, to be written only if the claim of the access they belong to is
/// granted ([`Storage::append_claimed_then`]): how a query's answer enters
/// its records in the ledger in its access entry's transaction (decision
/// 1200). None for no records.
pub fn on_claim(
    by: DisclosedBy,
    recipients: Vec<RegionCode>,
    records: &[[u8; 32]],
    at_ms: i64,
) -> Result<Vec<EntryOnClaim>, StorageError> {
    entries(by, recipients, records, at_ms)
        .map(|entry| EntryOnClaim::new(&entry, ledger_writes(&entry)))
        .collect()
}

/// `records` as [`RecordsDisclosed`] entries of at most
/// [`MAX_RECORDS_PER_ENTRY`] records each.
fn entries(
    by: DisclosedBy,
    recipients: Vec<RegionCode>,
    records: &[[u8; 32]],
    at_ms: i64,
) -> impl Iterator<Item = RecordsDisclosed> + '_ {
    records
        .chunks(MAX_RECORDS_PER_ENTRY)
        .map(move |chunk| RecordsDisclosed {
            version: ENTRY_VERSION,
            at_ms,
            by: by.clone(),
            recipients: recipients.clone(),
            records: chunk.to_vec(),
        })
}

/// Every region that received `record` and how, from the stored ledger.
/// Cancel-safe (read only).
pub async fn recipients(
    storage: &Storage,
    record: &[u8; 32],
) -> Result<Vec<Disclosure>, LedgerError> {
    let rows = storage.state_scan_all(NS, &record_prefix(record)).await?;
    rows.iter()
        .map(|(key, value)| parse_row(key, value).map_err(LedgerError::BadRow))
        .collect()
}

/// Why the ledger could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored row does not parse.
    #[error(transparent)]
    BadRow(BadRow),
    /// A `records_disclosed` entry of the log does not decode.
    #[error("log entry {seq} (records_disclosed) does not decode: {reason}")]
    BadEntry {
        /// Its sequence number.
        seq: u64,
        /// The decoder's error.
        reason: String,
    },
}

/// The stored ledger compared with the log's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheck {
    /// `records_disclosed` entries read from the log.
    pub entries: u64,
    /// Rows the log implies.
    pub rows: usize,
    /// Where the stored ledger differs, in key order.
    pub differences: Vec<Difference>,
}

/// Recompute the ledger from the whole log and compare it with the stored
/// one. Cancel-safe (read only).
pub async fn check(storage: &Storage) -> Result<(Ledger, LedgerCheck), LedgerError> {
    let mut ledger = Ledger::default();
    let mut entries = 0u64;
    let mut next = 0u64;
    loop {
        let page = storage.journal_range(next, MAX_RANGE_LIMIT).await?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        for r in page.iter().filter(|r| r.kind == kind::RECORDS_DISCLOSED) {
            let entry: RecordsDisclosed =
                credex_journal::decode(r.kind, &r.body).map_err(|e| LedgerError::BadEntry {
                    seq: r.seq,
                    reason: e.to_string(),
                })?;
            ledger.apply(&entry);
            entries += 1;
        }
    }
    let stored: BTreeMap<String, Vec<u8>> =
        storage.state_scan_all(NS, "").await?.into_iter().collect();
    let differences = ledger.differences(&stored);
    let rows = ledger.len();
    Ok((
        ledger,
        LedgerCheck {
            entries,
            rows,
            differences,
        },
    ))
}

/// Make the stored ledger equal to the log's; returns what was found
/// (and is now repaired).
pub async fn rebuild(storage: &Storage) -> Result<LedgerCheck, LedgerError> {
    let (ledger, found) = check(storage).await?;
    storage
        .write_state(ledger.repairs(&found.differences))
        .await?;
    Ok(found)
}

/// Of `records`, those the ledger says any region received (so a change of
/// them owes corrections). One read when nothing was ever disclosed, one
/// per record otherwise. Cancel-safe (read only).
pub async fn disclosed_among(
    storage: &Storage,
    records: impl IntoIterator<Item = [u8; 32]>,
) -> Result<Vec<[u8; 32]>, StorageError> {
    if storage.state_scan(NS, "", None, 1).await?.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for record in records {
        if !storage
            .state_scan(NS, &record_prefix(&record), None, 1)
            .await?
            .is_empty()
        {
            out.push(record);
        }
    }
    Ok(out)
}
