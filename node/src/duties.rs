//! The region's duties (decision 1020): the work one process does for the
//! whole region, however many processes serve it.
//!
//! Every process of a region answers peers, gateway clients and officers,
//! and appends to the one journal (the journal's write lock orders their
//! appends). Some work must be done once per region: delivering the outbox
//! (joint reward/punishment, recognition, corrections), reporting upward,
//! having peers witness the log, and the objection, repair and deadline
//! watches. One process at a time does it: the holder of the duties lease
//! ([`crate::storage::LeaseClaim`]).
//!
//! Each process claims the lease every [`RENEW_EVERY`] for [`LEASE_TTL`].
//! A process that takes it journals [`credex_journal::DutiesTaken`] (the
//! fencing token and whom it took them from) and only then starts the
//! duties, so that the log shows every holder (the auditor checks the
//! tokens, `credex_audit::duties`); a
//! holder that has not renewed for [`STOP_AFTER`] stops them, before its
//! lease can expire and another process may take it. A holder that stops
//! cleanly releases the lease, so another takes over at its next claim.
//! With one process (SQLite, or one PostgreSQL process) it holds the lease
//! from its first claim on; on SQLite, which one process opens at a time,
//! it takes the lease at once even from a predecessor that crashed, and a
//! late renewal does not stop its duties (no other process could take them).
//!
//! What this module does not do: run anything itself. The node hands it
//! the function that starts the duties on a tracker and a cancellation
//! token of their own ([`work::region_duties`] names them).

pub mod work;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::{Backend, DUTIES, Fence, LeaseClaim, Storage};

/// How long a claim holds the lease.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// How often each process claims the lease (the holder renews it).
pub const RENEW_EVERY: Duration = Duration::from_secs(1);

/// A holder that has not renewed for this long (measured from before its
/// last successful claim was sent) stops its duties: well before
/// [`LEASE_TTL`], so that no other process can take them while it still
/// runs them. The margin covers a stopping duty's last step.
pub const STOP_AFTER: Duration = Duration::from_secs(3);

/// How long a stopping holder waits for its duties to end.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What starts the duties: on the tracker given, until the token given is
/// cancelled, their writes fenced by the lease's token given.
pub type Start = Box<dyn Fn(&TaskTracker, CancellationToken, Fence) + Send + Sync>;

/// This process's view of the region's duties.
#[derive(Clone, Debug)]
pub struct Duties {
    holder: Arc<str>,
    token: watch::Receiver<Option<u64>>,
    /// Whether the first claim has been answered.
    claimed: watch::Receiver<bool>,
}

impl Duties {
    /// Start claiming the lease as `holder` (a name unique to this
    /// process) and run `start`'s duties while this process holds it.
    /// Ends, releasing the lease, when `shutdown` is cancelled.
    pub fn spawn(
        storage: Storage,
        holder: String,
        start: Start,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Duties {
        let (tx, rx) = watch::channel(None);
        let (claimed_tx, claimed) = watch::channel(false);
        let holder: Arc<str> = holder.into();
        let keeper = Keeper {
            token: tx,
            claimed: claimed_tx,
        };
        tracker.spawn(keep(storage, Arc::clone(&holder), start, keeper, shutdown));
        Duties {
            holder,
            token: rx,
            claimed,
        }
    }

    /// The name this process claims the lease under.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease's fencing token while this process holds the duties.
    pub fn token(&self) -> Option<u64> {
        *self.token.borrow()
    }

    /// Every change of [`Duties::token`] from now on: `None` while this
    /// process does not run the duties (stopped, or held by another).
    pub fn watch(&self) -> watch::Receiver<Option<u64>> {
        let mut rx = self.token.clone();
        rx.mark_unchanged();
        rx
    }

    /// Wait until this process holds the duties (or the node stops:
    /// `None`). Cancel-safe.
    pub async fn held(&self) -> Option<u64> {
        let mut rx = self.token.clone();
        rx.wait_for(Option::is_some).await.ok().and_then(|t| *t)
    }

    /// Wait until the first claim is answered: this process then holds
    /// the duties, with its take in the log, or knows another does.
    /// Cancel-safe.
    pub async fn first_claim(&self) {
        let mut rx = self.claimed.clone();
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// What the keeper task tells the [`Duties`] handles.
struct Keeper {
    token: watch::Sender<Option<u64>>,
    claimed: watch::Sender<bool>,
}

/// A name for this process that no other process of the region shares,
/// now or after a restart: its listen address, process id and start time.
pub fn holder_name(listen: std::net::SocketAddr, started_at_ms: i64) -> String {
    format!("{listen}/{}/{started_at_ms}", std::process::id())
}

/// The duties running in this process.
struct Running {
    token: u64,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Running {
    async fn stop(self, why: &str) {
        tracing::info!(token = self.token, why, "stopping the region's duties");
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(STOP_WAIT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!("the region's duties did not stop within 10 s");
        }
    }
}

async fn keep(
    storage: Storage,
    holder: Arc<str>,
    start: Start,
    keeper: Keeper,
    shutdown: CancellationToken,
) {
    let token = keeper.token;
    let mut running: Option<Running> = None;
    let mut renewed: Option<Instant> = None;
    // A take not yet in the log: (token, previous holder).
    let mut unjournaled: Option<(u64, Option<String>)> = None;
    // SQLite is opened by one process at a time: a holder other than this
    // process is one that crashed, and need not be waited out; and no other
    // process can take the duties while this one runs, so a renewal that
    // comes back late (queued behind a large import in the writer) is no
    // reason to stop them.
    let exclusive = storage.backend() == Backend::Sqlite;
    let mut take = exclusive;
    loop {
        let asked = Instant::now();
        let claiming = async {
            if std::mem::take(&mut take) {
                storage.take_lease(DUTIES, &holder, LEASE_TTL).await
            } else {
                storage.claim_lease(DUTIES, &holder, LEASE_TTL).await
            }
        };
        let claim = tokio::select! {
            _ = shutdown.cancelled() => break,
            claim = claiming => claim,
        };
        match claim {
            Ok(LeaseClaim::Held {
                token: t,
                taken_from,
                taken,
            }) => {
                renewed = Some(asked);
                if taken {
                    unjournaled = Some((t, taken_from));
                }
                // The duties start only once the log shows who took them.
                if let Some((t, from)) = unjournaled.take()
                    && let Err(e) = journal_taken(&storage, &holder, t, from.clone()).await
                {
                    tracing::warn!(error = %e, "could not journal that this process took the region's duties; trying again");
                    unjournaled = Some((t, from));
                }
                if running.is_none() && unjournaled.is_none() {
                    tracing::info!(holder = %holder, token = t, "this process does the region's duties");
                    let stop = shutdown.child_token();
                    let tasks = TaskTracker::new();
                    start(
                        &tasks,
                        stop.clone(),
                        Fence {
                            duty: DUTIES,
                            token: t,
                        },
                    );
                    running = Some(Running {
                        token: t,
                        stop,
                        tasks,
                    });
                    token.send_replace(Some(t));
                }
            }
            Ok(LeaseClaim::HeldBy {
                holder: other,
                token: t,
                ..
            }) => {
                // A take this process could not journal is another's now.
                unjournaled = None;
                if let Some(r) = running.take() {
                    token.send_replace(None);
                    r.stop(&format!("{other} holds the duties (token {t})"))
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not claim the region's duties"),
        }
        keeper
            .claimed
            .send_if_modified(|c| !std::mem::replace(c, true));
        if !exclusive
            && renewed.is_none_or(|at| at.elapsed() >= STOP_AFTER)
            && let Some(r) = running.take()
        {
            token.send_replace(None);
            r.stop("the lease could not be renewed in time").await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RENEW_EVERY.saturating_sub(asked.elapsed())) => {}
        }
    }
    if let Some(r) = running.take() {
        token.send_replace(None);
        r.stop("the node is stopping").await;
        if let Err(e) = storage.release_lease(DUTIES, &holder).await {
            tracing::warn!(error = %e, "could not release the region's duties");
        }
    }
}

/// Journal that this process took the duties.
async fn journal_taken(
    storage: &Storage,
    holder: &str,
    token: u64,
    previous: Option<String>,
) -> Result<(), crate::storage::StorageError> {
    let entry = credex_journal::DutiesTaken {
        version: credex_journal::ENTRY_VERSION,
        at_ms: storage.clock().now_ms(),
        holder: holder.to_owned(),
        token,
        previous,
    };
    storage.append_entry(&entry).await.map(drop)
}
