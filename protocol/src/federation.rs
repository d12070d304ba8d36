//! Federation messages: the signed, logged, exactly-once node-to-node
//! messages that carry mutual recognition (互认), joint reward/punishment
//! lists (联合奖惩) and the upward channel to the national platform.
//!
//! Every such message travels as a [`SignedEnvelope`] in
//! [`Request::Deliver`](crate::Request::Deliver): the sending node signs
//! [`DOMAIN_FEDERATION_MESSAGE`] ‖ encode([`Envelope`]) with its node key
//! and attaches its certificate chain, so an auditor can re-check the
//! message years later from the receiver's log alone. The receiver logs the
//! message (with the signed envelope as an attachment) before acting on it,
//! keyed by `(from_region, message_id)` so a message delivered twice is
//! applied once, and answers with a [`SignedDeliveryAck`] carrying its log
//! receipt. The sender logs the acknowledgement with that receipt. So each
//! message appears in both logs, and the two entries are linked by the
//! receipt's leaf index, as for queries (DESIGN §7).
//!
//! The payload is the flow's own message, postcard-encoded; `kind` says
//! which one. Flows define their payloads in their own modules; this module
//! only frames them.

use serde::{Deserialize, Serialize};

use crate::egress::{EgressBoundError, EgressRecord};
use crate::ids::{NodeName, RegionCode};
use crate::query::{QueryBoundError, Receipt, SignerProof};

/// Domain tag of a node's signature over an [`Envelope`].
pub const DOMAIN_FEDERATION_MESSAGE: &[u8] = b"credex/federation-message/v1";
/// Domain tag of a node's signature over a [`DeliveryAck`].
pub const DOMAIN_FEDERATION_ACK: &[u8] = b"credex/federation-ack/v1";

/// Largest payload of one envelope, in bytes.
pub const MAX_PAYLOAD: usize = 512 * 1024;
/// Largest reply carried in one acknowledgement, in bytes.
pub const MAX_REPLY: usize = 64 * 1024;
/// Longest refusal reason, in bytes.
pub const MAX_REASON: usize = 1024;

/// Which flow a message belongs to. **Variant order is wire format.**
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Flow {
    /// Index 0. Mutual recognition of credit evaluation results (信用评价结果互认).
    Recognition,
    /// Index 1. Joint reward/punishment lists (联合奖惩名单): initiate,
    /// respond, feedback, changes, objections.
    Lists,
    /// Index 2. Upward reporting to the national platform (数据报送).
    Upward,
    /// Index 3. Subjects' rights (信用主体权益): corrections to every region
    /// that received a record.
    Rights,
}

impl Flow {
    /// A short stable name for logs, metrics and state namespaces.
    pub fn code(self) -> &'static str {
        match self {
            Flow::Recognition => "recognition",
            Flow::Lists => "lists",
            Flow::Upward => "upward",
            Flow::Rights => "rights",
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One federation message, before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per sending region; the receiver applies a message id once.
    pub message_id: [u8; 16],
    /// The flow.
    pub flow: Flow,
    /// Which message of the flow the payload is (the flow defines them).
    pub kind: u16,
    /// The sending region; must be the region of the signing node and of
    /// the connection's peer certificate.
    pub from_region: RegionCode,
    /// The sending node.
    pub from_node: NodeName,
    /// The region the message is for; must be the receiver's.
    pub to_region: RegionCode,
    /// When the message was created, Unix ms (retries keep it).
    pub created_at_ms: i64,
    /// The flow's message, postcard-encoded; at most [`MAX_PAYLOAD`] bytes.
    /// (De)serialized as one byte string: the same bytes on the wire as a
    /// sequence of `u8`, without a call per byte (see `codec`).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// What the sender's egress gate released in `payload` (放行记录):
    /// the receiver and the auditor check the payload against it.
    pub egress: EgressRecord,
}

/// An envelope and the sending node's signature over
/// [`DOMAIN_FEDERATION_MESSAGE`] ‖ encode(envelope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEnvelope {
    /// The message.
    pub envelope: Envelope,
    /// The sending node's signature and certificate chain.
    pub sender: SignerProof,
}

/// What the receiver did with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Index 0. Logged and applied now.
    Applied,
    /// Index 1. Already applied when delivered earlier (a retry); the
    /// message was logged again as a duplicate and nothing changed.
    AlreadyApplied,
    /// Index 2. Logged and refused for good (retrying cannot help): e.g. a
    /// recognition refused by the agreement, an entry for a list type the
    /// agreement does not bind. The reason says what was wrong.
    Refused {
        /// Why, for the sender's operator; at most [`MAX_REASON`] bytes.
        reason: String,
    },
}

/// The receiver's answer to a delivered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAck {
    /// SHA-256 of encode([`SignedEnvelope`]) as received.
    pub message_digest: [u8; 32],
    /// The message id acknowledged.
    pub message_id: [u8; 16],
    /// The receiving region.
    pub receiver_region: RegionCode,
    /// The receiving node.
    pub receiver_node: NodeName,
    /// What the receiver did.
    pub status: DeliveryStatus,
    /// The flow's reply, postcard-encoded (may be empty); at most
    /// [`MAX_REPLY`] bytes.
    #[serde(with = "serde_bytes")]
    pub reply: Vec<u8>,
}

/// An acknowledgement, signed by the receiving node over
/// [`DOMAIN_FEDERATION_ACK`] ‖ encode(ack), with the receipt of the
/// receiver's log entry for the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDeliveryAck {
    /// The acknowledgement.
    pub ack: DeliveryAck,
    /// The receiving node's signature and certificate chain.
    pub receiver: SignerProof,
    /// Inclusion of the receiver's log entry for this delivery in its
    /// signed checkpoint.
    pub receipt: Receipt,
}

/// A bound a decoded federation message breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FederationBoundError {
    /// The payload is over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes, at most {MAX_PAYLOAD} allowed")]
    PayloadTooLarge(usize),
    /// The reply is over [`MAX_REPLY`].
    #[error("reply of {0} bytes, at most {MAX_REPLY} allowed")]
    ReplyTooLarge(usize),
    /// The refusal reason is over [`MAX_REASON`].
    #[error("refusal reason of {0} bytes, at most {MAX_REASON} allowed")]
    ReasonTooLong(usize),
    /// The signer's chain or the receipt breaks a bound.
    #[error("{0}")]
    Proof(#[from] QueryBoundError),
    /// The egress record breaks a bound.
    #[error("{0}")]
    Egress(#[from] EgressBoundError),
}

impl SignedEnvelope {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), FederationBoundError> {
        if self.envelope.payload.len() > MAX_PAYLOAD {
            return Err(FederationBoundError::PayloadTooLarge(
                self.envelope.payload.len(),
            ));
        }
        self.envelope.egress.validate()?;
        Ok(self.sender.validate()?)
    }
}

impl SignedDeliveryAck {
    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), FederationBoundError> {
        if self.ack.reply.len() > MAX_REPLY {
            return Err(FederationBoundError::ReplyTooLarge(self.ack.reply.len()));
        }
        if let DeliveryStatus::Refused { reason } = &self.ack.status
            && reason.len() > MAX_REASON
        {
            return Err(FederationBoundError::ReasonTooLong(reason.len()));
        }
        self.receipt.validate()?;
        Ok(self.receiver.validate()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Signature, SignatureAlgorithm, decode, encode};

    fn envelope(payload: Vec<u8>) -> SignedEnvelope {
        SignedEnvelope {
            envelope: Envelope {
                message_id: [1; 16],
                flow: Flow::Lists,
                kind: 1,
                from_region: "520000".parse().expect("region"),
                from_node: "gy-1".parse().expect("node"),
                to_region: "500000".parse().expect("region"),
                created_at_ms: 1,
                payload,
                egress: crate::egress::EgressRecord::no_record_data(),
            },
            sender: SignerProof {
                chain: vec![vec![0; 10]],
                signature: Signature {
                    algorithm: SignatureAlgorithm::Ed25519,
                    bytes: vec![0; 64],
                },
            },
        }
    }

    #[test]
    fn round_trips_and_bounds() {
        let e = envelope(vec![7; 10]);
        let back: SignedEnvelope = decode(&encode(&e).expect("encode")).expect("decode");
        assert_eq!(back, e);
        assert!(e.validate().is_ok());
        let big = envelope(vec![0; MAX_PAYLOAD + 1]);
        assert!(matches!(
            big.validate(),
            Err(FederationBoundError::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn flow_order_is_wire_format() {
        assert_eq!(encode(&Flow::Recognition).expect("encode"), vec![0]);
        assert_eq!(encode(&Flow::Lists).expect("encode"), vec![1]);
        assert_eq!(encode(&Flow::Upward).expect("encode"), vec![2]);
    }
}
