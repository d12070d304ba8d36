//! The key that signs the log's C2SP lines — the checkpoint's Ed25519
//! note signature and the cosignatures this node makes as a witness —
//! held in process (ring) or in a hardware security module (decision
//! 1090). Both make the same bytes: a pure Ed25519 signature over the
//! note text, or over the `cosignature/v1` message.

use std::sync::Arc;

use credex_pki::signing::DeviceKey;
use credex_protocol::tlog::{
    Checkpoint, KeyName, Note, NoteSignature, VerifierKey, cosigned_message,
};
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::LogError;

/// The node's Ed25519 note key.
pub(super) enum NoteKey {
    /// Read from the node's key file.
    Ring(Ed25519KeyPair),
    /// Inside a device, a PKCS#11 token (an Ed25519 key; checked when
    /// built).
    Device(Arc<dyn DeviceKey>),
}

impl NoteKey {
    /// The 32-byte public key.
    pub(super) fn public_key(&self) -> &[u8] {
        match self {
            NoteKey::Ring(pair) => pair.public_key().as_ref(),
            NoteKey::Device(key) => key.public_key(),
        }
    }

    /// An Ed25519 signature over `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, LogError> {
        match self {
            NoteKey::Ring(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            NoteKey::Device(key) => key
                .sign(message)
                .map_err(|e| LogError::Sign(format!("the log key's device: {e}"))),
        }
    }

    /// `checkpoint` as a note signed by this key as `name`, whose
    /// note-signature verifier key is `verifier`.
    pub(super) fn sign_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        name: &KeyName,
        verifier: &VerifierKey,
    ) -> Result<Note, LogError> {
        let sign_error = |e: &dyn std::fmt::Display| LogError::Sign(e.to_string());
        let mut note = Note::new(&checkpoint.to_text()).map_err(|e| sign_error(&e))?;
        let signature = self.sign(note.text().as_bytes())?;
        note.add_signature(NoteSignature::new(name.clone(), verifier.id(), signature))
            .map_err(|e| sign_error(&e))?;
        Ok(note)
    }

    /// A `cosignature/v1` line over `checkpoint` at `timestamp` by this
    /// key as `name`, whose cosignature verifier key is `witness`.
    pub(super) fn cosign(
        &self,
        checkpoint: &Checkpoint,
        name: &KeyName,
        witness: &VerifierKey,
        timestamp: u64,
    ) -> Result<String, LogError> {
        let message = cosigned_message(&checkpoint.to_text(), timestamp)
            .map_err(|e| LogError::Sign(e.to_string()))?;
        let signature = self.sign(&message)?;
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&signature);
        Ok(NoteSignature::new(name.clone(), witness.id(), bytes).to_line())
    }
}
