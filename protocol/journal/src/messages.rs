//! Entries of federation messages: one per message received, one per
//! message sent once its acknowledgement arrived.

use credex_protocol::egress::EgressRecord;
use credex_protocol::federation::{DeliveryStatus, Flow};
use credex_protocol::{NodeName, RegionCode};
use serde::{Deserialize, Serialize};

use crate::CounterpartReceipt;

/// What a [`kind::MESSAGE_RECEIVED`] entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceivedOutcome {
    /// Index 0. Applied.
    Applied,
    /// Index 1. A duplicate of a message applied earlier; nothing changed.
    Duplicate,
    /// Index 2. Refused by the flow for good, with the signed envelope
    /// kept as the attachment (entries written before decision 0650).
    Refused {
        /// Why.
        reason: String,
    },
    /// Index 3. Refused by the flow for good; the envelope was not kept,
    /// only its digest (the entry's `message_digest`) and its size.
    RefusedDigestOnly {
        /// Why.
        reason: String,
        /// Bytes of encode(SignedEnvelope).
        envelope_len: u32,
        /// The fields (`category.field`) the body carried beyond its
        /// egress record, when that is why it was refused (at most
        /// [`MAX_BEYOND_NAMED`]): the auditor flags them in this log, since
        /// the body itself is not kept.
        beyond_release: Vec<String>,
    },
}

impl ReceivedOutcome {
    /// Whether the message was refused for good (with or without its
    /// envelope kept).
    pub fn is_refused(&self) -> bool {
        matches!(
            self,
            ReceivedOutcome::Refused { .. } | ReceivedOutcome::RefusedDigestOnly { .. }
        )
    }

    /// Whether the entry's attachment holds the signed envelope: always
    /// for an applied or (before decision 0650) refused message; for a
    /// duplicate only if an earlier delivery kept it.
    pub fn keeps_envelope(&self) -> bool {
        matches!(
            self,
            ReceivedOutcome::Applied | ReceivedOutcome::Refused { .. }
        )
    }
}

/// Journal body of a received federation message. The signed envelope of
/// an applied message is the attachment stored under `message_digest`; a
/// refused one is not kept ([`ReceivedOutcome::RefusedDigestOnly`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceived {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When it was received, Unix ms.
    pub at_ms: i64,
    /// SHA-256 of encode(SignedEnvelope), the attachment's digest.
    pub message_digest: [u8; 32],
    /// The message id.
    pub message_id: [u8; 16],
    /// Its flow.
    pub flow: Flow,
    /// Its kind within the flow.
    pub message_kind: u16,
    /// The sending region.
    pub from_region: RegionCode,
    /// The sending node.
    pub from_node: NodeName,
    /// What the node did.
    pub outcome: ReceivedOutcome,
    /// The flow's summary (no personal identifiers).
    pub summary: String,
}

/// Journal body of a sent federation message, written when its
/// acknowledgement arrived. The signed acknowledgement is the attachment
/// stored under `ack_digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSent {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When the acknowledgement was received, Unix ms.
    pub at_ms: i64,
    /// SHA-256 of encode(SignedEnvelope) as sent.
    pub message_digest: [u8; 32],
    /// The message id.
    pub message_id: [u8; 16],
    /// Its flow.
    pub flow: Flow,
    /// Its kind within the flow.
    pub message_kind: u16,
    /// The receiving region.
    pub to_region: RegionCode,
    /// The receiving node.
    pub to_node: NodeName,
    /// What the receiver said it did.
    pub status: DeliveryStatus,
    /// SHA-256 of encode(SignedDeliveryAck), the attachment's digest.
    pub ack_digest: [u8; 32],
    /// The receiver's log entry for the message, as its receipt proved.
    pub counterpart: CounterpartReceipt,
    /// Delivery attempts it took.
    pub attempts: u32,
    /// What the egress gate released in the message (as in its envelope).
    pub egress: EgressRecord,
}

/// Most fields beyond release a refused message's entry names.
pub const MAX_BEYOND_NAMED: usize = 32;

crate::frame::fixed_kind! {
    MessageReceived => MESSAGE_RECEIVED,
    MessageSent => MESSAGE_SENT,
}
