//! Dispatch to the backend, and the embedded migrations both backends use.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::postgres::PgEngine;
use super::sqlite::SqliteEngine;
use super::writer::AppendCommand;
use super::{Backend, JournalRecord, PeerRecord, PeerSighting, StorageError};

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

    pub(crate) fn location(&self) -> Arc<str> {
        match self {
            Engine::Sqlite(e) => e.location(),
            Engine::Postgres(e) => e.location(),
        }
    }

    /// Writes `batch` in one transaction; returns the sequence number of its
    /// first record (the others follow contiguously).
    pub(crate) async fn append_batch(
        &self,
        batch: &[AppendCommand],
        recorded_at_unix_ms: i64,
    ) -> Result<u64, StorageError> {
        match self {
            Engine::Sqlite(e) => e.append_batch(batch, recorded_at_unix_ms).await,
            Engine::Postgres(e) => e.append_batch(batch, recorded_at_unix_ms).await,
        }
    }

    pub(crate) async fn record_peer(&self, sighting: &PeerSighting) -> Result<(), StorageError> {
        match self {
            Engine::Sqlite(e) => e.record_peer(sighting).await,
            Engine::Postgres(e) => e.record_peer(sighting).await,
        }
    }

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

    pub(crate) async fn close(&self) {
        match self {
            Engine::Sqlite(e) => e.close().await,
            Engine::Postgres(e) => e.close().await,
        }
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
