//! Why a delivery attempt failed, and why an acknowledgement is not
//! accepted: one variant per cause, so logs and the outbox's `last_error`
//! say which rule or which hop failed.

use std::net::SocketAddr;

use credex_pki::authorization::ResponseError;
use credex_pki::log_key::LogKeyError;
use credex_protocol::federation::Flow;
use credex_protocol::tlog::{OpenCheckpointError, VerifyError};
use credex_protocol::{ErrorCode, FrameError, NodeName, RegionCode};

use crate::storage::StorageError;

/// Why one delivery attempt failed. The message stays in the outbox and is
/// tried again with backoff; the error's text is kept as its last error.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No `[[peers]]` entry names the destination region.
    #[error("no peer of region {0} is configured")]
    UnknownPeer(RegionCode),
    /// The peer could not be dialled.
    #[error("cannot reach {region}/{node} at {addr}: {reason}")]
    Unreachable {
        /// The destination region.
        region: RegionCode,
        /// The configured peer node.
        node: NodeName,
        /// Its configured address.
        addr: SocketAddr,
        /// The transport's error.
        reason: String,
    },
    /// The request failed on an open connection.
    #[error("request to {region} failed: {reason}")]
    Transport {
        /// The destination region.
        region: RegionCode,
        /// The transport's error.
        reason: String,
    },
    /// The receiver answered with an error (it did not log the message).
    #[error("{region} refused delivery: {code:?}: {message}")]
    Refused {
        /// The destination region.
        region: RegionCode,
        /// The receiver's stable error code.
        code: ErrorCode,
        /// The receiver's message.
        message: String,
    },
    /// The receiver answered something other than an acknowledgement.
    #[error("{region} answered a delivery with {answer}")]
    UnexpectedAnswer {
        /// The destination region.
        region: RegionCode,
        /// What it answered (the response's kind).
        answer: String,
    },
    /// The acknowledgement does not hold up.
    #[error(transparent)]
    Ack(#[from] AckRejected),
    /// No flow handles the message's flow any more.
    #[error("no handler for the {0} flow")]
    NoFlow(Flow),
    /// The flow could not take the acknowledgement in.
    #[error("the {flow} flow did not take the acknowledgement: {reason}")]
    Flow {
        /// The flow.
        flow: Flow,
        /// Why.
        reason: String,
    },
    /// The sent entry could not be encoded.
    #[error("cannot encode the sent entry: {0}")]
    Encode(String),
    /// The sent entry could not be logged.
    #[error("cannot log the acknowledgement: {0}")]
    Storage(#[from] StorageError),
}

impl From<FrameError> for DeliveryError {
    fn from(e: FrameError) -> DeliveryError {
        DeliveryError::Encode(e.to_string())
    }
}

/// Why an acknowledgement of a sent message is not accepted: one variant
/// per rule it must keep (signed by a node of the destination region, for
/// this message, with a receipt whose checkpoint the receiver's log key
/// signed and which includes an entry recording this message).
#[derive(Debug, thiserror::Error)]
pub enum AckRejected {
    /// The receiver's signature does not verify.
    #[error("the acknowledgement signature: {0}")]
    Signature(#[source] ResponseError),
    /// It acknowledges another message (id or digest).
    #[error("the acknowledgement is for another message")]
    OtherMessage,
    /// The node it names is not the node that signed it.
    #[error(
        "the acknowledgement names {named_region}/{named_node}, but is signed by {region}/{node}"
    )]
    SignerMismatch {
        /// The region named.
        named_region: RegionCode,
        /// The node named.
        named_node: NodeName,
        /// The signer's region.
        region: RegionCode,
        /// The signer's node.
        node: NodeName,
    },
    /// The signer's chain is empty.
    #[error("the acknowledgement carries no certificate")]
    NoCertificate,
    /// The receiver's log key cannot be taken from its certificate.
    #[error("the receiver's log key: {0}")]
    LogKey(#[source] LogKeyError),
    /// The receipt's checkpoint does not open under the receiver's log key.
    #[error("the receipt's checkpoint: {0}")]
    Checkpoint(#[source] OpenCheckpointError),
    /// The receipt's inclusion proof does not verify.
    #[error("the receipt's inclusion proof: {0}")]
    Inclusion(#[source] VerifyError),
    /// The receipt's entry is not a journal entry.
    #[error("the receipt's entry: {0}")]
    Entry(#[source] credex_journal::EntryError),
    /// The receipt's entry is of another kind.
    #[error("the receipt's entry is not a received-message entry")]
    NotReceivedEntry,
    /// The receipt's entry records another message.
    #[error("the receipt's entry records another message")]
    EntryForOtherMessage,
    /// Something could not be re-encoded to be checked.
    #[error("cannot encode the acknowledgement: {0}")]
    Encode(#[source] FrameError),
}
