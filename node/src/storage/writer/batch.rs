//! One group commit of the writer: the appends and checkpoints it holds,
//! what each adds to a batch, and how each caller is answered once the
//! batch is committed or has failed (decision 1130 for the checkpoints).

use tokio::sync::oneshot;

use crate::storage::StorageError;
use crate::storage::access::{AccessClaim, ClaimOutcome};
use crate::storage::engine::{BatchTx, Engine, HeldCheckpoints};
use crate::storage::state::StateWrite;
use crate::storage::witness::LogWrite;

use super::Command;

/// One member of a group commit.
pub(crate) enum Append {
    /// [`crate::storage::Storage::append`].
    Plain(AppendCommand),
    /// [`crate::storage::Storage::append_claimed`] (boxed: it is large).
    Claimed(Box<ClaimedAppend>),
}

/// One queued journal append.
pub(crate) struct AppendCommand {
    pub(crate) kind: u16,
    pub(crate) body: Vec<u8>,
    /// Flow-state writes committed with the record.
    pub(crate) state: Vec<StateWrite>,
    /// Written only while this lease's token is current (decision 1020).
    pub(crate) fence: Option<crate::storage::lease::Fence>,
    /// Why the batch left this append out (a stale fence).
    pub(crate) refused: Option<StorageError>,
    pub(crate) reply: oneshot::Sender<Result<u64, StorageError>>,
}

/// Builds the journal body of a claimed append from its outcome.
pub(crate) type BuildBody = Box<dyn FnOnce(ClaimOutcome) -> Vec<u8> + Send>;

/// One queued claimed append.
pub(crate) struct ClaimedAppend {
    pub(crate) kind: u16,
    pub(crate) claim: AccessClaim,
    /// Its attachment's row, sealed, kept by the entry's seq
    /// ([`crate::storage::attachment`]).
    pub(crate) attachment: Option<crate::storage::attachment::Stored>,
    /// The rows of the attachment's parts to store, sealed, kept by digest.
    pub(crate) parts: Vec<crate::storage::attachment::Stored>,
    /// Flow-state writes committed with the record unless the claim is a
    /// replay.
    pub(crate) state: Vec<StateWrite>,
    /// Credit records upserted with the record unless the claim is a
    /// replay (a received message's records: decision 1050).
    pub(crate) records: Vec<crate::storage::RecordRow>,
    /// Entries written right after the record only if the claim is
    /// [`ClaimOutcome::Claimed`] ([`crate::storage::Storage::append_claimed_then`]).
    pub(crate) then: Vec<FollowingEntry>,
    /// How many of `then` the batch wrote (set when it decides the claim).
    pub(crate) followed_by: u64,
    /// Taken when the batch transaction decides the claim.
    pub(crate) build: Option<BuildBody>,
    /// Set when the batch transaction decides the claim: the outcome (its
    /// record is in the batch) or why only this append failed (its record
    /// and claims are not).
    pub(crate) decision: Option<Result<ClaimOutcome, StorageError>>,
    pub(crate) reply: oneshot::Sender<Result<(u64, ClaimOutcome), StorageError>>,
}

/// An entry of [`ClaimedAppend::then`], its state writes sealed.
pub(crate) struct FollowingEntry {
    pub(crate) kind: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) state: Vec<StateWrite>,
}

/// One group commit: journal appends, and the checkpoints signed since
/// the last one, stored in the same transaction rather than in one of their
/// own (decision 1130).
#[derive(Default)]
pub(super) struct Batch {
    pub(super) appends: Vec<Append>,
    pub(super) checkpoints: Vec<CheckpointWrite>,
}

/// A signed checkpoint to store ([`LogWrite::Checkpoint`]).
pub(super) struct CheckpointWrite {
    size: u64,
    note: String,
    reply: oneshot::Sender<Result<u64, StorageError>>,
}

impl Batch {
    /// A batch begun by `command` if it is an append or a checkpoint to
    /// store, else the command back.
    pub(super) fn begun_by(command: Command) -> Result<Batch, Box<Command>> {
        let mut batch = Batch::default();
        batch.add(command).map(|_| batch)
    }

    /// Adds `command` if it belongs in a batch, returning the bytes it
    /// adds; gives it back otherwise.
    pub(super) fn add(&mut self, command: Command) -> Result<usize, Box<Command>> {
        match command {
            Command::Append(append) => {
                let bytes = append.queued_bytes();
                self.appends.push(append);
                Ok(bytes)
            }
            Command::LogWrite {
                write: LogWrite::Checkpoint { size, note },
                reply,
            } => {
                let bytes = note.len();
                self.checkpoints.push(CheckpointWrite { size, note, reply });
                Ok(bytes)
            }
            other => Err(Box::new(other)),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.appends.len() + self.checkpoints.len()
    }

    pub(super) fn queued_bytes(&self) -> usize {
        self.appends.iter().map(Append::queued_bytes).sum::<usize>()
            + self.checkpoints.iter().map(|c| c.note.len()).sum::<usize>()
    }
}

impl Append {
    /// Bytes this append adds to a batch before it is written: the body of
    /// a plain append, the attachment of a claimed one (its body is built
    /// in the transaction, at most [`crate::storage::MAX_BODY_LEN`]).
    pub(super) fn queued_bytes(&self) -> usize {
        match self {
            Append::Plain(append) => append.body.len() + state_bytes(&append.state),
            Append::Claimed(append) => {
                append
                    .attachment
                    .iter()
                    .chain(&append.parts)
                    .map(|a| a.body.len())
                    .sum::<usize>()
                    + state_bytes(&append.state)
                    + append.records.iter().map(|r| r.body.len()).sum::<usize>()
                    + append
                        .then
                        .iter()
                        .map(|e| e.body.len() + state_bytes(&e.state))
                        .sum::<usize>()
            }
        }
    }

    /// How many journal records of this append a batch that got through
    /// [`write_batch`] wrote: its own (none if it was left out) and those
    /// that follow a claim.
    pub(super) fn records_written(&self) -> u64 {
        match self {
            Append::Plain(append) => u64::from(append.refused.is_none()),
            Append::Claimed(append) => match append.decision {
                Some(Ok(_)) => 1 + append.followed_by,
                _ => 0,
            },
        }
    }

    /// Answers the caller of a committed batch; `seq` is the record's
    /// sequence number if [`Append::written`].
    pub(super) fn answer(self, seq: u64, location: &str) {
        // The caller may have stopped waiting; the record is durable anyway.
        match self {
            Append::Plain(append) => {
                let _ = append.reply.send(match append.refused {
                    Some(error) => Err(error),
                    None => Ok(seq),
                });
            }
            Append::Claimed(append) => {
                let answer = match append.decision {
                    Some(Ok(outcome)) => Ok((seq, outcome)),
                    Some(Err(error)) => Err(error),
                    // `write_batch` decides every claimed append before it
                    // returns Ok, so this is not reached.
                    None => Err(StorageError::WriterStopped {
                        location: location.to_owned(),
                    }),
                };
                let _ = append.reply.send(answer);
            }
        }
    }

    /// Fails the caller: the batch was rolled back.
    pub(super) fn fail(self, error: StorageError) {
        match self {
            Append::Plain(append) => {
                let _ = append.reply.send(Err(error));
            }
            Append::Claimed(append) => {
                let _ = append.reply.send(Err(error));
            }
        }
    }
}

fn state_bytes(writes: &[StateWrite]) -> usize {
    writes
        .iter()
        .map(|w| w.key.len() + w.value.as_ref().map_or(0, Vec::len))
        .sum()
}

/// Stores `checkpoints` in a transaction of their own: a batch with no
/// append. Returns, for each, whether it was stored (false: another note
/// is stored for its size).
pub(super) async fn store_checkpoints(
    engine: &Engine,
    checkpoints: &[CheckpointWrite],
    now_unix_ms: i64,
) -> Result<Vec<bool>, StorageError> {
    let mut tx = engine.begin_append_batch().await?;
    let held = insert_checkpoints(&mut tx, checkpoints, now_unix_ms).await?;
    tx.commit_storing(held).await
}

/// Stores `checkpoints` in `tx`; [`BatchTx::commit_storing`] says whether
/// each is stored.
pub(super) async fn insert_checkpoints(
    tx: &mut BatchTx,
    checkpoints: &[CheckpointWrite],
    now_unix_ms: i64,
) -> Result<HeldCheckpoints, StorageError> {
    let checkpoints: Vec<(u64, &str)> = checkpoints
        .iter()
        .map(|c| (c.size, c.note.as_str()))
        .collect();
    tx.store_checkpoints(&checkpoints, now_unix_ms).await
}

/// Answers the callers of committed (or failed) checkpoint writes:
/// `stored` holds, in order, whether each was stored.
pub(super) fn answer_checkpoints(
    checkpoints: Vec<CheckpointWrite>,
    stored: Result<Vec<bool>, StorageError>,
) {
    match stored {
        Ok(stored) => {
            for (checkpoint, stored) in checkpoints.into_iter().zip(stored) {
                let answer = crate::storage::witness::checkpoint_stored(checkpoint.size, stored);
                let _ = checkpoint.reply.send(answer.map(|()| 0));
            }
        }
        Err(error) => {
            for checkpoint in checkpoints {
                let _ = checkpoint.reply.send(Err(error.clone()));
            }
        }
    }
}
