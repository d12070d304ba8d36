//! Entries of credit reports (信用报告): each report a node issues is logged
//! before it is handed out, and the report carries an inclusion proof of
//! this entry — so a verifier in another region knows the issuer's log
//! holds it, and an auditor finds every report the node issued.

use credex_protocol::report::ReportKind;
use serde::{Deserialize, Serialize};

/// Journal body of [`crate::kind::REPORT_ISSUED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportIssued {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The report's id.
    pub report: [u8; 16],
    /// General or no-violation.
    pub kind: ReportKind,
    /// The subject's digest ([`crate::subject_digest`]).
    pub subject_digest: [u8; 32],
    /// SHA-256 of the report's canonical encoding (what the node signed).
    pub report_digest: [u8; 32],
    /// The purpose code.
    pub purpose: String,
    /// The last day it may be relied on.
    pub valid_until: String,
    /// Who asked for it: a gateway client's identity, or `cli` for an
    /// operator at the node.
    pub requested_by: String,
    /// The officer accountable for the request, as the requester names them.
    pub officer: String,
}

crate::frame::fixed_kind! {
    ReportIssued => REPORT_ISSUED,
}
