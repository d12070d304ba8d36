//! SQL of the log's side tables (checkpoints, cosignatures, witnessed
//! heads, evidence) and of the `danger` edits, shared by both backends.
//!
//! The statements are the same text on SQLite and PostgreSQL (`$N`
//! parameters, which sqlx binds on SQLite too), so the two backends cannot
//! drift apart; only the pools differ. [`log_sql!`] expands to methods of a
//! backend engine given its database type and the fields holding its read
//! and write pools; the engine must also provide `location`,
//! `read_error`, `write_error` and `begin_batch` (whose value has a `tx`
//! field holding the journal's write lock).

/// See the module documentation.
macro_rules! log_sql {
    (read: $read:ident, write: $write:ident) => {
        pub(crate) async fn latest_checkpoint(
            &self,
        ) -> Result<Option<(u64, String)>, StorageError> {
            let row: Option<(i64, String)> =
                sqlx::query_as("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
                    .fetch_optional(&self.$read)
                    .await
                    .map_err(|e| self.read_error("latest checkpoint", e))?;
            row.map(|(size, note)| Ok((engine::stored_size(&self.location, size)?, note)))
                .transpose()
        }

        pub(crate) async fn checkpoint(&self, size: i64) -> Result<Option<String>, StorageError> {
            sqlx::query_scalar("SELECT note FROM checkpoints WHERE size = $1")
                .bind(size)
                .fetch_optional(&self.$read)
                .await
                .map_err(|e| self.read_error("checkpoint", e))
        }

        pub(crate) async fn checkpoints_after(
            &self,
            size: i64,
            limit: u32,
        ) -> Result<Vec<(u64, String)>, StorageError> {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT size, note FROM checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
            )
            .bind(size)
            .bind(i64::from(limit))
            .fetch_all(&self.$read)
            .await
            .map_err(|e| self.read_error("checkpoints", e))?;
            rows.into_iter()
                .map(|(size, note)| Ok((engine::stored_size(&self.location, size)?, note)))
                .collect()
        }

        pub(crate) async fn cosignatures(
            &self,
            size: i64,
        ) -> Result<Vec<(String, String)>, StorageError> {
            sqlx::query_as(
                "SELECT witness, line FROM cosignatures WHERE size = $1 \
                 ORDER BY witness LIMIT $2",
            )
            .bind(size)
            .bind(super::witness::MAX_COSIGNATURES as i64)
            .fetch_all(&self.$read)
            .await
            .map_err(|e| self.read_error("cosignatures", e))
        }

        pub(crate) async fn latest_cosigned_size(&self) -> Result<Option<u64>, StorageError> {
            let row: (Option<i64>,) = sqlx::query_as("SELECT MAX(size) FROM cosignatures")
                .fetch_one(&self.$read)
                .await
                .map_err(|e| self.read_error("cosignatures", e))?;
            row.0
                .map(|size| engine::stored_size(&self.location, size))
                .transpose()
        }

        pub(crate) async fn witnessed(
            &self,
            origin: &str,
        ) -> Result<Option<(u64, String)>, StorageError> {
            let row: Option<(i64, String)> =
                sqlx::query_as("SELECT size, note FROM witnessed WHERE origin = $1")
                    .bind(origin)
                    .fetch_optional(&self.$read)
                    .await
                    .map_err(|e| self.read_error("witnessed checkpoint", e))?;
            row.map(|(size, note)| Ok((engine::stored_size(&self.location, size)?, note)))
                .transpose()
        }

        pub(crate) async fn witnessed_all(
            &self,
        ) -> Result<Vec<(String, u64, String)>, StorageError> {
            let rows: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT origin, size, note FROM witnessed ORDER BY origin LIMIT 100000",
            )
            .fetch_all(&self.$read)
            .await
            .map_err(|e| self.read_error("witnessed checkpoints", e))?;
            rows.into_iter()
                .map(|(origin, size, note)| {
                    Ok((origin, engine::stored_size(&self.location, size)?, note))
                })
                .collect()
        }

        pub(crate) async fn evidence_after(
            &self,
            id: i64,
            limit: u32,
        ) -> Result<Vec<super::witness::EvidenceRecord>, StorageError> {
            type Row = (i64, String, String, String, String, String, i64);
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT id, origin, kind, first, second, detail, recorded_at_unix_ms \
                 FROM evidence WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.$read)
            .await
            .map_err(|e| self.read_error("evidence", e))?;
            rows.into_iter()
                .map(|(id, origin, kind, first, second, detail, at)| {
                    Ok(super::witness::EvidenceRecord {
                        id: engine::stored_size(&self.location, id)?,
                        origin,
                        kind,
                        first,
                        second,
                        detail,
                        recorded_at_unix_ms: at,
                    })
                })
                .collect()
        }

        /// Runs one write to the log's side tables; returns the evidence
        /// id for evidence, else 0.
        pub(crate) async fn log_write(
            &self,
            write: &super::witness::LogWrite,
            now_unix_ms: i64,
        ) -> Result<u64, StorageError> {
            use super::witness::LogWrite;
            match write {
                LogWrite::Checkpoint { size, note } => {
                    self.insert_checkpoint(*size, note, now_unix_ms).await
                }
                LogWrite::Cosignature {
                    size,
                    witness,
                    line,
                } => {
                    self.insert_cosignature(*size, witness, line, now_unix_ms)
                        .await
                }
                LogWrite::Witnessed {
                    origin,
                    previous,
                    size,
                    note,
                } => {
                    self.set_witnessed(origin, previous.as_ref(), *size, note, now_unix_ms)
                        .await
                }
                LogWrite::Evidence {
                    origin,
                    kind,
                    first,
                    second,
                    detail,
                } => {
                    self.insert_evidence([origin, kind, first, second, detail], now_unix_ms)
                        .await
                }
            }
        }

        /// Store a signed checkpoint of `size` in a transaction of its own
        /// ([`checkpoint_sql!`]'s `insert_checkpoint`). The writer stores
        /// the checkpoints it signs in its journal batches instead.
        async fn insert_checkpoint(
            &self,
            size: u64,
            note: &str,
            now_unix_ms: i64,
        ) -> Result<u64, StorageError> {
            let mut batch = self.begin_batch().await?;
            let stored = batch.insert_checkpoint(size, note, now_unix_ms).await?;
            batch.commit().await?;
            super::witness::checkpoint_stored(size, stored).map(|()| 0)
        }

        /// Store a witness's cosignature of the checkpoint of `size`; the
        /// witness's first cosignature is kept, and at most
        /// `MAX_COSIGNATURES` per checkpoint.
        async fn insert_cosignature(
            &self,
            size: u64,
            witness: &str,
            line: &str,
            now_unix_ms: i64,
        ) -> Result<u64, StorageError> {
            use super::witness::MAX_COSIGNATURES;

            const OP: &str = "cosignature insert";
            let fail = |e| self.write_error(OP, e);
            let db_size = super::witness::log_size(size)?;
            let done = sqlx::query(
                "INSERT INTO cosignatures (size, witness, line, received_at_unix_ms) \
                 SELECT $1, $2, $3, $4 \
                 WHERE EXISTS (SELECT 1 FROM checkpoints WHERE size = $1) \
                 AND (SELECT COUNT(*) FROM cosignatures WHERE size = $1) < $5 \
                 ON CONFLICT (size, witness) DO NOTHING",
            )
            .bind(db_size)
            .bind(witness)
            .bind(line)
            .bind(now_unix_ms)
            .bind(MAX_COSIGNATURES as i64)
            .execute(&self.$write)
            .await
            .map_err(fail)?;
            if done.rows_affected() == 1 {
                return Ok(0);
            }
            let (checkpoint, stored): (bool, bool) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE size = $1), \
                 EXISTS (SELECT 1 FROM cosignatures WHERE size = $1 AND witness = $2)",
            )
            .bind(db_size)
            .bind(witness)
            .fetch_one(&self.$write)
            .await
            .map_err(fail)?;
            if !checkpoint {
                Err(StorageError::CheckpointMissing { size })
            } else if stored {
                // The witness's first cosignature is kept.
                Ok(0)
            } else {
                Err(StorageError::TooManyCosignatures {
                    size,
                    max: MAX_COSIGNATURES,
                })
            }
        }

        /// Compare-and-set the newest checkpoint witnessed for `origin`:
        /// from `previous` (none: the first) to (`size`, `note`).
        async fn set_witnessed(
            &self,
            origin: &str,
            previous: Option<&(u64, String)>,
            size: u64,
            note: &str,
            now_unix_ms: i64,
        ) -> Result<u64, StorageError> {
            const OP: &str = "witnessed checkpoint compare-and-set";
            let fail = |e| self.write_error(OP, e);
            let db_size = super::witness::log_size(size)?;
            let done = match previous {
                None => sqlx::query(
                    "INSERT INTO witnessed (origin, size, note, updated_at_unix_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (origin) DO NOTHING",
                )
                .bind(origin)
                .bind(db_size)
                .bind(note)
                .bind(now_unix_ms)
                .execute(&self.$write)
                .await
                .map_err(fail)?,
                Some((old_size, old_note)) => sqlx::query(
                    "UPDATE witnessed SET size = $2, note = $3, updated_at_unix_ms = $4 \
                     WHERE origin = $1 AND size = $5 AND note = $6",
                )
                .bind(origin)
                .bind(db_size)
                .bind(note)
                .bind(now_unix_ms)
                .bind(super::witness::log_size(*old_size)?)
                .bind(old_note)
                .execute(&self.$write)
                .await
                .map_err(fail)?,
            };
            if done.rows_affected() == 0 {
                return Err(StorageError::WitnessedConflict {
                    origin: origin.to_owned(),
                });
            }
            Ok(0)
        }

        /// Record evidence (origin, kind, first, second, detail) once;
        /// returns its id (the existing one when recorded before).
        async fn insert_evidence(
            &self,
            [origin, kind, first, second, detail]: [&String; 5],
            now_unix_ms: i64,
        ) -> Result<u64, StorageError> {
            const OP: &str = "evidence insert";
            let fail = |e| self.write_error(OP, e);
            let mut batch = self.begin_batch().await?;
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM evidence WHERE origin = $1 AND kind = $2 \
                 AND first = $3 AND second = $4 ORDER BY id LIMIT 1",
            )
            .bind(origin.as_str())
            .bind(kind.as_str())
            .bind(first.as_str())
            .bind(second.as_str())
            .fetch_optional(batch.conn().await?)
            .await
            .map_err(fail)?;
            let id = match existing {
                Some(id) => id,
                None => sqlx::query_scalar(
                    "INSERT INTO evidence \
                     (origin, kind, first, second, detail, recorded_at_unix_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(origin.as_str())
                .bind(kind.as_str())
                .bind(first.as_str())
                .bind(second.as_str())
                .bind(detail.as_str())
                .bind(now_unix_ms)
                .fetch_one(batch.conn().await?)
                .await
                .map_err(fail)?,
            };
            batch.commit().await?;
            engine::stored_size(&self.location, id)
        }

        /// Runs one `danger` edit under the journal's write lock; returns
        /// the journal rows it changed.
        #[cfg(feature = "danger")]
        pub(crate) async fn danger(
            &self,
            edit: &super::danger::DangerEdit,
        ) -> Result<u64, StorageError> {
            use super::danger::DangerEdit;
            const OP: &str = "danger edit";
            let fail = |e| self.write_error(OP, e);
            let mut batch = self.begin_batch().await?;
            let changed = match edit {
                DangerEdit::OverwriteBody { seq, body } => {
                    sqlx::query("UPDATE journal SET body = $1 WHERE seq = $2")
                        .bind(body.as_slice())
                        .bind(*seq)
                        .execute(batch.conn().await?)
                        .await
                        .map_err(fail)?
                        .rows_affected()
                }
                DangerEdit::DeleteJournalRow { seq } => {
                    sqlx::query("DELETE FROM journal WHERE seq = $1")
                        .bind(*seq)
                        .execute(batch.conn().await?)
                        .await
                        .map_err(fail)?
                        .rows_affected()
                }
                DangerEdit::SwapJournalRows { a, b } => {
                    let mut changed = 0;
                    let rows: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(
                        "SELECT seq, CAST(kind AS BIGINT), recorded_at_unix_ms, body \
                         FROM journal WHERE seq = $1 OR seq = $2",
                    )
                    .bind(*a)
                    .bind(*b)
                    .fetch_all(batch.conn().await?)
                    .await
                    .map_err(fail)?;
                    if let [first, second] = rows.as_slice() {
                        for (to, from) in [(first.0, second), (second.0, first)] {
                            changed += sqlx::query(
                                "UPDATE journal SET kind = $1, recorded_at_unix_ms = $2, \
                                 body = $3 WHERE seq = $4",
                            )
                            .bind(from.1)
                            .bind(from.2)
                            .bind(from.3.as_slice())
                            .bind(to)
                            .execute(batch.conn().await?)
                            .await
                            .map_err(fail)?
                            .rows_affected();
                        }
                    }
                    changed
                }
                DangerEdit::ReplaceCheckpoint { size, note } => {
                    sqlx::query("UPDATE checkpoints SET note = $1 WHERE size = $2")
                        .bind(note.as_str())
                        .bind(*size)
                        .execute(batch.conn().await?)
                        .await
                        .map_err(fail)?
                        .rows_affected()
                }
                DangerEdit::TruncateLog { size, hashes } => {
                    for sql in [
                        "DELETE FROM cosignatures WHERE size > $1",
                        "DELETE FROM checkpoints WHERE size > $1",
                        "DELETE FROM entry_attachments WHERE seq >= $1",
                    ] {
                        sqlx::query(sql)
                            .bind(*size)
                            .execute(batch.conn().await?)
                            .await
                            .map_err(fail)?;
                    }
                    sqlx::query("DELETE FROM tree_hashes WHERE idx >= $1")
                        .bind(*hashes)
                        .execute(batch.conn().await?)
                        .await
                        .map_err(fail)?;
                    sqlx::query("DELETE FROM journal WHERE seq >= $1")
                        .bind(*size)
                        .execute(batch.conn().await?)
                        .await
                        .map_err(fail)?
                        .rows_affected()
                }
            };
            batch.commit().await?;
            Ok(changed)
        }
    };
}

pub(crate) use log_sql;

/// The checkpoint insert of a batch transaction (`SqliteBatch`, `PgBatch`;
/// the direct SQLite batch runs the same statements through rusqlite).
macro_rules! checkpoint_sql {
    (batch: $batch:ty) => {
        impl $batch {
            /// Store the signed checkpoint `note` of `size` in this
            /// transaction. Returns false, changing nothing, if another note
            /// is stored for that size (a fork of this node's own log).
            pub(crate) async fn insert_checkpoint(
                &mut self,
                size: u64,
                note: &str,
                now_unix_ms: i64,
            ) -> Result<bool, StorageError> {
                const OP: &str = "checkpoint insert";
                let db_size = super::witness::log_size(size)?;
                let done = sqlx::query(super::witness::INSERT_CHECKPOINT)
                    .bind(db_size)
                    .bind(note)
                    .bind(now_unix_ms)
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| self.engine.write_error(OP, e))?;
                if done.rows_affected() == 1 {
                    return Ok(true);
                }
                let stored: Option<String> = sqlx::query_scalar(super::witness::STORED_CHECKPOINT)
                    .bind(db_size)
                    .fetch_optional(self.conn().await?)
                    .await
                    .map_err(|e| self.engine.write_error(OP, e))?;
                Ok(stored.as_deref() == Some(note))
            }
        }
    };
}
pub(crate) use checkpoint_sql;
