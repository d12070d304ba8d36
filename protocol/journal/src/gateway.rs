//! Entries of the integration gateway and the web console on it: what the
//! region's own systems did through it — credit checks, records fed — what
//! it refused them, and which officers signed in to the console. Clients
//! and officers are named by their certificate identity; subjects by digest.

use serde::{Deserialize, Serialize};

/// A region system calling the gateway, as entries name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayClient {
    /// `urn:credex:client:RRRRRR:ROLES:NAME` of its certificate.
    pub identity: String,
    /// SHA-256 of its certificate.
    pub fingerprint: [u8; 32],
}

/// Longest refusal detail kept in an entry, in bytes.
pub const MAX_REFUSAL_DETAIL: usize = 512;

/// The gateway refused an authenticated client an operation (a missing
/// role, a rate limit). Refused handshakes never reach an entry: they
/// touch no data and would let anyone write to the log (decision 0810).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayRefused {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Who asked.
    pub client: GatewayClient,
    /// `METHOD /path` of the operation, path as routed (`/v1/queries/{id}`).
    pub operation: String,
    /// The problem type's slug (`role-missing`, `rate-limited`).
    pub problem: String,
    /// What was wrong, at most [`MAX_REFUSAL_DETAIL`] bytes.
    pub detail: String,
}

/// Most subjects one [`CreditChecked`] entry names; a larger batch is
/// logged as several entries (parts).
pub const MAX_CHECKED_PER_ENTRY: usize = 1000;

/// A credit check (信用核查) the gateway answered: an access to every
/// subject it names, by the calling system, for a purpose, on behalf of
/// the officer the system named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditChecked {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The calling system.
    pub client: GatewayClient,
    /// The purpose code the check was made for.
    pub purpose: String,
    /// The officer the calling system names as accountable for the check.
    pub officer: String,
    /// The subjects' digests ([`crate::subject_digest`]), at most
    /// [`MAX_CHECKED_PER_ENTRY`].
    pub subjects: Vec<[u8; 32]>,
    /// SHA-256 of the answers given for these subjects, in order.
    pub answers_digest: [u8; 32],
    /// This entry's part of the batch and the number of parts (1-based).
    pub part: (u32, u32),
}

/// Most subjects one [`RecordsFed`] entry names.
pub const MAX_FED_PER_ENTRY: usize = 1000;

/// A batch of record changes the region's platform fed through the
/// gateway, applied as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsFed {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The feeding system.
    pub client: GatewayClient,
    /// The source (提供方) the changes come from, as the feed names it.
    pub source: String,
    /// First and last per-source sequence number applied.
    pub sequences: (u64, u64),
    /// SHA-256 of the batch's idempotency key.
    pub idempotency_key_digest: [u8; 32],
    /// SHA-256 of the batch as received.
    pub batch_digest: [u8; 32],
    /// Records inserted or replaced.
    pub upserted: u32,
    /// Records deleted.
    pub deleted: u32,
    /// Digests of the subjects changed, at most [`MAX_FED_PER_ENTRY`]
    /// (a larger batch is logged as several entries with the same digests).
    pub subjects: Vec<[u8; 32]>,
}

crate::frame::fixed_kind! {
    GatewayRefused => GATEWAY_REFUSED,
    CreditChecked => CREDIT_CHECKED,
    RecordsFed => RECORDS_FED,
    OfficerSignedIn => OFFICER_SIGNED_IN,
}

/// An officer signed in to the node's web console with their operator
/// certificate (a signature over a one-use challenge, verified by the
/// node). Refused sign-ins are not entries, for the reason refused
/// handshakes are not (decision 0810); what an officer does once signed in
/// is logged by the flows it drives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerSignedIn {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// `urn:credex:operator:RRRRRR:ROLE:NAME` of their certificate.
    pub officer: String,
    /// SHA-256 of their certificate.
    pub fingerprint: [u8; 32],
    /// The console origin the signature was bound to.
    pub origin: String,
    /// SHA-256 of the session token, so later entries can name the session
    /// without holding the token.
    pub session: [u8; 32],
}
