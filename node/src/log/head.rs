//! The largest tree this node's log ever published, and the rule that the
//! node never signs a second, different tree at a size it already published
//! (issue 18 §4, decision 1000).
//!
//! A database restored from an older backup holds fewer entries than the
//! log published. Left alone, the node would append new entries after the
//! old ones and sign checkpoints at sizes its witnesses and peers already
//! hold with other roots: a fork, signed by the node's own key. So the node
//! learns the head it published before it signs anything:
//!
//! - **from its witnesses** ([`Request::WitnessedHead`]): each returns the
//!   last checkpoint of this log it cosigned, as this node signed it — a
//!   witness cannot invent one, only withhold it;
//! - **from its head file** (`DATA_DIR/log-head`), which the checkpointer
//!   rewrites after the checkpoints it signs (in place, two checked slots,
//!   `head/file.rs`); a restore of the database alone leaves it ahead of the
//!   tree.
//!
//! When either is ahead of the tree, or names another root at a size the
//! tree has, the node refuses to start ([`HeadError`]) and says what to do.
//! After `credex restore` (the marker [`RESTORED_MARKER`]) the node also
//! refuses to start until at least one witness has answered. While the
//! node runs, a witness that says it saw more halts the checkpointer
//! ([`super::Checkpoints::halt`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credex_protocol::tlog::{Hash, open_checkpoint};
use credex_protocol::{Request, Response};

use super::LogKey;
use crate::config::{NodeConfig, PeerConfig};
use crate::storage::{Storage, StorageError};
use crate::transport::Transport;

mod file;

pub use file::{read_head_file, write_head_file};

/// The file `credex restore` leaves in the data directory: the next start
/// must confirm the published head with a witness before it signs.
pub const RESTORED_MARKER: &str = "RESTORED";

/// The file the checkpointer rewrites after the checkpoints it signs, at
/// most every [`HEAD_FILE_EVERY`].
pub const HEAD_FILE: &str = "log-head";

/// How long the head file may lag the last checkpoint signed while the log
/// grows (decision 1140): each rewrite costs an `fsync`, and under load the
/// checkpointer signs one checkpoint per group commit. A database restored
/// from a backup is older than that by far; the witnesses cover the rest.
pub const HEAD_FILE_EVERY: Duration = Duration::from_millis(20);

/// How long the start waits for each witness after a restore: twice the
/// configured handshake timeout (20 s by default).
pub fn confirm_timeout(config: &NodeConfig) -> Duration {
    config.transport.handshake_timeout * 2
}

/// A checkpoint of this log that left the node, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedHead {
    /// Its tree size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Who holds it: a witness (`REGION/NAME`) or the head file.
    pub held_by: String,
    /// The signed note, when a witness returned one.
    pub note: Option<String>,
}

/// What the start learned.
#[derive(Debug, Clone, Default)]
pub struct HeadConfirmation {
    /// Witnesses asked.
    pub asked: usize,
    /// Witnesses that answered.
    pub answered: usize,
    /// The largest published head found (none: nobody holds a checkpoint).
    pub published: Option<PublishedHead>,
}

/// Why the node will not sign.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The tree is smaller than a checkpoint the log published.
    #[error(
        "this node's log holds {local} entries, but {} holds a checkpoint of size {} signed by this node (root {}): \
         the database was restored from an older backup or lost writes, and signing now would publish a second \
         history (a fork). Entries {local}..{} are missing. What to do: restore a backup taken at size {} or later \
         (`credex restore`), or recover the missing entries from an export of this log that holds them \
         (`credex log recover --config CONFIG --from EXPORT_DIR`). If neither exists those entries are lost: \
         start a new log under a new node name (a new node certificate) and tell the auditors which entries of \
         this log are lost",
        published.held_by, published.size, published.root.to_hex(), published.size, published.size
    )]
    Behind {
        /// Entries in the local tree.
        local: u64,
        /// The checkpoint that proves more was published.
        published: PublishedHead,
    },
    /// The tree has the published size but another root there.
    #[error(
        "this node's log at size {} has root {}, but {} holds a checkpoint of that size signed by this node with \
         root {}: this database is not the history the log published (restored from another node's backup, or \
         edited). Do not start it: restore this node's own latest backup, and give both checkpoints to the auditors",
        published.size, local_root.to_hex(), published.held_by, published.root.to_hex()
    )]
    Diverged {
        /// The local root at the published size.
        local_root: Hash,
        /// The checkpoint it contradicts.
        published: PublishedHead,
    },
    /// After a restore, no witness answered.
    #[error(
        "this node was restored from a backup ({marker}), and none of its {asked} witness(es) answered within \
         {secs:.1} s, so it cannot learn the largest checkpoint its log published: it will not sign until one \
         does. Start it again when a peer is reachable ({reasons}); if this node has no peers at all, delete \
         {marker} to start on the backup's log",
        marker = marker.display(), secs = waited.as_secs_f64(), reasons = reasons.join("; ")
    )]
    Unconfirmed {
        /// The restore marker.
        marker: PathBuf,
        /// How long each witness was given.
        waited: Duration,
        /// Witnesses asked.
        asked: usize,
        /// Why each did not answer.
        reasons: Vec<String>,
    },
    /// A one-shot command on a restored node that has not started since.
    #[error(
        "this node was restored from a backup ({}) and has not yet confirmed its log against its witnesses: \
         start it once (`credex node run`) before running commands that write to its log",
        marker.display()
    )]
    RestoredNotConfirmed {
        /// The restore marker.
        marker: PathBuf,
    },
    /// The head file cannot be read.
    #[error("{path}: {reason}")]
    HeadFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// At start, before anything is appended or signed: learn the published
/// head and refuse to go on if the tree is behind it or contradicts it.
/// The head file is always read; the witnesses are asked only after a
/// restore (the marker) — otherwise the witnessing loop checks as it runs.
/// On success the restore marker is removed.
pub async fn confirm_at_start(
    config: &NodeConfig,
    storage: &Storage,
    key: &LogKey,
    transport: impl FnOnce() -> Result<Transport, crate::boot::StartError>,
) -> Result<HeadConfirmation, crate::boot::StartError> {
    let marker = config.data_dir.join(RESTORED_MARKER);
    let from_file = read_head_file(&config.data_dir.join(HEAD_FILE))?;
    let restored = marker.exists();
    let mut confirmation = HeadConfirmation::default();
    if let Some(head) = from_file {
        check(storage, &head).await?;
        confirmation.published = Some(head);
    }
    if restored && !config.peers.is_empty() {
        let transport = transport()?;
        let waited = confirm_timeout(config);
        let asked = ask_witnesses(&transport, key, &config.peers, waited).await;
        transport.close_now();
        confirmation.asked = config.peers.len();
        confirmation.answered = asked.answered;
        for head in asked.heads {
            check(storage, &head).await?;
            if confirmation
                .published
                .as_ref()
                .is_none_or(|p| p.size < head.size)
            {
                confirmation.published = Some(head);
            }
        }
        if restored && asked.answered == 0 {
            return Err(HeadError::Unconfirmed {
                marker,
                waited,
                asked: config.peers.len(),
                reasons: asked.failures,
            }
            .into());
        }
    }
    if restored {
        std::fs::remove_file(&marker).map_err(|e| HeadError::HeadFile {
            path: marker.clone(),
            reason: format!("cannot remove the restore marker: {e}"),
        })?;
        tracing::info!(
            asked = confirmation.asked,
            answered = confirmation.answered,
            published = ?confirmation.published.as_ref().map(|p| p.size),
            local = storage.tree_head().size,
            "restored log confirmed against its witnesses: nothing it published is missing"
        );
    }
    Ok(confirmation)
}

/// For one-shot commands that append and sign while the node may be
/// stopped: refuse on a restored node not yet confirmed, or a tree behind
/// the head file. They ask no witness; the node does when it starts.
pub async fn check_local(config: &NodeConfig, storage: &Storage) -> Result<(), HeadError> {
    let marker = config.data_dir.join(RESTORED_MARKER);
    if marker.exists() {
        return Err(HeadError::RestoredNotConfirmed { marker });
    }
    match read_head_file(&config.data_dir.join(HEAD_FILE))? {
        Some(head) => check(storage, &head).await,
        None => Ok(()),
    }
}

/// `head` against the local tree: behind it, or another root at its size,
/// is an error.
pub async fn check(storage: &Storage, head: &PublishedHead) -> Result<(), HeadError> {
    let local = storage.tree_head().size;
    if head.size > local {
        return Err(HeadError::Behind {
            local,
            published: head.clone(),
        });
    }
    if head.size == 0 {
        return Ok(());
    }
    let local_root = storage.tree_root(head.size).await?;
    if local_root != head.root {
        return Err(HeadError::Diverged {
            local_root,
            published: head.clone(),
        });
    }
    Ok(())
}

/// What the witnesses said.
#[derive(Debug, Default)]
pub struct WitnessAnswers {
    /// Witnesses that answered (with a checkpoint or none).
    pub answered: usize,
    /// The checkpoints they returned that this node's key signed.
    pub heads: Vec<PublishedHead>,
    /// Why the others did not answer, or what was wrong with an answer.
    pub failures: Vec<String>,
}

/// Ask every peer in `peers` which checkpoint of this log it cosigned
/// last, each within `timeout` — and, once one has answered, the others
/// within half of it. Checkpoints not signed by `key` are
/// ignored (and named in `failures`): a witness can withhold, not invent.
pub async fn ask_witnesses(
    transport: &Transport,
    key: &LogKey,
    peers: &[PeerConfig],
    timeout: Duration,
) -> WitnessAnswers {
    let mut asks = super::each_peer::each_peer(transport, peers, timeout, |conn| async move {
        conn.request(&Request::WitnessedHead)
            .await
            .map_err(|e| e.to_string())
    });
    let mut answers = WitnessAnswers::default();
    // Once one witness answered, the others get a grace period: a live
    // witness cosigns every few seconds, so the ones still silent are most
    // likely down, and waiting out their full timeout only delays the start.
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let next = match grace {
            Some(until) => match tokio::time::timeout_at(until, asks.join_next()).await {
                Ok(next) => next,
                Err(_) => {
                    answers.failures.push(format!(
                        "{} witness(es) still silent {} s after the first answer",
                        asks.len(),
                        (timeout / 2).as_secs()
                    ));
                    break;
                }
            },
            None => asks.join_next().await,
        };
        let Some(joined) = next else { break };
        let Ok((who, answer)) = joined else { continue };
        if matches!(answer, Ok(Response::WitnessedHead(_))) && grace.is_none() {
            grace = Some(tokio::time::Instant::now() + timeout / 2);
        }
        match answer {
            Ok(Response::WitnessedHead(None)) => answers.answered += 1,
            Ok(Response::WitnessedHead(Some(note))) => {
                answers.answered += 1;
                match open_checkpoint(note.as_bytes(), key.verifier(), &[]) {
                    Ok(signed) => {
                        let cp = signed.checkpoint();
                        answers.heads.push(PublishedHead {
                            size: cp.size(),
                            root: *cp.root(),
                            held_by: format!("witness {who}"),
                            note: Some(note),
                        });
                    }
                    Err(e) => answers.failures.push(format!(
                        "{who} returned a checkpoint this node did not sign: {e}"
                    )),
                }
            }
            Ok(Response::Error(e)) => answers
                .failures
                .push(format!("{who} refused: {}", e.message)),
            Ok(_) => answers
                .failures
                .push(format!("{who}: an answer of another kind")),
            Err(reason) => answers.failures.push(format!("{who}: {reason}")),
        }
    }
    answers
}

/// The checkpointer's head file: it records the newest checkpoint signed at
/// once when the last rewrite is [`HEAD_FILE_EVERY`] old, and otherwise
/// keeps it pending until [`HeadFileWriter::due`] or [`HeadFileWriter::flush`].
pub(super) struct HeadFileWriter {
    file: Option<Arc<Mutex<file::HeadFile>>>,
    pending: Option<(u64, Hash)>,
    written_at: Option<tokio::time::Instant>,
}

impl HeadFileWriter {
    /// Writes to `path`; with none, records nothing.
    pub(super) fn new(path: Option<PathBuf>) -> Self {
        HeadFileWriter {
            file: path.map(|p| Arc::new(Mutex::new(file::HeadFile::new(p)))),
            pending: None,
            written_at: None,
        }
    }

    /// Records a checkpoint signed at `size` with `root`: now, or when due.
    pub(super) async fn record(&mut self, size: u64, root: Hash) {
        if self.file.is_none() {
            return;
        }
        self.pending = Some((size, root));
        let due = self
            .written_at
            .is_none_or(|at| at.elapsed() >= HEAD_FILE_EVERY);
        if due {
            self.flush().await;
        }
    }

    /// Completes when a pending checkpoint is due to be written; never
    /// while none is pending. Cancel-safe.
    pub(super) async fn due(&self) {
        match (self.pending, self.written_at) {
            (Some(_), Some(at)) => tokio::time::sleep_until(at + HEAD_FILE_EVERY).await,
            (Some(_), None) => {}
            (None, _) => std::future::pending().await,
        }
    }

    /// Writes the pending checkpoint, if any.
    pub(super) async fn flush(&mut self) {
        let (Some(file), Some((size, root))) = (self.file.clone(), self.pending.take()) else {
            return;
        };
        self.written_at = Some(tokio::time::Instant::now());
        let written = tokio::task::spawn_blocking(move || {
            // A poisoned lock only means an earlier write panicked; the
            // file's slots are checked on every read.
            file.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write(size, &root)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(?written, "could not record the signed head");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_file_reads_back_what_was_written_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HEAD_FILE);
        assert_eq!(read_head_file(&path).unwrap(), None);
        write_head_file(&path, 187, &Hash([7; 32])).unwrap();
        let head = read_head_file(&path).unwrap().unwrap();
        assert_eq!((head.size, head.root), (187, Hash([7; 32])));
        std::fs::write(&path, "187 zz\n").unwrap();
        let e = read_head_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("no 32-byte root") && e.contains("log-head"),
            "{e}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_head_file_lags_the_newest_checkpoint_at_most_its_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HEAD_FILE);
        let size_on_file = || read_head_file(&path).unwrap().map(|h| h.size);
        let mut writer = HeadFileWriter::new(Some(path.clone()));

        // The first checkpoint is written at once; the next within the
        // interval waits, and is written when due.
        writer.record(1, Hash([1; 32])).await;
        assert_eq!(size_on_file(), Some(1));
        writer.record(2, Hash([2; 32])).await;
        writer.record(3, Hash([3; 32])).await;
        assert_eq!(size_on_file(), Some(1), "rewritten within the interval");
        let waited = tokio::time::Instant::now();
        writer.due().await;
        assert!(waited.elapsed() <= HEAD_FILE_EVERY);
        writer.flush().await;
        let head = read_head_file(&path).unwrap().unwrap();
        assert_eq!(
            (head.size, head.root),
            (3, Hash([3; 32])),
            "the newest is due"
        );

        // A checkpoint left pending is written by the last flush (the
        // checkpointer's end). Nothing pending: never due.
        writer.record(4, Hash([4; 32])).await;
        assert_eq!(size_on_file(), Some(3));
        writer.flush().await;
        assert_eq!(size_on_file(), Some(4));
        let nothing = tokio::time::timeout(HEAD_FILE_EVERY * 10, writer.due()).await;
        assert!(nothing.is_err(), "due with nothing pending");
    }
}
