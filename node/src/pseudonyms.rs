//! Natural persons on this node: the federation's pseudonymization key
//! ring, the node-local vault key, and the aliases that let a query name a
//! person under any epoch of the ring (docs/decisions/0630-pseudonym-key.md).
//!
//! # What is stored, and under which key
//!
//! - A record about a natural person is stored under a **node-local subject
//!   key**, `n:` ‖ hex(HMAC-SHA256(vault subject key, citizen ID)): stable
//!   across federation epochs, meaningless outside this node.
//! - The **alias table** maps the person's federation pseudonym under every
//!   epoch of the ring to that subject key. A query names the person by
//!   one pseudonym ([`SubjectPseudonym`]); [`stored_subject_key`] finds the
//!   records through the alias.
//! - The **vault** keeps the citizen ID sealed (AES-256-GCM under the vault
//!   key, the subject key as associated data), so that when the federation
//!   adds an epoch [`rekey`] can compute the new pseudonyms without the ID
//!   ever being stored in clear.
//!
//! The vault key file (0600) holds one 32-byte secret; the HMAC key and
//! the AES key are derived from it with HKDF-SHA256. Losing it loses the
//! ability to add epochs for the persons already stored (their records can
//! be re-imported); leaking it together with a database lets its holder
//! open the vault. Keep it apart from database backups.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use credex_pki::{PseudonymError, PseudonymKeyError, PseudonymKeyRing};
use credex_protocol::query::SubjectRef;
use ring::rand::SecureRandom;
use ring::{aead, hkdf, hmac};

use crate::config::NodeConfig;
use crate::storage::{MAX_SEALED_PAGE, Storage, StorageError, SubjectAlias, SubjectRow};
use credex_journal::{ENTRY_VERSION, PseudonymKeysInUse};

/// Prefix of a node-local subject key (legal persons are stored under
/// their USCC, which never contains `:`).
pub const LOCAL_KEY_PREFIX: &str = "n:";

/// HKDF salt of the keys derived from the vault secret.
const VAULT_HKDF_SALT: &[u8] = b"credex/subject-vault/v1";

/// First line of a vault key file.
const VAULT_HEADER: &str = "# credex node-local subject vault key v1 (SECRET, mode 0600)";

/// Why pseudonym material could not be loaded, written or used.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A secret file is readable by group or others.
    #[error("{path}: holds secret keys but has mode {mode:o}; chmod 600 it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file that should be created exists already.
    #[error("{0}: already exists; refusing to overwrite")]
    Exists(PathBuf),
    /// The key ring file is malformed.
    #[error("{path}: {source}")]
    Ring {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: PseudonymKeyError,
    },
    /// The vault key file is malformed.
    #[error("{path}: expected a line `key HEX` with 64 hex digits")]
    VaultFile {
        /// The file.
        path: PathBuf,
    },
    /// The node holds natural persons but has no key ring configured.
    #[error(
        "{config}: this node holds {persons} natural person(s) but has no pseudonym key ring; set `[pseudonyms] keys = \"FILE\"` (the federation's key ring)"
    )]
    NoKeyRing {
        /// The configuration file.
        config: PathBuf,
        /// Natural persons stored.
        persons: u64,
    },
    /// A vault row could not be opened with this node's vault key.
    #[error("the sealed citizen ID of {subject_key} does not open with the vault key {path}")]
    VaultOpen {
        /// The stored subject.
        subject_key: String,
        /// The vault key file.
        path: PathBuf,
    },
    /// The journal entry could not be encoded.
    #[error("encoding the pseudonym key journal entry: {0}")]
    Encode(String),
    /// Sealing failed (random generator or AES).
    #[error("sealing a citizen ID failed")]
    Seal,
    /// A pseudonym could not be computed.
    #[error(transparent)]
    Pseudonym(#[from] PseudonymError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PseudonymsError + '_ {
    move |source| PseudonymsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Read a secret file, refusing one readable by group or others.
fn read_secret(path: &Path) -> Result<String, PseudonymsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(io_err(path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(PseudonymsError::Permissions {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Write a secret file (0600): atomically replacing `path`, or only if it
/// does not exist (`create_new`).
fn write_secret(path: &Path, contents: &str, create_new: bool) -> Result<(), PseudonymsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::file_modes::create_private_dir(parent).map_err(io_err(parent))?;
    }
    if create_new && path.exists() {
        return Err(PseudonymsError::Exists(path.to_owned()));
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Load the federation's key ring from its file (mode 0600).
pub fn load_ring(path: &Path) -> Result<PseudonymKeyRing, PseudonymsError> {
    PseudonymKeyRing::from_text(&read_secret(path)?).map_err(|source| PseudonymsError::Ring {
        path: path.to_owned(),
        source,
    })
}

/// Write a key ring file (0600), replacing it atomically unless `create_new`.
pub fn save_ring(
    path: &Path,
    ring: &PseudonymKeyRing,
    create_new: bool,
) -> Result<(), PseudonymsError> {
    write_secret(path, &ring.to_text(), create_new)
}

/// The node-local vault key: derives the subject key and seals citizen IDs.
/// Never printed.
pub struct VaultKey {
    path: PathBuf,
    subject: hmac::Key,
    seal: aead::LessSafeKey,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl VaultKey {
    fn from_secret(path: &Path, secret: &[u8; 32]) -> VaultKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, VAULT_HKDF_SALT).extract(secret);
        // `expand` fails only for outputs over 255 hash lengths; these are one.
        let subject = prk
            .expand(&[b"subject-key"], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .unwrap_or_else(|_| unreachable!("32-byte HKDF output"));
        let seal = prk
            .expand(&[b"seal-key"], &aead::AES_256_GCM)
            .map(aead::UnboundKey::from)
            .unwrap_or_else(|_| unreachable!("32-byte HKDF output"));
        VaultKey {
            path: path.to_owned(),
            subject,
            seal: aead::LessSafeKey::new(seal),
        }
    }

    /// Load the vault key from `path`.
    pub fn load(path: &Path) -> Result<VaultKey, PseudonymsError> {
        let text = read_secret(path)?;
        let bad = || PseudonymsError::VaultFile {
            path: path.to_owned(),
        };
        let hex_key = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.strip_prefix("key "))
            .ok_or_else(bad)?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut secret).map_err(|_| bad())?;
        Ok(VaultKey::from_secret(path, &secret))
    }

    /// Load the vault key from `path`, creating a random one (0600) if the
    /// file does not exist.
    pub fn load_or_create(
        path: &Path,
        rng: &dyn SecureRandom,
    ) -> Result<VaultKey, PseudonymsError> {
        if !path.exists() {
            let mut secret = [0u8; 32];
            rng.fill(&mut secret).map_err(|_| PseudonymsError::Seal)?;
            let text = format!("{VAULT_HEADER}\nkey {}\n", hex::encode(secret));
            match write_secret(path, &text, true) {
                Ok(()) | Err(PseudonymsError::Exists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        VaultKey::load(path)
    }

    /// The node-local key the records of this person are stored under.
    pub fn subject_key(&self, citizen_id: &str) -> String {
        let tag = hmac::sign(&self.subject, citizen_id.as_bytes());
        format!("{LOCAL_KEY_PREFIX}{}", hex::encode(tag.as_ref()))
    }

    /// The ID sealed for the vault row of `subject_key`: nonce ‖ ciphertext
    /// ‖ tag.
    pub fn seal(
        &self,
        subject_key: &str,
        citizen_id: &str,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, PseudonymsError> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| PseudonymsError::Seal)?;
        let mut out = citizen_id.as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(subject_key.as_bytes()),
                &mut out,
            )
            .map_err(|_| PseudonymsError::Seal)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    /// The citizen ID in a vault row. Never log it.
    pub fn open(&self, subject_key: &str, sealed: &[u8]) -> Result<String, PseudonymsError> {
        let fail = || PseudonymsError::VaultOpen {
            subject_key: subject_key.to_owned(),
            path: self.path.clone(),
        };
        if sealed.len() < aead::NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ciphertext) = sealed.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = ciphertext.to_vec();
        let clear = self
            .seal
            .open_in_place(nonce, aead::Aad::from(subject_key.as_bytes()), &mut buf)
            .map_err(|_| fail())?;
        String::from_utf8(clear.to_vec()).map_err(|_| fail())
    }
}

/// What a node needs to store natural persons: the federation's key ring
/// and its own vault key.
#[derive(Debug)]
pub struct NaturalPersons {
    /// The federation's key ring.
    pub ring: PseudonymKeyRing,
    /// The node-local vault key.
    pub vault: VaultKey,
}

impl NaturalPersons {
    /// The ring and vault key `config` names (`[pseudonyms]`); `None` when
    /// no ring is configured. The vault key is created if absent.
    pub fn load(
        config: &NodeConfig,
        rng: &dyn SecureRandom,
    ) -> Result<Option<NaturalPersons>, PseudonymsError> {
        let Some(keys) = &config.pseudonyms.keys else {
            return Ok(None);
        };
        Ok(Some(NaturalPersons {
            ring: load_ring(keys)?,
            vault: VaultKey::load_or_create(&config.pseudonyms.vault_key, rng)?,
        }))
    }

    /// The stored form of a person: subject key, sealed ID, and the
    /// pseudonym under every epoch of the ring. `citizen_id` in canonical
    /// form.
    pub fn subject_row(
        &self,
        citizen_id: &str,
        rng: &dyn SecureRandom,
    ) -> Result<SubjectRow, PseudonymsError> {
        let aliases = self.ring.pseudonyms(citizen_id)?;
        let subject_key = self.vault.subject_key(citizen_id);
        Ok(SubjectRow {
            sealed_id: self.vault.seal(&subject_key, citizen_id, rng)?,
            subject_key,
            aliases,
        })
    }
}

/// The key `subject`'s records are stored under: the USCC of a legal
/// person; for a natural person the subject its pseudonym is an alias of,
/// or else the pseudonym's text (the key of records reported upward to the
/// national node; an unknown person has no records under it).
/// Cancel-safe (read only).
pub async fn stored_subject_key(
    storage: &Storage,
    subject: &SubjectRef,
) -> Result<Option<String>, StorageError> {
    match subject {
        SubjectRef::LegalPerson(code) => Ok(Some(code.clone())),
        // A person this node stores (its vault) by an alias; one reported
        // upward to the national node under the pseudonym itself.
        SubjectRef::NaturalPerson(p) => Ok(Some(
            storage
                .subject_for(p)
                .await?
                .unwrap_or_else(|| p.to_string()),
        )),
    }
}

/// What [`rekey`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Natural persons stored.
    pub persons: u64,
    /// Epochs aliases were added for.
    pub epochs_added: Vec<u32>,
    /// Aliases added.
    pub aliases_added: u64,
    /// Epochs no longer in the ring whose aliases were deleted.
    pub epochs_dropped: Vec<u32>,
}

/// Bring the alias table in line with the ring: add the aliases of every
/// epoch some stored person lacks (opening the vault), delete those of
/// epochs the ring no longer holds. Idempotent; a crash half-way leaves
/// aliases that the next run completes. Not cancel-safe: a cancelled run
/// leaves part of the aliases written (the next run completes them).
pub async fn rekey(
    storage: &Storage,
    persons: &NaturalPersons,
) -> Result<RekeyReport, PseudonymsError> {
    let counts = storage.subject_counts().await?;
    let ring_epochs = persons.ring.epochs();
    let missing: Vec<u32> = ring_epochs
        .iter()
        .copied()
        .filter(|e| {
            let have = counts
                .aliases_by_epoch
                .iter()
                .find(|(epoch, _)| epoch == e)
                .map_or(0, |(_, n)| *n);
            have < counts.persons
        })
        .collect();
    let dropped: Vec<u32> = counts
        .aliases_by_epoch
        .iter()
        .map(|(e, _)| *e)
        .filter(|e| !ring_epochs.contains(e))
        .collect();
    let mut report = RekeyReport {
        persons: counts.persons,
        epochs_added: missing.clone(),
        aliases_added: 0,
        epochs_dropped: dropped.clone(),
    };
    if !dropped.is_empty() {
        storage.update_aliases(Vec::new(), dropped).await?;
    }
    if missing.is_empty() {
        return Ok(report);
    }
    let mut after = String::new();
    loop {
        let page = storage.sealed_subjects(&after, MAX_SEALED_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let mut add = Vec::with_capacity(page.len() * missing.len());
        for (subject_key, sealed) in &page {
            let id = persons.vault.open(subject_key, sealed)?;
            for epoch in &missing {
                add.push(SubjectAlias {
                    pseudonym: persons.ring.pseudonym_at(*epoch, &id)?,
                    subject_key: subject_key.clone(),
                });
            }
        }
        report.aliases_added += add.len() as u64;
        storage.update_aliases(add, Vec::new()).await?;
    }
    Ok(report)
}

/// At node start: refuse to run without a key ring when natural persons
/// are stored; with one, [`rekey`] and log the ring's epochs
/// ([`PseudonymKeysInUse`]) at `now_ms`.
pub async fn check_at_start(
    config: &NodeConfig,
    storage: &Storage,
    persons: Option<&NaturalPersons>,
    now_ms: i64,
) -> Result<Option<RekeyReport>, PseudonymsError> {
    match persons {
        Some(persons) => {
            let report = rekey(storage, persons).await?;
            let entry = PseudonymKeysInUse {
                version: ENTRY_VERSION,
                at_ms: now_ms,
                epochs: persons
                    .ring
                    .keys()
                    .map(|k| (k.epoch(), k.check_value()))
                    .collect(),
                persons: report.persons,
                aliases_added: report.aliases_added,
                epochs_dropped: report.epochs_dropped.clone(),
            };
            storage.append_entry(&entry).await?;
            Ok(Some(report))
        }
        None => {
            let counts = storage.subject_counts().await?;
            if counts.persons > 0 {
                return Err(PseudonymsError::NoKeyRing {
                    config: config.path.clone(),
                    persons: counts.persons,
                });
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_ids_open_only_with_their_subject_key_and_vault() {
        let rng = ring::rand::SystemRandom::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vault.key");
        let vault = VaultKey::load_or_create(&path, &rng).expect("created");
        let id = "11010519491231002X";
        let key = vault.subject_key(id);
        assert!(key.starts_with(LOCAL_KEY_PREFIX) && !key.contains(id));
        let sealed = vault.seal(&key, id, &rng).expect("sealed");
        assert!(!sealed.windows(id.len()).any(|w| w == id.as_bytes()));
        assert_eq!(vault.open(&key, &sealed).expect("opens"), id);
        assert!(vault.open("n:other", &sealed).is_err());
        let again = VaultKey::load(&path).expect("reloads");
        assert_eq!(again.subject_key(id), key);
        let other = VaultKey::load_or_create(&dir.path().join("other.key"), &rng).expect("other");
        assert!(other.open(&key, &sealed).is_err());
        assert!(!format!("{vault:?}").contains("key "));
    }
}
