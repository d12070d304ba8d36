//! Mutual recognition of credit evaluation results (信用评价结果互认,
//! docs/design.md §8; decision 0501).
//!
//! # Issuing
//!
//! The issuing region imports its results ([`parse_results`], then
//! [`issue`]): the node signs each as an [`IssuedAttestation`] (node key,
//! [`DOMAIN_EVAL_ATTESTATION`]), keeps the current one per subject and
//! scheme in flow state ([`ISSUED_NS`]), stores it as a credit record of the
//! scheme's catalogue category (so an ordinary dual-authorized query fetches
//! it, field `attestation`), journals an [`EvaluationIssued`] entry
//! ([`kind::EVALUATION_ISSUED`]) and, in the same transaction, queues a
//! [`ResultPush`] for every subscribed member ([`recipients`]). A re-import
//! with another grade, period, version or validity supersedes the current
//! result; [`revoke`] withdraws it. Both are pushed like a new result.
//!
//! # Recognising
//!
//! A member receiving a push ([`Recognition`], in `credex-flows`) verifies
//! the attestation's signature against the federation root (the signer must
//! be a node of the attestation's issuer region, whoever relayed it), runs
//! [`credex_policies::recognise`] against the node's agreements, stores the
//! decision ([`RECEIVED_NS`]) and answers it in the acknowledgement's reply;
//! the federation layer logs the message (kind 7) with the decision as its
//! summary. A result found in a query response is recognised by
//! [`recognise_from_response`], journalled as [`RecognitionDecided`]
//! ([`kind::RECOGNITION_DECIDED`]).
//!
//! # Effective grade
//!
//! [`effective`] answers a subject's effective grade and treatment per
//! scheme at a given time: a local result that is in force beats any
//! recognised one; among recognised results that count now (the agreement
//! re-applied with the current clock, so results past their maximum age or
//! validity stop counting), the most recently issued wins (ties: the lower
//! issuer region code).
//!
//! # The parts
//!
//! - `import` ([`parse_results`], [`ResultRow`]): reading and validating an
//!   import file of this region's results;
//! - `issue` ([`issue`], [`revoke`], [`push_writes`], [`credit_record`]):
//!   signing, storing, journalling and pushing this region's results;
//! - `found` ([`recognise_from_response`]): results found in a query
//!   response;
//! - `effective` ([`effective`]): a subject's effective grade per scheme;
//! - `list` ([`list`]): the results this node issued and received.
//!
//! This file holds the agreements a node applies ([`load_agreements`]), the
//! flow's registration ([`register`]), the issued results' namespace and
//! stored value ([`ISSUED_NS`], [`IssuedRecord`]), the scan the parts read
//! stored results with, and the error every command returns
//! ([`EvalError`]). The receiving side of a push (the decision,
//! [`RECEIVED_NS`], [`HOLDERS_NS`]) is not here: it is
//! [`credex_flows::recognition`]'s, re-exported where callers need it.
//!
//! [`DOMAIN_EVAL_ATTESTATION`]: credex_protocol::evaluation::DOMAIN_EVAL_ATTESTATION
//! [`EvaluationIssued`]: credex_journal::EvaluationIssued
//! [`kind::EVALUATION_ISSUED`]: credex_journal::kind::EVALUATION_ISSUED
//! [`ResultPush`]: credex_protocol::recognition::ResultPush
//! [`RecognitionDecided`]: credex_journal::RecognitionDecided
//! [`kind::RECOGNITION_DECIDED`]: credex_journal::kind::RECOGNITION_DECIDED

use std::sync::Arc;

use credex_flows::recognition::Recognition;
use credex_policies::AgreementSet;
use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use credex_protocol::recognition::IssuedAttestation;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::NodeConfig;
use crate::federation::Federation;
use crate::storage::{Storage, StorageError};

mod effective;
mod found;
mod import;
mod issue;
mod list;

pub use effective::{Effective, Input, SchemeEffective, effective};
pub use found::{FoundResult, recognise_from_response};
pub use import::{MAX_IMPORT_ROWS, ResultRow, parse_results};
pub use issue::{
    IssueOutcome, IssueReport, attestation_digest, category_of, credit_record, holders, issue,
    push_writes, recipients, revoke, sign_attestation, subscribers,
};
pub use list::{Listed, list};

/// The agreement set this module applies (re-exported for its callers).
pub use credex_policies::AgreementSet as Agreements;

/// Flow state: this region's current result per subject and scheme
/// (key `{scheme}/{subject}`, value [`IssuedRecord`]).
pub const ISSUED_NS: &str = "recognition.issued";
pub use credex_flows::recognition::{
    HOLDERS_NS, RECEIVED_NS, ReceivedRecord, stored_decision, verify_attestation,
};

/// The agreements a node applies: the shipped ones
/// ([`AgreementSet::builtin`]), then every `*.toml` file of the
/// `agreements/` directory next to the configuration file, in name order
/// (a file with the code of a shipped example replaces it).
pub fn load_agreements(config: &NodeConfig) -> Result<AgreementSet, AgreementsLoadError> {
    match config.path.parent() {
        Some(dir) => load_agreements_in(&dir.join("agreements")),
        None => Ok(AgreementSet::builtin()),
    }
}

/// The shipped agreements, then every `*.toml` file of `dir` (if it
/// exists) in name order: the agreements a node whose `agreements/`
/// directory is `dir` applies. An auditor loads a federation's own
/// agreements this way (`credex audit verify --agreements`).
pub fn load_agreements_in(dir: &std::path::Path) -> Result<AgreementSet, AgreementsLoadError> {
    let mut set = AgreementSet::builtin();
    if !dir.is_dir() {
        return Ok(set);
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| AgreementsLoadError::Directory {
            dir: dir.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for file in files {
        set = set.with_file(&file)?;
    }
    Ok(set)
}

/// Why the agreements beside a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AgreementsLoadError {
    /// The `agreements/` directory could not be listed.
    #[error("{}: {source}", dir.display())]
    Directory {
        /// The directory.
        dir: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An agreement file is unreadable or invalid (the error names the
    /// file, and the key where one is at fault).
    #[error(transparent)]
    File(#[from] credex_policies::AgreementError),
}

/// Register the recognition flow's handler (called from [`crate::flows`]).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
) -> Result<(), crate::boot::StartError> {
    let agreements = load_agreements(config).map_err(|e| crate::boot::StartError::Flow {
        flow: "recognition",
        reason: e.to_string(),
    })?;
    let ctx = federation.context();
    federation.register(Arc::new(Recognition::new(ctx.region, agreements)));
    Ok(())
}

// ---------------------------------------------------------------------------
// Stored values

/// This region's current result for a subject and scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    /// The signed result.
    pub result: IssuedAttestation,
    /// The regions it was pushed to.
    pub pushed_to: Vec<RegionCode>,
}

/// The readable values of flow state `ns` under `prefix` (at most
/// [`crate::storage::MAX_STATE_SCAN`]; unreadable ones are skipped).
async fn stored<T: DeserializeOwned>(
    storage: &Storage,
    ns: &str,
    prefix: &str,
) -> Result<Vec<T>, StorageError> {
    Ok(storage
        .state_scan(ns, prefix, None, crate::storage::MAX_STATE_SCAN)
        .await?
        .into_iter()
        .filter_map(|(_, v)| credex_protocol::decode(&v).ok())
        .collect())
}

// ---------------------------------------------------------------------------
// Errors

/// Why an evaluation command failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's format is not known by its extension.
    #[error("{0}: expected a .jsonl, .ndjson or .csv file")]
    UnknownFormat(String),
    /// A row is invalid; nothing of the file was imported.
    #[error("{path}:{line}: {reason} (nothing of this file was imported)")]
    Row {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// The file has more than [`MAX_IMPORT_ROWS`] rows.
    #[error("{0}: more than {MAX_IMPORT_ROWS} rows")]
    TooManyRows(String),
    /// The file holds no result.
    #[error("{0}: no result rows")]
    Empty(String),
    /// Nothing to revoke.
    #[error("this region holds no result for that subject under scheme {0}")]
    NothingToRevoke(Scheme),
    /// The result is already revoked.
    #[error("the current {0} result of that subject is already revoked")]
    AlreadyRevoked(Scheme),
    /// An argument is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}
