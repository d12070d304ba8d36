//! Natural persons in the store (docs/decisions/0630-pseudonym-key.md):
//! the vault of sealed citizen IDs and the alias table that maps the
//! federation pseudonym of every epoch the node holds to the records'
//! subject key.
//!
//! The store never sees a clear citizen ID: the node computes the subject
//! key, the aliases and the sealed ID ([`crate::pseudonyms`]) and hands
//! them in as bytes. Vault rows and aliases of an import are written in the
//! import's own transaction ([`Storage::import_records_of_subjects`]), so
//! records are never stored without the aliases that find them.

use credex_protocol::query::SubjectPseudonym;
use tokio::sync::oneshot;

use super::access::{MAX_RECORD_KEY_LEN, RecordRow, validate_records};
use super::writer::Command;
use super::{Storage, StorageError};

/// Largest sealed citizen ID, in bytes.
pub const MAX_SEALED_ID_LEN: usize = 256;

/// Most vault rows one [`Storage::sealed_subjects`] returns.
pub const MAX_SEALED_PAGE: u32 = 1000;

/// A natural person as stored: the records' subject key, the sealed ID and
/// the person's pseudonyms (one per epoch of the node's ring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRow {
    /// The records' subject key; 1 ..= [`MAX_RECORD_KEY_LEN`] bytes.
    pub subject_key: String,
    /// The citizen ID sealed under the node's vault key; 1 ..=
    /// [`MAX_SEALED_ID_LEN`] bytes. Kept if the person is already stored.
    pub sealed_id: Vec<u8>,
    /// The person's federation pseudonyms.
    pub aliases: Vec<SubjectPseudonym>,
}

/// One alias to add ([`Storage::update_aliases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectAlias {
    /// The federation pseudonym.
    pub pseudonym: SubjectPseudonym,
    /// The stored subject it names (must be in the vault).
    pub subject_key: String,
}

/// How many natural persons the store holds, and aliases per epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectCounts {
    /// Rows of the vault (natural persons with records).
    pub persons: u64,
    /// (epoch, aliases of that epoch), lowest epoch first.
    pub aliases_by_epoch: Vec<(u32, u64)>,
}

fn validate_subjects(subjects: &[SubjectRow]) -> Result<(), StorageError> {
    for (index, s) in subjects.iter().enumerate() {
        let invalid = |reason: String| Err(StorageError::InvalidSubject { index, reason });
        if s.subject_key.is_empty() || s.subject_key.len() > MAX_RECORD_KEY_LEN {
            return invalid(format!(
                "subject_key must be 1..={MAX_RECORD_KEY_LEN} bytes, got {}",
                s.subject_key.len()
            ));
        }
        if s.sealed_id.is_empty() || s.sealed_id.len() > MAX_SEALED_ID_LEN {
            return invalid(format!(
                "sealed_id must be 1..={MAX_SEALED_ID_LEN} bytes, got {}",
                s.sealed_id.len()
            ));
        }
        if s.aliases.iter().any(|a| a.epoch == 0) {
            return invalid("alias of epoch 0 (epochs start at 1)".into());
        }
    }
    Ok(())
}

impl Storage {
    /// Imports credit records as [`Storage::import_records`] does, and in
    /// the same transaction the natural persons they are about: a vault row
    /// per person (kept if present) and its aliases (kept if present). A
    /// failed import writes none of them.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the import.
    pub async fn import_records_of_subjects(
        &self,
        rows: Vec<RecordRow>,
        subjects: Vec<SubjectRow>,
    ) -> Result<u64, StorageError> {
        validate_records(&rows)?;
        validate_subjects(&subjects)?;
        if rows.is_empty() && subjects.is_empty() {
            return Ok(0);
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::ImportRecords {
            rows,
            subjects,
            reply,
        })
        .await?;
        self.answer(answer).await
    }

    /// The stored subject key a federation pseudonym names, if any.
    /// Cancel-safe (read only).
    pub async fn subject_for(
        &self,
        pseudonym: &SubjectPseudonym,
    ) -> Result<Option<String>, StorageError> {
        self.inner.engine.subject_for(pseudonym).await
    }

    /// Up to `limit` (at most [`MAX_SEALED_PAGE`]) vault rows (subject key,
    /// sealed ID) after subject key `after`, in bytewise key order.
    /// Cancel-safe (read only).
    pub async fn sealed_subjects(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.inner
            .engine
            .sealed_subjects(after, limit.min(MAX_SEALED_PAGE))
            .await
    }

    /// How many natural persons are stored, and aliases per epoch.
    /// Cancel-safe (read only).
    pub async fn subject_counts(&self) -> Result<SubjectCounts, StorageError> {
        self.inner.engine.subject_counts().await
    }

    /// Adds `add` (an alias already present is kept) and deletes every
    /// alias of the epochs in `drop_epochs`, in one transaction. Returns
    /// the rows added and deleted.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the update.
    pub async fn update_aliases(
        &self,
        add: Vec<SubjectAlias>,
        drop_epochs: Vec<u32>,
    ) -> Result<u64, StorageError> {
        if let Some(index) = add.iter().position(|a| {
            a.pseudonym.epoch == 0
                || a.subject_key.is_empty()
                || a.subject_key.len() > MAX_RECORD_KEY_LEN
        }) {
            return Err(StorageError::InvalidSubject {
                index,
                reason: format!(
                    "an alias needs an epoch of 1 or more and a subject key of 1..={MAX_RECORD_KEY_LEN} bytes"
                ),
            });
        }
        if add.is_empty() && drop_epochs.is_empty() {
            return Ok(0);
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::UpdateAliases {
            add,
            drop_epochs,
            reply,
        })
        .await?;
        self.answer(answer).await
    }
}
