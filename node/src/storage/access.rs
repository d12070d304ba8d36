//! Claimed appends: the storage side of "no release without a logged
//! request" (replay protection, authorization uses, quotas, attachments).
//! The region's credit records are in [`super::records`].
//!
//! # Claimed appends
//!
//! [`Storage::append_claimed`] writes one journal record and, in the same
//! batch transaction, claims what the request consumes: its nonce, one use
//! of the subject's authorization, one unit of the peer's quota. It is an
//! ordinary member of the group commit: claimed and plain appends share
//! batches, in queue order, and a failed batch rolls back every claim in it.
//!
//! The rules of a claim are on [`AccessClaim`].
//!
//! Deciding before writing (rather than writing first and undoing with a
//! `SAVEPOINT` when the body turns out too long) keeps refused and failed
//! items free of writes, and keeps PostgreSQL transactions free of
//! subtransactions, which cost a round trip each and degrade the server
//! once more than 64 are open in one transaction.

use std::panic::AssertUnwindSafe;

use tokio::sync::oneshot;

use super::attachment::Attachment;
use super::records::{RecordRow, validate_records};
use super::state::StateWrite;
use super::writer::{Append, BuildBody, ClaimedAppend, Command};
use super::{MAX_BODY_LEN, Storage, StorageError};

/// Longest quota peer name (see [`QuotaClaim::peer`]), in bytes.
pub const MAX_QUOTA_PEER_LEN: usize = 128;

/// Largest attachment accepted by [`Storage::append_claimed`], in bytes.
pub const MAX_ATTACHMENT_LEN: usize = 1024 * 1024;

/// What a request consumes when its journal record is appended with
/// [`Storage::append_claimed`].
///
/// [`Storage::append_claimed`] handles a claim inside its batch
/// transaction, under the journal's write lock, in queue order, in three
/// steps:
///
/// 1. **Decide.** One read of the nonce, the authorization's uses and the
///    quota used gives the [`ClaimOutcome`]: [`Replay`](ClaimOutcome::Replay)
///    if the nonce was seen (expired or not: only
///    [`Storage::purge_expired_nonces`] forgets one), else
///    [`AuthorizationUsedUp`](ClaimOutcome::AuthorizationUsedUp) if
///    `uses >= max` (so a maximum of 0 refuses the first use), else
///    [`QuotaExceeded`](ClaimOutcome::QuotaExceeded) if `used >= limit`,
///    else [`Claimed`](ClaimOutcome::Claimed). The transaction sees the
///    claims of earlier items of the same batch.
/// 2. **Build.** The caller's `build(outcome)` returns the journal body. It
///    runs on the writer task while the write lock is held, so it must be
///    cheap and must not block (encode a record; no I/O, no locks). Its
///    output is checked against [`MAX_BODY_LEN`]; if it is too long (or
///    `build` panics), only that caller fails and nothing of its item is
///    written.
/// 3. **Write.** Nothing for a replay. Otherwise the nonce is inserted; for
///    `Claimed` also one authorization use and one unit of quota are
///    counted. A refused request thus consumes its nonce (resending it is a
///    replay) but neither the authorization nor the quota. The writes are
///    guarded (`ON CONFLICT DO NOTHING`, `… DO UPDATE … WHERE uses < max`)
///    and must each change one row; if one does not, a writer that ignores
///    the lock changed the tables in between, and the batch fails with
///    [`StorageError::ClaimRaced`]. Then the attachment, if any, is inserted
///    under the entry's seq, its parts under their digests (`ON CONFLICT DO
///    NOTHING`: decision 1220), and the body joins the batch's journal
///    insert. A replay's entry keeps its attachment too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaim {
    /// The requesting region: six-digit GB/T 2260 code.
    pub requester_region: String,
    /// The request's nonce, unique per requesting region.
    pub nonce: [u8; 16],
    /// Until when the nonce must be remembered: at least the end of the
    /// window in which the request's time is still accepted. Stored with
    /// the nonce; see [`Storage::purge_expired_nonces`].
    pub nonce_expires_at_unix_ms: i64,
    /// The subject's electronic authorization (电子授权) to count one use
    /// of, and how many uses it allows in total.
    pub authorization_use: Option<([u8; 16], u32)>,
    /// The quota to count one unit of.
    pub quota: Option<QuotaClaim>,
}

/// One unit of a peer's quota in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaClaim {
    /// Whom the quota is for (e.g. the requesting region or node); 1 ..=
    /// [`MAX_QUOTA_PEER_LEN`] bytes.
    pub peer: String,
    /// Start of the quota window; the caller chooses the windowing. Each
    /// window counts from zero.
    pub window_start_unix_ms: i64,
    /// Units the peer may use in the window.
    pub limit: u32,
}

/// The result of a claim, decided inside the batch transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimOutcome {
    /// Nonce, authorization use and quota unit are consumed: the request
    /// may be answered.
    Claimed,
    /// The nonce was already used by this requesting region. Nothing was
    /// consumed.
    Replay,
    /// The authorization has no use left. Only the nonce was consumed.
    AuthorizationUsedUp,
    /// The peer's quota for the window is used up. Only the nonce was
    /// consumed.
    QuotaExceeded,
}

/// A journal entry written after a claimed one, in its transaction, only
/// if the claim is [`ClaimOutcome::Claimed`]
/// ([`Storage::append_claimed_then`]), with the flow-state writes it
/// implies.
#[derive(Debug, Clone)]
pub struct EntryOnClaim {
    kind: u16,
    body: Vec<u8>,
    state: Vec<StateWrite>,
}

impl EntryOnClaim {
    /// `entry`, encoded, with `state`.
    pub fn new<E: credex_journal::Entry>(
        entry: &E,
        state: Vec<StateWrite>,
    ) -> Result<EntryOnClaim, StorageError> {
        let encoded = credex_journal::encode(entry)?;
        Ok(EntryOnClaim {
            kind: encoded.kind,
            body: encoded.body,
            state,
        })
    }

    fn validate(&self) -> Result<(), StorageError> {
        if self.body.len() > MAX_BODY_LEN {
            return Err(StorageError::BodyTooLarge {
                len: self.body.len(),
                max: MAX_BODY_LEN,
            });
        }
        super::state::validate(&self.state)
    }
}

impl AccessClaim {
    fn validate(&self) -> Result<(), StorageError> {
        let invalid = |reason: String| Err(StorageError::InvalidClaim { reason });
        if !is_region_code(&self.requester_region) {
            return invalid(format!(
                "requester region {:?} is not a six-digit region code",
                self.requester_region
            ));
        }
        if let Some(quota) = &self.quota
            && (quota.peer.is_empty() || quota.peer.len() > MAX_QUOTA_PEER_LEN)
        {
            return invalid(format!(
                "quota peer must be 1..={MAX_QUOTA_PEER_LEN} bytes, got {}",
                quota.peer.len()
            ));
        }
        Ok(())
    }
}

/// What the store holds for one claim, read inside the batch transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ClaimState {
    /// The nonce is stored for this requesting region.
    pub(crate) nonce_seen: bool,
    /// Uses counted for the authorization (`None`: no row, or no
    /// authorization in the claim).
    pub(crate) authorization_uses: Option<i64>,
    /// Units used in the quota window (`None`: no row, or no quota).
    pub(crate) quota_used: Option<i64>,
}

impl ClaimState {
    /// The outcome of claiming `claim` against this state.
    pub(crate) fn decide(&self, claim: &AccessClaim) -> ClaimOutcome {
        if self.nonce_seen {
            return ClaimOutcome::Replay;
        }
        if let Some((_, max_uses)) = claim.authorization_use
            && self.authorization_uses.unwrap_or(0) >= i64::from(max_uses)
        {
            return ClaimOutcome::AuthorizationUsedUp;
        }
        if let Some(quota) = &claim.quota
            && self.quota_used.unwrap_or(0) >= i64::from(quota.limit)
        {
            return ClaimOutcome::QuotaExceeded;
        }
        ClaimOutcome::Claimed
    }
}

/// Runs the caller's `build` for `outcome` and checks the body it returns.
/// A panic in `build` fails only that caller (the writer task survives).
pub(crate) fn build_body(build: BuildBody, outcome: ClaimOutcome) -> Result<Vec<u8>, StorageError> {
    // Nothing of the writer's state is touched by `build`; a panic leaves
    // only the closure's own captures, which are dropped, behind.
    let body = std::panic::catch_unwind(AssertUnwindSafe(move || build(outcome)))
        .map_err(|_| StorageError::BuildPanicked)?;
    if body.len() > MAX_BODY_LEN {
        return Err(StorageError::BodyTooLarge {
            len: body.len(),
            max: MAX_BODY_LEN,
        });
    }
    Ok(body)
}

fn is_region_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Storage {
    /// Appends a journal record and, in the same transaction, claims what
    /// the request consumes (see [`AccessClaim`] for the exact rules): its nonce, one use of `claim.authorization_use`, one unit of
    /// `claim.quota`. `build` receives the claim's outcome and returns the
    /// journal body to write, so the recorded decision can say "replay" or
    /// "quota exceeded"; it runs on the writer task with the write lock
    /// held and must be cheap. `attachment` (digest, content), if given, is
    /// stored in the same transaction, kept by the record's sequence number
    /// ([`Storage::entry_attachment`] reads it back; the digest is the
    /// caller's, not checked here); a part it shares is stored unless that
    /// digest is already (the first content stored under a digest stays).
    ///
    /// Returns the record's sequence number and the outcome once durable,
    /// like [`Storage::append`]; a failed batch fails every caller in it
    /// and rolls back all of its claims. Fails without writing anything
    /// with [`StorageError::InvalidClaim`], [`StorageError::AttachmentTooLarge`]
    /// (before queueing), [`StorageError::BodyTooLarge`] (the body `build`
    /// returned is longer than [`MAX_BODY_LEN`]) or
    /// [`StorageError::BuildPanicked`]; only that caller fails then.
    ///
    /// Not cancel-safe in effect: once queued, the claim and the record are
    /// written even if the future is dropped; only the outcome is lost, so
    /// a dropped caller must treat the request as not answered. Dropped
    /// while waiting for queue space, nothing is written.
    pub async fn append_claimed(
        &self,
        kind: u16,
        claim: AccessClaim,
        attachment: Option<Attachment>,
        build: impl FnOnce(ClaimOutcome) -> Vec<u8> + Send + 'static,
    ) -> Result<(u64, ClaimOutcome), StorageError> {
        self.append_claimed_with_state(kind, claim, attachment, Vec::new(), build)
            .await
    }

    /// [`Storage::append_claimed`], and in the same transaction the flow
    /// state writes `state` — unless the claim turns out a
    /// [`ClaimOutcome::Replay`], in which case none of them is applied. So
    /// a message delivered twice changes the state once. Fails like
    /// [`Storage::append_claimed`], and with [`StorageError::InvalidState`]
    /// for a write out of bounds (before queueing).
    pub async fn append_claimed_with_state(
        &self,
        kind: u16,
        claim: AccessClaim,
        attachment: Option<Attachment>,
        state: Vec<StateWrite>,
        build: impl FnOnce(ClaimOutcome) -> Vec<u8> + Send + 'static,
    ) -> Result<(u64, ClaimOutcome), StorageError> {
        self.append_claimed_with_records(kind, claim, attachment, state, Vec::new(), build)
            .await
    }

    /// [`Storage::append_claimed_with_state`], and in the same transaction
    /// the credit records `records` upserted as [`Storage::import_records`]
    /// does — unless the claim is a replay. What a received message that
    /// stores records commits: its records, its state and its entry at
    /// once (decision 1050). Fails also with
    /// [`StorageError::InvalidRecord`] or
    /// [`StorageError::TooManyImportRows`] (before queueing).
    pub async fn append_claimed_with_records(
        &self,
        kind: u16,
        claim: AccessClaim,
        attachment: Option<Attachment>,
        state: Vec<StateWrite>,
        records: Vec<RecordRow>,
        build: impl FnOnce(ClaimOutcome) -> Vec<u8> + Send + 'static,
    ) -> Result<(u64, ClaimOutcome), StorageError> {
        self.queue_claimed(kind, claim, attachment, state, records, Vec::new(), build)
            .await
    }

    /// [`Storage::append_claimed`], and in the same transaction, only if
    /// the claim is [`ClaimOutcome::Claimed`], the entries `then` with
    /// their state writes, at the sequence numbers right after the
    /// record's. What a query's answer commits: its access entry and, when
    /// it releases records, their disclosures (decision 1200). Under any
    /// other outcome none of `then` is written. Returns the record's
    /// sequence number; fails like [`Storage::append_claimed`], and with
    /// [`StorageError::BodyTooLarge`] or [`StorageError::InvalidState`]
    /// for an entry of `then` out of bounds (before queueing).
    pub async fn append_claimed_then(
        &self,
        kind: u16,
        claim: AccessClaim,
        attachment: Option<Attachment>,
        then: Vec<EntryOnClaim>,
        build: impl FnOnce(ClaimOutcome) -> Vec<u8> + Send + 'static,
    ) -> Result<(u64, ClaimOutcome), StorageError> {
        self.queue_claimed(kind, claim, attachment, Vec::new(), Vec::new(), then, build)
            .await
    }

    #[allow(clippy::too_many_arguments)] // the parts of one claimed append
    async fn queue_claimed(
        &self,
        kind: u16,
        claim: AccessClaim,
        attachment: Option<Attachment>,
        state: Vec<StateWrite>,
        records: Vec<RecordRow>,
        then: Vec<EntryOnClaim>,
        build: impl FnOnce(ClaimOutcome) -> Vec<u8> + Send + 'static,
    ) -> Result<(u64, ClaimOutcome), StorageError> {
        claim.validate()?;
        super::state::validate(&state)?;
        validate_records(&records)?;
        for entry in &then {
            entry.validate()?;
        }
        if let Some(a) = &attachment
            && a.len() > MAX_ATTACHMENT_LEN
        {
            return Err(StorageError::AttachmentTooLarge {
                len: a.len(),
                max: MAX_ATTACHMENT_LEN,
            });
        }
        let records = self.seal_records(records)?;
        let state = self.seal_state(state)?;
        let then = then
            .into_iter()
            .map(|entry| {
                Ok(super::writer::FollowingEntry {
                    kind: entry.kind,
                    body: entry.body,
                    state: self.seal_state(entry.state)?,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let (attachment, parts, new_parts) = match attachment {
            Some(a) => {
                let rows = self.stored_attachment(a)?;
                (Some(rows.own), rows.parts, rows.new_parts)
            }
            None => (None, Vec::new(), Vec::new()),
        };
        let (reply, answer) = oneshot::channel();
        let append = ClaimedAppend {
            kind,
            claim,
            attachment,
            parts,
            state,
            records,
            then,
            followed_by: 0,
            build: Some(Box::new(build)),
            decision: None,
            reply,
        };
        self.send(Command::Append(Append::Claimed(Box::new(append))))
            .await?;
        self.inner
            .counters
            .accepted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answered = self.answer(answer).await;
        if answered.is_ok() {
            self.inner.recent.parts_stored(new_parts);
        }
        answered
    }

    /// Uses counted so far for an authorization (0 if never used).
    /// Cancel-safe (read only).
    pub async fn authorization_uses(
        &self,
        authorization_id: &[u8; 16],
    ) -> Result<u32, StorageError> {
        self.inner.engine.authorization_uses(authorization_id).await
    }

    /// Units of quota `peer` used in the window starting at
    /// `window_start_unix_ms` (0 if none). Cancel-safe (read only).
    pub async fn quota_used(
        &self,
        peer: &str,
        window_start_unix_ms: i64,
    ) -> Result<u32, StorageError> {
        self.inner
            .engine
            .quota_used(peer, window_start_unix_ms)
            .await
    }

    /// [`Storage::quota_used`] for a decision that a claim will confirm:
    /// the units this process's writer left after its last commit that
    /// claimed from this window, read from memory, else from the store.
    /// Another process of the region may have claimed more since, so this
    /// is a lower bound; the claim, which reads the store under the
    /// journal's lock, has the last word (decision 1160). Cancel-safe.
    pub async fn quota_used_at_least(
        &self,
        peer: &str,
        window_start_unix_ms: i64,
    ) -> Result<u32, StorageError> {
        match self.inner.recent.quota_used(peer, window_start_unix_ms) {
            Some(units) => Ok(u32::try_from(units).unwrap_or(u32::MAX)),
            None => self.quota_used(peer, window_start_unix_ms).await,
        }
    }

    /// Forgets the nonces that expired before `now_unix_ms`
    /// (`expires_at_unix_ms < now_unix_ms`) and returns how many. A nonce
    /// still stored is a replay however old it is; the node refuses stale
    /// requests by their time before claiming, so only nonces of requests
    /// that would be refused as stale anyway may be forgotten. Goes through
    /// the writer queue; returns once durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the purge.
    pub async fn purge_expired_nonces(&self, now_unix_ms: i64) -> Result<u64, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::PurgeNonces { now_unix_ms, reply })
            .await?;
        self.answer(answer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(authorization_use: Option<u32>, quota_limit: Option<u32>) -> AccessClaim {
        AccessClaim {
            requester_region: "520000".into(),
            nonce: [7; 16],
            nonce_expires_at_unix_ms: 0,
            authorization_use: authorization_use.map(|max| ([1; 16], max)),
            quota: quota_limit.map(|limit| QuotaClaim {
                peer: "500000".into(),
                window_start_unix_ms: 0,
                limit,
            }),
        }
    }

    #[test]
    fn decisions_follow_the_documented_order() {
        let fresh = ClaimState::default();
        assert_eq!(fresh.decide(&claim(None, None)), ClaimOutcome::Claimed);
        assert_eq!(
            fresh.decide(&claim(Some(1), Some(1))),
            ClaimOutcome::Claimed
        );
        assert_eq!(
            fresh.decide(&claim(Some(0), Some(1))),
            ClaimOutcome::AuthorizationUsedUp,
            "a maximum of 0 refuses the first use"
        );
        assert_eq!(
            fresh.decide(&claim(Some(1), Some(0))),
            ClaimOutcome::QuotaExceeded
        );
        let seen = ClaimState {
            nonce_seen: true,
            ..ClaimState::default()
        };
        assert_eq!(seen.decide(&claim(Some(0), Some(0))), ClaimOutcome::Replay);
        let used = ClaimState {
            nonce_seen: false,
            authorization_uses: Some(3),
            quota_used: Some(5),
        };
        assert_eq!(
            used.decide(&claim(Some(3), Some(9))),
            ClaimOutcome::AuthorizationUsedUp
        );
        assert_eq!(
            used.decide(&claim(Some(4), Some(5))),
            ClaimOutcome::QuotaExceeded
        );
        assert_eq!(used.decide(&claim(Some(4), Some(6))), ClaimOutcome::Claimed);
    }

    #[test]
    fn oversized_and_panicking_builds_fail() {
        let ok = build_body(Box::new(|_| vec![0; MAX_BODY_LEN]), ClaimOutcome::Claimed);
        assert_eq!(ok.map(|b| b.len()).ok(), Some(MAX_BODY_LEN));
        let big = build_body(
            Box::new(|_| vec![0; MAX_BODY_LEN + 1]),
            ClaimOutcome::Claimed,
        );
        assert!(matches!(big, Err(StorageError::BodyTooLarge { .. })));
        let panics = build_body(
            Box::new(|_| panic!("test build panics")),
            ClaimOutcome::Replay,
        );
        assert!(matches!(panics, Err(StorageError::BuildPanicked)));
    }
}
