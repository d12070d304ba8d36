//! The messages of protocol version 1.
//!
//! One request travels on its own bidirectional QUIC stream and gets exactly
//! one response on the same stream. The postcard encoding of an enum starts
//! with the variant's index, so **the order of variants is part of the wire
//! format**: new messages are appended, never inserted, and a peer answers a
//! variant it does not know with [`ErrorCode::UnsupportedMessage`].

use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;
use crate::federation::{FederationBoundError, SignedDeliveryAck, SignedEnvelope};
use crate::ids::{NodeName, RegionCode};
use crate::query::{AuthorizedQuery, QueryBoundError, QueryResponse};

/// The protocol version this crate speaks. The ALPN string pins the major
/// version; `Hello` carries this number so peers can refuse a mismatch.
pub const PROTOCOL_VERSION: u16 = 1;

/// The TLS ALPN protocol identifier every credex connection must negotiate.
pub const ALPN: &[u8] = b"credex/1";

/// A request from the stream's opener (the client side of the stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Index 0. Introduce this node; the peer answers with its own `Hello`.
    Hello(Hello),
    /// Index 1. Liveness and round-trip check.
    Ping(Ping),
    /// Index 2. A dual-authorized query for a subject's credit records.
    Query(Box<AuthorizedQuery>),
    /// Index 3. Witness this node's newest log checkpoint (docs/design.md §7).
    Witness(WitnessRequest),
    /// Index 4. An auditor fetches part of this node's log (remote audit).
    AuditFetch(AuditFetch),
    /// Index 5. A signed federation message (recognition, joint lists,
    /// upward reports; see [`crate::federation`]).
    Deliver(Box<SignedEnvelope>),
    /// Index 6. Which checkpoint of the asker's own log did this witness
    /// cosign last? A node asks its witnesses at start, after a restore,
    /// to learn the largest tree it ever published (docs/decisions/1000).
    WitnessedHead,
}

/// Domain tag of an auditor's signature over an [`AuditRequest`].
pub const DOMAIN_AUDIT_FETCH: &[u8] = b"credex/audit-fetch/v1";

/// What an auditor asks of a node's log: one file of its export layout
/// (`checkpoint`, `node.pem`, `tile/…`, `tile/entries/…`, `attachments/HEX`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRequest {
    /// The path, as in `credex log export`'s directory.
    pub path: String,
    /// The node asked; must be the responder's region.
    pub target_region: RegionCode,
    /// Random, for uniqueness.
    pub nonce: [u8; 16],
    /// When the auditor signed, Unix ms (checked against the clock-skew window).
    pub issued_at_ms: i64,
}

/// An audit fetch, signed by an operator holding the `auditor` role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFetch {
    /// The request.
    pub request: AuditRequest,
    /// The auditor's signature over [`DOMAIN_AUDIT_FETCH`] ‖ encode(request).
    pub auditor: crate::query::SignerProof,
}

/// A log owner asks a peer to witness its newest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRequest {
    /// The signed checkpoint (C2SP signed note), signed with the sender's
    /// node key; its origin must be the sender's log (`credex/REGION/NAME`).
    pub checkpoint: String,
    /// The tree size of the last checkpoint the witness saw from this log
    /// (0 if none), which the proof starts from.
    pub old_size: u64,
    /// RFC 6962 consistency proof from `old_size` to the new size.
    pub consistency_proof: Vec<[u8; 32]>,
}

/// Longest checkpoint note in a witness request.
pub const MAX_WITNESS_NOTE: usize = 16 * 1024;

impl Request {
    /// A short stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello(_) => "hello",
            Request::Ping(_) => "ping",
            Request::Query(_) => "query",
            Request::Witness(_) => "witness",
            Request::AuditFetch(_) => "audit_fetch",
            Request::Deliver(_) => "deliver",
            Request::WitnessedHead => "witnessed_head",
        }
    }
}

/// [`Request::Query`] over a borrowed query: the same bytes on the wire
/// (variant index 2, then the query), for a sender that keeps the query
/// and would otherwise clone it into the request.
#[derive(Debug, Clone, Copy)]
pub struct QueryRequestRef<'a>(pub &'a AuthorizedQuery);

impl QueryRequestRef<'_> {
    /// [`Request::Query`]'s variant index: the wire's, written by hand here.
    const VARIANT_INDEX: u32 = 2;
}

impl Serialize for QueryRequestRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // What serde's derive writes for the `Query(Box<AuthorizedQuery>)`
        // variant (a `Box` serializes as its contents).
        serializer.serialize_newtype_variant("Request", Self::VARIANT_INDEX, "Query", self.0)
    }
}

/// A response, sent on the stream that carried the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Index 0. The answer to [`Request::Hello`]: the responder's own identity.
    Hello(Hello),
    /// Index 1. The answer to [`Request::Ping`].
    Pong(Pong),
    /// Index 2. The request was refused or failed; see the code.
    Error(ErrorReply),
    /// Index 3. The answer to [`Request::Query`]: a signed decision and the
    /// released records.
    Query(Box<QueryResponse>),
    /// Index 4. The answer to [`Request::Witness`]: a C2SP tlog-cosignature
    /// line (`— NAME BASE64`) over the checkpoint.
    Cosigned(String),
    /// Index 5. The answer to [`Request::AuditFetch`]: the file's bytes.
    AuditData(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Index 6. The answer to [`Request::Deliver`]: the receiver's signed
    /// acknowledgement and its log receipt.
    Delivered(Box<SignedDeliveryAck>),
    /// Index 7. The answer to [`Request::WitnessedHead`]: the last
    /// checkpoint of the asker's log this node cosigned, as the asker
    /// signed it (a C2SP signed note), or `None` if it never witnessed it.
    WitnessedHead(Option<String>),
}

/// A node's introduction: who it claims to be and what it can do.
///
/// The claimed region and node name are only a cross-check: the
/// authoritative identity is the one bound in the peer's certificate, and a
/// `Hello` that disagrees with it is refused with
/// [`ErrorCode::IdentityMismatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the sender speaks ([`PROTOCOL_VERSION`]).
    pub protocol_version: u16,
    /// The sender's region (GB/T 2260 code).
    pub region: RegionCode,
    /// The sender's node name within its region.
    pub node: NodeName,
    /// What the sender supports beyond the base protocol.
    pub capabilities: Vec<Capability>,
    /// Free-form software name and version, e.g. `credex/0.1.0`; at most
    /// [`MAX_SOFTWARE_LEN`] bytes.
    pub software: String,
}

/// Longest accepted [`Hello::software`] string, in bytes.
pub const MAX_SOFTWARE_LEN: usize = 128;
/// Most capabilities accepted in one [`Hello`].
pub const MAX_CAPABILITIES: usize = 64;

/// An optional feature a node announces in its `Hello`.
///
/// Unknown capabilities from a newer peer decode as [`Capability::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// Index 0. Answers dual-authorized credit record queries.
    Query,
    /// Index 1. Keeps a verifiable access log and cosigns peers' checkpoints.
    Witness,
    /// Index 2. Exchanges credit evaluation results for mutual recognition (互认).
    Recognition,
    /// Index 3. Joint reward/punishment list exchange (联合奖惩).
    JointLists,
    /// Index 4. Receives upward reports (the national platform's role).
    UpwardReceiver,
    /// Index 5. A capability named by a newer version, kept as text.
    Other(String),
}

/// A liveness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Echoed back in the [`Pong`].
    pub nonce: u64,
}

/// The answer to a [`Ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The nonce of the ping being answered.
    pub nonce: u64,
}

/// A refusal or failure with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The stable code, for programs and metrics.
    pub code: ErrorCode,
    /// A human explanation; never contains data a requester may not see.
    pub message: String,
}

impl ErrorReply {
    /// Build a reply from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorReply {
            code,
            message: message.into(),
        }
    }
}

/// Why a decoded message is not acceptable even though it parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// `Hello::software` is longer than [`MAX_SOFTWARE_LEN`].
    #[error("hello: software string is {0} bytes, at most {MAX_SOFTWARE_LEN} allowed")]
    SoftwareTooLong(usize),
    /// `Hello::capabilities` has more than [`MAX_CAPABILITIES`] entries.
    #[error("hello: {0} capabilities, at most {MAX_CAPABILITIES} allowed")]
    TooManyCapabilities(usize),
    /// An `Other` capability longer than [`MAX_SOFTWARE_LEN`].
    #[error("hello: a capability name is {0} bytes, at most {MAX_SOFTWARE_LEN} allowed")]
    CapabilityTooLong(usize),
    /// A witness message is larger than allowed.
    #[error(
        "witness: checkpoint over {MAX_WITNESS_NOTE} bytes, proof over 128 hashes, or cosignature over 1024 bytes"
    )]
    Witness,
    /// A query message breaks a bound.
    #[error("query: {0}")]
    Query(#[from] QueryBoundError),
    /// A federation message breaks a bound.
    #[error("federation message: {0}")]
    Federation(#[from] FederationBoundError),
}

impl Hello {
    /// Check the bounds a decoded `Hello` must respect.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.software.len() > MAX_SOFTWARE_LEN {
            return Err(ValidationError::SoftwareTooLong(self.software.len()));
        }
        if self.capabilities.len() > MAX_CAPABILITIES {
            return Err(ValidationError::TooManyCapabilities(
                self.capabilities.len(),
            ));
        }
        for c in &self.capabilities {
            if let Capability::Other(name) = c
                && name.len() > MAX_SOFTWARE_LEN
            {
                return Err(ValidationError::CapabilityTooLong(name.len()));
            }
        }
        Ok(())
    }
}

impl Request {
    /// Check the bounds of every field that decoding alone does not.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Request::Hello(h) => h.validate(),
            Request::Ping(_) | Request::WitnessedHead => Ok(()),
            Request::Query(q) => Ok(q.validate()?),
            Request::AuditFetch(a) => {
                if a.request.path.len() > 256 {
                    return Err(ValidationError::Witness);
                }
                Ok(a.auditor.validate()?)
            }
            Request::Deliver(d) => Ok(d.validate()?),
            Request::Witness(w) => {
                if w.checkpoint.len() > MAX_WITNESS_NOTE || w.consistency_proof.len() > 2 * 64 {
                    return Err(ValidationError::Witness);
                }
                Ok(())
            }
        }
    }
}

impl Response {
    /// Check the bounds of every field that decoding alone does not.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Response::Hello(h) => h.validate(),
            Response::Pong(_) | Response::Error(_) => Ok(()),
            Response::Query(q) => Ok(q.validate()?),
            Response::AuditData(_) => Ok(()),
            Response::Delivered(d) => Ok(d.validate()?),
            Response::Cosigned(line) => {
                if line.len() > 1024 {
                    return Err(ValidationError::Witness);
                }
                Ok(())
            }
            Response::WitnessedHead(note) => {
                if note.as_ref().is_some_and(|n| n.len() > MAX_WITNESS_NOTE) {
                    return Err(ValidationError::Witness);
                }
                Ok(())
            }
        }
    }
}
