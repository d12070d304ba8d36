//! The first sealing: when a store gets its first data key, the values it
//! held in clear are sealed before the writer starts, [`BACKFILL_CHUNK`]
//! rows per transaction, table by table. Table `at_rest_backfill` lists
//! the tables not finished yet (written with the first data key, a row
//! deleted with a table's last chunk), so an interrupted start resumes at
//! the next one. A row already sealed by the interrupted run is one that
//! opens (authenticated under the store's key, bound to its row: a value
//! in clear does not), and is left as it is.

use super::keys::{in_write_tx, sql, write_error};
use super::{Keyring, Row};
use crate::storage::StorageError;
use crate::storage::engine::Engine;

/// Rows sealed per transaction of the first sealing.
pub const BACKFILL_CHUNK: usize = 512;

/// The tables to seal, with their key columns and value column.
const TABLES: [(&str, &str, &str, &str); 2] = [
    ("records", "category", "record_id", "body"),
    ("flow_state", "ns", "key", "value"),
];

/// Seals what the tables still listed in `at_rest_backfill` hold in clear.
pub(super) async fn run(engine: &Engine, ring: &Keyring) -> Result<(), StorageError> {
    let pending: Vec<String> = match engine {
        Engine::Sqlite(e) => {
            sqlx::query_scalar("SELECT tbl FROM at_rest_backfill")
                .fetch_all(e.write_pool())
                .await
        }
        Engine::Postgres(e) => {
            sqlx::query_scalar("SELECT tbl FROM at_rest_backfill")
                .fetch_all(e.pool())
                .await
        }
    }
    .map_err(|e| write_error(engine, "first sealing", e))?;
    let mut sealed = 0u64;
    for table in pending {
        sealed += match TABLES.iter().find(|t| t.0 == table) {
            Some(&(table, a, b, value)) => pairs(engine, ring, table, a, b, value).await?,
            None if table == "attachments" => attachments(engine, ring).await?,
            None => {
                return Err(StorageError::Corrupt {
                    location: engine.location().to_string(),
                    detail: format!("at_rest_backfill names an unknown table {table:?}"),
                });
            }
        };
    }
    if sealed > 0 {
        tracing::info!(location = %engine.location(), rows = sealed, "values stored in clear were sealed");
    }
    Ok(())
}

/// The SQL of one chunk of a table keyed by two text columns.
pub(super) fn chunk_sql(table: &str, a: &str, b: &str, value: &str, first: bool) -> String {
    let after = if first {
        String::new()
    } else {
        format!("WHERE ({a}, {b}) > ($1, $2) ")
    };
    let limit = if first { "$1" } else { "$3" };
    format!("SELECT {a}, {b}, {value} FROM {table} {after}ORDER BY {a}, {b} LIMIT {limit}")
}

pub(super) fn engine_sql(engine: &Engine, s: String) -> String {
    match engine {
        Engine::Sqlite(_) => s.replace('$', "?"),
        Engine::Postgres(_) => s,
    }
}

fn row_of<'a>(table: &str, a: &'a str, b: &'a str) -> Row<'a> {
    if table == "records" {
        Row::Record {
            category: a,
            record_id: b,
        }
    } else {
        Row::State { ns: a, key: b }
    }
}

async fn pairs(
    engine: &Engine,
    ring: &Keyring,
    table: &'static str,
    a: &str,
    b: &str,
    value: &str,
) -> Result<u64, StorageError> {
    const OP: &str = "first sealing";
    let mut after: Option<(String, String)> = None;
    let mut sealed = 0u64;
    let update = engine_sql(
        engine,
        format!("UPDATE {table} SET {value} = $1 WHERE {a} = $2 AND {b} = $3"),
    );
    loop {
        let select = engine_sql(engine, chunk_sql(table, a, b, value, after.is_none()));
        let done = in_write_tx!(engine, OP, |tx| {
            let mut q = sqlx::query_as::<_, (String, String, Vec<u8>)>(&select);
            if let Some((x, y)) = &after {
                q = q.bind(x.clone()).bind(y.clone());
            }
            let rows = q
                .bind(BACKFILL_CHUNK as i64)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| write_error(engine, OP, e))?;
            for (x, y, v) in &rows {
                let row = row_of(table, x, y);
                if ring.open(row, v).is_ok() {
                    continue;
                }
                sqlx::query(&update)
                    .bind(ring.seal(row, v)?)
                    .bind(x.as_str())
                    .bind(y.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(engine, OP, e))?;
                sealed += 1;
            }
            let done = rows.len() < BACKFILL_CHUNK;
            if done {
                sqlx::query(&sql(engine, "DELETE FROM at_rest_backfill WHERE tbl = $1"))
                    .bind(table)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(engine, OP, e))?;
            }
            after = rows.last().map(|(x, y, _)| (x.clone(), y.clone()));
            done
        });
        if done {
            return Ok(sealed);
        }
    }
}

/// Seals the attachments kept by digest, then those kept by their entry:
/// one step of `at_rest_backfill` (its `attachments` row) for both tables.
async fn attachments(engine: &Engine, ring: &Keyring) -> Result<u64, StorageError> {
    const OP: &str = "first sealing";
    let mut after: Option<Vec<u8>> = None;
    let mut sealed = 0u64;
    loop {
        // Digests are 32 bytes: every one sorts after the empty start.
        let select = sql(
            engine,
            "SELECT digest, body FROM attachments WHERE digest > $2 ORDER BY digest LIMIT $1",
        );
        let done = in_write_tx!(engine, OP, |tx| {
            let rows = sqlx::query_as::<_, (Vec<u8>, Vec<u8>)>(&select)
                .bind(BACKFILL_CHUNK as i64)
                .bind(after.clone().unwrap_or_default())
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| write_error(engine, OP, e))?;
            for (digest, body) in &rows {
                let Ok(digest_array) = <[u8; 32]>::try_from(digest.as_slice()) else {
                    return Err(StorageError::Corrupt {
                        location: engine.location().to_string(),
                        detail: format!("attachment digest of {} bytes", digest.len()),
                    });
                };
                let row = Row::Attachment {
                    digest: &digest_array,
                };
                if ring.open(row, body).is_ok() {
                    continue;
                }
                sqlx::query(&sql(
                    engine,
                    "UPDATE attachments SET body = $1 WHERE digest = $2",
                ))
                .bind(ring.seal(row, body)?)
                .bind(digest.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(engine, OP, e))?;
                sealed += 1;
            }
            after = rows.last().map(|(d, _)| d.clone());
            rows.len() < BACKFILL_CHUNK
        });
        if done {
            break;
        }
    }
    // Then those kept by their entry (decision 1220); the table's step ends
    // with them.
    let mut after = -1i64;
    loop {
        let select = sql(
            engine,
            "SELECT seq, digest, body FROM entry_attachments WHERE seq > $2 ORDER BY seq LIMIT $1",
        );
        let done = in_write_tx!(engine, OP, |tx| {
            let rows = sqlx::query_as::<_, (i64, Vec<u8>, Vec<u8>)>(&select)
                .bind(BACKFILL_CHUNK as i64)
                .bind(after)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| write_error(engine, OP, e))?;
            for (seq, digest, body) in &rows {
                let digest = super::entry_digest(engine, *seq, digest)?;
                let row = Row::EntryAttachment { digest: &digest };
                if ring.open(row, body).is_ok() {
                    continue;
                }
                sqlx::query(&sql(
                    engine,
                    "UPDATE entry_attachments SET body = $1 WHERE seq = $2",
                ))
                .bind(ring.seal(row, body)?)
                .bind(*seq)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(engine, OP, e))?;
                sealed += 1;
            }
            let done = rows.len() < BACKFILL_CHUNK;
            if done {
                sqlx::query("DELETE FROM at_rest_backfill WHERE tbl = 'attachments'")
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(engine, OP, e))?;
            }
            after = rows.last().map(|(seq, _, _)| *seq).unwrap_or(after);
            done
        });
        if done {
            return Ok(sealed);
        }
    }
}
