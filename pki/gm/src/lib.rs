//! Commercial cryptography (商用密码) for credex's `sm2-sm3` suite (issue
//! 19): SM2 signatures (GB/T 32918.2) bound to the signer's identity
//! (`Z_A`, with the default identity of GM/T 0009 unless one is given),
//! SM3 hashing (GB/T 32905) and the SM4 block cipher (GB/T 32907).
//!
//! Every primitive is RustCrypto's (`sm2`, `sm3`, `sm4`; decision 0990 says
//! why, and what is and is not audited): this crate only fixes the choices
//! credex makes — the curve (the recommended `sm2p256v1`), SM3 as the SM2
//! hash, deterministic signing nonces, fixed-size encodings — behind an API
//! that takes and returns bytes. The standards' published known answers are
//! committed as data (`tests/vectors/`) and checked against it.
//!
//! Does not: read or write keys or files, talk to a cryptographic module
//! (the PKCS#11 side is the node's), build certificates, or choose the suite
//! (the federation does).

#![forbid(unsafe_code)]

use sm2::dsa::signature::{Signer, Verifier};
use sm3::Digest;
use sm4::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

/// The default signer identity of GM/T 0009 (`1234567812345678`), used when
/// a party names none.
pub const DEFAULT_ID: &str = "1234567812345678";

/// Why an SM2 operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GmError {
    /// The private key is not a scalar in `[1, n-1]` of 32 bytes.
    #[error("not an SM2 private key (32 bytes, 1 ≤ d < n)")]
    BadPrivateKey,
    /// The public key is not an uncompressed or compressed point on the curve.
    #[error("not an SM2 public key (a SEC1 point on sm2p256v1)")]
    BadPublicKey,
    /// The signer identity is longer than SM2 allows (8,191 bytes).
    #[error("the signer identity is too long for SM2 (at most 8191 bytes)")]
    BadIdentity,
    /// The signature is not 64 bytes `r ‖ s` with both in `[1, n-1]`.
    #[error("not an SM2 signature (64 bytes r ‖ s)")]
    BadSignature,
    /// The signature does not verify.
    #[error("the SM2 signature does not verify")]
    Mismatch,
}

/// SM3 of `bytes` (GB/T 32905).
pub fn sm3(bytes: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(bytes).into()
}

/// An SM2 signing key with its signer identity.
pub struct Sm2SigningKey(sm2::dsa::SigningKey);

impl Sm2SigningKey {
    /// The key `private` (32 bytes, big-endian) signing as `identity`.
    pub fn new(identity: &str, private: &[u8]) -> Result<Self, GmError> {
        if identity.len() > 8191 {
            return Err(GmError::BadIdentity);
        }
        sm2::dsa::SigningKey::from_slice(identity, private)
            .map(Sm2SigningKey)
            .map_err(|_| GmError::BadPrivateKey)
    }

    /// The public key, SEC1 uncompressed (65 bytes, `04 ‖ x ‖ y`).
    pub fn public_key(&self) -> Vec<u8> {
        self.0.verifying_key().to_sec1_bytes().to_vec()
    }

    /// Sign `message`: `r ‖ s` (64 bytes) over `SM3(Z_A ‖ message)`, with a
    /// deterministic nonce (no randomness needed, none leaked).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let signature: sm2::dsa::Signature = self.0.sign(message);
        let mut out = [0u8; 64];
        out.copy_from_slice(&signature.to_bytes());
        out
    }
}

/// Verify `signature` (`r ‖ s`, 64 bytes) of `message` by the holder of
/// `public_key` (SEC1) signing as `identity`.
pub fn sm2_verify(
    identity: &str,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), GmError> {
    if identity.len() > 8191 {
        return Err(GmError::BadIdentity);
    }
    let key = sm2::dsa::VerifyingKey::from_sec1_bytes(identity, public_key)
        .map_err(|_| GmError::BadPublicKey)?;
    let signature =
        sm2::dsa::Signature::from_slice(signature).map_err(|_| GmError::BadSignature)?;
    key.verify(message, &signature)
        .map_err(|_| GmError::Mismatch)
}

/// SM4 (GB/T 32907) encryption of one 16-byte block under `key`.
pub fn sm4_encrypt_block(key: &[u8; 16], block: &mut [u8; 16]) {
    let cipher = sm4::Sm4::new(key.into());
    cipher.encrypt_block(block.into());
}

/// SM4 decryption of one 16-byte block under `key`.
pub fn sm4_decrypt_block(key: &[u8; 16], block: &mut [u8; 16]) {
    let cipher = sm4::Sm4::new(key.into());
    cipher.decrypt_block(block.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_for_its_identity_and_message_only() {
        let key = Sm2SigningKey::new(DEFAULT_ID, &[7u8; 32]).expect("key");
        let signature = key.sign(b"credex");
        let public = key.public_key();
        assert_eq!(
            sm2_verify(DEFAULT_ID, &public, b"credex", &signature),
            Ok(())
        );
        assert_eq!(
            sm2_verify("520000", &public, b"credex", &signature),
            Err(GmError::Mismatch),
            "Z_A binds the identity"
        );
        assert_eq!(
            sm2_verify(DEFAULT_ID, &public, b"credeX", &signature),
            Err(GmError::Mismatch)
        );
        assert_eq!(
            sm2_verify(DEFAULT_ID, &public, b"credex", &signature[..63]),
            Err(GmError::BadSignature)
        );
        assert_eq!(
            Sm2SigningKey::new(DEFAULT_ID, &[0u8; 32]).err(),
            Some(GmError::BadPrivateKey)
        );
        // Deterministic nonces: the same message signs the same.
        assert_eq!(key.sign(b"credex"), signature);
    }
}
