//! Flow state: the small, durable key–value state of the federation flows
//! (recognised evaluation results, list entries and their per-region
//! progress, the upward channel's sequence numbers, the outbox of messages
//! still to deliver).
//!
//! Keys live in namespaces (one per flow, e.g. `"eval.recognised"`); values
//! are bytes the caller encodes. A write is committed either alone
//! ([`Storage::write_state`]) or — the usual case — in the same batch
//! transaction as the journal record of the event that caused it
//! ([`Storage::append_with_state`], [`Storage::append_claimed_with_state`]),
//! so the log and the state never disagree after a crash: either both the
//! entry and the state change are there, or neither.
//!
//! Scans return keys in bytewise order (PostgreSQL keys use the `C`
//! collation), so callers can encode ordered keys (e.g. zero-padded
//! sequence numbers) and page through a prefix.

use tokio::sync::oneshot;

use super::writer::Command;
use super::{Storage, StorageError};

/// Longest namespace, in bytes.
pub const MAX_STATE_NS_LEN: usize = 64;
/// Longest key, in bytes.
pub const MAX_STATE_KEY_LEN: usize = 512;
/// Largest value, in bytes.
pub const MAX_STATE_VALUE_LEN: usize = 1024 * 1024;
/// Most entries one [`Storage::state_scan`] returns.
pub const MAX_STATE_SCAN: u32 = 4096;

/// One change of flow state (the flows' own type: a flow returns its
/// writes as data, the store commits them).
pub use credex_flows::flow::StateWrite;

fn check_name(what: &str, value: &str, max: usize) -> Result<(), StorageError> {
    if value.is_empty() || value.len() > max {
        return Err(StorageError::InvalidState {
            reason: format!("{what} must be 1..={max} bytes, got {}", value.len()),
        });
    }
    Ok(())
}

/// Checks the bounds of every write.
pub(crate) fn validate(writes: &[StateWrite]) -> Result<(), StorageError> {
    for (i, write) in writes.iter().enumerate() {
        check_name("namespace", &write.ns, MAX_STATE_NS_LEN)?;
        check_name("key", &write.key, MAX_STATE_KEY_LEN)?;
        if let Some(value) = &write.value
            && value.len() > MAX_STATE_VALUE_LEN
        {
            return Err(StorageError::InvalidState {
                reason: format!(
                    "write {i} ({}/{}): value of {} bytes exceeds {MAX_STATE_VALUE_LEN}",
                    write.ns,
                    write.key,
                    value.len()
                ),
            });
        }
    }
    Ok(())
}

impl Storage {
    /// Encodes `entry` under its kind and appends it like
    /// [`Storage::append`]; an entry that cannot be encoded is an error,
    /// never an empty record. Not cancel-safe in effect, like
    /// [`Storage::append`].
    pub async fn append_entry<E: credex_journal::Entry>(
        &self,
        entry: &E,
    ) -> Result<u64, StorageError> {
        let encoded = credex_journal::encode(entry)?;
        self.append(encoded.kind, encoded.body).await
    }

    /// Encodes `entry` and appends it with `state` in one transaction, like
    /// [`Storage::append_with_state`].
    pub async fn append_entry_with_state<E: credex_journal::Entry>(
        &self,
        entry: &E,
        state: Vec<StateWrite>,
    ) -> Result<u64, StorageError> {
        let encoded = credex_journal::encode(entry)?;
        self.append_with_state(encoded.kind, encoded.body, state)
            .await
    }

    /// Appends a journal record like [`Storage::append`] and applies
    /// `state` in the same transaction. Returns the record's sequence
    /// number once both are durable.
    ///
    /// Not cancel-safe in effect, like [`Storage::append`].
    pub async fn append_with_state(
        &self,
        kind: u16,
        body: Vec<u8>,
        state: Vec<StateWrite>,
    ) -> Result<u64, StorageError> {
        validate(&state)?;
        let state = self.seal_state(state)?;
        let (command, pending) = self.append_command(kind, body, state)?;
        self.send(command).await?;
        self.inner
            .counters
            .accepted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pending.await
    }

    /// Applies `writes` in one transaction of their own, without a journal
    /// record (for bookkeeping that is not an event: delivery attempts,
    /// retry times). Returns once durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the writes.
    pub async fn write_state(&self, writes: Vec<StateWrite>) -> Result<(), StorageError> {
        validate(&writes)?;
        if writes.is_empty() {
            return Ok(());
        }
        let writes = self.seal_state(writes)?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::WriteState {
            writes,
            fence: self.fence,
            reply,
        })
        .await?;
        self.answer(answer).await
    }

    /// The value under (`ns`, `key`), if any. Cancel-safe (read only).
    pub async fn state(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self.inner.engine.state(ns, key).await? {
            Some(stored) => Ok(Some(
                self.open_value(super::at_rest::Row::State { ns, key }, stored)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Up to `limit` (at most [`MAX_STATE_SCAN`]) entries of `ns` whose key
    /// starts with `prefix`, in bytewise key order, starting after `after`
    /// (exclusive) if given, else at the prefix. Page through a prefix by
    /// passing the last key returned as `after`. Cancel-safe (read only).
    pub async fn state_scan(
        &self,
        ns: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        if limit > MAX_STATE_SCAN {
            return Err(StorageError::InvalidState {
                reason: format!("scan limit {limit} exceeds {MAX_STATE_SCAN}"),
            });
        }
        let (from, inclusive) = match after {
            Some(after) if after >= prefix => (after, false),
            _ => (prefix, true),
        };
        let mut rows = self
            .inner
            .engine
            .state_from(ns, from, inclusive, limit)
            .await?;
        if let Some(end) = rows.iter().position(|(k, _)| !k.starts_with(prefix)) {
            rows.truncate(end);
        }
        self.open_state(ns, rows).await
    }

    /// Every entry of `ns` whose key starts with `prefix`, in bytewise key
    /// order, read in pages of [`MAX_STATE_SCAN`]. For namespaces the
    /// caller knows to be bounded. Cancel-safe (read only).
    pub async fn state_scan_all(
        &self,
        ns: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            let after = out.last().map(|(k, _)| k.clone());
            let page = self
                .state_scan(ns, prefix, after.as_deref(), MAX_STATE_SCAN)
                .await?;
            let full = page.len() == MAX_STATE_SCAN as usize;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        assert!(validate(&[StateWrite::put("ns", "k", vec![1])]).is_ok());
        assert!(validate(&[StateWrite::delete("", "k")]).is_err());
        assert!(validate(&[StateWrite::delete("ns", "")]).is_err());
        let long = "k".repeat(MAX_STATE_KEY_LEN + 1);
        assert!(validate(&[StateWrite::delete("ns", long)]).is_err());
        let big = vec![0; MAX_STATE_VALUE_LEN + 1];
        let err = validate(&[StateWrite::put("ns", "k", big)]).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
    }
}
