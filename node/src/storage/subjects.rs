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

use super::records::{MAX_RECORD_KEY_LEN, RecordRow, validate_records};
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

/// The SQL of the subject tables for one backend, as a module `subjects`
/// inside the backend's module: the statements are the same on SQLite and
/// PostgreSQL (`$N` placeholders, which sqlx's SQLite driver reads too);
/// only the database type, the read pool and how a write transaction
/// begins differ.
macro_rules! subject_sql {
    (
        engine: $engine:ty,
        db: $db:ty,
        conn: $conn:ty,
        read: $read:ident,
        begin: |$this:ident| $begin:expr $(,)?
    ) => {
        mod subjects {
            use super::*;

            /// Vault rows (two parameters) or aliases (three) per `INSERT`, well under
            /// either backend's bound-parameter limit.
            const ROWS_PER_INSERT: usize = 4096;

            /// Inserts `subjects` (vault rows, then their aliases), keeping rows
            /// already present; part of the caller's transaction.
            pub(super) async fn insert(
                conn: &mut $conn,
                subjects: &[crate::storage::subjects::SubjectRow],
            ) -> Result<(), sqlx::Error> {
                for chunk in subjects.chunks(ROWS_PER_INSERT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO subject_vault (subject_key, sealed_id) ",
                    );
                    insert.push_values(chunk, |mut row, s| {
                        row.push_bind(s.subject_key.as_str())
                            .push_bind(s.sealed_id.as_slice());
                    });
                    insert.push(" ON CONFLICT (subject_key) DO NOTHING");
                    insert.build().persistent(false).execute(&mut *conn).await?;
                }
                let aliases: Vec<(&credex_protocol::query::SubjectPseudonym, &str)> = subjects
                    .iter()
                    .flat_map(|s| s.aliases.iter().map(|a| (a, s.subject_key.as_str())))
                    .collect();
                insert_aliases(conn, &aliases).await
            }

            async fn insert_aliases(
                conn: &mut $conn,
                aliases: &[(&credex_protocol::query::SubjectPseudonym, &str)],
            ) -> Result<(), sqlx::Error> {
                for chunk in aliases.chunks(ROWS_PER_INSERT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO subject_aliases (epoch, pseudonym, subject_key) ",
                    );
                    insert.push_values(chunk, |mut row, (p, key)| {
                        row.push_bind(i64::from(p.epoch))
                            .push_bind(p.mac.as_slice())
                            .push_bind(*key);
                    });
                    insert.push(" ON CONFLICT (epoch, pseudonym) DO NOTHING");
                    insert.build().persistent(false).execute(&mut *conn).await?;
                }
                Ok(())
            }

            impl $engine {
                pub(crate) async fn update_aliases(
                    &self,
                    add: &[crate::storage::subjects::SubjectAlias],
                    drop_epochs: &[u32],
                ) -> Result<u64, crate::storage::StorageError> {
                    const OP: &str = "subject alias update";
                    let fail = |e| self.write_error(OP, e);
                    let $this = self;
                    let mut tx = $begin.await.map_err(fail)?;
                    let mut changed = 0;
                    for epoch in drop_epochs {
                        changed += sqlx::query("DELETE FROM subject_aliases WHERE epoch = $1")
                            .bind(i64::from(*epoch))
                            .execute(&mut *tx)
                            .await
                            .map_err(fail)?
                            .rows_affected();
                    }
                    let pairs: Vec<(&credex_protocol::query::SubjectPseudonym, &str)> = add
                        .iter()
                        .map(|a| (&a.pseudonym, a.subject_key.as_str()))
                        .collect();
                    insert_aliases(&mut tx, &pairs).await.map_err(fail)?;
                    tx.commit().await.map_err(fail)?;
                    Ok(changed + add.len() as u64)
                }

                pub(crate) async fn subject_for(
                    &self,
                    pseudonym: &credex_protocol::query::SubjectPseudonym,
                ) -> Result<Option<String>, crate::storage::StorageError> {
                    sqlx::query_scalar(
                        "SELECT subject_key FROM subject_aliases \
                         WHERE epoch = $1 AND pseudonym = $2",
                    )
                    .bind(i64::from(pseudonym.epoch))
                    .bind(pseudonym.mac.as_slice())
                    .fetch_optional(&self.$read)
                    .await
                    .map_err(|e| self.read_error("subject alias", e))
                }

                pub(crate) async fn latest_alias(
                    &self,
                    subject_key: &str,
                ) -> Result<Option<(i64, Vec<u8>)>, crate::storage::StorageError> {
                    sqlx::query_as(
                        "SELECT epoch, pseudonym FROM subject_aliases \
                         WHERE subject_key = $1 ORDER BY epoch DESC LIMIT 1",
                    )
                    .bind(subject_key)
                    .fetch_optional(&self.$read)
                    .await
                    .map_err(|e| self.read_error("subject alias", e))
                }

                pub(crate) async fn sealed_subjects(
                    &self,
                    after: &str,
                    limit: u32,
                ) -> Result<Vec<(String, Vec<u8>)>, crate::storage::StorageError> {
                    sqlx::query_as(
                        "SELECT subject_key, sealed_id FROM subject_vault WHERE subject_key > $1 \
                         ORDER BY subject_key LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$read)
                    .await
                    .map_err(|e| self.read_error("subject vault page", e))
                }

                pub(crate) async fn subject_counts(
                    &self,
                ) -> Result<(i64, Vec<(i64, i64)>), crate::storage::StorageError> {
                    let fail = |e| self.read_error("subject counts", e);
                    let persons: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subject_vault")
                        .fetch_one(&self.$read)
                        .await
                        .map_err(fail)?;
                    let by_epoch = sqlx::query_as(
                        "SELECT epoch, COUNT(*) FROM subject_aliases GROUP BY epoch ORDER BY epoch",
                    )
                    .fetch_all(&self.$read)
                    .await
                    .map_err(fail)?;
                    Ok((persons, by_epoch))
                }
            }
        }
    };
}
pub(crate) use subject_sql;

pub(super) fn validate_subjects(subjects: &[SubjectRow]) -> Result<(), StorageError> {
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
        let rows = self.seal_records(rows)?;
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

    /// The pseudonym of the highest epoch that names the stored subject
    /// `subject_key`, if any: how this node names the person to others.
    /// Cancel-safe (read only).
    pub async fn latest_alias(
        &self,
        subject_key: &str,
    ) -> Result<Option<SubjectPseudonym>, StorageError> {
        let Some((epoch, mac)) = self.inner.engine.latest_alias(subject_key).await? else {
            return Ok(None);
        };
        let bad = || StorageError::InvalidState {
            reason: format!("the alias of {subject_key} is malformed"),
        };
        Ok(Some(SubjectPseudonym {
            epoch: u32::try_from(epoch).map_err(|_| bad())?,
            mac: mac.try_into().map_err(|_| bad())?,
        }))
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
