//! The `data_keys` table on both engines: load, create, rewrap.

use std::borrow::Cow;
use std::sync::Arc;

use super::kek::{Cipher, random_bytes};
use super::{AtRestConfig, AtRestError, DataKey, KeyEncryptionKey, data_key_aad};
use crate::storage::engine::Engine;
use crate::storage::error::DriverError;
use crate::storage::{StorageError, engine};

/// One stored data key, still wrapped.
pub(super) struct DataKeyRow {
    pub(super) id: u32,
    pub(super) cipher: Cipher,
    pub(super) wrapped: Vec<u8>,
}

/// `sql` (written with PostgreSQL's `$n` parameters) for `engine`.
pub(super) fn sql(engine: &Engine, sql: &'static str) -> Cow<'static, str> {
    match engine {
        Engine::Sqlite(_) => Cow::Owned(sql.replace('$', "?")),
        Engine::Postgres(_) => Cow::Borrowed(sql),
    }
}

pub(super) fn write_error(
    engine: &Engine,
    operation: &'static str,
    e: sqlx::Error,
) -> StorageError {
    StorageError::Write {
        operation,
        location: engine.location().to_string(),
        source: Arc::new(DriverError::from(e)),
    }
}

pub(super) fn read_error(engine: &Engine, operation: &'static str, e: sqlx::Error) -> StorageError {
    StorageError::Read {
        operation,
        location: engine.location().to_string(),
        source: Arc::new(DriverError::from(e)),
    }
}

/// Runs `$body` with `$tx` a write transaction of `$engine` (SQLite:
/// `BEGIN IMMEDIATE` on the write connection) and `$q` turning the
/// `$n`-parameter SQL into the engine's.
macro_rules! in_write_tx {
    ($engine:expr, $op:expr, |$tx:ident| $body:block) => {{
        let engine: &Engine = $engine;
        match engine {
            Engine::Sqlite(e) => {
                let mut $tx = e
                    .write_pool()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|err| write_error(engine, $op, err))?;
                let out = $body;
                $tx.commit()
                    .await
                    .map_err(|err| write_error(engine, $op, err))?;
                out
            }
            Engine::Postgres(e) => {
                let mut $tx = e
                    .pool()
                    .begin()
                    .await
                    .map_err(|err| write_error(engine, $op, err))?;
                let out = $body;
                $tx.commit()
                    .await
                    .map_err(|err| write_error(engine, $op, err))?;
                out
            }
        }
    }};
}
pub(super) use in_write_tx;

const LOAD: &str = "SELECT id, cipher, wrapped FROM data_keys ORDER BY id";

fn decode(
    engine: &Engine,
    rows: Vec<(i64, String, Vec<u8>)>,
) -> Result<Vec<DataKeyRow>, AtRestError> {
    rows.into_iter()
        .map(|(id, cipher, wrapped)| {
            let bad = |detail: String| AtRestError::BadDataKey {
                location: engine.location().to_string(),
                id,
                detail,
            };
            Ok(DataKeyRow {
                id: u32::try_from(id).map_err(|_| bad("id outside 1..=4294967295".into()))?,
                cipher: Cipher::from_name(&cipher)
                    .ok_or_else(|| bad(format!("unknown cipher {cipher:?}")))?,
                wrapped,
            })
        })
        .collect()
}

/// The stored data keys, by id.
pub(super) async fn load(engine: &Engine) -> Result<Vec<DataKeyRow>, StorageError> {
    let rows: Vec<(i64, String, Vec<u8>)> = match engine {
        Engine::Sqlite(e) => sqlx::query_as(LOAD).fetch_all(e.read_pool()).await,
        Engine::Postgres(e) => sqlx::query_as(LOAD).fetch_all(e.pool()).await,
    }
    .map_err(|e| read_error(engine, "data keys", e))?;
    Ok(decode(engine, rows)?)
}

/// Creates a data key with the next id, wrapped by `config.kek`. With
/// `first`, also marks every sealed table for the first sealing of the
/// values held in clear — unless another process created a key first:
/// then nothing is written and the answer is `None`.
pub(super) async fn create(
    engine: &Engine,
    config: &AtRestConfig,
    now_unix_ms: i64,
    first: bool,
) -> Result<Option<(u32, DataKey)>, StorageError> {
    const OP: &str = "new data key";
    let rng = ring::rand::SystemRandom::new();
    let material: [u8; 32] = random_bytes(&rng)?;
    let key = material[..config.cipher.key_len()].to_vec();
    let id = in_write_tx!(engine, OP, |tx| {
        // Two processes opening a new store at once: on PostgreSQL both
        // would read no key and insert id 1 (read committed); the lock
        // makes the second wait and then see the first one's key. SQLite's
        // `BEGIN IMMEDIATE` serialises them already.
        if matches!(engine, Engine::Postgres(_)) {
            sqlx::query("LOCK TABLE data_keys IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(engine, OP, e))?;
        }
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM data_keys")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| write_error(engine, OP, e))?;
        if first && max.is_some() {
            return Ok(None);
        }
        let next = max.unwrap_or(0) + 1;
        let id = u32::try_from(next).map_err(|_| StorageError::Corrupt {
            location: engine.location().to_string(),
            detail: format!("data key id {next} outside 1..=4294967295"),
        })?;
        let wrapped = config
            .kek
            .wrap(config.cipher, &data_key_aad(id, config.cipher), &key)?;
        sqlx::query(&sql(
            engine,
            "INSERT INTO data_keys (id, cipher, wrapped, created_at_unix_ms) VALUES ($1, $2, $3, $4)",
        ))
        .bind(i64::from(id))
        .bind(config.cipher.name())
        .bind(wrapped)
        .bind(now_unix_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(engine, OP, e))?;
        if first {
            sqlx::query(
                "INSERT INTO at_rest_backfill (tbl) VALUES ('records'), ('attachments'), ('flow_state')",
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(engine, OP, e))?;
        }
        id
    });
    Ok(Some((
        id,
        DataKey {
            cipher: config.cipher,
            key,
        },
    )))
}

/// Unwraps every data key with `old` and wraps it with `new`, in one
/// transaction. Returns how many.
pub(super) async fn rewrap(
    engine: &Engine,
    old: &dyn KeyEncryptionKey,
    new: &dyn KeyEncryptionKey,
    now_unix_ms: i64,
) -> Result<usize, StorageError> {
    const OP: &str = "rewrap data keys";
    let n = in_write_tx!(engine, OP, |tx| {
        let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(LOAD)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| write_error(engine, OP, e))?;
        let rows = decode(engine, rows)?;
        for row in &rows {
            let aad = data_key_aad(row.id, row.cipher);
            let key = old.unwrap(row.cipher, &aad, &row.wrapped).ok_or_else(|| {
                AtRestError::WrongKek {
                    location: engine.location().to_string(),
                    id: row.id,
                    kek: old.describe(),
                }
            })?;
            let wrapped = new.wrap(row.cipher, &aad, &key)?;
            let done = sqlx::query(&sql(
                engine,
                "UPDATE data_keys SET wrapped = $1, rewrapped_at_unix_ms = $2 WHERE id = $3",
            ))
            .bind(wrapped)
            .bind(now_unix_ms)
            .bind(i64::from(row.id))
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(engine, OP, e))?;
            engine::expect_one_row(&engine.location(), done.rows_affected())?;
        }
        rows.len()
    });
    Ok(n)
}
