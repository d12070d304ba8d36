//! credex-journal: the format of a node's access log (调阅日志), as a reader
//! needs it.
//!
//! Every leaf of a node's Merkle log is one journal entry: a 10-byte header
//! (the entry's [`kind`], big-endian `u16`, and the time it was recorded,
//! big-endian Unix milliseconds `i64`) followed by the postcard encoding of
//! the entry's body ([`frame`]). This crate holds every body type, the one
//! table of kinds, and the framing, so the node that writes entries and the
//! auditor that reads them share one definition.
//!
//! Entries hold hashes, names and codes, never payloads and never a clear
//! personal identifier: a subject appears as its [`subject_digest`] (over
//! a USCC, or over a natural person's keyed pseudonym), a dual-authorization
//! bundle or a federation message as its SHA-256 (the bytes themselves are
//! stored beside the entry as an attachment).
//!
//! What this crate does not do: no I/O, no storage, no Merkle tree (that is
//! [`credex_protocol::tlog`]), no signature checks (the auditor's).
//! [`encode`] never yields an empty body: an entry that cannot be encoded
//! is an error, not a silent gap in the log.

#![forbid(unsafe_code)]

pub mod access;
pub mod disclosures;
pub mod frame;
pub mod gateway;
pub mod kind;
pub mod lists;
pub mod messages;
pub mod node;
pub mod recognition;
pub mod reports;
pub mod rights;
pub mod upward;

pub use access::{
    AccessEntry, CounterpartReceipt, Direction, MAX_NO_ANSWER_REASON, Officer, QueryIntent,
    QueryNoAnswer, parse_access_entry, subject_digest,
};
pub use disclosures::{Channel, DisclosedBy, RecordsDisclosed, record_key};
pub use frame::{EncodedEntry, Entry, EntryError, HEADER_LEN, decode, encode, entry_bytes, split};
pub use gateway::{CreditChecked, GatewayClient, GatewayRefused, OfficerSignedIn, RecordsFed};
pub use lists::{
    CaseSide, ChangeInitiated, FeedbackSent, ListingInitiated, ObjectionRouted, ProcedureMarked,
    ProcedureOverdue, RepairRouted,
};
pub use messages::{MAX_BEYOND_NAMED, MessageReceived, MessageSent, ReceivedOutcome};
pub use node::{
    AuditAccess, DutiesTaken, KeyInUse, MAX_POLICY_ARCHIVE, PolicyArchive, PolicyLoaded,
    PseudonymKeysInUse, TrustChanged,
};
pub use recognition::{EvaluationIssued, Origin, RecognitionDecided, StoredDecision};
pub use reports::ReportIssued;
pub use rights::{
    AccessReportAnswered, AccessReportAsked, CaseMarked, CaseRouted, CorrectionsSent,
    RecordsChanged,
};
pub use upward::{BatchPrepared, UpwardDeadlineAtRisk};

/// Current version of the entry encoding: every body's `version` field.
pub const ENTRY_VERSION: u8 = 1;

/// SHA-256 of bytes (the digest every entry uses for payloads).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}
