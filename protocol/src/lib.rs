//! credex wire protocol: identities, messages, the postcard codec and
//! length-prefixed framing.
//!
//! This crate is sans-IO: no sockets, no tokio, no clock. Callers hand it
//! bytes and get typed messages (or a typed error) back, so every decoder of
//! peer input can be tested and fuzzed on its own. The transport (QUIC, TLS)
//! lives in `credex-node`; the specification is `docs/protocol.md`.

#![forbid(unsafe_code)]

pub mod codec;
pub mod egress;
pub mod error_code;
pub mod evaluation;
pub mod federation;
pub mod ids;
pub mod lists;
pub mod messages;
pub mod query;
pub mod recognition;
pub mod report;
pub mod rights;
pub mod suite;
pub mod tlog;
pub mod upward;

pub use codec::{
    FrameDecoder, FrameError, FrameLimit, decode, encode, encode_frame, encoded_len,
    encoding_sha256, payload_len,
};
pub use error_code::ErrorCode;
pub use ids::{IdError, NodeName, RegionCode, Role, Signature, SignatureAlgorithm};
pub use messages::{
    ALPN, AuditFetch, AuditRequest, Capability, DOMAIN_AUDIT_FETCH, ErrorReply, Hello,
    PROTOCOL_VERSION, Ping, Pong, QueryRequestRef, Request, Response, WitnessRequest,
};
pub use suite::Suite;
