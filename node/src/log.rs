//! The node's verifiable access log (docs/design.md §7): the journal is an RFC
//! 6962 Merkle tree (storage keeps its hashes), and this module signs its
//! checkpoints as C2SP signed notes with the node's Ed25519 key, hands out
//! receipts, and checks the receipts peers hand back.
//!
//! The log key is the node certificate's key, so anyone holding the
//! federation root can obtain and trust a node's log verifier key from the
//! node's certificate chain; the note key name is the log's origin,
//! `credex/REGION/NAME`. Under the `sm2-sm3` suite every checkpoint also
//! carries an SM2 line by the node's message-signing key
//! ([`LogKey::with_sm2`], decision 1070): receipts, acknowledgements and
//! credit reports are checked on the line of the certificate their signed
//! object carries; witnesses check and cosign the Ed25519 line of the
//! peer's TLS certificate. Under `sm2-sm3` every checkpoint also states
//! the root of the log's SM3 tree over the same entries, in an extension
//! line ([`sm3_tree`], decision 1100).

use std::sync::Arc;
use std::time::Duration;

use credex_pki::log_key::node_checkpoint_verifier;
use credex_protocol::query::{QueryResponse, Receipt};
use credex_protocol::tlog::{Checkpoint, Hash, leaf_hash, open_checkpoint, verify_inclusion};
use credex_protocol::{NodeName, RegionCode};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::{Storage, StorageError};
use credex_journal::{CounterpartReceipt, Direction};

mod cosign;
mod each_peer;
pub mod head;
mod key;
mod note_key;
mod receipt_checkpoints;
pub mod recover;
mod round;
pub mod sm3_tree;

pub use cosign::{CosignError, cosign_head, request_cosignature};
pub use key::LogKey;
pub use round::{WitnessRound, witness_round};

/// How often a new checkpoint is signed when the log grew (at least).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The node key cannot sign C2SP notes.
    #[error("the node key must be Ed25519 to sign log checkpoints: {0}")]
    KeyNotEd25519(String),
    /// The key given for the checkpoints' second line is not SM2.
    #[error(
        "the checkpoints' second line is SM2 (the sm2-sm3 suite), but the signing key given is {0:?}"
    )]
    KeyNotSm2(credex_protocol::SignatureAlgorithm),
    /// A certificate's key cannot verify this log's checkpoints.
    #[error(transparent)]
    CertificateKey(credex_pki::log_key::LogKeyError),
    /// The origin is not a valid note key name.
    #[error("log origin {0:?} is not a valid note key name")]
    BadOrigin(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A checkpoint could not be made.
    #[error("signing a checkpoint: {0}")]
    Sign(String),
    /// The checkpointer stopped (the node is shutting down).
    #[error("the checkpointer has stopped")]
    Stopped,
    /// The checkpointer halted: signing would fork the log.
    #[error("the log signs no checkpoint: {0}")]
    Halted(String),
    /// An SM3 root given to a log that signs no SM2 line, or none given
    /// to one that does: under `sm2-sm3`, and only then, a checkpoint
    /// states the SM3 tree's root (decision 1100).
    #[error("the SM3 root goes with the SM2 line (decision 1100): this log {0}")]
    Sm3Root(&'static str),
    /// The SM3 tree could not be followed to the tree head being signed.
    #[error("the log's SM3 tree: {0}")]
    Sm3Tree(String),
}

impl From<credex_pki::log_key::LogKeyError> for LogError {
    fn from(e: credex_pki::log_key::LogKeyError) -> Self {
        match e {
            credex_pki::log_key::LogKeyError::BadOrigin(o) => LogError::BadOrigin(o),
            other => LogError::CertificateKey(other),
        }
    }
}

/// A signed checkpoint of this node's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    /// Tree size it covers.
    pub size: u64,
    /// The signed note text.
    pub note: String,
}

/// Handle to the checkpointer task.
#[derive(Clone)]
pub struct Checkpoints {
    demand: Arc<Notify>,
    latest: watch::Receiver<Option<SignedHead>>,
    halted: Arc<std::sync::Mutex<Option<String>>>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("latest", &*self.latest.borrow())
            .finish()
    }
}

impl Checkpoints {
    /// Start the checkpointer: it signs a checkpoint at least every
    /// [`CHECKPOINT_INTERVAL`] while the log grows, and at once when asked.
    /// After each, it rewrites `head_file` (if given) with the size and
    /// root signed, at most every [`head::HEAD_FILE_EVERY`] ([`head`]).
    pub async fn spawn(
        storage: Storage,
        key: Arc<LogKey>,
        head_file: Option<std::path::PathBuf>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Checkpoints, LogError> {
        let initial = storage
            .latest_checkpoint()
            .await?
            .map(|(size, note)| SignedHead { size, note });
        let (tx, rx) = watch::channel(initial);
        let demand = Arc::new(Notify::new());
        let wake = Arc::clone(&demand);
        let halted: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let stop = Arc::clone(&halted);
        let (keep, kept) = tokio::sync::mpsc::unbounded_channel();
        let storage_for_keeping = storage.clone();
        let mut sm3 = if key.states_sm3_root() {
            Some(sm3_tree::Sm3Follower::resume(&storage).await)
        } else {
            None
        };
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                    _ = wake.notified() => {}
                }
                let head = storage.tree_head();
                let last = tx.borrow().as_ref().map(|h| h.size);
                if head.size == 0 || last.is_some_and(|s| s >= head.size) {
                    continue;
                }
                if lock(&stop).is_some() {
                    // `halt` said why, once; wake the receipts waiting for a
                    // checkpoint so that they fail with the reason.
                    tx.send_modify(|_| {});
                    continue;
                }
                let sm3_root = match &mut sm3 {
                    Some(follower) => match follower.root_at(&storage, head).await {
                        Ok(root) => Some(root),
                        Err(e) => {
                            tracing::error!(error = %e, "could not sign a checkpoint");
                            continue;
                        }
                    },
                    None => None,
                };
                match key.sign(head.size, head.root, sm3_root.as_ref()) {
                    Ok(note) => {
                        // Published first, kept after: the waiting receipts need not
                        // wait for a second transaction. A checkpoint lost to a crash
                        // before it is stored is signed again identically (Ed25519 and
                        // credex-gm's SM2 are deterministic, and the note holds only
                        // origin, size, root and the SM3 root of the same entries).
                        tx.send_replace(Some(SignedHead {
                            size: head.size,
                            note: note.clone(),
                        }));
                        let edge = sm3.as_ref().map(sm3_tree::Sm3Follower::edge);
                        if keep.send((head.size, head.root, note, edge)).is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "could not sign a checkpoint"),
                }
            }
        });
        tracker.spawn(keep_checkpoints(storage_for_keeping, kept, head_file));
        Ok(Checkpoints {
            demand,
            latest: rx,
            halted,
        })
    }

    /// Stop signing for good (until the node restarts): a witness showed
    /// that the log published more than it holds, so any checkpoint signed
    /// now would fork it. Callers waiting in [`Checkpoints::covering`] get
    /// [`LogError::Halted`].
    pub fn halt(&self, reason: String) {
        tracing::error!(%reason, "LOG HALTED: this node signs no more checkpoints until it is restarted on a log that holds what it published");
        *lock(&self.halted) = Some(reason);
        self.demand.notify_one();
    }

    /// Why the checkpointer halted, if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// The latest signed checkpoint.
    pub fn latest(&self) -> Option<SignedHead> {
        self.latest.borrow().clone()
    }

    /// A signed checkpoint whose tree contains leaf `index`, signed now if
    /// none is yet. Cancel-safe.
    pub async fn covering(&self, index: u64) -> Result<SignedHead, LogError> {
        let mut rx = self.latest.clone();
        loop {
            if let Some(head) = rx.borrow_and_update().as_ref()
                && head.size > index
            {
                return Ok(head.clone());
            }
            if let Some(reason) = self.halted() {
                return Err(LogError::Halted(reason));
            }
            self.demand.notify_one();
            if rx.changed().await.is_err() {
                return Err(LogError::Stopped);
            }
        }
    }
}

/// A signed checkpoint to keep: size, root, note, and under `sm2-sm3` the
/// SM3 edge at its size.
type ToKeep = (u64, Hash, String, Option<sm3_tree::Sm3Edge>);

/// Store each signed checkpoint and record the last in the head file (and,
/// under `sm2-sm3`, its SM3 edge), in the order signed, off the receipts'
/// path. The checkpoints signed while the previous ones were being stored
/// are stored together, in one group commit, and only the newest goes to
/// the head file, at most every [`head::HEAD_FILE_EVERY`]: it records the
/// largest size signed. Ends when the checkpointer does, with the head file
/// written.
async fn keep_checkpoints(
    storage: Storage,
    mut kept: tokio::sync::mpsc::UnboundedReceiver<ToKeep>,
    head_file: Option<std::path::PathBuf>,
) {
    let mut head_file = head::HeadFileWriter::new(head_file);
    loop {
        let first = tokio::select! {
            next = kept.recv() => match next {
                Some(first) => first,
                None => break,
            },
            () = head_file.due() => {
                head_file.flush().await;
                continue;
            }
        };
        let mut round = vec![first];
        while let Ok(next) = kept.try_recv() {
            round.push(next);
        }
        let stored = storage
            .store_checkpoints(
                round
                    .iter()
                    .map(|(size, _, note, _)| (*size, note.clone()))
                    .collect(),
            )
            .await;
        let mut last = None;
        for (checkpoint, result) in round.into_iter().zip(stored) {
            match result {
                Ok(()) => last = Some(checkpoint),
                Err(e) => tracing::error!(error = %e, "could not store a checkpoint"),
            }
        }
        let Some((size, root, _, edge)) = last else {
            continue;
        };
        if let Some(edge) = edge
            && let Err(e) = edge.keep(&storage).await
        {
            // Only a start's cost: it then reads more of the journal.
            tracing::warn!(error = %e, "could not keep the SM3 edge");
        }
        head_file.record(size, root).await;
    }
    head_file.flush().await;
}

/// The halt reason's lock; a panic while holding it leaves an `Option`
/// consistent, so the guard is recovered.
fn lock(m: &std::sync::Mutex<Option<String>>) -> std::sync::MutexGuard<'_, Option<String>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Build the receipt for journal record `seq`.
pub async fn receipt(
    storage: &Storage,
    checkpoints: &Checkpoints,
    seq: u64,
) -> Result<Receipt, LogError> {
    let head = checkpoints.covering(seq).await?;
    let record = storage
        .journal_range(seq, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| LogError::Sign(format!("journal record {seq} not found")))?;
    let proof = storage.inclusion_proof(seq, head.size).await?;
    Ok(Receipt {
        leaf_index: seq,
        entry: credex_journal::entry_bytes(record.kind, record.recorded_at_unix_ms, &record.body),
        checkpoint: head.note,
        inclusion_proof: proof.iter().map(|h| *h.as_bytes()).collect(),
    })
}

/// Why a peer's receipt was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The response carries no receipt.
    #[error("the response carries no log receipt")]
    Missing,
    /// The responder's key cannot verify checkpoints.
    #[error(transparent)]
    Key(#[from] credex_pki::log_key::LogKeyError),
    /// The checkpoint does not verify under the responder's key.
    #[error("receipt checkpoint: {0}")]
    Checkpoint(#[source] credex_protocol::tlog::OpenCheckpointError),
    /// The entry is not in the checkpoint's tree.
    #[error("receipt inclusion proof: {0}")]
    Inclusion(#[source] credex_protocol::tlog::VerifyError),
    /// The logged entry is not an access entry.
    #[error("receipt entry: {0}")]
    Entry(#[source] credex_journal::EntryError),
    /// The logged entry is another access: its query digest, outcome or
    /// reason is not this response's.
    #[error(
        "receipt entry: the logged entry is not this query's decision (digest, outcome or reason differ)"
    )]
    NotThisQuery,
}

/// Verify a response's receipt against the responder's node certificate
/// (the leaf of the response's signer chain, already verified with the
/// response: the checkpoint's SM2 line under `sm2-sm3`, else its Ed25519
/// line) and the query digest.
pub fn verify_receipt(
    response: &QueryResponse,
    responder_cert: &[u8],
    query_digest: [u8; 32],
) -> Result<CounterpartReceipt, ReceiptError> {
    let receipt = response.receipt.as_ref().ok_or(ReceiptError::Missing)?;
    let body = &response.body;
    let signed = receipt_checkpoints::open(
        &receipt.checkpoint,
        responder_cert,
        body.responder_region,
        &body.responder_node,
    )?;
    let cp = signed.checkpoint();
    let leaf = leaf_hash(&receipt.entry);
    let proof: Vec<Hash> = receipt.inclusion_proof.iter().map(|h| Hash(*h)).collect();
    verify_inclusion(&leaf, receipt.leaf_index, cp.size(), &proof, cp.root())
        .map_err(ReceiptError::Inclusion)?;
    let entry = credex_journal::parse_access_entry(&receipt.entry).map_err(ReceiptError::Entry)?;
    if entry.direction != Direction::Received
        || entry.query_digest != query_digest
        || entry.outcome != body.outcome
        || entry.reason != body.reason
    {
        return Err(ReceiptError::NotThisQuery);
    }
    Ok(CounterpartReceipt {
        origin: cp.origin().to_owned(),
        leaf_index: receipt.leaf_index,
        checkpoint_size: cp.size(),
        checkpoint_root: *cp.root().as_bytes(),
    })
}

/// Open a receipt's checkpoint `note` on the line that the certificate
/// `signer_cert` of node `name` of `region` vouches for (the leaf of the
/// signed object's chain: SM2 under `sm2-sm3`, else Ed25519).
pub fn open_receipt_checkpoint(
    note: &str,
    signer_cert: &[u8],
    region: RegionCode,
    name: &NodeName,
) -> Result<credex_protocol::tlog::SignedCheckpoint, ReceiptError> {
    let key = node_checkpoint_verifier(signer_cert, region, name)?;
    open_checkpoint(note.as_bytes(), &key, &[]).map_err(ReceiptError::Checkpoint)
}

/// Forks this process has detected as a witness (for logs and metrics).
pub static FORKS_DETECTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Why this node refused to cosign.
#[derive(Debug, thiserror::Error)]
pub enum WitnessRefusal {
    /// The checkpoint is not a valid checkpoint of the sender's log.
    #[error("{0}")]
    Invalid(String),
    /// This witness saw a newer checkpoint, or another starting size.
    #[error("last saw size {last}: {reason}")]
    Stale {
        /// The size this witness last cosigned.
        last: u64,
        /// What was wrong.
        reason: String,
    },
    /// The checkpoint contradicts one seen before: kept as evidence.
    #[error("fork: {0}")]
    Fork(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

fn checkpoint_of(note: &str) -> Result<Checkpoint, String> {
    let parsed = credex_protocol::tlog::Note::parse(note.as_bytes()).map_err(|e| e.to_string())?;
    Checkpoint::parse(parsed.text()).map_err(|e| e.to_string())
}

/// As a witness: check `request` from `peer` against the last checkpoint
/// this node saw from the peer's log, remember it, and cosign it. A
/// checkpoint that cannot be true together with the one seen before is
/// stored as evidence, logged loudly and refused.
pub async fn witness(
    storage: &Storage,
    key: &LogKey,
    peer: &crate::transport::PeerIdentity,
    request: &credex_protocol::WitnessRequest,
    now_unix_secs: u64,
) -> Result<String, WitnessRefusal> {
    // The peer's TLS certificate: its Ed25519 line, what C2SP witnesses check.
    let vkey = node_checkpoint_verifier(&peer.certificate, peer.region, &peer.name)
        .map_err(|e| WitnessRefusal::Invalid(e.to_string()))?;
    let signed = open_checkpoint(request.checkpoint.as_bytes(), &vkey, &[])
        .map_err(|e| WitnessRefusal::Invalid(format!("checkpoint of {}: {e}", vkey.name())))?;
    let cp = signed.checkpoint();
    let origin = cp.origin().to_owned();
    // One witnessing per log at a time in this process; the store's
    // compare-and-set below covers other processes on the same store.
    let lock = witness_lock(&origin);
    let _serial = lock.lock().await;
    let previous = storage.witnessed(&origin).await?;
    if let Some((last, old_note)) = previous.clone() {
        let old = checkpoint_of(&old_note).map_err(WitnessRefusal::Invalid)?;
        if cp.size() == last && cp.root() != old.root() {
            let detail = format!(
                "two checkpoints of size {last} with different roots: the log showed two histories"
            );
            return Err(fork(storage, &origin, old_note, request, detail).await?);
        }
        if cp.size() < last {
            return Err(WitnessRefusal::Stale {
                last,
                reason: format!("checkpoint of size {} is older", cp.size()),
            });
        }
        if request.old_size != last {
            return Err(WitnessRefusal::Stale {
                last,
                reason: format!("the proof starts from size {}", request.old_size),
            });
        }
        let proof: Vec<Hash> = request.consistency_proof.iter().map(|h| Hash(*h)).collect();
        if let Err(e) = credex_protocol::tlog::verify_consistency(
            last,
            cp.size(),
            old.root(),
            cp.root(),
            &proof,
        ) {
            let detail = format!(
                "checkpoint of size {} is not an extension of the one of size {last} seen before: {e}",
                cp.size()
            );
            return Err(fork(storage, &origin, old_note, request, detail).await?);
        }
    } else if request.old_size != 0 {
        return Err(WitnessRefusal::Stale {
            last: 0,
            reason: "this witness has seen no checkpoint of this log".into(),
        });
    }
    let last = previous.as_ref().map_or(0, |(size, _)| *size);
    storage
        .set_witnessed(origin, previous, cp.size(), request.checkpoint.clone())
        .await
        .map_err(|e| match e {
            StorageError::WitnessedConflict { .. } => WitnessRefusal::Stale {
                last,
                reason: "another checkpoint of this log was witnessed meanwhile; send again".into(),
            },
            e => WitnessRefusal::Storage(e),
        })?;
    key.cosign(cp, now_unix_secs)
        .map_err(|e| WitnessRefusal::Invalid(e.to_string()))
}

/// Keep `request`'s checkpoint and the one seen before as evidence of a
/// fork, say so loudly, and return the refusal.
async fn fork(
    storage: &Storage,
    origin: &str,
    old_note: String,
    request: &credex_protocol::WitnessRequest,
    detail: String,
) -> Result<WitnessRefusal, StorageError> {
    FORKS_DETECTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::error!(log = %origin, %detail, "FORK DETECTED: two signed checkpoints of one log cannot both be true; both kept as evidence");
    storage
        .store_evidence(
            origin.to_owned(),
            "inconsistent_checkpoints".into(),
            old_note,
            request.checkpoint.clone(),
            detail.clone(),
        )
        .await?;
    Ok(WitnessRefusal::Fork(detail))
}

/// The lock that serialises witnessing of the log `origin` in this process.
fn witness_lock(origin: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::LazyLock::new(Default::default);
    // A panic while holding this map's lock leaves it consistent (one
    // insert): recover the guard.
    let mut locks = LOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    locks.entry(origin.to_owned()).or_default().clone()
}

#[cfg(test)]
pub(crate) mod tests;
