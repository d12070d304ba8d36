//! The subject access report (谁查询了我的信息): what this node's log
//! records about one subject — other regions' queries it answered, its
//! own systems' credit checks and the credit reports it issued — and every
//! region that received one of the subject's records from it (the
//! disclosures ledger), here ([`local`]) and gathered across the federation
//! from the subject's home region ([`federated`]).
//!
//! The gateway (`POST /v1/subject-access`, `/v1/subject-access/federated`)
//! and the console serve it; the subject is matched by digest and named
//! only masked.

pub mod federated;
pub mod local;

use serde::Serialize;
use utoipa::ToSchema;

pub use federated::{FederatedReport, RegionPart, SubjectAccessFederation, spawn_answers};
pub use local::{accesses, disclosures};

/// One access to the subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubjectAccess {
    /// The entry's index in this node's log (an auditor can prove it).
    pub log_index: u64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// `query` (another region asked), `credit_check` (a system of this
    /// region checked) or `credit_report` (this node issued a signed report
    /// on the subject).
    pub kind: String,
    /// Who: `REGION/NODE` for a query, the system's identity for a check.
    pub by: String,
    /// The officers who asked and approved, or the one the system named.
    pub officers: Vec<String>,
    /// Purpose code.
    pub purpose: String,
    /// For a query: `granted`, `trimmed` or `denied`; for a report, its
    /// kind (`general`, `no_violation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// For a query: the fields released, `category.field`.
    pub released: Vec<String>,
}

/// One of the subject's records held here, and a region that received
/// it (经手必有责), from the disclosures ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RecordDisclosure {
    /// The record's category.
    pub category: String,
    /// The record's id.
    pub record_id: String,
    /// The region that received it (`000000`: the national platform).
    pub recipient: String,
    /// How: `query` (an answer), `upward` (a report), `list-push` (with a
    /// list entry).
    pub channel: String,
    /// When it last did, Unix ms.
    pub last_at_ms: i64,
}
