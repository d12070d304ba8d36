//! The claims of one group commit, decided and written together
//! ([`super::access`] states the rules of one claim).
//!
//! The writer reads what the store holds for every claim of a batch in one
//! statement, then decides the claims in queue order against that read
//! plus what earlier items of the same batch took ([`ClaimLedger`]), and
//! writes what they took in a few statements at the end of the batch: the
//! nonces in one insert, each authorization's and each quota window's
//! uses in one guarded upsert per key, the attachments in one insert per
//! table (by entry, and parts by digest). So a
//! batch of n claimed appends costs a handful of statements rather than
//! about five per item (issue 18 §1), with the same outcomes as one by one.

use std::collections::{BTreeMap, HashSet};

use super::access::{AccessClaim, ClaimOutcome, ClaimState};
use super::attachment::Stored;

/// How an insert into `entry_attachments` treats a row already at its seq:
/// replaced. The journal row of that seq is written in the same
/// transaction, so such a row can only be one an operator left behind when
/// the journal row it belonged to was deleted; the entry written now owns
/// the seq. A literal, so that `concat!` can take it.
macro_rules! on_kept_conflict {
    () => {
        " ON CONFLICT (seq) DO UPDATE SET digest = excluded.digest, \
         body = excluded.body, assembled = excluded.assembled"
    };
}
pub(crate) use on_kept_conflict;

/// What the claims decided so far in a batch take, and what the store held
/// before the batch for the keys they touch.
#[derive(Debug, Default)]
pub(crate) struct ClaimLedger {
    /// When the batch claims (its journal time): SQLite keeps a nonce that
    /// expires within a day of it in memory (decision 1210).
    pub(crate) claimed_at_unix_ms: i64,
    /// Nonces to insert: (requester region, nonce, expiry).
    pub(crate) nonces: Vec<(String, [u8; 16], i64)>,
    seen: HashSet<(String, [u8; 16])>,
    /// Per authorization: (uses before the batch, uses added, maximum).
    pub(crate) uses: BTreeMap<[u8; 16], Counted>,
    /// Per (peer, window start): (units before the batch, added, limit).
    pub(crate) quota: BTreeMap<(String, i64), Counted>,
    /// Attachment rows to store by digest (parts), each digest once.
    pub(crate) attachments: Vec<Stored>,
    attached: HashSet<[u8; 32]>,
    /// Attachment rows to store by the seq of the entry that carries each
    /// (decision 1220), in seq order.
    pub(crate) kept: Vec<(u64, Stored)>,
}

/// A counter a batch adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    /// What the store held before the batch (0 when no row).
    pub(crate) before: i64,
    /// What the batch adds.
    pub(crate) added: i64,
    /// The most it may reach.
    pub(crate) max: i64,
    /// Whether the store had a row before the batch.
    pub(crate) existed: bool,
}

impl Counted {
    /// The counter's value once the batch's units are added (the ledger
    /// decided each against the maximum).
    pub(crate) fn after(&self) -> i64 {
        self.before + self.added
    }
}

impl ClaimLedger {
    /// An empty ledger for a batch whose journal time is `claimed_at_unix_ms`.
    pub(crate) fn claiming_at(claimed_at_unix_ms: i64) -> ClaimLedger {
        ClaimLedger {
            claimed_at_unix_ms,
            ..ClaimLedger::default()
        }
    }

    /// `base` (what the store held before the batch for `claim`) with what
    /// earlier claims of the batch took.
    pub(crate) fn state(&self, claim: &AccessClaim, base: &ClaimState) -> ClaimState {
        let nonce_seen = base.nonce_seen
            || self
                .seen
                .contains(&(claim.requester_region.clone(), claim.nonce));
        let authorization_uses = match &claim.authorization_use {
            Some((id, _)) => match self.uses.get(id) {
                Some(c) => Some(c.before + c.added),
                None => base.authorization_uses,
            },
            None => base.authorization_uses,
        };
        let quota_used = match &claim.quota {
            Some(q) => match self.quota.get(&(q.peer.clone(), q.window_start_unix_ms)) {
                Some(c) => Some(c.before + c.added),
                None => base.quota_used,
            },
            None => base.quota_used,
        };
        ClaimState {
            nonce_seen,
            authorization_uses,
            quota_used,
        }
    }

    /// Record what `outcome` (not a replay) takes for `claim`, whose store
    /// state before the batch was `base`.
    pub(crate) fn take(&mut self, claim: &AccessClaim, outcome: ClaimOutcome, base: &ClaimState) {
        if outcome == ClaimOutcome::Replay {
            return;
        }
        self.seen
            .insert((claim.requester_region.clone(), claim.nonce));
        self.nonces.push((
            claim.requester_region.clone(),
            claim.nonce,
            claim.nonce_expires_at_unix_ms,
        ));
        if outcome != ClaimOutcome::Claimed {
            return;
        }
        if let Some((id, max)) = &claim.authorization_use {
            self.uses
                .entry(*id)
                .or_insert(Counted {
                    before: base.authorization_uses.unwrap_or(0),
                    added: 0,
                    max: i64::from(*max),
                    existed: base.authorization_uses.is_some(),
                })
                .added += 1;
        }
        if let Some(q) = &claim.quota {
            self.quota
                .entry((q.peer.clone(), q.window_start_unix_ms))
                .or_insert(Counted {
                    before: base.quota_used.unwrap_or(0),
                    added: 0,
                    max: i64::from(q.limit),
                    existed: base.quota_used.is_some(),
                })
                .added += 1;
        }
    }

    /// Store `attachment` with the batch, once per digest.
    pub(crate) fn attach(&mut self, attachment: Stored) {
        if self.attached.insert(attachment.digest) {
            self.attachments.push(attachment);
        }
    }

    /// Store `attachment` with the batch, kept by entry `seq`, the one that
    /// carries it.
    pub(crate) fn keep(&mut self, seq: u64, attachment: Stored) {
        self.kept.push((seq, attachment));
    }

    /// Nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.nonces.is_empty() && self.attachments.is_empty() && self.kept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::access::QuotaClaim;

    fn claim(nonce: u8, auth: Option<(u8, u32)>, limit: u32) -> AccessClaim {
        AccessClaim {
            requester_region: "520000".into(),
            nonce: [nonce; 16],
            nonce_expires_at_unix_ms: 1,
            authorization_use: auth.map(|(id, max)| ([id; 16], max)),
            quota: Some(QuotaClaim {
                peer: "520000".into(),
                window_start_unix_ms: 0,
                limit,
            }),
        }
    }

    /// Decide `claims` in order against `base` the way the writer does.
    fn decide_all(claims: &[AccessClaim], base: &ClaimState) -> (Vec<ClaimOutcome>, ClaimLedger) {
        let mut ledger = ClaimLedger::default();
        let outcomes = claims
            .iter()
            .map(|c| {
                let outcome = ledger.state(c, base).decide(c);
                ledger.take(c, outcome, base);
                outcome
            })
            .collect();
        (outcomes, ledger)
    }

    #[test]
    fn later_claims_of_a_batch_see_what_earlier_ones_took() {
        let empty = ClaimState {
            nonce_seen: false,
            authorization_uses: None,
            quota_used: Some(1),
        };
        let claims = [
            claim(1, Some((9, 2)), 4),
            claim(1, Some((9, 2)), 4), // the same nonce again: a replay
            claim(2, Some((9, 2)), 4), // the authorization's second use
            claim(3, Some((9, 2)), 4), // a third: used up, nonce still taken
            claim(4, None, 4),         // quota: 1 before + 2 taken = 3, under 4
            claim(5, None, 4),         // now 4: exceeded
        ];
        let (outcomes, ledger) = decide_all(&claims, &empty);
        assert_eq!(
            outcomes,
            vec![
                ClaimOutcome::Claimed,
                ClaimOutcome::Replay,
                ClaimOutcome::Claimed,
                ClaimOutcome::AuthorizationUsedUp,
                ClaimOutcome::Claimed,
                ClaimOutcome::QuotaExceeded,
            ]
        );
        assert_eq!(ledger.nonces.len(), 5, "every non-replay takes its nonce");
        let uses = ledger.uses[&[9; 16]];
        assert_eq!((uses.before, uses.added, uses.existed), (0, 2, false));
        let quota = ledger.quota[&("520000".to_owned(), 0)];
        assert_eq!((quota.before, quota.added, quota.existed), (1, 3, true));
    }
}
