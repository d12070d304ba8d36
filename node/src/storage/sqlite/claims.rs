//! SQLite side of a batch's claims (`crate::storage::claims`) on the sqlx
//! write connection: one read for every claim, a few guarded writes for
//! what they took. The writer's group commits claim on the direct
//! connection (`super::direct`), which keeps short-lived nonces in
//! `recent_nonces` and in memory (decision 1210); here every nonce is
//! stored in `nonces`, and both tables are read.

use sqlx::{QueryBuilder, Sqlite};

use super::SqliteBatch;
use crate::storage::StorageError;
use crate::storage::access::{AccessClaim, ClaimState};
use crate::storage::claims::{ClaimLedger, on_kept_conflict};
use crate::storage::engine::{expect_one_row, seq_column};

/// Claims read per statement (six parameters each).
const CLAIMS_PER_READ: usize = 512;

/// Rows written per insert.
const ROWS_PER_INSERT: usize = 512;

impl SqliteBatch {
    /// What the store holds for each of `claims`, in order, as this
    /// transaction sees it (before any of them is taken).
    pub(crate) async fn claim_states(
        &mut self,
        claims: &[&AccessClaim],
    ) -> Result<Vec<ClaimState>, StorageError> {
        let mut out = Vec::with_capacity(claims.len());
        for chunk in claims.chunks(CLAIMS_PER_READ) {
            let mut read =
                QueryBuilder::<Sqlite>::new("WITH c(i, region, nonce, auth, peer, win) AS (");
            read.push_values(chunk.iter().enumerate(), |mut row, (i, c)| {
                row.push_bind(i64::try_from(i).unwrap_or(i64::MAX))
                    .push_bind(c.requester_region.as_str())
                    .push_bind(c.nonce.as_slice())
                    .push_bind(c.authorization_use.as_ref().map(|(id, _)| id.as_slice()))
                    .push_bind(c.quota.as_ref().map(|q| q.peer.as_str()))
                    .push_bind(c.quota.as_ref().map(|q| q.window_start_unix_ms));
            });
            read.push(
                ") SELECT \
                 EXISTS (SELECT 1 FROM nonces n WHERE n.requester_region = c.region AND n.nonce = c.nonce) \
                 OR EXISTS (SELECT 1 FROM recent_nonces r WHERE r.requester_region = c.region AND r.nonce = c.nonce), \
                 (SELECT uses FROM authorization_uses a WHERE a.authorization_id = c.auth), \
                 (SELECT used FROM quota_usage q WHERE q.peer = c.peer AND q.window_start_unix_ms = c.win) \
                 FROM c ORDER BY c.i",
            );
            let rows: Vec<(bool, Option<i64>, Option<i64>)> = read
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
            if rows.len() != chunk.len() {
                return Err(StorageError::ClaimRaced {
                    location: self.engine.location.to_string(),
                });
            }
            out.extend(
                rows.into_iter()
                    .map(|(nonce_seen, authorization_uses, quota_used)| ClaimState {
                        nonce_seen,
                        authorization_uses,
                        quota_used,
                    }),
            );
        }
        Ok(out)
    }

    /// Write what the batch's claims took. Each write is guarded by what
    /// was read: a nonce must be new, a counter must still hold what the
    /// batch read; otherwise [`StorageError::ClaimRaced`] (a writer that
    /// ignores the journal lock) and the batch rolls back.
    pub(crate) async fn take_claims(&mut self, ledger: &ClaimLedger) -> Result<(), StorageError> {
        let location = self.engine.location.clone();
        for chunk in ledger.nonces.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO nonces (requester_region, nonce, expires_at_unix_ms) ",
            );
            insert.push_values(chunk, |mut row, (region, nonce, expires)| {
                row.push_bind(region.as_str())
                    .push_bind(nonce.as_slice())
                    .push_bind(*expires);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            let done = insert
                .build()
                .persistent(false)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
            if done.rows_affected() != chunk.len() as u64 {
                return Err(StorageError::ClaimRaced {
                    location: location.to_string(),
                });
            }
        }
        for (id, c) in &ledger.uses {
            let query = if c.existed {
                sqlx::query(
                    "UPDATE authorization_uses SET uses = ?1 WHERE authorization_id = ?2 AND uses = ?3",
                )
                .bind(c.after())
                .bind(id.as_slice())
                .bind(c.before)
            } else {
                sqlx::query(
                    "INSERT INTO authorization_uses (authorization_id, uses) VALUES (?2, ?1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(c.after())
                .bind(id.as_slice())
            };
            let done = query
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
            expect_one_row(&location, done.rows_affected())?;
        }
        for ((peer, window), c) in &ledger.quota {
            let query = if c.existed {
                sqlx::query(
                    "UPDATE quota_usage SET used = ?1 \
                     WHERE peer = ?2 AND window_start_unix_ms = ?3 AND used = ?4",
                )
                .bind(c.after())
                .bind(peer.as_str())
                .bind(*window)
                .bind(c.before)
            } else {
                sqlx::query(
                    "INSERT INTO quota_usage (peer, window_start_unix_ms, used) VALUES (?2, ?3, ?1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(c.after())
                .bind(peer.as_str())
                .bind(*window)
            };
            let done = query
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
            expect_one_row(&location, done.rows_affected())?;
        }
        for chunk in ledger.attachments.chunks(ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO attachments (digest, body, assembled) ");
            insert.push_values(chunk, |mut row, a| {
                row.push_bind(a.digest.as_slice())
                    .push_bind(a.body.as_slice())
                    .push_bind(a.assembled);
            });
            insert.push(" ON CONFLICT (digest) DO NOTHING");
            insert
                .build()
                .persistent(false)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
        }
        for chunk in ledger.kept.chunks(ROWS_PER_INSERT) {
            let seqs = chunk
                .iter()
                .map(|(seq, _)| seq_column(&location, *seq))
                .collect::<Result<Vec<i64>, StorageError>>()?;
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO entry_attachments (seq, digest, body, assembled) ",
            );
            insert.push_values(chunk.iter().zip(seqs), |mut row, ((_, a), seq)| {
                row.push_bind(seq)
                    .push_bind(a.digest.as_slice())
                    .push_bind(a.body.as_slice())
                    .push_bind(a.assembled);
            });
            insert.push(on_kept_conflict!());
            insert
                .build()
                .persistent(false)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }
}
