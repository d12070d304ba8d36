//! PostgreSQL side of a batch's claims (`crate::storage::claims`): one read
//! for every claim, a few guarded writes for what they took. Batch-sized
//! statements take arrays (`UNNEST`), so their text is fixed: one round trip
//! each, on a statement prepared once per connection.

use super::PgBatch;
use crate::storage::StorageError;
use crate::storage::access::{AccessClaim, ClaimState};
use crate::storage::claims::{ClaimLedger, Counted};
use crate::storage::engine::expect_one_row;

/// What the store holds for each claim of a batch, in the claims' order:
/// whether its nonce was seen, its authorization's uses, its quota window's
/// use. The claims come as parallel arrays.
const CLAIM_STATES: &str = "SELECT \
     EXISTS (SELECT 1 FROM nonces n WHERE n.requester_region = c.region AND n.nonce = c.nonce), \
     (SELECT uses FROM authorization_uses a WHERE a.authorization_id = c.auth), \
     (SELECT used FROM quota_usage q WHERE q.peer = c.peer AND q.window_start_unix_ms = c.win) \
     FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::int8[]) \
     WITH ORDINALITY AS c(region, nonce, auth, peer, win, i) ORDER BY c.i";

impl PgBatch {
    /// What the store holds for each of `claims`, in order, as this
    /// transaction sees it (before any of them is taken).
    pub(crate) async fn claim_states(
        &mut self,
        claims: &[&AccessClaim],
    ) -> Result<Vec<ClaimState>, StorageError> {
        // One statement of fixed text over arrays (one round trip, a
        // prepared plan), whatever the batch's size.
        let regions: Vec<&str> = claims.iter().map(|c| c.requester_region.as_str()).collect();
        let nonces: Vec<&[u8]> = claims.iter().map(|c| c.nonce.as_slice()).collect();
        let auths: Vec<Option<&[u8]>> = claims
            .iter()
            .map(|c| c.authorization_use.as_ref().map(|(id, _)| id.as_slice()))
            .collect();
        let peers: Vec<Option<&str>> = claims
            .iter()
            .map(|c| c.quota.as_ref().map(|q| q.peer.as_str()))
            .collect();
        let windows: Vec<Option<i64>> = claims
            .iter()
            .map(|c| c.quota.as_ref().map(|q| q.window_start_unix_ms))
            .collect();
        let rows: Vec<(bool, Option<i64>, Option<i64>)> = sqlx::query_as(CLAIM_STATES)
            .bind(regions)
            .bind(nonces)
            .bind(auths)
            .bind(peers)
            .bind(windows)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        if rows.len() != claims.len() {
            return Err(StorageError::ClaimRaced {
                location: self.engine.location.to_string(),
            });
        }
        Ok(rows
            .into_iter()
            .map(|(nonce_seen, authorization_uses, quota_used)| ClaimState {
                nonce_seen,
                authorization_uses,
                quota_used,
            })
            .collect())
    }

    /// Write what the batch's claims took. Each write is guarded by what
    /// was read: a nonce must be new, a counter must still hold what the
    /// batch read; otherwise [`StorageError::ClaimRaced`] (a writer that
    /// ignores the journal lock) and the batch rolls back.
    pub(crate) async fn take_claims(&mut self, ledger: &ClaimLedger) -> Result<(), StorageError> {
        let location = self.engine.location.clone();
        if !ledger.nonces.is_empty() {
            let regions: Vec<&str> = ledger.nonces.iter().map(|(r, _, _)| r.as_str()).collect();
            let nonces: Vec<&[u8]> = ledger.nonces.iter().map(|(_, n, _)| n.as_slice()).collect();
            let expires: Vec<i64> = ledger.nonces.iter().map(|(_, _, e)| *e).collect();
            let done = sqlx::query(
                "INSERT INTO nonces (requester_region, nonce, expires_at_unix_ms) \
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::int8[]) ON CONFLICT DO NOTHING",
            )
            .bind(regions)
            .bind(nonces)
            .bind(expires)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
            if done.rows_affected() != ledger.nonces.len() as u64 {
                return Err(StorageError::ClaimRaced {
                    location: location.to_string(),
                });
            }
        }
        for (id, c) in &ledger.uses {
            let query = if c.existed {
                sqlx::query(
                    "UPDATE authorization_uses SET uses = $1 WHERE authorization_id = $2 AND uses = $3",
                )
                .bind(after(c))
                .bind(id.as_slice())
                .bind(c.before)
            } else {
                sqlx::query(
                    "INSERT INTO authorization_uses (authorization_id, uses) VALUES ($2, $1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(after(c))
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
                    "UPDATE quota_usage SET used = $1 \
                     WHERE peer = $2 AND window_start_unix_ms = $3 AND used = $4",
                )
                .bind(after(c))
                .bind(peer.as_str())
                .bind(*window)
                .bind(c.before)
            } else {
                sqlx::query(
                    "INSERT INTO quota_usage (peer, window_start_unix_ms, used) VALUES ($2, $3, $1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(after(c))
                .bind(peer.as_str())
                .bind(*window)
            };
            let done = query
                .execute(&mut *self.tx)
                .await
                .map_err(|e| self.fail(e))?;
            expect_one_row(&location, done.rows_affected())?;
        }
        if !ledger.attachments.is_empty() {
            let digests: Vec<&[u8]> = ledger
                .attachments
                .iter()
                .map(|(d, _)| d.as_slice())
                .collect();
            let bodies: Vec<&[u8]> = ledger
                .attachments
                .iter()
                .map(|(_, b)| b.as_slice())
                .collect();
            sqlx::query(
                "INSERT INTO attachments (digest, body) \
                 SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digests)
            .bind(bodies)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }
}

/// The counter's value once the batch's uses are added (the ledger decided
/// each against the maximum).
fn after(c: &Counted) -> i64 {
    c.before + c.added
}
