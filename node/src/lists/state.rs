//! The lists flow's stored state: what each namespace holds (the entries
//! made here, the per-region event tracks, the entries held from other
//! regions, objections, feedback given), their keys, and reading, scanning
//! and encoding it.
//!
//! Owns: the stored record types and their key formats. Does not own what
//! an event means for an entry's status ([`super::status`]).

use credex_protocol::lists::{ChangeKind, EntryId, ListEntry};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};

use super::ListsError;

/// Rows read per state scan page.
const PAGE: u32 = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OwnEntry {
    pub(super) entry: ListEntry,
    pub(super) created_at_ms: i64,
    pub(super) ended: Option<EndedAt>,
    pub(super) no_peer: Vec<RegionCode>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct EndedAt {
    pub(super) change: ChangeKind,
    pub(super) revision: u32,
    pub(super) at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SentTrack {
    pub(super) at_ms: i64,
    pub(super) respond_by_ms: i64,
    pub(super) feedback_by_ms: i64,
    pub(super) message_id: [u8; 16],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AckTrack {
    pub(super) at_ms: i64,
    pub(super) node: NodeName,
    pub(super) refused: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FeedbackTrack {
    pub(super) at_ms: i64,
    pub(super) applied: Vec<String>,
    pub(super) note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ChangeTrack {
    pub(super) change: ChangeKind,
    pub(super) at_ms: i64,
    pub(super) confirm_by_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ConfirmTrack {
    pub(super) at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct HeldEntry {
    pub(super) entry: ListEntry,
    pub(super) received_at_ms: i64,
    pub(super) from_node: NodeName,
    pub(super) ended: Option<EndedAt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ObjectionTrack {
    pub(super) at_ms: i64,
    pub(super) reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FeedbackGiven {
    pub(super) at_ms: i64,
    pub(super) applied: Vec<String>,
    pub(super) note: String,
}

pub(super) fn track_key(id: &EntryId, region: RegionCode, event: &str) -> String {
    format!("{id}/{region}/{event}")
}

pub(super) fn rev_event(event: &str, revision: u32) -> String {
    format!("{event}/{revision:010}")
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ListsError> {
    credex_protocol::encode(value).map_err(|e| ListsError::Corrupt(format!("cannot encode: {e}")))
}

pub(super) fn decode_state<T: serde::de::DeserializeOwned>(
    key: &str,
    value: &[u8],
) -> Result<T, ListsError> {
    credex_protocol::decode(value).map_err(|e| ListsError::Corrupt(format!("{key}: {e}")))
}

pub(super) async fn read<T: serde::de::DeserializeOwned>(
    storage: &crate::storage::Storage,
    ns: &str,
    key: &str,
) -> Result<Option<T>, ListsError> {
    match storage.state(ns, key).await? {
        Some(value) => Ok(Some(decode_state(&format!("{ns}/{key}"), &value)?)),
        None => Ok(None),
    }
}

pub(super) async fn scan(
    storage: &crate::storage::Storage,
    ns: &str,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, ListsError> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let after = out.last().map(|(k, _)| k.clone());
        let page = storage
            .state_scan(ns, prefix, after.as_deref(), PAGE)
            .await?;
        let full = page.len() == PAGE as usize;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// `{entry}/{region}/{event}` → (region, event) for `id`.
pub(super) fn split_track<'k>(key: &'k str, id: &EntryId) -> Option<(RegionCode, &'k str)> {
    let rest = key.strip_prefix(&format!("{id}/"))?;
    let (region, event) = rest.split_once('/')?;
    Some((region.parse().ok()?, event))
}
