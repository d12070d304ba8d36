//! How the node drives a flow: the values a flow is handed and the effects
//! it returns.
//!
//! A federation message reaches a flow in three steps, none of which lets
//! the flow touch the network, the store or the clock:
//!
//! 1. [`Flow::reads`]: from the authenticated message alone, the flow names
//!    the stored state it decides against ([`Read`]).
//! 2. The node reads exactly that into a [`View`] (the test harness reads
//!    it from a map).
//! 3. [`Flow::receive`]: given the [`Context`] (the time, the trust store),
//!    the view, the sender and the message, the flow decides: an [`Effect`]
//!    — state writes, records to store, gate-released bodies to send, the
//!    reply and the journal summary — or a [`Refusal`] with a stable code.
//!
//! The node commits an effect in one transaction with the message's
//! journal entry (records first: they are an idempotent upsert, decision
//! 0503), queues every body in [`Effect::send`] in the outbox in the same
//! transaction, and answers the sender. Acknowledgements of this node's
//! own messages go the same way ([`Flow::acknowledged_reads`],
//! [`Flow::acknowledged`]).
//!
//! Receives of one flow are serialised by the node, so the view a flow
//! decides against is not changed by another message of the same flow
//! before its effect commits.

use std::collections::BTreeMap;

use credex_pki::TrustStore;
use credex_policies::egress::ReleasedBody;
use credex_protocol::federation::{DeliveryAck, Envelope, Flow as FlowName};
use credex_protocol::query::SubjectRef;
use credex_protocol::{FrameError, NodeName, RegionCode};
use serde::de::DeserializeOwned;

/// The authenticated sender of a message: the region and node its
/// connection's verified certificate and its envelope signature name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The sender's region.
    pub region: RegionCode,
    /// The sender's node.
    pub node: NodeName,
}

/// What the node hands a flow besides the message: the time and the
/// trust store current when the message is decided on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Now, Unix milliseconds.
    pub now_ms: i64,
    /// The federation's trust store (roots, region CAs, CRLs) now.
    pub trust: &'a TrustStore,
}

/// A key of flow state: a namespace (one per flow) and a key in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StateKey {
    /// The namespace.
    pub ns: String,
    /// The key.
    pub key: String,
}

impl StateKey {
    /// The key `key` of namespace `ns`.
    pub fn new(ns: impl Into<String>, key: impl Into<String>) -> StateKey {
        StateKey {
            ns: ns.into(),
            key: key.into(),
        }
    }
}

/// Something stored that a flow decides against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// One key of flow state (absent keys are absent from the view).
    State(StateKey),
    /// Every key of a namespace that starts with a prefix, at most
    /// [`MAX_PREFIX_READ`] of them (more is refused as the node's own state
    /// gone wrong, never decided on in part).
    Prefix {
        /// The namespace.
        ns: String,
        /// The prefix.
        prefix: String,
    },
    /// The (category, record id) pairs of the records this node holds on
    /// a subject in the given categories.
    SubjectRecords {
        /// The subject key (USCC or pseudonym) as stored.
        subject: String,
        /// The categories.
        categories: Vec<String>,
    },
    /// The record of `subject` whose key ([`credex_journal::record_key`])
    /// is `record`, if this node holds it.
    Record {
        /// The subject as messages name it.
        subject: SubjectRef,
        /// The record's key.
        record: [u8; 32],
    },
    /// The copy this node stores of another region's record
    /// ([`RecordRow::copy_of`]), if it stores one.
    Copy(CopyOf),
}

/// A record of this node, as [`Read::Record`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRecord {
    /// The catalogue category.
    pub category: String,
    /// The record id.
    pub record_id: String,
    /// The stored subject key.
    pub subject_key: String,
    /// The record as stored (postcard of `credex_policies::Record`).
    pub body: Vec<u8>,
}

/// Most keys one [`Read::Prefix`] reads.
pub const MAX_PREFIX_READ: usize = 4096;

/// What a subject holds, as [`Read::SubjectRecords`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectRecords {
    /// The (category, record id) pairs held.
    Held(Vec<(String, String)>),
    /// More than the store returns for one subject.
    TooMany,
}

/// The stored state a flow decides against: exactly what its reads named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    state: BTreeMap<StateKey, Vec<u8>>,
    subjects: BTreeMap<String, SubjectRecords>,
    records: BTreeMap<[u8; 32], HeldRecord>,
    copies: BTreeMap<CopyOf, HeldRecord>,
}

impl View {
    /// Record the value read for `key`.
    pub fn insert(&mut self, key: StateKey, value: Vec<u8>) {
        self.state.insert(key, value);
    }

    /// Record what a subject holds.
    pub fn insert_subject(&mut self, subject: String, records: SubjectRecords) {
        self.subjects.insert(subject, records);
    }

    /// Record the record found under `key`.
    pub fn insert_record(&mut self, key: [u8; 32], record: HeldRecord) {
        self.records.insert(key, record);
    }

    /// Record the copy found of `of`.
    pub fn insert_copy(&mut self, of: CopyOf, record: HeldRecord) {
        self.copies.insert(of, record);
    }

    /// The copy of `of`, if it was read and is held.
    pub fn copy(&self, of: &CopyOf) -> Option<&HeldRecord> {
        self.copies.get(of)
    }

    /// The record under `key`, if it was read and is held.
    pub fn record(&self, key: &[u8; 32]) -> Option<&HeldRecord> {
        self.records.get(key)
    }

    /// The raw value under (`ns`, `key`), if it was read and is present.
    pub fn state(&self, ns: &str, key: &str) -> Option<&[u8]> {
        // Keys are few per decision: a linear probe avoids building an
        // owned key for the lookup.
        self.state
            .iter()
            .find(|(k, _)| k.ns == ns && k.key == key)
            .map(|(_, v)| v.as_slice())
    }

    /// The value under (`ns`, `key`) decoded, `None` when absent. A value
    /// that does not decode is the node's own state gone bad: an error the
    /// node retries and reports, never a reason to refuse a peer for good.
    pub fn decoded<T: DeserializeOwned>(&self, ns: &str, key: &str) -> Result<Option<T>, Refusal> {
        self.state(ns, key)
            .map(|bytes| {
                credex_protocol::decode(bytes).map_err(|e| {
                    Refusal::Transient(format!("stored state {ns}/{key} is unreadable: {e}"))
                })
            })
            .transpose()
    }

    /// Every (key, value) of `ns` read whose key starts with `prefix`, in
    /// key order (complete when a [`Read::Prefix`] of it was named).
    pub fn prefixed<'v>(
        &'v self,
        ns: &'v str,
        prefix: &'v str,
    ) -> impl Iterator<Item = (&'v str, &'v [u8])> + 'v {
        self.state
            .iter()
            .filter(move |(k, _)| k.ns == ns && k.key.starts_with(prefix))
            .map(|(k, v)| (k.key.as_str(), v.as_slice()))
    }

    /// What `subject` holds, if it was read.
    pub fn subject_records(&self, subject: &str) -> Option<&SubjectRecords> {
        self.subjects.get(subject)
    }
}

/// One change of flow state: put `value` under (`ns`, `key`), or delete the
/// key when `value` is `None`. The store bounds the sizes (see the node's
/// `storage::state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The namespace (one per flow).
    pub ns: String,
    /// The key.
    pub key: String,
    /// The new value, or `None` to delete.
    pub value: Option<Vec<u8>>,
}

impl StateWrite {
    /// Put `value` under (`ns`, `key`), replacing what was there.
    pub fn put(ns: impl Into<String>, key: impl Into<String>, value: Vec<u8>) -> StateWrite {
        StateWrite {
            ns: ns.into(),
            key: key.into(),
            value: Some(value),
        }
    }

    /// Put the postcard encoding of `value` under (`ns`, `key`).
    pub fn encoded<T: serde::Serialize>(
        ns: impl Into<String>,
        key: impl Into<String>,
        value: &T,
    ) -> Result<StateWrite, FrameError> {
        Ok(StateWrite::put(ns, key, credex_protocol::encode(value)?))
    }

    /// Delete (`ns`, `key`) (nothing happens if it is absent).
    pub fn delete(ns: impl Into<String>, key: impl Into<String>) -> StateWrite {
        StateWrite {
            ns: ns.into(),
            key: key.into(),
            value: None,
        }
    }
}

/// A credit record a flow stores (an upsert by category and record id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The catalogue category.
    pub category: String,
    /// The record id, unique within the category.
    pub record_id: String,
    /// The subject key (USCC or pseudonym).
    pub subject_key: String,
    /// The encoded record.
    pub body: Vec<u8>,
    /// For a copy of another region's record (the national node's copies
    /// of what provinces report upward): the record as its owner names it,
    /// so the owner's corrections find the copy ([`Read::Copy`]).
    pub copy_of: Option<CopyOf>,
}

/// Another region's record, by the key its owner names it by in
/// corrections (`credex_journal::record_key` of the owner's category and
/// record id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CopyOf {
    /// The owner region.
    pub owner: RegionCode,
    /// The record's key at its owner.
    pub record: [u8; 32],
}

impl CopyOf {
    /// The stored form: the owner's six code digits, then the key (38
    /// bytes, compared as bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(38);
        bytes.extend_from_slice(self.owner.to_string().as_bytes());
        bytes.extend_from_slice(&self.record);
        bytes
    }
}

/// What applying a message does, as its flow decided.
#[derive(Debug, Default)]
pub struct Effect {
    /// State writes committed with the message's journal entry.
    pub state: Vec<StateWrite>,
    /// Records stored before the entry commits (an idempotent upsert: a
    /// message delivered again after a crash stores the same rows).
    pub records: Vec<RecordRow>,
    /// Follow-up messages, built by the egress gate, queued in the outbox
    /// in the same transaction: sent exactly when this message is applied.
    pub send: Vec<ReleasedBody>,
    /// The reply for the sender (a postcard-encoded flow message, may be
    /// empty).
    pub reply: Vec<u8>,
    /// A short description for the journal entry (digests and codes, no
    /// personal identifiers).
    pub summary: String,
}

/// Why a flow refuses a message for good: one variant per kind of rule a
/// sender can break, each with a stable [`code`](Refused::code) that the
/// journal and the sender's logs carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The flow has no message of this kind.
    #[error("unknown {flow} message kind {kind}")]
    UnknownKind {
        /// The flow.
        flow: FlowName,
        /// The kind.
        kind: u16,
    },
    /// The body does not decode as its kind.
    #[error("unreadable {what}: {reason}")]
    Unreadable {
        /// What was being read.
        what: &'static str,
        /// The decoder's error.
        reason: String,
    },
    /// The body decodes but breaks the message's own rules (lengths,
    /// codes, catalogue).
    #[error("{0}")]
    Invalid(String),
    /// A signature inside the message does not verify.
    #[error("{0}")]
    NotVerified(String),
    /// The sender may not send this (not the entry's origin, not a member,
    /// not a reporting region, not addressed to this node's role).
    #[error("{0}")]
    NotEntitled(String),
    /// The message names something this node does not hold.
    #[error("{0}")]
    NotHeld(String),
    /// The message is older than what it changes, or was already applied.
    #[error("{0}")]
    Stale(String),
    /// Applying it would exceed a bound this node keeps.
    #[error("{0}")]
    Exceeds(String),
    /// The body carries a field its own egress record does not release
    /// (checked by the node for every flow before the flow decides).
    #[error("{0}")]
    BeyondRelease(String),
}

impl Refused {
    /// The stable code of the rule broken.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::UnknownKind { .. } => "unknown-kind",
            Refused::Unreadable { .. } => "unreadable",
            Refused::Invalid(_) => "invalid",
            Refused::NotVerified(_) => "not-verified",
            Refused::NotEntitled(_) => "not-entitled",
            Refused::NotHeld(_) => "not-held",
            Refused::Stale(_) => "stale",
            Refused::Exceeds(_) => "exceeds",
            Refused::BeyondRelease(_) => "beyond-release",
        }
    }
}

/// Why a flow did not apply a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// For good: logged by digest, answered `Refused`; the sender stops
    /// retrying.
    #[error("{code}: {0}", code = .0.code())]
    Permanent(Refused),
    /// For now (the node's own state or resources): nothing is logged, the
    /// sender retries.
    #[error("try again later: {0}")]
    Transient(String),
}

impl From<Refused> for Refusal {
    fn from(refused: Refused) -> Refusal {
        Refusal::Permanent(refused)
    }
}

/// Why the node could not take in an acknowledgement of its own message:
/// the delivery stays in the outbox and is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AckError(pub String);

/// Which received messages of a flow the node takes in one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    /// Every message of the flow, whoever sent it: the flow decides
    /// against state any of its messages may change.
    Flow,
    /// The messages of one sending region: a message changes only state
    /// its own sender's messages decide against (see the flow's
    /// [`Flow::serial`] for what that leaves shared).
    PerSender,
}

/// A flow, as the node drives it: see the module documentation.
pub trait Flow: Send + Sync + 'static {
    /// The flow's name on the wire.
    fn name(&self) -> FlowName;

    /// Which of its received messages are taken in one at a time: by
    /// default all of them.
    fn serial(&self) -> Serial {
        Serial::Flow
    }

    /// The stored state receiving `envelope` from `from` decides against
    /// (refuse here what the message alone shows to be wrong).
    fn reads(&self, from: &Peer, envelope: &Envelope) -> Result<Vec<Read>, Refusal>;

    /// Decide what `envelope` changes, against `view`.
    fn receive(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal>;

    /// The stored state taking in `ack` of this node's `envelope` needs.
    fn acknowledged_reads(&self, envelope: &Envelope, ack: &DeliveryAck) -> Vec<Read> {
        let _ = (envelope, ack);
        Vec::new()
    }

    /// The receiver acknowledged `envelope` (its signature and log receipt
    /// verified by the node): the state writes to commit with the sent
    /// entry.
    fn acknowledged(
        &self,
        cx: &Context<'_>,
        view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError>;
}

/// Decode a message body as `what`, refusing it for good when it does not.
pub fn decode_body<T: DeserializeOwned>(
    envelope: &Envelope,
    what: &'static str,
) -> Result<T, Refused> {
    credex_protocol::decode(&envelope.payload).map_err(|e| Refused::Unreadable {
        what,
        reason: e.to_string(),
    })
}
