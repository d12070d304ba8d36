//! The region's duties lease (decision 1020): which process of a region
//! does, for the whole region, the work that must be done once (outbox
//! delivery, upward reporting, witnessing, the watches).
//!
//! Every process of a region writes the journal; the journal's write lock
//! orders their appends. The lease is one row per duty: its holder, a
//! fencing token and an expiry. A claim runs in a batch transaction, under
//! that same lock, so two claims never interleave. It renews the row for
//! its holder, or takes it when it has expired; the token grows by one at
//! every change of holder. Time is the database server's clock on
//! PostgreSQL (one clock for every process, whatever their own say) and
//! the node's [`Clock`](super::Clock) on SQLite (one process).
//!
//! What this module does not do: decide when to claim or what a holder
//! runs (the node's `duties` module does), or stop a holder that missed
//! its renewal (the holder stops itself, before its lease can expire).

use std::time::Duration;

use tokio::sync::oneshot;

use super::engine::{BatchTx, Engine};
use super::writer::Command;
use super::{Storage, StorageError};

/// Longest holder name accepted, in bytes.
pub const MAX_HOLDER_LEN: usize = 256;

/// The one lease of a region's duties (the table allows others).
pub const DUTIES: &str = "duties";

/// A lease's token as a precondition of writes (decision 1020): a write
/// fenced by it commits only while the lease's token is still this one,
/// checked in the write's own transaction, under the journal lock every
/// claim of the lease also takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The lease.
    pub duty: &'static str,
    /// The token the writer holds it under.
    pub token: u64,
}

impl Storage {
    /// A handle whose plain appends and state writes are fenced by `fence`
    /// (the duties' writes): each commits only while `fence` is current,
    /// and otherwise fails with [`StorageError::Fenced`] alone, leaving the
    /// rest of its batch to commit. Claimed appends, imports, the feed and
    /// the log's side tables are not fenced.
    pub fn fenced(&self, fence: Fence) -> Storage {
        Storage {
            inner: std::sync::Arc::clone(&self.inner),
            fence: Some(fence),
        }
    }
}

/// The current token of each lease a batch's fenced writes name, read once
/// per batch transaction.
#[derive(Default)]
pub(crate) struct FenceCheck {
    tokens: Vec<(&'static str, Option<i64>)>,
}

impl FenceCheck {
    /// `Ok(Ok(()))` if `fence` is current in `tx`, `Ok(Err(why))` if not.
    pub(crate) async fn check(
        &mut self,
        tx: &mut BatchTx,
        fence: Fence,
    ) -> Result<Result<(), StorageError>, StorageError> {
        let current = match self.tokens.iter().find(|(d, _)| *d == fence.duty) {
            Some((_, token)) => *token,
            None => {
                let token = tx.lease_row(fence.duty).await?.map(|r| r.token);
                self.tokens.push((fence.duty, token));
                token
            }
        };
        Ok(stale(fence, current))
    }
}

/// Fail unless `fence` is current in `tx` (a write alone).
pub(crate) async fn check_fence(tx: &mut BatchTx, fence: Fence) -> Result<(), StorageError> {
    FenceCheck::default().check(tx, fence).await?
}

fn stale(fence: Fence, current: Option<i64>) -> Result<(), StorageError> {
    if current.and_then(|t| u64::try_from(t).ok()) == Some(fence.token) {
        Ok(())
    } else {
        Err(StorageError::Fenced {
            duty: fence.duty,
            token: fence.token,
            current: current.and_then(|t| u64::try_from(t).ok()),
        })
    }
}

/// A lease row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseRow {
    pub(crate) holder: String,
    pub(crate) token: i64,
    pub(crate) expires_at_ms: i64,
}

/// What a claim of the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    /// The claimant holds the lease for the time asked, from the claim.
    Held {
        /// The fencing token: the same for every renewal by one holder,
        /// one more at every change of holder.
        token: u64,
        /// Taken now from this holder, whose lease had expired.
        taken_from: Option<String>,
        /// Taken now (first claim ever, or from an expired holder):
        /// the holder has just begun.
        taken: bool,
    },
    /// Another process holds it.
    HeldBy {
        /// Who.
        holder: String,
        /// Its fencing token.
        token: u64,
        /// How long until its lease expires unless renewed.
        expires_in: Duration,
    },
}

/// Decide a claim by `holder` at `now_ms` for `ttl_ms` of the lease as it
/// stands (`row`): the row to write, if any, and the answer.
fn decide(
    row: Option<&LeaseRow>,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
    force: bool,
) -> (Option<LeaseRow>, LeaseClaim) {
    let expires_at_ms = now_ms.saturating_add(ttl_ms);
    let held = |token: i64, taken_from: Option<String>, taken: bool| {
        (
            Some(LeaseRow {
                holder: holder.to_owned(),
                token,
                expires_at_ms,
            }),
            LeaseClaim::Held {
                token: u64::try_from(token).unwrap_or(0),
                taken_from,
                taken,
            },
        )
    };
    match row {
        None => held(1, None, true),
        Some(r) if r.holder == holder => held(r.token, None, false),
        Some(r) if r.expires_at_ms <= now_ms || force => {
            held(r.token.saturating_add(1), Some(r.holder.clone()), true)
        }
        Some(r) => (
            None,
            LeaseClaim::HeldBy {
                holder: r.holder.clone(),
                token: u64::try_from(r.token).unwrap_or(0),
                expires_in: Duration::from_millis(
                    u64::try_from(r.expires_at_ms.saturating_sub(now_ms)).unwrap_or(0),
                ),
            },
        ),
    }
}

/// A claim for `ttl`, or a release (`None`: the holder's lease ends now,
/// so that another takes it at once), for the writer. A forced claim takes
/// the lease from a live holder.
pub(crate) struct LeaseCommand {
    pub(crate) duty: &'static str,
    pub(crate) holder: String,
    pub(crate) ttl: Option<Duration>,
    pub(crate) force: bool,
    pub(crate) reply: oneshot::Sender<Result<Option<LeaseClaim>, StorageError>>,
}

impl Storage {
    /// Claim (take or renew) the lease `duty` for `holder` for `ttl` from
    /// now. Not cancel-safe in effect: dropping the future after it was
    /// queued does not withdraw the claim.
    pub async fn claim_lease(
        &self,
        duty: &'static str,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseClaim, StorageError> {
        self.claim(duty, holder, ttl, false).await
    }

    /// Take the lease `duty` for `holder` for `ttl`, even from a holder
    /// whose lease has not expired: for a process that knows the holder is
    /// dead (on SQLite, which one process opens at a time, a holder other
    /// than itself is a predecessor that crashed).
    pub async fn take_lease(
        &self,
        duty: &'static str,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseClaim, StorageError> {
        self.claim(duty, holder, ttl, true).await
    }

    /// End `holder`'s lease `duty` now (at shutdown), so that another
    /// process takes it at its next claim rather than after the expiry.
    /// A lease `holder` does not hold is left as it is.
    pub async fn release_lease(
        &self,
        duty: &'static str,
        holder: &str,
    ) -> Result<(), StorageError> {
        self.lease(duty, holder, None, false).await.map(drop)
    }

    async fn claim(
        &self,
        duty: &'static str,
        holder: &str,
        ttl: Duration,
        force: bool,
    ) -> Result<LeaseClaim, StorageError> {
        // A claim always answers with a claim (`run`).
        let claim = self.lease(duty, holder, Some(ttl), force).await?;
        claim.ok_or_else(|| StorageError::InvalidLogRecord {
            field: "lease claim",
            reason: "the writer answered a claim as a release".into(),
        })
    }

    async fn lease(
        &self,
        duty: &'static str,
        holder: &str,
        ttl: Option<Duration>,
        force: bool,
    ) -> Result<Option<LeaseClaim>, StorageError> {
        if holder.is_empty() || holder.len() > MAX_HOLDER_LEN {
            return Err(StorageError::InvalidLogRecord {
                field: "lease holder",
                reason: format!("must be 1..={MAX_HOLDER_LEN} bytes, got {}", holder.len()),
            });
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::Lease(LeaseCommand {
            duty,
            holder: holder.to_owned(),
            ttl,
            force,
            reply,
        }))
        .await?;
        self.answer(answer).await
    }
}

/// Run a claim in a batch transaction of its own (under the journal's
/// write lock), for the writer.
pub(crate) async fn run(
    engine: &Engine,
    command: &LeaseCommand,
    clock_now_ms: i64,
) -> Result<Option<LeaseClaim>, StorageError> {
    let mut tx = engine.begin_batch().await?;
    let now = tx.lease_now(clock_now_ms).await?;
    let row = tx.lease_row(command.duty).await?;
    let (write, claim) = match command.ttl {
        // A release: only by the holder, which keeps its token.
        None => {
            let mine = row.filter(|r| r.holder == command.holder);
            let write = mine.map(|r| LeaseRow {
                expires_at_ms: now,
                ..r
            });
            (write, None)
        }
        Some(ttl) => {
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            let (write, claim) = decide(row.as_ref(), &command.holder, now, ttl_ms, command.force);
            (write, Some(claim))
        }
    };
    if let Some(write) = write {
        tx.put_lease(command.duty, &write).await?;
    }
    tx.commit().await?;
    Ok(claim)
}

impl BatchTx {
    async fn lease_now(&mut self, clock_now_ms: i64) -> Result<i64, StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.lease_now(clock_now_ms).await,
            BatchTx::Direct(_) => Ok(clock_now_ms),
            BatchTx::Postgres(tx) => tx.lease_now(clock_now_ms).await,
        }
    }

    async fn lease_row(&mut self, duty: &str) -> Result<Option<LeaseRow>, StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.lease_row(duty).await,
            BatchTx::Direct(tx) => tx.lease_row(duty),
            BatchTx::Postgres(tx) => tx.lease_row(duty).await,
        }
    }

    async fn put_lease(&mut self, duty: &str, row: &LeaseRow) -> Result<(), StorageError> {
        match self {
            BatchTx::Sqlite(tx) => tx.put_lease(duty, row).await,
            BatchTx::Direct(tx) => Err(tx.wrong_batch("a lease claim")),
            BatchTx::Postgres(tx) => tx.put_lease(duty, row).await,
        }
    }
}

/// The lease row's reads and writes for one backend's batch type: the same
/// SQL text on both (`$N` parameters, which sqlx binds on SQLite too); only
/// PostgreSQL locks the row it read (`$lock`), though the journal lock
/// every claim holds already orders them.
macro_rules! lease_sql {
    (batch: $batch:ty, lock: $lock:literal) => {
        impl $batch {
            /// The lease row of `duty`, if any.
            pub(crate) async fn lease_row(
                &mut self,
                duty: &str,
            ) -> Result<Option<crate::storage::lease::LeaseRow>, StorageError> {
                let row: Option<(String, i64, i64)> = sqlx::query_as(concat!(
                    "SELECT holder, token, expires_at_ms FROM region_lease WHERE duty = $1",
                    $lock
                ))
                .bind(duty)
                .fetch_optional(self.conn().await?)
                .await
                .map_err(|e| self.fail(e))?;
                Ok(row.map(
                    |(holder, token, expires_at_ms)| crate::storage::lease::LeaseRow {
                        holder,
                        token,
                        expires_at_ms,
                    },
                ))
            }

            /// Write the lease row of `duty`.
            pub(crate) async fn put_lease(
                &mut self,
                duty: &str,
                row: &crate::storage::lease::LeaseRow,
            ) -> Result<(), StorageError> {
                sqlx::query(
                    "INSERT INTO region_lease (duty, holder, token, expires_at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (duty) DO UPDATE SET \
                     holder = excluded.holder, token = excluded.token, \
                     expires_at_ms = excluded.expires_at_ms",
                )
                .bind(duty)
                .bind(&row.holder)
                .bind(row.token)
                .bind(row.expires_at_ms)
                .execute(self.conn().await?)
                .await
                .map_err(|e| self.fail(e))?;
                Ok(())
            }
        }
    };
}
pub(crate) use lease_sql;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(holder: &str, token: i64, expires_at_ms: i64) -> LeaseRow {
        LeaseRow {
            holder: holder.into(),
            token,
            expires_at_ms,
        }
    }

    #[test]
    fn the_first_claim_takes_the_lease_with_token_one() {
        let (write, claim) = decide(None, "a", 1_000, 5_000, false);
        assert_eq!(write, Some(row("a", 1, 6_000)));
        assert_eq!(
            claim,
            LeaseClaim::Held {
                token: 1,
                taken_from: None,
                taken: true
            }
        );
    }

    #[test]
    fn the_holder_renews_with_the_same_token() {
        let (write, claim) = decide(Some(&row("a", 3, 2_000)), "a", 1_500, 5_000, false);
        assert_eq!(write, Some(row("a", 3, 6_500)));
        assert!(matches!(
            claim,
            LeaseClaim::Held {
                token: 3,
                taken: false,
                ..
            }
        ));
    }

    #[test]
    fn a_forced_claim_takes_a_live_lease_with_the_next_token() {
        let (write, claim) = decide(Some(&row("a", 3, 9_000)), "b", 1_000, 5_000, true);
        assert_eq!(write, Some(row("b", 4, 6_000)));
        assert!(matches!(
            claim,
            LeaseClaim::Held {
                token: 4,
                taken: true,
                ..
            }
        ));
    }

    #[test]
    fn another_waits_until_the_lease_expires_then_takes_it_with_the_next_token() {
        let live = row("a", 3, 2_000);
        let (write, claim) = decide(Some(&live), "b", 1_999, 5_000, false);
        assert_eq!(write, None);
        assert_eq!(
            claim,
            LeaseClaim::HeldBy {
                holder: "a".into(),
                token: 3,
                expires_in: Duration::from_millis(1)
            }
        );
        let (write, claim) = decide(Some(&live), "b", 2_000, 5_000, false);
        assert_eq!(write, Some(row("b", 4, 7_000)));
        assert_eq!(
            claim,
            LeaseClaim::Held {
                token: 4,
                taken_from: Some("a".into()),
                taken: true
            }
        );
    }
}
