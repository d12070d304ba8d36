//! The peers this node has greeted: each Hello exchange's sighting, stored
//! by certificate fingerprint ([`Storage::record_peer`], [`Storage::peers`]).

use tokio::sync::oneshot;

use super::writer::Command;
use super::{MAX_PEER_CAPABILITIES, MAX_PEER_NAME_LEN, Storage, StorageError};

/// A peer node as seen in one Hello exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSighting {
    /// The peer's region: six-digit GB/T 2260 code (`000000` = national).
    pub region: String,
    /// The peer's node name within its region (non-empty, at most
    /// [`MAX_PEER_NAME_LEN`] bytes).
    pub node: String,
    /// SHA-256 fingerprint of the peer's certificate; the key of the record.
    pub fingerprint: [u8; 32],
    /// Protocol version the peer announced.
    pub protocol_version: u16,
    /// Capabilities the peer announced, in its order (at most
    /// [`MAX_PEER_CAPABILITIES`], each non-empty and at most
    /// [`MAX_PEER_NAME_LEN`] bytes).
    pub capabilities: Vec<String>,
    /// When the exchange happened.
    pub seen_at_unix_ms: i64,
}

impl PeerSighting {
    fn validate(&self) -> Result<(), StorageError> {
        let invalid = |reason: String| Err(StorageError::InvalidPeer { reason });
        if self.region.len() != 6 || !self.region.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!(
                "region {:?} is not a six-digit region code",
                self.region
            ));
        }
        if self.node.is_empty() || self.node.len() > MAX_PEER_NAME_LEN {
            return invalid(format!(
                "node name must be 1..={MAX_PEER_NAME_LEN} bytes, got {}",
                self.node.len()
            ));
        }
        if self.capabilities.len() > MAX_PEER_CAPABILITIES {
            return invalid(format!(
                "at most {MAX_PEER_CAPABILITIES} capabilities, got {}",
                self.capabilities.len()
            ));
        }
        if let Some(bad) = self
            .capabilities
            .iter()
            .find(|c| c.is_empty() || c.len() > MAX_PEER_NAME_LEN)
        {
            return invalid(format!(
                "capability must be 1..={MAX_PEER_NAME_LEN} bytes, got {} bytes",
                bad.len()
            ));
        }
        Ok(())
    }
}

/// A peer as stored: the latest sighting plus when it was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Region code of the latest sighting.
    pub region: String,
    /// Node name of the latest sighting.
    pub node: String,
    /// Certificate fingerprint (the key).
    pub fingerprint: [u8; 32],
    /// Protocol version of the latest sighting.
    pub protocol_version: u16,
    /// Capabilities of the latest sighting, in announced order.
    pub capabilities: Vec<String>,
    /// Time of the first sighting ever recorded.
    pub first_seen_unix_ms: i64,
    /// Time of the latest sighting recorded.
    pub last_seen_unix_ms: i64,
}

impl Storage {
    /// Records a peer sighting: inserts the peer, or (same certificate
    /// fingerprint) keeps its first-seen time and replaces everything else
    /// with this sighting. Goes through the writer queue; returns once
    /// durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the write.
    pub async fn record_peer(&self, sighting: &PeerSighting) -> Result<(), StorageError> {
        sighting.validate()?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::RecordPeer {
            sighting: sighting.clone(),
            reply,
        })
        .await?;
        self.answer(answer).await
    }

    /// All peers recorded, ordered by region, node name and fingerprint.
    /// Cancel-safe (read only).
    pub async fn peers(&self) -> Result<Vec<PeerRecord>, StorageError> {
        self.inner.engine.peers().await
    }
}
