//! The ciphers of encryption at rest and the node's key-encryption key
//! (KEK): the key that wraps the data keys and nothing else.
//!
//! Owns: [`Cipher`], the [`KeyEncryptionKey`] trait and its file-held
//! implementation [`FileKek`]. A key held in a PKCS#11 module plugs in by
//! implementing the trait (the module wraps and unwraps; the key never
//! leaves it).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use credex_protocol::Suite;
use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};

use super::AtRestError;

/// Length of the random nonce of every seal (96 bits, as GCM wants).
pub const NONCE_LEN: usize = 12;
/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;

/// An AEAD of encryption at rest: the federation suite's block cipher in
/// GCM with a 96-bit nonce and a 128-bit tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// SM4-GCM (GB/T 32907, RFC 8998): under the `sm2-sm3` suite.
    Sm4Gcm,
    /// AES-256-GCM: under the `ed25519-sha256` suite.
    Aes256Gcm,
}

impl Cipher {
    /// The cipher of `suite`'s nodes.
    pub fn of_suite(suite: Suite) -> Cipher {
        match suite {
            Suite::Sm2Sm3 => Cipher::Sm4Gcm,
            Suite::Ed25519Sha256 => Cipher::Aes256Gcm,
        }
    }

    /// The name stored beside each data key (`data_keys.cipher`).
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Sm4Gcm => "sm4-gcm",
            Cipher::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// The cipher named `name` ([`Cipher::name`]).
    pub fn from_name(name: &str) -> Option<Cipher> {
        match name {
            "sm4-gcm" => Some(Cipher::Sm4Gcm),
            "aes-256-gcm" => Some(Cipher::Aes256Gcm),
            _ => None,
        }
    }

    /// Key length in bytes (16 for SM4, 32 for AES-256).
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Sm4Gcm => 16,
            Cipher::Aes256Gcm => 32,
        }
    }

    /// `plain` sealed under `key` (of [`Cipher::key_len`] bytes) with
    /// `nonce` and `aad`: ciphertext ‖ tag. `None` only for a key of the
    /// wrong length (a caller's bug: keys are made by [`Cipher::key_len`]).
    pub(crate) fn seal(
        self,
        key: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plain: &[u8],
    ) -> Option<Vec<u8>> {
        match self {
            Cipher::Sm4Gcm => {
                let key: &[u8; 16] = key.try_into().ok()?;
                Some(credex_gm::sm4_gcm_seal(key, nonce, aad, plain))
            }
            Cipher::Aes256Gcm => {
                let key =
                    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, key).ok()?);
                let mut out = plain.to_vec();
                key.seal_in_place_append_tag(
                    aead::Nonce::assume_unique_for_key(*nonce),
                    aead::Aad::from(aad),
                    &mut out,
                )
                .ok()?;
                Some(out)
            }
        }
    }

    /// What [`Cipher::seal`] sealed, or `None` if the key, the nonce, the
    /// AAD or the ciphertext differ from the seal's.
    pub(crate) fn open(
        self,
        key: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        match self {
            Cipher::Sm4Gcm => {
                let key: &[u8; 16] = key.try_into().ok()?;
                credex_gm::sm4_gcm_open(key, nonce, aad, sealed).ok()
            }
            Cipher::Aes256Gcm => {
                let key =
                    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, key).ok()?);
                let mut buf = sealed.to_vec();
                let plain_len = key
                    .open_in_place(
                        aead::Nonce::assume_unique_for_key(*nonce),
                        aead::Aad::from(aad),
                        &mut buf,
                    )
                    .ok()?
                    .len();
                buf.truncate(plain_len);
                Some(buf)
            }
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `n` random bytes from the system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], AtRestError> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| AtRestError::Random)?;
    Ok(out)
}

/// The key that wraps the node's data keys. Implementations: [`FileKek`];
/// a key held in a PKCS#11 module wraps and unwraps inside the module.
pub trait KeyEncryptionKey: Send + Sync {
    /// What names the key in messages: the file's path, or the module's
    /// label. Never key material.
    fn describe(&self) -> String;

    /// `data_key` wrapped with `cipher` and bound to `aad` (a nonce ‖
    /// ciphertext ‖ tag of the implementation's choosing).
    fn wrap(&self, cipher: Cipher, aad: &[u8], data_key: &[u8]) -> Result<Vec<u8>, AtRestError>;

    /// What [`KeyEncryptionKey::wrap`] wrapped, or `None` if `wrapped` was
    /// not wrapped by this key for `cipher` and `aad` (another KEK, or the
    /// row was changed).
    fn unwrap(&self, cipher: Cipher, aad: &[u8], wrapped: &[u8]) -> Option<Vec<u8>>;
}

/// First line of a KEK file.
const PEM_BEGIN: &str = "-----BEGIN CREDEX KEY ENCRYPTION KEY-----";
/// Last line of a KEK file.
const PEM_END: &str = "-----END CREDEX KEY ENCRYPTION KEY-----";
/// Length of a file KEK's secret.
pub const KEK_LEN: usize = 32;

/// A key-encryption key read from a file: 32 random bytes in base64
/// between `-----BEGIN CREDEX KEY ENCRYPTION KEY-----` and its `END` line.
/// The file must be readable by the node's user only (0600). Each cipher
/// wraps under its own key derived from the secret (HMAC-SM3 for SM4-GCM,
/// HMAC-SHA-256 for AES-256-GCM), so one file serves both suites.
pub struct FileKek {
    path: PathBuf,
    secret: [u8; KEK_LEN],
    rng: SystemRandom,
}

impl fmt::Debug for FileKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKek")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileKek {
    /// Reads the KEK file `path`: refused if group or others can read it,
    /// if it is missing or unreadable, or if it does not hold one key.
    pub fn load(path: &Path) -> Result<FileKek, AtRestError> {
        let bad = |reason: String| AtRestError::KekFile {
            path: path.to_owned(),
            reason,
        };
        crate::file_modes::check_private(path).map_err(|e| bad(e.to_string()))?;
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let body: String = text
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.strip_suffix(PEM_END))
            .ok_or_else(|| bad(format!("expected a {PEM_BEGIN} block")))?
            .split_whitespace()
            .collect();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()
            .and_then(|bytes| <[u8; KEK_LEN]>::try_from(bytes).ok())
            .ok_or_else(|| bad(format!("expected {KEK_LEN} bytes in base64")))?;
        Ok(FileKek {
            path: path.to_owned(),
            secret,
            rng: SystemRandom::new(),
        })
    }

    /// Makes a new random KEK and writes it to `path` (mode 0600, its
    /// directory created 0700). Refuses to replace an existing file.
    pub fn generate(path: &Path) -> Result<FileKek, AtRestError> {
        let bad = |reason: String| AtRestError::KekFile {
            path: path.to_owned(),
            reason,
        };
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(bad(
                "already exists; a new key is written to a new file".into()
            ));
        }
        let rng = SystemRandom::new();
        let secret: [u8; KEK_LEN] = random_bytes(&rng)?;
        let text = format!(
            "{PEM_BEGIN}\n{}\n{PEM_END}\n",
            base64::engine::general_purpose::STANDARD.encode(secret)
        );
        crate::file_modes::write_private(path, text.as_bytes())
            .map_err(|e| bad(format!("cannot write it: {e}")))?;
        Ok(FileKek {
            path: path.to_owned(),
            secret,
            rng,
        })
    }

    /// The file the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The wrapping key of `cipher`, derived from the secret.
    fn wrapping_key(&self, cipher: Cipher) -> Vec<u8> {
        let label = format!("credex/kek/{}/v1", cipher.name());
        match cipher {
            Cipher::Sm4Gcm => credex_gm::hmac_sm3(&self.secret, label.as_bytes())[..16].to_vec(),
            Cipher::Aes256Gcm => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.secret);
                ring::hmac::sign(&key, label.as_bytes()).as_ref().to_vec()
            }
        }
    }
}

impl KeyEncryptionKey for FileKek {
    fn describe(&self) -> String {
        format!("the key-encryption key file {}", self.path.display())
    }

    fn wrap(&self, cipher: Cipher, aad: &[u8], data_key: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let nonce: [u8; NONCE_LEN] = random_bytes(&self.rng)?;
        let sealed = cipher
            .seal(&self.wrapping_key(cipher), &nonce, aad, data_key)
            .ok_or(AtRestError::Random)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn unwrap(&self, cipher: Cipher, aad: &[u8], wrapped: &[u8]) -> Option<Vec<u8>> {
        let (nonce, sealed) = wrapped.split_first_chunk::<NONCE_LEN>()?;
        cipher.open(&self.wrapping_key(cipher), nonce, aad, sealed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_ciphers_round_trip_and_refuse_another_aad() {
        for cipher in [Cipher::Sm4Gcm, Cipher::Aes256Gcm] {
            let key = vec![7u8; cipher.key_len()];
            let nonce = [1u8; NONCE_LEN];
            let sealed = cipher.seal(&key, &nonce, b"row a", b"body").unwrap();
            assert_eq!(sealed.len(), 4 + TAG_LEN);
            assert_eq!(
                cipher.open(&key, &nonce, b"row a", &sealed).as_deref(),
                Some(&b"body"[..])
            );
            assert_eq!(cipher.open(&key, &nonce, b"row b", &sealed), None);
            assert_eq!(cipher.seal(&key[1..], &nonce, b"", b""), None);
        }
    }

    #[test]
    fn a_kek_file_round_trips_and_refuses_open_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/kek");
        let kek = FileKek::generate(&path).unwrap();
        assert!(FileKek::generate(&path).is_err(), "never overwrites");
        let loaded = FileKek::load(&path).unwrap();
        for cipher in [Cipher::Sm4Gcm, Cipher::Aes256Gcm] {
            let wrapped = kek.wrap(cipher, b"aad", b"data key").unwrap();
            assert_eq!(
                loaded.unwrap(cipher, b"aad", &wrapped).as_deref(),
                Some(&b"data key"[..])
            );
            assert_eq!(loaded.unwrap(cipher, b"other", &wrapped), None);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = FileKek::load(&path).unwrap_err().to_string();
            assert!(err.contains("kek") && err.contains("chmod 600"), "{err}");
        }
        let missing = FileKek::load(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope"), "{missing}");
    }
}
