//! As a log owner: have a witness cosign this node's checkpoint, and keep
//! the cosignature. The witness's side is [`super::witness`].
//!
//! One exchange proves consistency from the size the witness last saw; a
//! witness that says it saw another size is asked once more from there. A
//! witness that holds a larger tree of this log than the database does, or
//! a checkpoint this one contradicts, halts the checkpointer
//! ([`super::Checkpoints::halt`]): signing on would fork the log.

use credex_pki::log_key::{LogKeyError, node_witness_verifier};
use credex_protocol::tlog::{OpenCheckpointError, open_checkpoint};

use super::{Checkpoints, LogError, LogKey, SignedHead};
use crate::storage::{Storage, StorageError};
use crate::transport::{ClientError, PeerConnection, PeerIdentity};

/// Why a witness's cosignature was not obtained. The variants after
/// `Storage` are what the witness did.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    /// This node's storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// No checkpoint of this log could be had (the checkpointer stopped or
    /// halted).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The witness's certificate holds no key that can cosign.
    #[error("witness {peer}: {source}")]
    WitnessKey {
        /// The witness.
        peer: PeerIdentity,
        /// Why its key is not usable.
        source: LogKeyError,
    },
    /// The exchange failed on the connection.
    #[error("witness {peer}: {source}")]
    Transport {
        /// The witness.
        peer: PeerIdentity,
        /// What failed.
        source: ClientError,
    },
    /// The line the witness returned does not verify under its key.
    #[error("cosignature from {peer} does not verify: {source}")]
    BadCosignature {
        /// The witness.
        peer: PeerIdentity,
        /// Why the cosigned checkpoint was refused.
        source: OpenCheckpointError,
    },
    /// The witness answered with a line that is no cosignature by its key.
    #[error("{peer} answered without a cosignature by its key")]
    NoCosignature {
        /// The witness.
        peer: PeerIdentity,
    },
    /// The witness answered with another kind of response.
    #[error("unexpected answer from {peer}: {answer}")]
    Unexpected {
        /// The witness.
        peer: PeerIdentity,
        /// The answer, shortened.
        answer: String,
    },
    /// The witness refused the checkpoint as stale without saying which
    /// size it saw.
    #[error("{peer}: {message}")]
    StaleWithoutSize {
        /// The witness.
        peer: PeerIdentity,
        /// Its refusal.
        message: String,
    },
    /// The witness cosigned a larger tree of this log than the database
    /// holds: the database is behind what the log published. The
    /// checkpointer is halted.
    #[error(
        "witness {peer} cosigned a checkpoint of size {witnessed} of this log, which holds {held}: \
         the database is behind what the log published (restored from an older backup?); \
         stop the node and see `credex log recover`"
    )]
    DatabaseBehind {
        /// The witness.
        peer: PeerIdentity,
        /// The size it cosigned.
        witnessed: u64,
        /// The size the journal holds.
        held: u64,
    },
    /// The witness already cosigned a newer checkpoint than the one
    /// offered (another process of the region was quicker).
    #[error("{peer} already cosigned a newer checkpoint (size {witnessed}) than this one ({size})")]
    AlreadyNewer {
        /// The witness.
        peer: PeerIdentity,
        /// The size it cosigned.
        witnessed: u64,
        /// The size offered.
        size: u64,
    },
    /// The witness holds a checkpoint of this log that this one
    /// contradicts. The checkpointer is halted.
    #[error(
        "witness {peer} holds another checkpoint of this log that this one contradicts: {message}"
    )]
    Fork {
        /// The witness.
        peer: PeerIdentity,
        /// Its refusal.
        message: String,
    },
    /// The witness refused twice as stale.
    #[error("{peer} keeps refusing the checkpoint as stale")]
    KeepsRefusing {
        /// The witness.
        peer: PeerIdentity,
    },
}

/// Have the witness on `conn` cosign this log's latest checkpoint,
/// proving consistency from `last_seen` (what we believe it saw; corrected
/// once if it says otherwise). Verifies and stores the cosignature;
/// returns the size cosigned.
pub async fn request_cosignature(
    storage: &Storage,
    key: &LogKey,
    checkpoints: &Checkpoints,
    conn: &PeerConnection,
    last_seen: u64,
) -> Result<u64, CosignError> {
    // The whole log, with what other processes of the region appended.
    let size = storage.catch_up().await?.size;
    if size == 0 {
        return Ok(0);
    }
    let head = checkpoints.covering(size - 1).await?;
    cosign_head(storage, key, checkpoints, conn, &head, last_seen).await
}

/// [`request_cosignature`] of one given checkpoint `head`.
pub async fn cosign_head(
    storage: &Storage,
    key: &LogKey,
    checkpoints: &Checkpoints,
    conn: &PeerConnection,
    head: &SignedHead,
    last_seen: u64,
) -> Result<u64, CosignError> {
    let peer = conn.peer();
    let witness_key =
        node_witness_verifier(&peer.certificate, peer.region, &peer.name).map_err(|source| {
            CosignError::WitnessKey {
                peer: peer.clone(),
                source,
            }
        })?;
    let mut from = last_seen.min(head.size);
    for _ in 0..2 {
        let proof = if from == 0 {
            Vec::new()
        } else {
            storage.consistency_proof(from, head.size).await?
        };
        let request = credex_protocol::WitnessRequest {
            checkpoint: head.note.clone(),
            old_size: from,
            consistency_proof: proof.iter().map(|h| *h.as_bytes()).collect(),
        };
        match conn
            .request(&credex_protocol::Request::Witness(request))
            .await
        {
            Ok(credex_protocol::Response::Cosigned(line)) => {
                let full = format!("{}{line}", head.note);
                let opened = open_checkpoint(
                    full.as_bytes(),
                    key.verifier(),
                    std::slice::from_ref(&witness_key),
                )
                .map_err(|source| CosignError::BadCosignature {
                    peer: peer.clone(),
                    source,
                })?;
                if opened.cosignatures().is_empty() {
                    return Err(CosignError::NoCosignature { peer: peer.clone() });
                }
                // The checkpointer keeps checkpoints after publishing them: make
                // sure this one is stored before its cosignature (a no-op if it is).
                storage
                    .store_checkpoint(head.size, head.note.clone())
                    .await?;
                storage
                    .store_cosignature(head.size, witness_key.name().to_string(), line)
                    .await?;
                return Ok(head.size);
            }
            Ok(other) => {
                return Err(CosignError::Unexpected {
                    peer: peer.clone(),
                    answer: format!("{other:?}").chars().take(200).collect(),
                });
            }
            Err(ClientError::Refused(reply))
                if reply.code == credex_protocol::ErrorCode::StaleCheckpoint =>
            {
                // "last saw size N: …" — start from what the witness saw.
                let witnessed = reply
                    .message
                    .strip_prefix("last saw size ")
                    .and_then(|m| m.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| CosignError::StaleWithoutSize {
                        peer: peer.clone(),
                        message: reply.message.clone(),
                    })?;
                // The journal as it is now: other processes of this region
                // may have appended beyond this one's tree (decision 1020).
                let held = storage.catch_up().await?.size;
                if witnessed > held {
                    let behind = CosignError::DatabaseBehind {
                        peer: peer.clone(),
                        witnessed,
                        held,
                    };
                    checkpoints.halt(behind.to_string());
                    return Err(behind);
                }
                if witnessed > head.size {
                    return Err(CosignError::AlreadyNewer {
                        peer: peer.clone(),
                        witnessed,
                        size: head.size,
                    });
                }
                from = witnessed;
            }
            Err(ClientError::Refused(reply))
                if reply.code == credex_protocol::ErrorCode::ForkDetected =>
            {
                let fork = CosignError::Fork {
                    peer: peer.clone(),
                    message: reply.message,
                };
                checkpoints.halt(fork.to_string());
                return Err(fork);
            }
            Err(source) => {
                return Err(CosignError::Transport {
                    peer: peer.clone(),
                    source,
                });
            }
        }
    }
    Err(CosignError::KeepsRefusing { peer: peer.clone() })
}
