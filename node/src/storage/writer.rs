//! The single writer task: group commit of journal appends (plain and
//! claimed), and the other writes in queue order.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use credex_protocol::tlog::stored_hash_count;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::access::{AccessClaim, ClaimOutcome, ClaimState, build_body};
use super::claims::ClaimLedger;
#[cfg(feature = "danger")]
use super::danger::DangerEdit;
use super::engine::{BatchTx, Engine, JournalRow};
use super::records::RecordRow;
use super::state::StateWrite;
use super::subjects::{SubjectAlias, SubjectRow};
use super::tree::{self, HeadSender, TreeState, record_leaf_hash};
use super::witness::LogWrite;
use super::{Clock, Counters, MAX_BATCH_BYTES, PeerSighting, StorageError};

/// How many times in a row the writer yields to the scheduler on an empty
/// queue while collecting a batch under concurrent load. Yields cost
/// microseconds, where a timer would cost a millisecond (tokio's timer
/// resolution) — more than an fsync on a fast disk.
const MAX_IDLE_YIELDS: u32 = 4;

mod batch;
mod pace;
mod priority;

pub(crate) use batch::{Append, AppendCommand, BuildBody, ClaimedAppend, FollowingEntry};
use batch::{Batch, CheckpointWrite, answer_checkpoints, insert_checkpoints, store_checkpoints};

/// One queued write.
pub(crate) enum Command {
    /// Append one journal record, plain or claimed; appends are batched.
    Append(Append),
    /// Upsert a peer.
    RecordPeer {
        sighting: PeerSighting,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Import credit records in one transaction.
    ImportRecords {
        rows: Vec<RecordRow>,
        /// The natural persons the rows are about, written in the same
        /// transaction.
        subjects: Vec<SubjectRow>,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
    /// Apply a batch of the record feed ([`super::feed`]).
    Feed {
        batch: Box<super::FeedBatch>,
        reply: oneshot::Sender<Result<super::FeedOutcome, StorageError>>,
    },
    /// Add subject aliases and delete those of dropped epochs.
    UpdateAliases {
        add: Vec<SubjectAlias>,
        drop_epochs: Vec<u32>,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
    /// Delete the nonces that expired before `now_unix_ms`.
    PurgeNonces {
        now_unix_ms: i64,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
    /// Write flow state in a transaction of its own (no journal record).
    WriteState {
        writes: Vec<StateWrite>,
        /// Written only while this lease's token is current.
        fence: Option<super::lease::Fence>,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Execute operator SQL ([`super::danger::execute_raw`]).
    #[cfg(feature = "danger")]
    ExecuteRaw {
        sql: String,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
    /// Put back journal records lost to a restore ([`super::recover`]).
    Recover {
        recovery: super::recover::Recovery,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
    /// Reload the tree if other processes appended ([`Storage::catch_up`]).
    CatchUp {
        reply: oneshot::Sender<Result<super::TreeHead, StorageError>>,
    },
    /// Claim or release the region's duties lease ([`super::lease`]).
    Lease(super::lease::LeaseCommand),
    /// Store a checkpoint, cosignature, witnessed checkpoint or evidence.
    LogWrite {
        write: LogWrite,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
    /// A [`super::danger`] edit.
    #[cfg(feature = "danger")]
    Danger {
        edit: DangerEdit,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
}

/// Batching parameters, from [`super::StorageOptions`].
pub(crate) struct WriterConfig {
    pub(crate) max_batch: usize,
    pub(crate) max_batch_delay: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    /// Bumped after every command the writer completes (see
    /// [`Storage::subscribe_writes`](super::Storage::subscribe_writes)).
    pub(crate) writes: Arc<watch::Sender<u64>>,
    /// What the writer committed last, for the receipts.
    pub(crate) recent: Arc<super::recent::Recent>,
    /// The runtime the callers run on, whose saturation paces the batches
    /// ([`pace`]); none, never paced.
    pub(crate) callers_runtime: Option<tokio::runtime::Handle>,
}

/// Runs until `shutdown` is cancelled and the queue is drained, or until
/// every sender is gone and the queue is drained. `tree` is the tree of the
/// journal as loaded when opening; every committed change of it is
/// published on `heads`.
pub(crate) async fn run(
    mut queue: mpsc::Receiver<Command>,
    engine: Engine,
    config: WriterConfig,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
    mut tree: TreeState,
    heads: Arc<HeadSender>,
) {
    let mut closing = false;
    let mut carried: Option<Command> = None;
    let mut previous_batch_len = 0usize;
    let mut pace = pace::Pace::of_runtime(config.callers_runtime.clone());
    loop {
        let command = match carried.take() {
            Some(command) => command,
            None if closing => match queue.recv().await {
                Some(command) => command,
                None => break,
            },
            None => tokio::select! {
                biased;
                command = queue.recv() => match command {
                    Some(command) => command,
                    None => break,
                },
                () = shutdown.cancelled() => {
                    // Refuse new writes; what is queued is still received.
                    queue.close();
                    closing = true;
                    continue;
                }
            },
        };
        match Batch::begun_by(command) {
            Ok(mut batch) => {
                carried = collect_batch(&mut queue, &mut batch, &config, previous_batch_len).await;
                if carried.is_none()
                    && batch.len() < config.max_batch
                    && let Some(wait) = pace.wait(Instant::now(), previous_batch_len)
                {
                    // This thread is the writer's own (`on_own_thread`):
                    // sleeping here holds up no other task. The appends
                    // queued meanwhile join the batch.
                    std::thread::sleep(wait);
                    carried = collect_batch(&mut queue, &mut batch, &config, 0).await;
                }
                pace.started(Instant::now());
                previous_batch_len = batch.len();
                commit_batch(&engine, batch, &config, &counters, &mut tree, &heads).await;
            }
            Err(other) => run_other(&engine, &config, &counters, *other, &mut tree, &heads).await,
        }
        config.writes.send_modify(|n| *n = n.wrapping_add(1));
    }
    tracing::debug!(location = %engine.location(), "storage writer stopped");
}

/// Runs the writer `run` on a thread of its own, with a runtime of its
/// own: the SQLite writer runs its batches' statements on its thread
/// (decision 1040), which must not be one of the runtime's workers. The
/// future returned completes when the writer has stopped.
pub(crate) fn on_own_thread(
    run: impl Future<Output = ()> + Send + 'static,
    location: &str,
) -> Result<impl Future<Output = ()> + Send + 'static, StorageError> {
    let failed = |e: std::io::Error| StorageError::WriterThread {
        location: location.to_owned(),
        source: Arc::new(e),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let (stopped, stop) = oneshot::channel::<()>();
    let thread_location = location.to_owned();
    std::thread::Builder::new()
        .name("credex-writer".into())
        .spawn(move || {
            priority::lower_this_thread(&thread_location);
            runtime.block_on(run);
            drop(stopped);
        })
        .map_err(failed)?;
    // Completes when the sender is dropped: the writer returned or panicked.
    Ok(async move {
        let _ = stop.await;
    })
}

/// Runs one command other than an append (those are batched): each alone,
/// in queue order.
async fn run_other(
    engine: &Engine,
    config: &WriterConfig,
    counters: &Counters,
    command: Command,
    tree: &mut TreeState,
    heads: &HeadSender,
) {
    match command {
        // `run` batches appends; one handed here is a batch of one.
        Command::Append(append) => {
            let batch = Batch {
                appends: vec![append],
                checkpoints: Vec::new(),
            };
            commit_batch(engine, batch, config, counters, tree, heads).await;
        }
        Command::RecordPeer { sighting, reply } => {
            let result = engine.record_peer(&sighting).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "recording a peer failed");
            }
            let _ = reply.send(result);
        }
        Command::ImportRecords {
            rows,
            subjects,
            reply,
        } => {
            let result = engine
                .import_records(&rows, &subjects, config.clock.now_ms())
                .await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, rows = rows.len(), "record import failed; nothing of it was imported");
            }
            let _ = reply.send(result);
        }
        Command::Feed { batch, reply } => {
            let now = config.clock.now_ms();
            let result = super::feed::commit_feed(engine, &batch, now, tree, heads, counters).await;
            if let Err(e) = &result {
                counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "feed batch failed; nothing of it was applied");
            }
            let _ = reply.send(result);
        }
        Command::UpdateAliases {
            add,
            drop_epochs,
            reply,
        } => {
            let result = engine.update_aliases(&add, &drop_epochs).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "updating subject aliases failed");
            }
            let _ = reply.send(result);
        }
        Command::PurgeNonces { now_unix_ms, reply } => {
            let _ = reply.send(engine.purge_expired_nonces(now_unix_ms).await);
        }
        Command::WriteState {
            writes,
            fence,
            reply,
        } => {
            let result = write_state_alone(engine, &writes, fence, config.clock.now_ms()).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "writing flow state failed");
            }
            let _ = reply.send(result);
        }
        #[cfg(feature = "danger")]
        Command::ExecuteRaw { sql, reply } => {
            let _ = reply.send(engine.execute_raw(&sql).await);
        }
        Command::LogWrite { write, reply } => {
            let result = engine.log_write(&write, config.clock.now_ms()).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "storing a log record failed");
            }
            let _ = reply.send(result);
        }
        Command::CatchUp { reply } => {
            let result = match tree::caught_up(engine, tree).await {
                Ok(Some(loaded)) => {
                    *tree = loaded;
                    heads.send_replace(tree.head());
                    Ok(tree.head())
                }
                Ok(None) => Ok(tree.head()),
                Err(e) => Err(e),
            };
            let _ = reply.send(result);
        }
        Command::Lease(lease) => {
            let result = super::lease::run(engine, &lease, config.clock.now_ms()).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, duty = lease.duty, "claiming a lease failed");
            }
            let _ = lease.reply.send(result);
        }
        Command::Recover { recovery, reply } => {
            let _ = reply.send(super::recover::run(engine, &recovery, tree, heads).await);
        }
        #[cfg(feature = "danger")]
        Command::Danger { edit, reply } => {
            let rewinds = matches!(edit, DangerEdit::TruncateLog { .. });
            let mut result = engine.danger(&edit).await;
            config.recent.clear();
            if rewinds && result.is_ok() {
                match tree::load(engine).await {
                    Ok(loaded) => {
                        *tree = loaded;
                        heads.send_replace(tree.head());
                    }
                    Err(e) => result = Err(e),
                }
            }
            let _ = reply.send(result);
        }
    }
}

async fn write_state_alone(
    engine: &Engine,
    writes: &[StateWrite],
    fence: Option<super::lease::Fence>,
    now_unix_ms: i64,
) -> Result<(), StorageError> {
    let mut tx = engine.begin_batch().await?;
    if let Some(fence) = fence {
        super::lease::check_fence(&mut tx, fence).await?;
    }
    tx.write_state(writes, now_unix_ms).await?;
    tx.commit().await
}

/// Adds already-queued appends to `batch` until it is full or the queue is
/// empty. While appends arrive concurrently (the previous batch held more
/// than one), an empty queue is given up to [`MAX_IDLE_YIELDS`] scheduler
/// yields, within `max_batch_delay`, to receive the appends of callers that
/// were just answered and are about to append again. Returns a non-append
/// command met on the way, to be run after the batch (queue order is kept).
async fn collect_batch(
    queue: &mut mpsc::Receiver<Command>,
    batch: &mut Batch,
    config: &WriterConfig,
    previous_batch_len: usize,
) -> Option<Command> {
    let mut bytes = batch.queued_bytes();
    // A lone caller (previous batch of one) is never delayed.
    let deadline = (previous_batch_len > 1 && !config.max_batch_delay.is_zero())
        .then(|| Instant::now() + config.max_batch_delay);
    let mut idle_yields = 0;
    while batch.len() < config.max_batch && bytes < MAX_BATCH_BYTES {
        match queue.try_recv() {
            Ok(command) => {
                idle_yields = 0;
                match batch.add(command) {
                    Ok(added) => bytes += added,
                    Err(other) => return Some(*other),
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {
                let waiting = deadline.is_some_and(|d| Instant::now() < d);
                if !waiting || idle_yields == MAX_IDLE_YIELDS {
                    return None;
                }
                idle_yields += 1;
                tokio::task::yield_now().await;
            }
        }
    }
    None
}

/// Writes `batch` in one transaction and answers every caller (the
/// checkpoints to store among them): each its
/// sequence number (and claim outcome) after the commit, or all the same
/// error. A claimed append refused on its own (body too long, `build`
/// panicked) gets its own error and consumes no sequence number.
///
/// After the commit, and before any caller is answered, `tree` becomes the
/// committed tree and its head is published on `heads` (so a caller that
/// got its seq finds it inside [`super::Storage::tree_head`]). A failed
/// batch leaves `tree` as it was.
async fn commit_batch(
    engine: &Engine,
    batch: Batch,
    config: &WriterConfig,
    counters: &Counters,
    tree: &mut TreeState,
    heads: &HeadSender,
) {
    let Batch {
        appends: mut batch,
        checkpoints,
    } = batch;
    let started = Instant::now();
    let recorded_at = config.clock.now_ms();
    if batch.is_empty() {
        let stored = store_checkpoints(engine, &checkpoints, recorded_at).await;
        answer_checkpoints(checkpoints, stored);
        return;
    }
    let len = batch.len();
    match write_batch(engine, &mut batch, &checkpoints, recorded_at, tree).await {
        Ok(WrittenBatch {
            first_seq,
            extended,
            records,
            stored,
            quota,
        }) => {
            config
                .recent
                .committed(records, extended.first_hash, &extended.hashes);
            config.recent.quota_committed(quota);
            let committed = extended.tree;
            if committed.head() != tree.head() {
                heads.send_replace(committed.head());
            }
            *tree = committed;
            let written = batch.iter().map(Append::records_written).sum::<u64>();
            counters.appends.fetch_add(written, Ordering::Relaxed);
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.largest_batch.fetch_max(written, Ordering::Relaxed);
            tracing::trace!(
                first_seq,
                len,
                written,
                elapsed_us = started.elapsed().as_micros() as u64,
                "journal batch committed"
            );
            let location = engine.location();
            let mut seq = first_seq;
            for append in batch {
                let written = append.records_written();
                append.answer(seq, &location);
                seq += written;
            }
            answer_checkpoints(checkpoints, Ok(stored));
        }
        Err(error) => {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, len, "journal batch failed; nothing of it was committed");
            for append in batch {
                append.fail(error.clone());
            }
            answer_checkpoints(checkpoints, Err(error));
        }
    }
}

/// The batch transaction: under the journal's write lock, decides and
/// writes the claims of claimed appends in queue order (see
/// [`super::access`]), then inserts every record that is to be written and
/// their tree hashes, and commits. Returns the first record's sequence
/// number, and the tree after the batch; the records follow contiguously
/// in batch order, skipping claimed appends refused on their own; and
/// whether each of `checkpoints`, stored in the same transaction, was
/// stored. Moves the bodies out of `batch`.
///
/// If the journal's next seq read under the lock is not `tree`'s size
/// (another process appended, or a commit whose answer was lost did
/// happen), the tree's edge is reloaded inside the transaction first.
async fn write_batch(
    engine: &Engine,
    batch: &mut [Append],
    checkpoints: &[CheckpointWrite],
    recorded_at_unix_ms: i64,
    tree: &TreeState,
) -> Result<WrittenBatch, StorageError> {
    // A leaf hash does not depend on the seq: hash plain records before
    // taking the lock.
    let mut plain_leaves = batch
        .iter()
        .filter_map(|append| match append {
            Append::Plain(append) => Some(record_leaf_hash(
                append.kind,
                recorded_at_unix_ms,
                &append.body,
            )),
            Append::Claimed(_) => None,
        })
        .collect::<Vec<_>>()
        .into_iter();
    let mut tx = engine.begin_append_batch().await?;
    // Every claim of the batch read at once, decided in queue order over
    // what earlier items took, written at once (`super::claims`).
    let claims: Vec<&AccessClaim> = batch
        .iter()
        .filter_map(|append| match append {
            Append::Claimed(c) => Some(&c.claim),
            Append::Plain(_) => None,
        })
        .collect();
    let mut before = if claims.is_empty() {
        Vec::new()
    } else {
        tx.claim_states(&claims).await?
    }
    .into_iter();
    // The next seq, read under the lock: an attachment is kept by the seq
    // of the entry that carries it (decision 1220).
    let first_seq = tx.next_seq().await?;
    let mut ledger = ClaimLedger::claiming_at(recorded_at_unix_ms);
    // The flow-state writes of every append written, in queue order, applied
    // in one call: only each key's last write counts, as one by one.
    let mut state = Vec::new();
    let mut rows = Vec::with_capacity(batch.len());
    let mut fences = super::lease::FenceCheck::default();
    for append in batch.iter_mut() {
        match append {
            Append::Plain(append) => {
                if let Some(fence) = append.fence
                    && let Err(stale) = fences.check(&mut tx, fence).await?
                {
                    // Left out alone: the other appends of the batch go on.
                    plain_leaves.next();
                    append.refused = Some(stale);
                    continue;
                }
                let body = std::mem::take(&mut append.body);
                state.append(&mut append.state);
                let leaf = plain_leaves
                    .next()
                    .unwrap_or_else(|| record_leaf_hash(append.kind, recorded_at_unix_ms, &body));
                rows.push(JournalRow {
                    kind: append.kind,
                    body,
                    leaf,
                });
            }
            Append::Claimed(append) => {
                let base = before.next().ok_or_else(|| StorageError::ClaimRaced {
                    location: engine.location().to_string(),
                })?;
                stage_claimed(
                    engine,
                    &mut tx,
                    append,
                    recorded_at_unix_ms,
                    &base,
                    &mut ledger,
                    &mut state,
                    (first_seq, &mut rows),
                )
                .await?;
            }
        }
    }
    // The checkpoints, each stored unless another note holds its size:
    // SQLite inserts them at once; PostgreSQL sends them, with every write
    // after them, as one statement with the commit (`postgres::pending`,
    // decisions 1160 and 1330), and the commit says which were stored.
    let held = insert_checkpoints(&mut tx, checkpoints, recorded_at_unix_ms).await?;
    if !ledger.is_empty() {
        tx.take_claims(&ledger).await?;
    }
    if !state.is_empty() {
        tx.write_state(&state, recorded_at_unix_ms).await?;
    }
    let appended_at = tx.append_journal(&rows, recorded_at_unix_ms).await?;
    if appended_at != first_seq {
        return Err(StorageError::Corrupt {
            location: engine.location().to_string(),
            detail: format!(
                "the journal's next seq moved from {first_seq} to {appended_at} inside one batch"
            ),
        });
    }
    let extended = extend_tree(engine, &mut tx, tree, first_seq, &rows).await?;
    let stored = tx.commit_storing(held).await?;
    let records = (first_seq..)
        .zip(rows)
        .map(|(seq, row)| super::JournalRecord {
            seq,
            kind: row.kind,
            recorded_at_unix_ms,
            body: row.body,
        })
        .collect();
    let quota = ledger
        .quota
        .iter()
        .map(|(key, counted)| (key.clone(), counted.after()))
        .collect();
    Ok(WrittenBatch {
        first_seq,
        extended,
        records,
        stored,
        quota,
    })
}

/// What [`write_batch`] committed.
struct WrittenBatch {
    first_seq: u64,
    extended: Extended,
    records: Vec<super::JournalRecord>,
    /// Whether each checkpoint was stored (false: another note holds its
    /// size).
    stored: Vec<bool>,
    /// The quota units each (peer, window) claimed from now holds.
    quota: Vec<((String, i64), i64)>,
}

/// Stage a claimed append in `tx`: decide its claims against what was
/// stored before the batch (`base`) and what earlier items took
/// (`ledger`), build its body for that outcome, enter what it takes and its
/// attachment in the ledger (kept by the seq its row gets: `first_seq` plus
/// its place in `rows`), and add its state writes to `state` (unless it
/// is a replay). Pushes its journal row to `rows`, followed by its
/// [`ClaimedAppend::then`] rows if the claim is [`ClaimOutcome::Claimed`];
/// pushes nothing when its body was refused (its claims are not taken; the
/// caller learns why from `append.decision`).
#[allow(clippy::too_many_arguments)] // the batch's parts an item adds to
async fn stage_claimed(
    engine: &Engine,
    tx: &mut BatchTx,
    append: &mut ClaimedAppend,
    recorded_at_unix_ms: i64,
    base: &ClaimState,
    ledger: &mut ClaimLedger,
    state: &mut Vec<StateWrite>,
    (first_seq, rows): (u64, &mut Vec<JournalRow>),
) -> Result<(), StorageError> {
    let outcome = ledger.state(&append.claim, base).decide(&append.claim);
    let built = match append.build.take() {
        Some(build) => build_body(build, outcome),
        // Not reached: an append is in one batch only, and this is the
        // only place that takes its `build`.
        None => Err(StorageError::WriterStopped {
            location: engine.location().to_string(),
        }),
    };
    let body = match built {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(%error, "claimed append refused; its claims are not taken");
            append.decision = Some(Err(error));
            return Ok(());
        }
    };
    if outcome != ClaimOutcome::Replay {
        ledger.take(&append.claim, outcome, base);
        state.append(&mut append.state);
        if !append.records.is_empty() {
            tx.import_records(&append.records, recorded_at_unix_ms)
                .await?;
        }
    }
    for part in append.parts.drain(..) {
        ledger.attach(part);
    }
    if let Some(own) = append.attachment.take() {
        ledger.keep(first_seq + rows.len() as u64, own);
    }
    let leaf = record_leaf_hash(append.kind, recorded_at_unix_ms, &body);
    append.decision = Some(Ok(outcome));
    rows.push(JournalRow {
        kind: append.kind,
        body,
        leaf,
    });
    if outcome == ClaimOutcome::Claimed {
        for mut following in append.then.drain(..) {
            state.append(&mut following.state);
            rows.push(JournalRow {
                kind: following.kind,
                leaf: record_leaf_hash(following.kind, recorded_at_unix_ms, &following.body),
                body: following.body,
            });
            append.followed_by += 1;
        }
    }
    Ok(())
}

/// Extend the tree with `rows` appended at `first_seq` and store the new
/// hashes in `tx`. If the journal ends beyond this writer's tree (another
/// process appended), the tree's edge is reloaded inside the transaction
/// first; if it ends before (the database lost committed entries), the
/// batch fails.
pub(super) async fn extend_tree(
    engine: &Engine,
    tx: &mut BatchTx,
    tree: &TreeState,
    first_seq: u64,
    rows: &[JournalRow],
) -> Result<Extended, StorageError> {
    let reloaded;
    let base = if first_seq == tree.size() {
        tree
    } else if first_seq < tree.size() {
        // Entries this writer committed are gone: the database was replaced
        // under the running node (an asynchronous failover, a restore).
        // Extending the shorter tree would sign a second tree at sizes
        // already published.
        return Err(StorageError::Corrupt {
            location: engine.location().to_string(),
            detail: format!(
                "the journal ends at {first_seq} records, but this node committed {}: the database lost \
                 acknowledged entries (an asynchronous failover, or a restore under a running node); \
                 nothing more is appended. Stop the node; its start names what is missing",
                tree.size()
            ),
        });
    } else {
        tracing::info!(
            expected = tree.size(),
            found = first_seq,
            "the journal changed outside this writer; reloading the tree"
        );
        reloaded = tree::load_in(tx, first_seq).await?;
        &reloaded
    };
    let leaves: Vec<_> = rows.iter().map(|row| row.leaf).collect();
    let corrupt = |detail: String| StorageError::Corrupt {
        location: engine.location().to_string(),
        detail,
    };
    let (committed, hashes) = base
        .extend(&leaves)
        .map_err(|e| corrupt(format!("cannot extend the tree: {e}")))?;
    let first_index = stored_hash_count(first_seq).ok_or_else(|| {
        corrupt(format!(
            "journal of {first_seq} records is beyond the largest tree"
        ))
    })?;
    tx.insert_tree_hashes(first_index, &hashes).await?;
    Ok(Extended {
        tree: committed,
        first_hash: first_index,
        hashes,
    })
}

/// A tree extended in a transaction: the new tree, and the stored hashes
/// written from index `first_hash` on (kept in memory once committed:
/// [`super::recent`]).
pub(super) struct Extended {
    pub(super) tree: TreeState,
    pub(super) first_hash: u64,
    pub(super) hashes: Vec<credex_protocol::tlog::Hash>,
}
