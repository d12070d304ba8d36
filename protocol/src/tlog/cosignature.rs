//! C2SP Ed25519 cosignatures (`c2sp.org/tlog-cosignature`, `cosignature/v1`).
//!
//! A peer that checked a checkpoint's consistency with the last one it saw
//! adds a note signature of type `0x04`: key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖
//! public key)\[:4\], signature bytes = timestamp (u64, big-endian) ‖ Ed25519
//! signature over
//!
//! ```text
//! cosignature/v1
//! time <timestamp>
//! <checkpoint body, with its final newline>
//! ```
//!
//! The timestamp is POSIX seconds, decimal without leading zeros, at most
//! 2^63 − 1. The time comes in as a value; this module reads no clock.

use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::checkpoint::Checkpoint;
use super::note::{
    ED25519_SIGNATURE_LEN, KeyId, KeyName, Note, NoteError, NoteSignature, SignatureType, key_id,
};

/// The header line of the signed message, with its newline.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";

/// Largest timestamp a cosignature may carry: 2^63 − 1.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// Length of the signature bytes after the key ID: timestamp ‖ Ed25519 signature.
const COSIGNATURE_LEN: usize = 8 + ED25519_SIGNATURE_LEN;

/// Why a cosignature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// The timestamp is above 2^63 − 1.
    #[error("timestamp {0} exceeds 2^63-1")]
    TimestampTooLarge(u64),
    /// The note could not take another signature.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// Why note signature bytes are not a cosignature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureFormatError {
    /// Not 8 + 64 bytes long.
    #[error("cosignature is {0} bytes, want 72")]
    WrongLength(usize),
    /// The timestamp is above 2^63 − 1.
    #[error("timestamp {0} exceeds 2^63-1")]
    TimestampTooLarge(u64),
}

/// The message an Ed25519 cosigner signs for `checkpoint_text` at `timestamp`.
pub fn cosigned_message(checkpoint_text: &str, timestamp: u64) -> Result<Vec<u8>, CosignError> {
    if timestamp > MAX_COSIGNATURE_TIMESTAMP {
        return Err(CosignError::TimestampTooLarge(timestamp));
    }
    let mut message = format!("{COSIGNATURE_V1_HEADER}time {timestamp}\n").into_bytes();
    message.extend_from_slice(checkpoint_text.as_bytes());
    Ok(message)
}

/// A parsed `cosignature/v1` signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    name: KeyName,
    id: KeyId,
    timestamp: u64,
    signature: [u8; ED25519_SIGNATURE_LEN],
}

impl Cosignature {
    /// Read the timestamp and signature out of a note signature. This checks
    /// the layout only; [`Note::verify`] with a type-`0x04` verifier key checks
    /// the signature.
    pub fn from_note_signature(sig: &NoteSignature) -> Result<Self, CosignatureFormatError> {
        let bytes = sig.signature();
        if bytes.len() != COSIGNATURE_LEN {
            return Err(CosignatureFormatError::WrongLength(bytes.len()));
        }
        let (time, signature) = bytes.split_at(8);
        let mut time_bytes = [0u8; 8];
        time_bytes.copy_from_slice(time);
        let timestamp = u64::from_be_bytes(time_bytes);
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(CosignatureFormatError::TimestampTooLarge(timestamp));
        }
        let mut sig_bytes = [0u8; ED25519_SIGNATURE_LEN];
        sig_bytes.copy_from_slice(signature);
        Ok(Cosignature {
            name: sig.name().clone(),
            id: sig.id(),
            timestamp,
            signature: sig_bytes,
        })
    }

    /// Cosigner key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// Cosigner key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// POSIX time the cosigner stated.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The Ed25519 signature.
    pub fn signature(&self) -> &[u8; ED25519_SIGNATURE_LEN] {
        &self.signature
    }

    /// As a note signature line.
    pub fn to_note_signature(&self) -> NoteSignature {
        let mut bytes = Vec::with_capacity(COSIGNATURE_LEN);
        bytes.extend_from_slice(&self.timestamp.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        NoteSignature::new(self.name.clone(), self.id, bytes)
    }
}

/// Cosign a checkpoint as cosigner `name` at POSIX time `timestamp`.
pub fn cosign(
    checkpoint: &Checkpoint,
    name: &KeyName,
    key: &Ed25519KeyPair,
    timestamp: u64,
) -> Result<Cosignature, CosignError> {
    cosign_text(&checkpoint.to_text(), name, key, timestamp)
}

pub(crate) fn cosign_text(
    text: &str,
    name: &KeyName,
    key: &Ed25519KeyPair,
    timestamp: u64,
) -> Result<Cosignature, CosignError> {
    let message = cosigned_message(text, timestamp)?;
    let id = key_id(
        name,
        SignatureType::CosignatureV1,
        key.public_key().as_ref(),
    );
    let sig = key.sign(&message);
    let mut signature = [0u8; ED25519_SIGNATURE_LEN];
    signature.copy_from_slice(sig.as_ref());
    Ok(Cosignature {
        name: name.clone(),
        id,
        timestamp,
        signature,
    })
}

impl Note {
    /// Add a `cosignature/v1` by `name` at `timestamp` over this note's text
    /// (which should be a checkpoint), replacing an earlier one by that key.
    pub fn cosign(
        &mut self,
        name: &KeyName,
        key: &Ed25519KeyPair,
        timestamp: u64,
    ) -> Result<(), CosignError> {
        let cosig = cosign_text(self.text(), name, key, timestamp)?;
        self.add_signature(cosig.to_note_signature())?;
        Ok(())
    }
}
