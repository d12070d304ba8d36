//! SM2 note signatures: the `sm2-sm3` suite's line in a signed note
//! (decision 1070).
//!
//! The signed-note specification assigns single type bytes to the
//! algorithms it specifies and reserves `0xff` for the others, "followed by
//! a longer identifier that is unlikely to collide". credex's SM2 type is
//! `0xff` ‖ [`SM2_SM3_IDENTIFIER`], so its key IDs can never collide with a
//! registered type's:
//!
//! ```text
//! key ID    = SHA-256(name ‖ 0x0A ‖ 0xff ‖ "credex/signed-note/sm2-sm3/v1" ‖ SEC1 point)[:4]
//! signature = r ‖ s (64 bytes), SM2 with SM3 and the GM/T 0009 default identity, over
//!             len(identifier) ‖ identifier ‖ note text
//! ```
//!
//! The public key is the 65-byte uncompressed SEC1 point. The signed bytes
//! are framed as every credex signature is (`credex_pki::signing`: one
//! length byte, the domain, the message, with the identifier as the
//! domain), as `cosignature/v1` puts a header before the checkpoint it
//! signs: the node's SM2 key also signs credex's signed objects, and no
//! signature of it is ever over bare bytes. Verifiers that do not know the
//! type ignore the line, as the specification requires of unknown keys.

use super::note::{KeyName, Note, NoteError, NoteSignature, SignatureType, key_id};

/// The identifier after the `0xff` type byte, and the domain of the signed
/// bytes.
pub const SM2_SM3_IDENTIFIER: &str = "credex/signed-note/sm2-sm3/v1";

// The identifier's length is the one length byte of the signed bytes.
const _: () = assert!(SM2_SM3_IDENTIFIER.len() <= 255);

/// Length of an SM2 public key as notes carry it: uncompressed SEC1.
pub(crate) const SM2_PUBLIC_KEY_LEN: usize = 65;

/// Length of an SM2 signature: `r ‖ s`.
pub const SM2_SIGNATURE_LEN: usize = 64;

/// The bytes an SM2 note signature covers: `len(identifier) ‖ identifier ‖
/// text` — what `credex_pki::signing::SigningKey::sign` signs when given
/// [`SM2_SM3_IDENTIFIER`] as its domain and the note text as its message.
pub fn sm2_note_message(text: &str) -> Vec<u8> {
    let domain = SM2_SM3_IDENTIFIER.as_bytes();
    let mut message = Vec::with_capacity(1 + domain.len() + text.len());
    // At most 255 bytes (asserted above): the length fits the one byte.
    message.push(domain.len() as u8);
    message.extend_from_slice(domain);
    message.extend_from_slice(text.as_bytes());
    message
}

/// Whether `signature` is a valid SM2 note signature of `text` by
/// `public_key` (SEC1).
pub(crate) fn verify(public_key: &[u8], text: &str, signature: &[u8]) -> bool {
    signature.len() == SM2_SIGNATURE_LEN
        && credex_gm::sm2_verify(
            credex_gm::DEFAULT_ID,
            public_key,
            &sm2_note_message(text),
            signature,
        )
        .is_ok()
}

impl Note {
    /// Add an SM2 signature (type `0xff` ‖ [`SM2_SM3_IDENTIFIER`]) by
    /// `name`, made by `key`, which must sign as [`credex_gm::DEFAULT_ID`]
    /// (a signature under another identity does not verify). Replaces an
    /// earlier signature by that key.
    pub fn sign_sm2(
        &mut self,
        name: &KeyName,
        key: &credex_gm::Sm2SigningKey,
    ) -> Result<(), NoteError> {
        let id = key_id(name, SignatureType::Sm2Sm3, &key.public_key());
        let signature = key.sign(&sm2_note_message(self.text()));
        self.add_signature(NoteSignature::new(name.clone(), id, signature.to_vec()))
    }
}
