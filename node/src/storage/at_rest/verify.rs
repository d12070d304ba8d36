//! Every stored value opened (`credex storage verify`): after a restore, a
//! rewrap or a disk fault, an operator learns whether each record body,
//! attachment and flow-state value still opens under the store's keys,
//! bound to its row — and a test can read what a store holds in clear
//! without going around the seal (decision 1110).
//!
//! Reads in chunks of [`BACKFILL_CHUNK`] rows on the read side of the
//! store; writes nothing.

use super::backfill::{chunk_sql, engine_sql};
use super::keys::read_error;
use super::{BACKFILL_CHUNK, Row};
use crate::storage::engine::Engine;
use crate::storage::{Storage, StorageError};

/// How many values of each table opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenedValues {
    /// Credit record bodies (`records`).
    pub records: u64,
    /// Attachments (`attachments`, `entry_attachments`).
    pub attachments: u64,
    /// Flow state, the outbox among it (`flow_state`).
    pub flow_state: u64,
}

/// Rows of `$select` on `$engine`'s read side, with `$bind` binding its
/// parameters (the query's type differs per engine).
macro_rules! fetch {
    ($engine:expr, $select:expr, |$q:ident| $bind:expr) => {
        match $engine {
            Engine::Sqlite(e) => {
                let $q = sqlx::query_as($select);
                $bind.fetch_all(e.read_pool()).await
            }
            Engine::Postgres(e) => {
                let $q = sqlx::query_as($select);
                $bind.fetch_all(e.pool()).await
            }
        }
        .map_err(|e| read_error($engine, OP, e))
    };
}

impl Storage {
    /// Open every record body, attachment and flow-state value, handing
    /// each to `visit` with its table name, in clear. Stops at the first
    /// value that does not open; the error names its table and row. On a
    /// store in clear the values are visited as stored. Cancel-safe (it
    /// only reads).
    pub async fn open_every_value(
        &self,
        mut visit: impl FnMut(&'static str, &[u8]),
    ) -> Result<OpenedValues, StorageError> {
        let mut opened = OpenedValues::default();
        for (table, a, b, value) in [
            ("records", "category", "record_id", "body"),
            ("flow_state", "ns", "key", "value"),
        ] {
            let mut after: Option<(String, String)> = None;
            loop {
                let select = engine_sql(
                    &self.inner.engine,
                    chunk_sql(table, a, b, value, after.is_none()),
                );
                let rows: Vec<(String, String, Vec<u8>)> =
                    fetch!(&self.inner.engine, &select, |q| {
                        let q = match &after {
                            Some((x, y)) => q.bind(x.clone()).bind(y.clone()),
                            None => q,
                        };
                        q.bind(BACKFILL_CHUNK as i64)
                    })?;
                let full = rows.len() == BACKFILL_CHUNK;
                let next = rows.last().map(|(x, y, _)| (x.clone(), y.clone()));
                let count = if table == "records" {
                    &mut opened.records
                } else {
                    &mut opened.flow_state
                };
                for (x, y, stored) in rows {
                    let row = if table == "records" {
                        Row::Record {
                            category: &x,
                            record_id: &y,
                        }
                    } else {
                        Row::State { ns: &x, key: &y }
                    };
                    visit(table, &self.open_value(row, stored).await?);
                    *count += 1;
                }
                if !full {
                    break;
                }
                after = next;
            }
        }
        let mut after = Vec::new();
        loop {
            let select = engine_sql(
                &self.inner.engine,
                "SELECT digest, body FROM attachments WHERE digest > $2 ORDER BY digest LIMIT $1"
                    .to_owned(),
            );
            let rows: Vec<(Vec<u8>, Vec<u8>)> = fetch!(&self.inner.engine, &select, |q| q
                .bind(BACKFILL_CHUNK as i64)
                .bind(after.clone()))?;
            let full = rows.len() == BACKFILL_CHUNK;
            let next = rows.last().map(|(d, _)| d.clone()).unwrap_or_default();
            for (digest, stored) in rows {
                let digest: [u8; 32] =
                    digest
                        .as_slice()
                        .try_into()
                        .map_err(|_| StorageError::Corrupt {
                            location: self.inner.engine.location().to_string(),
                            detail: format!("attachment digest of {} bytes", digest.len()),
                        })?;
                let row = Row::Attachment { digest: &digest };
                visit("attachments", &self.open_value(row, stored).await?);
                opened.attachments += 1;
            }
            if !full {
                break;
            }
            after = next;
        }
        // Attachments kept by their entry (decision 1220), in seq order.
        let mut after = -1i64;
        loop {
            let select = engine_sql(
                &self.inner.engine,
                "SELECT seq, digest, body FROM entry_attachments WHERE seq > $2 ORDER BY seq LIMIT $1"
                    .to_owned(),
            );
            let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = fetch!(&self.inner.engine, &select, |q| q
                .bind(BACKFILL_CHUNK as i64)
                .bind(after))?;
            let full = rows.len() == BACKFILL_CHUNK;
            let next = rows.last().map(|(seq, _, _)| *seq).unwrap_or(after);
            for (seq, digest, stored) in rows {
                let digest = super::entry_digest(&self.inner.engine, seq, &digest)?;
                let row = Row::EntryAttachment { digest: &digest };
                visit("entry_attachments", &self.open_value(row, stored).await?);
                opened.attachments += 1;
            }
            if !full {
                break;
            }
            after = next;
        }
        Ok(opened)
    }
}

/// What a read error names.
const OP: &str = "reading every stored value";
