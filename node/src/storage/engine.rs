//! Dispatch to the backend, and the embedded migrations both backends use.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use credex_protocol::query::SubjectPseudonym;
use credex_protocol::tlog::Hash;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

#[cfg(feature = "danger")]
use super::danger::DangerEdit;
use super::postgres::PgEngine;
use super::records::{RecordRow, StoredRecord};
use super::sqlite::SqliteEngine;
use super::subjects::{SubjectAlias, SubjectCounts, SubjectRow};
use super::witness::{EvidenceRecord, LogWrite};
use super::{Backend, JournalRecord, PeerRecord, PeerSighting, StorageError};

mod batch_tx;

pub(crate) use batch_tx::{BatchTx, HeldCheckpoints};

/// Credit record rows per `INSERT` statement of an import (five parameters
/// each; bodies are at most [`super::MAX_RECORD_BODY_LEN`]).
pub(crate) const RECORD_ROWS_PER_INSERT: usize = 512;

/// One journal record to insert in a batch.
pub(crate) struct JournalRow {
    pub(crate) kind: u16,
    pub(crate) body: Vec<u8>,
    /// The record's Merkle leaf hash (it does not depend on the seq).
    pub(crate) leaf: Hash,
}

/// One backend's connections. Cheap to clone (pools are handles).
#[derive(Clone)]
pub(crate) enum Engine {
    Sqlite(SqliteEngine),
    Postgres(PgEngine),
}

impl Engine {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Engine::Sqlite(_) => Backend::Sqlite,
            Engine::Postgres(_) => Backend::Postgres,
        }
    }

    /// A consistent copy of an SQLite store in the file `to`; `None` for
    /// PostgreSQL (its own tools take the snapshot).
    pub(crate) async fn snapshot_into(
        &self,
        to: &std::path::Path,
    ) -> Option<Result<(), StorageError>> {
        match self {
            Engine::Sqlite(e) => Some(e.snapshot_into(to).await),
            Engine::Postgres(_) => None,
        }
    }

    pub(crate) fn location(&self) -> Arc<str> {
        match self {
            Engine::Sqlite(e) => e.location(),
            Engine::Postgres(e) => e.location(),
        }
    }

    /// Begins a batch transaction holding the journal's write lock (SQLite
    /// `BEGIN IMMEDIATE`, PostgreSQL the advisory lock), so that claims
    /// read in it stay true until commit.
    pub(crate) async fn begin_batch(&self) -> Result<BatchTx, StorageError> {
        match self {
            Engine::Sqlite(e) => e.begin_batch().await.map(BatchTx::Sqlite),
            Engine::Postgres(e) => e.begin_batch().await.map(BatchTx::Postgres),
        }
    }

    /// Begins the batch transaction of a group commit of journal appends:
    /// on SQLite on the writer's direct connection (decision 1040), on
    /// PostgreSQL as [`Engine::begin_batch`].
    pub(crate) async fn begin_append_batch(&self) -> Result<BatchTx, StorageError> {
        match self {
            Engine::Sqlite(e) => e.begin_direct().map(BatchTx::Direct),
            Engine::Postgres(e) => e.begin_append_batch().await.map(BatchTx::Postgres),
        }
    }

    /// Upserts `rows` and `subjects` in one transaction; returns how many
    /// records were written.
    pub(crate) async fn import_records(
        &self,
        rows: &[RecordRow],
        subjects: &[SubjectRow],
        imported_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.import_records(rows, subjects, imported_at_unix_ms).await,
            Engine::Postgres(e) => e.import_records(rows, subjects, imported_at_unix_ms).await,
        }
    }

    pub(crate) async fn update_aliases(
        &self,
        add: &[SubjectAlias],
        drop_epochs: &[u32],
    ) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.update_aliases(add, drop_epochs).await,
            Engine::Postgres(e) => e.update_aliases(add, drop_epochs).await,
        }
    }

    pub(crate) async fn subject_for(
        &self,
        pseudonym: &SubjectPseudonym,
    ) -> Result<Option<String>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.subject_for(pseudonym).await,
            Engine::Postgres(e) => e.subject_for(pseudonym).await,
        }
    }

    pub(crate) async fn latest_alias(
        &self,
        subject_key: &str,
    ) -> Result<Option<(i64, Vec<u8>)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.latest_alias(subject_key).await,
            Engine::Postgres(e) => e.latest_alias(subject_key).await,
        }
    }

    pub(crate) async fn sealed_subjects(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.sealed_subjects(after, limit).await,
            Engine::Postgres(e) => e.sealed_subjects(after, limit).await,
        }
    }

    pub(crate) async fn subject_counts(&self) -> Result<SubjectCounts, StorageError> {
        let (persons, by_epoch) = match self {
            Engine::Sqlite(e) => e.subject_counts().await?,
            Engine::Postgres(e) => e.subject_counts().await?,
        };
        let corrupt = |what: &str, value: i64| StorageError::Corrupt {
            location: self.location().to_string(),
            detail: format!("{what} {value} out of range"),
        };
        let persons = u64::try_from(persons).map_err(|_| corrupt("person count", persons))?;
        let aliases_by_epoch = by_epoch
            .into_iter()
            .map(|(epoch, n)| {
                Ok((
                    u32::try_from(epoch).map_err(|_| corrupt("alias epoch", epoch))?,
                    u64::try_from(n).map_err(|_| corrupt("alias count", n))?,
                ))
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(SubjectCounts {
            persons,
            aliases_by_epoch,
        })
    }

    pub(crate) async fn purge_expired_nonces(&self, now_unix_ms: i64) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.purge_expired_nonces(now_unix_ms).await,
            Engine::Postgres(e) => e.purge_expired_nonces(now_unix_ms).await,
        }
    }

    /// The stored body under `digest` and whether it is an assembly
    /// ([`super::attachment`]).
    pub(crate) async fn attachment(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<(Vec<u8>, bool)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.attachment(digest).await,
            Engine::Postgres(e) => e.attachment(digest).await,
        }
    }

    /// The stored attachment entry `seq` carries: its digest, body and
    /// whether the body is an assembly (decision 1220).
    pub(crate) async fn entry_attachment(
        &self,
        seq: u64,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, bool)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.entry_attachment(seq).await,
            Engine::Postgres(e) => e.entry_attachment(seq).await,
        }
    }

    pub(crate) async fn state(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.state(ns, key).await,
            Engine::Postgres(e) => e.state(ns, key).await,
        }
    }

    pub(crate) async fn state_from(
        &self,
        ns: &str,
        from: &str,
        inclusive: bool,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.state_from(ns, from, inclusive, limit).await,
            Engine::Postgres(e) => e.state_from(ns, from, inclusive, limit).await,
        }
    }

    pub(crate) async fn authorization_uses(&self, id: &[u8; 16]) -> Result<u32, StorageError> {
        let uses = match self {
            Engine::Sqlite(e) => e.authorization_uses(id).await?,
            Engine::Postgres(e) => e.authorization_uses(id).await?,
        };
        self.counter(uses, "authorization use count")
    }

    pub(crate) async fn quota_used(
        &self,
        peer: &str,
        window_start_unix_ms: i64,
    ) -> Result<u32, StorageError> {
        let used = match self {
            Engine::Sqlite(e) => e.quota_used(peer, window_start_unix_ms).await?,
            Engine::Postgres(e) => e.quota_used(peer, window_start_unix_ms).await?,
        };
        self.counter(used, "quota use count")
    }

    pub(crate) async fn records_for(
        &self,
        subject_key: &str,
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.records_for(subject_key, categories, limit).await,
            Engine::Postgres(e) => e.records_for(subject_key, categories, limit).await,
        }
    }

    /// Each of `subjects`' record keys in `categories`, at most `limit`
    /// each, in `subjects`' order. SQLite reads each subject on the
    /// caller's thread (tens of µs); PostgreSQL in one round trip.
    pub(crate) async fn record_keys_of(
        &self,
        subjects: &[String],
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<Vec<(String, String)>>, StorageError> {
        match self {
            Engine::Sqlite(e) => {
                let mut out = Vec::with_capacity(subjects.len());
                for subject in subjects {
                    let held = e.records_for(subject, categories, limit).await?;
                    out.push(
                        held.into_iter()
                            .map(|r| (r.category, r.record_id))
                            .collect(),
                    );
                }
                Ok(out)
            }
            Engine::Postgres(e) => e.record_keys_of(subjects, categories, limit).await,
        }
    }

    pub(crate) async fn records_imported(
        &self,
        after: &super::records::ImportCursor,
        before_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<super::records::ImportedRow>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.records_imported(after, before_unix_ms, limit).await,
            Engine::Postgres(e) => e.records_imported(after, before_unix_ms, limit).await,
        }
    }

    pub(crate) async fn record_copy(
        &self,
        of: &credex_flows::flow::CopyOf,
    ) -> Result<Option<credex_flows::flow::HeldRecord>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.record_copy(of).await,
            Engine::Postgres(e) => e.record_copy(of).await,
        }
    }

    pub(crate) async fn record_count(&self) -> Result<u64, StorageError> {
        let count = match self {
            Engine::Sqlite(e) => e.record_count().await?,
            Engine::Postgres(e) => e.record_count().await?,
        };
        u64::try_from(count).map_err(|_| StorageError::Corrupt {
            location: self.location().to_string(),
            detail: format!("record count {count}"),
        })
    }

    /// A stored use counter (absent = 0) as `u32`.
    fn counter(&self, value: Option<i64>, what: &str) -> Result<u32, StorageError> {
        let value = value.unwrap_or(0);
        u32::try_from(value).map_err(|_| StorageError::Corrupt {
            location: self.location().to_string(),
            detail: format!("{what} {value} outside 0..=4294967295"),
        })
    }

    pub(crate) async fn record_peer(&self, sighting: &PeerSighting) -> Result<(), StorageError> {
        match self {
            Engine::Sqlite(e) => e.record_peer(sighting).await,
            Engine::Postgres(e) => e.record_peer(sighting).await,
        }
    }

    #[cfg(feature = "danger")]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.execute_raw(sql).await,
            Engine::Postgres(e) => e.execute_raw(sql).await,
        }
    }

    pub(crate) async fn journal_len(&self) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.journal_len().await,
            Engine::Postgres(e) => e.journal_len().await,
        }
    }

    pub(crate) async fn journal_of_kind(
        &self,
        from: i64,
        below: i64,
        kind: u16,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.journal_of_kind(from, below, kind, limit).await,
            Engine::Postgres(e) => e.journal_of_kind(from, below, kind, limit).await,
        }
    }

    pub(crate) async fn journal_range(
        &self,
        from: i64,
        limit: u32,
    ) -> Result<Vec<JournalRecord>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.journal_range(from, limit).await,
            Engine::Postgres(e) => e.journal_range(from, limit).await,
        }
    }

    pub(crate) async fn peers(&self) -> Result<Vec<PeerRecord>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.peers().await,
            Engine::Postgres(e) => e.peers().await,
        }
    }

    /// The stored hashes at `indexes` that exist (read pool).
    pub(crate) async fn read_tree_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<HashMap<u64, Hash>, StorageError> {
        let rows = match self {
            Engine::Sqlite(e) => e.read_tree_hashes(indexes).await?,
            Engine::Postgres(e) => e.read_tree_hashes(indexes).await?,
        };
        super::tree::hash_rows(&self.location(), rows)
    }

    pub(crate) async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.latest_checkpoint().await,
            Engine::Postgres(e) => e.latest_checkpoint().await,
        }
    }

    pub(crate) async fn checkpoint(&self, size: i64) -> Result<Option<String>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.checkpoint(size).await,
            Engine::Postgres(e) => e.checkpoint(size).await,
        }
    }

    pub(crate) async fn checkpoints_after(
        &self,
        size: i64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.checkpoints_after(size, limit).await,
            Engine::Postgres(e) => e.checkpoints_after(size, limit).await,
        }
    }

    pub(crate) async fn latest_cosigned_size(&self) -> Result<Option<u64>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.latest_cosigned_size().await,
            Engine::Postgres(e) => e.latest_cosigned_size().await,
        }
    }

    pub(crate) async fn cosignatures(
        &self,
        size: i64,
    ) -> Result<Vec<(String, String)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.cosignatures(size).await,
            Engine::Postgres(e) => e.cosignatures(size).await,
        }
    }

    pub(crate) async fn witnessed(
        &self,
        origin: &str,
    ) -> Result<Option<(u64, String)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.witnessed(origin).await,
            Engine::Postgres(e) => e.witnessed(origin).await,
        }
    }

    pub(crate) async fn witnessed_all(&self) -> Result<Vec<(String, u64, String)>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.witnessed_all().await,
            Engine::Postgres(e) => e.witnessed_all().await,
        }
    }

    pub(crate) async fn evidence_after(
        &self,
        id: i64,
        limit: u32,
    ) -> Result<Vec<EvidenceRecord>, StorageError> {
        match self {
            Engine::Sqlite(e) => e.evidence_after(id, limit).await,
            Engine::Postgres(e) => e.evidence_after(id, limit).await,
        }
    }

    /// Runs one write to the log's side tables; returns the evidence id
    /// for evidence, else 0.
    pub(crate) async fn log_write(
        &self,
        write: &LogWrite,
        now_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.log_write(write, now_unix_ms).await,
            Engine::Postgres(e) => e.log_write(write, now_unix_ms).await,
        }
    }

    #[cfg(feature = "danger")]
    pub(crate) async fn danger(&self, edit: &DangerEdit) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.danger(edit).await,
            Engine::Postgres(e) => e.danger(edit).await,
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Engine::Sqlite(e) => e.close().await,
            Engine::Postgres(e) => e.close().await,
        }
    }
}

/// A stored size, count or id (never negative) as `u64`.
pub(crate) fn stored_size(location: &str, value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt {
        location: location.to_owned(),
        detail: format!("negative size, count or id {value}"),
    })
}

/// `seq` as a database integer: a journal never reaches 2^63 records.
pub(crate) fn seq_column(location: &str, seq: u64) -> Result<i64, StorageError> {
    i64::try_from(seq).map_err(|_| StorageError::Corrupt {
        location: location.to_owned(),
        detail: format!("sequence number {seq} is beyond the journal's largest"),
    })
}

/// The error of a guarded claim write that changed `rows_affected` rows
/// instead of one.
pub(crate) fn expect_one_row(location: &str, rows_affected: u64) -> Result<(), StorageError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(StorageError::ClaimRaced {
            location: location.to_owned(),
        })
    }
}

/// A migration embedded in the binary: version, description, SQL.
pub(crate) type EmbeddedMigration = (i64, &'static str, &'static str);

/// Migrations compiled into the binary, as a `sqlx` migration source.
#[derive(Debug)]
struct Embedded(&'static [EmbeddedMigration]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        sql.into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Builds the migrator for one backend's embedded migrations.
pub(crate) async fn migrator(
    migrations: &'static [EmbeddedMigration],
    location: &str,
) -> Result<Migrator, StorageError> {
    Migrator::new(Embedded(migrations))
        .await
        .map_err(|e| StorageError::Migrate {
            location: location.to_owned(),
            source: Arc::new(e),
        })
}

/// Rebuilds journal records from raw columns, rejecting values the store
/// never writes.
pub(crate) fn journal_record(
    location: &str,
    seq: i64,
    kind: i64,
    recorded_at_unix_ms: i64,
    body: Vec<u8>,
) -> Result<JournalRecord, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let seq_u64 =
        u64::try_from(seq).map_err(|_| corrupt(format!("journal record with seq {seq}")))?;
    let kind = u16::try_from(kind).map_err(|_| {
        corrupt(format!(
            "journal record {seq} has kind {kind} outside 0..=65535"
        ))
    })?;
    Ok(JournalRecord {
        seq: seq_u64,
        kind,
        recorded_at_unix_ms,
        body,
    })
}

/// Raw peer columns joined with one capability (or none), in the order
/// peers are listed.
pub(crate) struct PeerRow {
    pub(crate) fingerprint: Vec<u8>,
    pub(crate) region: String,
    pub(crate) node: String,
    pub(crate) protocol_version: i64,
    pub(crate) first_seen_unix_ms: i64,
    pub(crate) last_seen_unix_ms: i64,
    pub(crate) capability: Option<String>,
}

/// Groups joined peer rows (ordered by peer, then capability position) into
/// peer records, rejecting values the store never writes.
pub(crate) fn group_peers(
    location: &str,
    rows: Vec<PeerRow>,
) -> Result<Vec<PeerRecord>, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        location: location.to_owned(),
        detail,
    };
    let mut peers: Vec<PeerRecord> = Vec::new();
    for row in rows {
        let fingerprint: [u8; 32] = row.fingerprint.as_slice().try_into().map_err(|_| {
            corrupt(format!(
                "peer fingerprint of {} bytes (expected 32)",
                row.fingerprint.len()
            ))
        })?;
        let same_peer = peers.last().is_some_and(|p| p.fingerprint == fingerprint);
        if !same_peer {
            let protocol_version = u16::try_from(row.protocol_version).map_err(|_| {
                corrupt(format!(
                    "peer {} has protocol version {} outside 0..=65535",
                    hex::encode(fingerprint),
                    row.protocol_version
                ))
            })?;
            peers.push(PeerRecord {
                region: row.region,
                node: row.node,
                fingerprint,
                protocol_version,
                capabilities: Vec::new(),
                first_seen_unix_ms: row.first_seen_unix_ms,
                last_seen_unix_ms: row.last_seen_unix_ms,
            });
        }
        if let (Some(capability), Some(peer)) = (row.capability, peers.last_mut()) {
            peer.capabilities.push(capability);
        }
    }
    Ok(peers)
}
