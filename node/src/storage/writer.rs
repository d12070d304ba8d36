//! The single writer task: group commit of journal appends, and the other
//! writes in queue order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::{Clock, Counters, MAX_BATCH_BYTES, PeerSighting, StorageError};

/// How many times in a row the writer yields to the scheduler on an empty
/// queue while collecting a batch under concurrent load. Yields cost
/// microseconds, where a timer would cost a millisecond (tokio's timer
/// resolution) — more than an fsync on a fast disk.
const MAX_IDLE_YIELDS: u32 = 4;

/// One queued write.
pub(crate) enum Command {
    /// Append one journal record.
    Append(AppendCommand),
    /// Upsert a peer.
    RecordPeer {
        sighting: PeerSighting,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Execute operator SQL ([`super::danger::execute_raw`]).
    ExecuteRaw {
        sql: String,
        reply: oneshot::Sender<Result<u64, StorageError>>,
    },
}

/// One queued journal append.
pub(crate) struct AppendCommand {
    pub(crate) kind: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Result<u64, StorageError>>,
}

/// Batching parameters, from [`super::StorageOptions`].
pub(crate) struct WriterConfig {
    pub(crate) max_batch: usize,
    pub(crate) max_batch_delay: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Runs until `shutdown` is cancelled and the queue is drained, or until
/// every sender is gone and the queue is drained.
pub(crate) async fn run(
    mut queue: mpsc::Receiver<Command>,
    engine: Engine,
    config: WriterConfig,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) {
    let mut closing = false;
    let mut carried: Option<Command> = None;
    let mut previous_batch_len = 0usize;
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
        match command {
            Command::Append(first) => {
                let mut batch = vec![first];
                carried = collect_batch(&mut queue, &mut batch, &config, previous_batch_len).await;
                previous_batch_len = batch.len();
                commit_batch(&engine, batch, &config, &counters).await;
            }
            Command::RecordPeer { sighting, reply } => {
                let result = engine.record_peer(&sighting).await;
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "recording a peer failed");
                }
                let _ = reply.send(result);
            }
            Command::ExecuteRaw { sql, reply } => {
                let _ = reply.send(engine.execute_raw(&sql).await);
            }
        }
    }
    tracing::debug!(location = %engine.location(), "storage writer stopped");
}

/// Adds already-queued appends to `batch` until it is full or the queue is
/// empty. While appends arrive concurrently (the previous batch held more
/// than one), an empty queue is given up to [`MAX_IDLE_YIELDS`] scheduler
/// yields, within `max_batch_delay`, to receive the appends of callers that
/// were just answered and are about to append again. Returns a non-append
/// command met on the way, to be run after the batch (queue order is kept).
async fn collect_batch(
    queue: &mut mpsc::Receiver<Command>,
    batch: &mut Vec<AppendCommand>,
    config: &WriterConfig,
    previous_batch_len: usize,
) -> Option<Command> {
    let mut bytes = batch.iter().map(|a| a.body.len()).sum::<usize>();
    // A lone caller (previous batch of one) is never delayed.
    let deadline = (previous_batch_len > 1 && !config.max_batch_delay.is_zero())
        .then(|| Instant::now() + config.max_batch_delay);
    let mut idle_yields = 0;
    while batch.len() < config.max_batch && bytes < MAX_BATCH_BYTES {
        match queue.try_recv() {
            Ok(Command::Append(append)) => {
                idle_yields = 0;
                bytes += append.body.len();
                batch.push(append);
            }
            Ok(other) => return Some(other),
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

/// Writes `batch` in one transaction and answers every caller: each its
/// sequence number after the commit, or all the same error.
async fn commit_batch(
    engine: &Engine,
    batch: Vec<AppendCommand>,
    config: &WriterConfig,
    counters: &Counters,
) {
    let started = Instant::now();
    let recorded_at = config.clock.now_unix_ms();
    let len = batch.len();
    match engine.append_batch(&batch, recorded_at).await {
        Ok(first_seq) => {
            let len_u64 = len as u64;
            counters.appends.fetch_add(len_u64, Ordering::Relaxed);
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.largest_batch.fetch_max(len_u64, Ordering::Relaxed);
            tracing::trace!(
                first_seq,
                len,
                elapsed_us = started.elapsed().as_micros() as u64,
                "journal batch committed"
            );
            for (seq, append) in (first_seq..).zip(batch) {
                // The caller may have stopped waiting; the record is durable anyway.
                let _ = append.reply.send(Ok(seq));
            }
        }
        Err(error) => {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, len, "journal batch failed; nothing of it was committed");
            for append in batch {
                let _ = append.reply.send(Err(error.clone()));
            }
        }
    }
}
