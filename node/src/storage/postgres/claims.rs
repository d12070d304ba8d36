//! PostgreSQL side of a batch's claims (`crate::storage::claims`): one read
//! for every claim, and guarded writes for what they took, held for the
//! batch's one statement of writes (`super::pending`). The read takes
//! arrays (`UNNEST`), so its text is fixed: one round trip on a statement
//! prepared once per connection.

use super::PgBatch;
use crate::storage::StorageError;
use crate::storage::access::{AccessClaim, ClaimState};
use crate::storage::claims::ClaimLedger;

/// What the store holds for each claim of a batch, in the claims' order:
/// whether its nonce was seen, its authorization's uses, its quota window's
/// use. The claims come as parallel arrays. Each lookup is a `LATERAL`
/// subquery with `LIMIT 1`, so it is an index probe per claim whatever the
/// planner thought of the tables' sizes when it cached the plan: as plain
/// subqueries, a plan made while `nonces` was small hashed the whole table
/// on every batch, a cost that grew with the nonces kept (decision 1160).
/// (The batch's next seq comes with its `BEGIN`: decision 1330.)
const CLAIM_STATES: &str = "SELECT n.seen IS NOT NULL, a.uses, q.used \
     FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::int8[]) \
     WITH ORDINALITY AS c(region, nonce, auth, peer, win, i) \
     LEFT JOIN LATERAL (SELECT true AS seen FROM nonces \
         WHERE requester_region = c.region AND nonce = c.nonce LIMIT 1) n ON true \
     LEFT JOIN LATERAL (SELECT uses FROM authorization_uses \
         WHERE authorization_id = c.auth LIMIT 1) a ON true \
     LEFT JOIN LATERAL (SELECT used FROM quota_usage \
         WHERE peer = c.peer AND window_start_unix_ms = c.win LIMIT 1) q ON true \
     ORDER BY c.i";

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
            .fetch_all(self.conn().await?)
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

    /// Hold what the batch's claims took for the batch's one statement of
    /// writes ([`super::pending`]). Each write is guarded by what was read:
    /// a nonce must be new, a counter must still hold what the batch read;
    /// otherwise [`StorageError::ClaimRaced`] (a writer that ignores the
    /// journal lock), when the writes are sent, and the batch rolls back.
    pub(crate) async fn take_claims(&mut self, ledger: &ClaimLedger) -> Result<(), StorageError> {
        if self.pending.has_claims() {
            // The guards of these claims read what the held ones write.
            self.conn().await?;
        }
        let location = self.engine.location.clone();
        self.pending.hold_claims(ledger, &location)
    }
}
