//! Commercial cryptography (商用密码) for credex's `sm2-sm3` suite (issue
//! 19): SM2 signatures (GB/T 32918.2) bound to the signer's identity
//! (`Z_A`, with the default identity of GM/T 0009 unless one is given),
//! SM3 hashing (GB/T 32905) and HMAC-SM3, the SM4 block cipher (GB/T
//! 32907) and SM4-GCM (RFC 8998's construction, for encryption at rest).
//!
//! Every primitive is RustCrypto's (`sm2`, `sm3`, `sm4`, with `hmac` and
//! `aes-gcm`'s generic GCM over SM4; decision 0990 says
//! why, and what is and is not audited): this crate only fixes the choices
//! credex makes — the curve (the recommended `sm2p256v1`), SM3 as the SM2
//! hash, deterministic signing nonces, fixed-size encodings — behind an API
//! that takes and returns bytes. The standards' published known answers are
//! committed as data (`tests/vectors/`) and checked against it.
//!
//! Keys and signatures also come as the DER that X.509 and key files hold
//! (PKCS#8 v1 private keys with the SM2 curve OID, as OpenSSL 3 writes them;
//! `ECDSA-Sig-Value` signatures), as bytes in and bytes out.
//!
//! Does not: read or write files, talk to a cryptographic module (the
//! PKCS#11 side is the node's), build certificates (credex-pki does), or
//! choose the suite (the federation does).

#![forbid(unsafe_code)]

use sm2::dsa::signature::{Signer, Verifier};
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey};
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
    /// SM4-GCM: the ciphertext, its tag or the associated data was changed
    /// (or the key is wrong).
    #[error("SM4-GCM: the data is not authentic under this key")]
    Unauthentic,
}

/// SM3 of `bytes` (GB/T 32905).
pub fn sm3(bytes: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(bytes).into()
}

/// SM3 of the concatenation of `parts`, without copying them: a Merkle
/// tree's `SM3(0x00 ‖ entry)` and `SM3(0x01 ‖ left ‖ right)`.
pub fn sm3_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = sm3::Sm3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// HMAC-SM3 of `data` under `key` (as HMAC with any hash, RFC 2104).
pub fn hmac_sm3(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac};
    // HMAC takes a key of any length (a long one is hashed first).
    let Ok(mut mac) = hmac::Hmac::<sm3::Sm3>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of every length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SM4-GCM with a 96-bit nonce and a 128-bit tag.
type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

/// Seal `plaintext` with `aad` under `key` and `nonce` (never reuse a
/// nonce under one key): ciphertext ‖ 16-byte tag.
pub fn sm4_gcm_seal(key: &[u8; 16], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit as _, Payload};
    let cipher = Sm4Gcm::new(key.into());
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    match cipher.encrypt(nonce.into(), payload) {
        Ok(sealed) => sealed,
        // GCM refuses only a message longer than 2^36 - 32 bytes.
        Err(_) => unreachable!("SM4-GCM seals messages below 64 GiB"),
    }
}

/// Open what [`sm4_gcm_seal`] sealed: the plaintext, or
/// [`GmError::Unauthentic`] if anything was changed.
pub fn sm4_gcm_open(
    key: &[u8; 16],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, GmError> {
    use aes_gcm::aead::{Aead, KeyInit as _, Payload};
    let cipher = Sm4Gcm::new(key.into());
    cipher
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .map_err(|_| GmError::Unauthentic)
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

    /// The key of a PKCS#8 DER document (`PrivateKeyInfo`, v1 or v2) whose
    /// algorithm is `id-ecPublicKey` on the SM2 curve (1.2.156.10197.1.301)
    /// — what `openssl genpkey -algorithm SM2` writes — signing as
    /// `identity`.
    pub fn from_pkcs8_der(identity: &str, der: &[u8]) -> Result<Self, GmError> {
        if identity.len() > 8191 {
            return Err(GmError::BadIdentity);
        }
        let secret = sm2::SecretKey::from_pkcs8_der(der).map_err(|_| GmError::BadPrivateKey)?;
        sm2::dsa::SigningKey::new(identity, &secret)
            .map(Sm2SigningKey)
            .map_err(|_| GmError::BadPrivateKey)
    }

    /// The key as a PKCS#8 v1 DER document (`PrivateKeyInfo`: algorithm
    /// `id-ecPublicKey` with the SM2 curve, an `ECPrivateKey` holding the
    /// scalar and the public point), the layout OpenSSL 3 writes and reads.
    /// Secret. The identity is not part of it.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        let secret = sm2::SecretKey::from(self.0.as_nonzero_scalar());
        match secret.to_pkcs8_der() {
            Ok(document) => document.as_bytes().to_vec(),
            // Encoding a valid key into a few hundred bytes of DER cannot
            // overflow a DER length; nothing else can fail.
            Err(_) => unreachable!("an SM2 key always encodes as PKCS#8"),
        }
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

    /// Sign `message` as [`Sm2SigningKey::sign`] does, encoded as X.509
    /// carries an SM2 signature: DER `SEQUENCE { INTEGER r, INTEGER s }`.
    pub fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        let signature: sm2::dsa::Signature = self.0.sign(message);
        signature.to_der().as_bytes().to_vec()
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

/// [`sm2_verify`] of a signature encoded as X.509 carries it (DER
/// `SEQUENCE { INTEGER r, INTEGER s }`, no trailing bytes).
pub fn sm2_verify_der(
    identity: &str,
    public_key: &[u8],
    message: &[u8],
    der_signature: &[u8],
) -> Result<(), GmError> {
    let signature =
        sm2::dsa::Signature::from_der(der_signature).map_err(|_| GmError::BadSignature)?;
    sm2_verify(identity, public_key, message, &signature.to_bytes())
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

    #[test]
    fn der_signatures_and_pkcs8_keys_round_trip() {
        let key = Sm2SigningKey::new(DEFAULT_ID, &[9u8; 32]).expect("key");
        let public = key.public_key();
        let der = key.sign_der(b"tbs");
        assert_eq!(der[0], 0x30, "a DER SEQUENCE");
        assert_eq!(sm2_verify_der(DEFAULT_ID, &public, b"tbs", &der), Ok(()));
        assert_eq!(
            sm2_verify_der(DEFAULT_ID, &public, b"tbS", &der),
            Err(GmError::Mismatch)
        );
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(
            sm2_verify_der(DEFAULT_ID, &public, b"tbs", &trailing),
            Err(GmError::BadSignature)
        );
        assert_eq!(
            sm2_verify_der(DEFAULT_ID, &public, b"tbs", &key.sign(b"tbs")),
            Err(GmError::BadSignature),
            "r ‖ s is not DER"
        );

        let pkcs8 = key.to_pkcs8_der();
        // PrivateKeyInfo v1: version 0, id-ecPublicKey, the SM2 curve.
        let header = [
            0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
            0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d,
        ];
        assert_eq!(pkcs8[3..3 + header.len()], header);
        let again = Sm2SigningKey::from_pkcs8_der(DEFAULT_ID, &pkcs8).expect("loads");
        assert_eq!(again.public_key(), public);
        assert_eq!(
            Sm2SigningKey::from_pkcs8_der(DEFAULT_ID, &pkcs8[..pkcs8.len() - 1]).err(),
            Some(GmError::BadPrivateKey)
        );
    }
}
