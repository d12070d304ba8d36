//! What the log's signing and witnessing leave in the store: this node's
//! checkpoints and the cosignatures witnesses returned for them, the latest
//! checkpoint verified of each peer's log, and evidence of forks.
//!
//! The store keeps these as text and does not parse, sign or verify them:
//! the access log does that with `credex_protocol::tlog`. It enforces only
//! what keeps the tables meaningful: one checkpoint per tree size, never
//! one beyond the committed tree; a cosignature only of a stored
//! checkpoint; a peer's witnessed size never going back; bounded lengths.
//! Writes go through the writer task like every other write.

use tokio::sync::oneshot;

use credex_protocol::tlog::{MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES};

use super::writer::Command;
use super::{MAX_PEER_NAME_LEN, Storage, StorageError};

/// Longest log origin or witness name accepted, in bytes.
pub const MAX_LOG_NAME_LEN: usize = 256;

/// Longest cosignature line accepted, in bytes (a C2SP signature line is
/// about 150 bytes).
pub const MAX_COSIGNATURE_LINE_LEN: usize = 1024;

/// Most cosignatures stored per checkpoint: what one signed note can carry
/// beside the log's own signature.
pub const MAX_COSIGNATURES: usize = MAX_NOTE_SIGNATURES - 1;

/// Longest evidence kind accepted, in bytes (e.g. `fork`).
pub const MAX_EVIDENCE_KIND_LEN: usize = MAX_PEER_NAME_LEN;

/// Longest evidence detail accepted, in bytes.
pub const MAX_EVIDENCE_DETAIL_LEN: usize = 64 * 1024;

/// Most checkpoints one [`Storage::checkpoints_after`] call returns.
pub const MAX_CHECKPOINTS_PER_READ: u32 = 1024;

/// Most evidence records one [`Storage::evidence`] or
/// [`Storage::evidence_after`] call returns.
pub const MAX_EVIDENCE_PER_READ: u32 = 1024;

/// One piece of evidence: two signed statements that cannot both be true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// Position in the evidence table, increasing from 1.
    pub id: u64,
    /// Origin of the log the evidence is about.
    pub origin: String,
    /// What kind of contradiction (e.g. `fork`).
    pub kind: String,
    /// The first statement (e.g. a signed checkpoint).
    pub first: String,
    /// The statement that contradicts it.
    pub second: String,
    /// Why they contradict each other, for people.
    pub detail: String,
    /// When this node stored it (from the [`Clock`](super::Clock)).
    pub recorded_at_unix_ms: i64,
}

/// A write to the log's side tables, run by the writer.
pub(crate) enum LogWrite {
    Checkpoint {
        size: u64,
        note: String,
    },
    Cosignature {
        size: u64,
        witness: String,
        line: String,
    },
    Witnessed {
        origin: String,
        previous: Option<(u64, String)>,
        size: u64,
        note: String,
    },
    Evidence {
        origin: String,
        kind: String,
        first: String,
        second: String,
        detail: String,
    },
}

/// Checks that `value` (the field `field`) is 1 ..= `max` bytes.
fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), StorageError> {
    if value.is_empty() || value.len() > max {
        return Err(StorageError::InvalidLogRecord {
            field,
            reason: format!("must be 1..={max} bytes, got {}", value.len()),
        });
    }
    Ok(())
}

/// A tree size as a database integer; sizes never exceed 2^62.
fn db_size(field: &'static str, size: u64) -> Result<i64, StorageError> {
    i64::try_from(size).map_err(|_| StorageError::InvalidLogRecord {
        field,
        reason: format!("size {size} exceeds the largest tree"),
    })
}

impl LogWrite {
    fn validate(&self) -> Result<(), StorageError> {
        match self {
            LogWrite::Checkpoint { size, note } => {
                db_size("size", *size)?;
                check_text("note", note, MAX_NOTE_BYTES)
            }
            LogWrite::Cosignature {
                size,
                witness,
                line,
            } => {
                db_size("size", *size)?;
                check_text("witness", witness, MAX_LOG_NAME_LEN)?;
                check_text("line", line, MAX_COSIGNATURE_LINE_LEN)
            }
            LogWrite::Witnessed {
                origin,
                previous,
                size,
                note,
            } => {
                db_size("size", *size)?;
                if let Some((stored, _)) = previous
                    && size < stored
                {
                    return Err(StorageError::WitnessedRegression {
                        origin: origin.clone(),
                        stored: *stored,
                        offered: *size,
                    });
                }
                check_text("origin", origin, MAX_LOG_NAME_LEN)?;
                check_text("note", note, MAX_NOTE_BYTES)
            }
            LogWrite::Evidence {
                origin,
                kind,
                first,
                second,
                detail,
            } => {
                check_text("origin", origin, MAX_LOG_NAME_LEN)?;
                check_text("kind", kind, MAX_EVIDENCE_KIND_LEN)?;
                check_text("first", first, MAX_NOTE_BYTES)?;
                check_text("second", second, MAX_NOTE_BYTES)?;
                check_text("detail", detail, MAX_EVIDENCE_DETAIL_LEN)
            }
        }
    }
}

impl Storage {
    /// Stores this node's signed checkpoint (note text) of the tree of
    /// `size` records. Storing the same note again is a no-op; a different
    /// note for a stored size fails with [`StorageError::CheckpointConflict`]
    /// (two signed views of one size are a fork in the making). `size` must
    /// not exceed the committed tree ([`StorageError::TreeSizeUnavailable`]).
    /// The note is at most `MAX_NOTE_BYTES`; it is not parsed here. Goes
    /// through the writer queue; returns once durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the write.
    pub async fn store_checkpoint(&self, size: u64, note: String) -> Result<(), StorageError> {
        // One checkpoint in, one result out: `pop` always finds it.
        self.store_checkpoints(vec![(size, note)])
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// [`Storage::store_checkpoint`] for each of `checkpoints`, queued
    /// together so that they are stored in one group commit; returns each
    /// one's result, in order.
    pub async fn store_checkpoints(
        &self,
        checkpoints: Vec<(u64, String)>,
    ) -> Vec<Result<(), StorageError>> {
        let committed = self.tree_head().size;
        let mut queued = Vec::with_capacity(checkpoints.len());
        for (size, note) in checkpoints {
            let write = LogWrite::Checkpoint { size, note };
            let sent = match write.validate() {
                _ if size > committed => Err(StorageError::TreeSizeUnavailable { size, committed }),
                Err(e) => Err(e),
                Ok(()) => {
                    let (reply, answer) = oneshot::channel();
                    self.send(Command::LogWrite { write, reply })
                        .await
                        .map(|()| answer)
                }
            };
            queued.push(sent);
        }
        let mut results = Vec::with_capacity(queued.len());
        for sent in queued {
            results.push(match sent {
                Ok(answer) => self.answer(answer).await.map(drop),
                Err(e) => Err(e),
            });
        }
        results
    }

    /// The checkpoint of the largest tree size stored, if any. Cancel-safe
    /// (read only).
    pub async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StorageError> {
        self.inner.engine.latest_checkpoint().await
    }

    /// The checkpoint stored for tree size `size`, if any. Cancel-safe
    /// (read only).
    pub async fn checkpoint(&self, size: u64) -> Result<Option<String>, StorageError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        self.inner.engine.checkpoint(size).await
    }

    /// Up to `limit` (at most [`MAX_CHECKPOINTS_PER_READ`]) checkpoints of
    /// tree sizes above `size`, smallest first, as `(size, note)`.
    /// Cancel-safe (read only).
    pub async fn checkpoints_after(
        &self,
        size: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>, StorageError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_CHECKPOINTS_PER_READ);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.inner.engine.checkpoints_after(size, limit).await
    }

    /// Stores the cosignature `line` (a C2SP signature line) that
    /// `witness` returned for this node's checkpoint of tree size `size`.
    /// The checkpoint must be stored ([`StorageError::CheckpointMissing`]);
    /// a witness's first cosignature of a checkpoint is kept and later ones
    /// are ignored; at most [`MAX_COSIGNATURES`] witnesses per checkpoint
    /// ([`StorageError::TooManyCosignatures`]). Goes through the writer
    /// queue; returns once durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the write.
    pub async fn store_cosignature(
        &self,
        size: u64,
        witness: String,
        line: String,
    ) -> Result<(), StorageError> {
        self.log_write(LogWrite::Cosignature {
            size,
            witness,
            line,
        })
        .await
        .map(drop)
    }

    /// The cosignatures stored for the checkpoint of tree size `size`, as
    /// `(witness, line)` ordered by witness name (at most
    /// [`MAX_COSIGNATURES`]). Cancel-safe (read only).
    pub async fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, StorageError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(Vec::new());
        };
        self.inner.engine.cosignatures(size).await
    }

    /// The largest tree size any witness cosigned, if any. Cancel-safe
    /// (read only).
    pub async fn latest_cosigned_size(&self) -> Result<Option<u64>, StorageError> {
        self.inner.engine.latest_cosigned_size().await
    }

    /// Records `note`, a checkpoint of tree size `size` of the peer log
    /// `origin` that this node has verified (signature, and consistency
    /// with `previous`), as the latest seen of that log — a compare-and-set:
    /// only if the stored row is exactly `previous` (`None`: no row yet),
    /// so two witnessings of one log decided against the same state cannot
    /// both succeed ([`StorageError::WitnessedConflict`] for the second). A
    /// size below `previous`'s fails with
    /// [`StorageError::WitnessedRegression`]; the same size may replace the
    /// note (e.g. with more cosignatures). Goes through the writer queue;
    /// returns once durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the write.
    pub async fn set_witnessed(
        &self,
        origin: String,
        previous: Option<(u64, String)>,
        size: u64,
        note: String,
    ) -> Result<(), StorageError> {
        self.log_write(LogWrite::Witnessed {
            origin,
            previous,
            size,
            note,
        })
        .await
        .map(drop)
    }

    /// The latest checkpoint of peer log `origin` this node verified, as
    /// `(size, note)`. Cancel-safe (read only).
    pub async fn witnessed(&self, origin: &str) -> Result<Option<(u64, String)>, StorageError> {
        self.inner.engine.witnessed(origin).await
    }

    /// Every peer log's latest checkpoint this node verified, as
    /// `(origin, size, note)`. Cancel-safe (read only).
    pub async fn witnessed_all(&self) -> Result<Vec<(String, u64, String)>, StorageError> {
        self.inner.engine.witnessed_all().await
    }

    /// Stores evidence that log `origin` signed two statements that cannot
    /// both be true (`kind`, e.g. `fork`; the two statements, e.g. signed
    /// checkpoints; a `detail` for people) and returns its id. The same
    /// (origin, kind, first, second) stored again returns the first id and
    /// stores nothing. Raising the alarm (log line, metric) is the
    /// caller's. Goes through the writer queue; returns once durable.
    ///
    /// Like [`Storage::append`]: dropping the future after it was queued
    /// does not withdraw the write.
    pub async fn store_evidence(
        &self,
        origin: String,
        kind: String,
        first: String,
        second: String,
        detail: String,
    ) -> Result<u64, StorageError> {
        self.log_write(LogWrite::Evidence {
            origin,
            kind,
            first,
            second,
            detail,
        })
        .await
    }

    /// The evidence stored, oldest first: the first
    /// [`MAX_EVIDENCE_PER_READ`] records (page on with
    /// [`Storage::evidence_after`]). Cancel-safe (read only).
    pub async fn evidence(&self) -> Result<Vec<EvidenceRecord>, StorageError> {
        self.evidence_after(0, MAX_EVIDENCE_PER_READ).await
    }

    /// Up to `limit` (at most [`MAX_EVIDENCE_PER_READ`]) evidence records
    /// with ids above `id`, oldest first. Cancel-safe (read only).
    pub async fn evidence_after(
        &self,
        id: u64,
        limit: u32,
    ) -> Result<Vec<EvidenceRecord>, StorageError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_EVIDENCE_PER_READ);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.inner.engine.evidence_after(id, limit).await
    }

    async fn log_write(&self, write: LogWrite) -> Result<u64, StorageError> {
        write.validate()?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::LogWrite { write, reply }).await?;
        self.answer(answer).await
    }
}

/// Stores a signed checkpoint unless one is stored for its size (both
/// engines: `$N` parameters; size, note, signed-at).
pub(crate) const INSERT_CHECKPOINT: &str = "INSERT INTO checkpoints (size, note, signed_at_unix_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING";

/// The note stored for a size, after [`INSERT_CHECKPOINT`] changed nothing.
pub(crate) const STORED_CHECKPOINT: &str = "SELECT note FROM checkpoints WHERE size = $1";

/// The answer to storing the checkpoint of `size`: stored (or already
/// stored, identical), or a conflict with another note of that size.
pub(crate) fn checkpoint_stored(size: u64, stored: bool) -> Result<(), StorageError> {
    if stored {
        Ok(())
    } else {
        Err(StorageError::CheckpointConflict { size })
    }
}

/// A tree size as the database stores it (a signed 64-bit integer).
pub(crate) fn log_size(size: u64) -> Result<i64, StorageError> {
    i64::try_from(size).map_err(|_| StorageError::InvalidLogRecord {
        field: "size",
        reason: format!("size {size} exceeds the largest tree"),
    })
}
