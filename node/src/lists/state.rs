//! The lists flow's stored state as the node reads it: reading, scanning
//! and encoding the records of each namespace.
//!
//! Owns: the store access. Does not own the stored record types and their
//! key formats (`credex_flows::lists`, re-exported here for the other
//! parts) nor what an event means for an entry's status
//! ([`super::status`]).

use serde::Serialize;

pub(super) use credex_flows::lists::{
    AckTrack, ChangeTrack, ConfirmTrack, EndedAt, FeedbackGiven, FeedbackTrack, HeldEntry,
    ObjectionTrack, OwnEntry, RestsOn, SentTrack, rev_event, split_track, track_key,
};

use super::ListsError;

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
    Ok(storage.state_scan_all(ns, prefix).await?)
}
