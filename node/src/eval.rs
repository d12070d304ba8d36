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
//! A member receiving a push ([`RecognitionFlow`]) verifies the
//! attestation's signature against the federation root (the signer must be a
//! node of the attestation's issuer region, whoever relayed it), runs
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

use crate::ids::random_id;
use credex_flows::calendar;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use credex_pki::authorization::sign_node_statement;
use credex_policies::egress::{release_result_push, release_result_to_holder};
use credex_policies::{
    AgreementSet, Catalogue, FieldValue, NotRecognisedReason, RecognitionDecision, Record, Uscc,
    recognise,
};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::{
    AttestationStatus, DOMAIN_EVAL_ATTESTATION, EvaluationAttestation, Scheme,
};
use credex_protocol::federation::Flow;
use credex_protocol::query::{QueryResponse, SubjectRef, Value};
use credex_protocol::recognition::{IssuedAttestation, ResultPush};
use serde::{Deserialize, Serialize};

use credex_journal::{
    ENTRY_VERSION, EvaluationIssued, Origin, RecognitionDecided, StoredDecision, sha256,
    subject_digest,
};

use crate::config::NodeConfig;
use crate::federation::{Driven, Federation};
use crate::storage::{RecordRow, StateWrite, Storage, StorageError};
use credex_flows::recognition::{Recognition, decide, received_key};
/// The agreement set this module applies (re-exported for its callers).
pub use credex_policies::AgreementSet as Agreements;

/// Flow state: this region's current result per subject and scheme
/// (key `{scheme}/{subject}`, value [`IssuedRecord`]).
pub const ISSUED_NS: &str = "recognition.issued";
pub use credex_flows::recognition::{
    HOLDERS_NS, RECEIVED_NS, ReceivedRecord, stored_decision, verify_attestation,
};

/// Longest import file, in rows.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// The catalogue category that holds a scheme's results as credit records.
pub fn category_of(scheme: Scheme) -> &'static str {
    credex_policies::egress::scheme_category(scheme)
}

/// The agreements a node applies: the shipped ones
/// ([`AgreementSet::builtin`]), then every `*.toml` file of the
/// `agreements/` directory next to the configuration file, in name order
/// (a file with the code of a shipped example replaces it).
pub fn load_agreements(config: &NodeConfig) -> Result<AgreementSet, String> {
    let mut set = AgreementSet::builtin();
    let Some(dir) = config.path.parent().map(|d| d.join("agreements")) else {
        return Ok(set);
    };
    if !dir.is_dir() {
        return Ok(set);
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for file in files {
        set = set.with_file(&file).map_err(|e| e.to_string())?;
    }
    Ok(set)
}

/// Register the recognition flow's handler (called from [`crate::flows`]).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
) -> Result<(), crate::service::StartError> {
    let agreements =
        load_agreements(config).map_err(|reason| crate::service::StartError::Flow {
            flow: "recognition",
            reason,
        })?;
    let ctx = federation.context();
    federation.register(
        Flow::Recognition,
        std::sync::Arc::new(Driven::new(
            Recognition::new(ctx.region, agreements),
            ctx.storage.clone(),
            ctx.trust.clone(),
        )),
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Stored values and journal entries

/// This region's current result for a subject and scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    /// The signed result.
    pub result: IssuedAttestation,
    /// The regions it was pushed to.
    pub pushed_to: Vec<RegionCode>,
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

// ---------------------------------------------------------------------------
// Import

/// One validated row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// 1-based line in the file.
    pub line: u64,
    /// The subject's USCC.
    pub subject: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme version.
    pub scheme_version: String,
    /// The grade on this region's scale.
    pub grade: String,
    /// First day of the period.
    pub period_start: String,
    /// Last day of the period.
    pub period_end: String,
    /// Issue time (Unix ms).
    pub issued_at_ms: i64,
    /// End of validity (Unix ms, inclusive).
    pub valid_until_ms: i64,
}

/// Parse and validate an import file of this region's results (JSON Lines
/// or CSV; keys/columns `subject`, `scheme`, `scheme_version`, `grade`,
/// `period_start`, `period_end`, `valid_until`, optional `issued_at`).
/// Dates are `YYYY-MM-DD` China Standard Time calendar days (`issued_at`:
/// the start of the day, `valid_until`: its end) or Unix milliseconds;
/// `issued_at` defaults to `now_ms`. The grade must be on `region`'s scale
/// for the scheme in at least one agreement. Every row is checked before
/// anything is returned; the first error names its line.
pub fn parse_results(
    path: &Path,
    region: RegionCode,
    agreements: &AgreementSet,
    now_ms: i64,
) -> Result<Vec<ResultRow>, EvalError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: display.clone(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let rows = match ext {
        "jsonl" | "ndjson" => jsonl_rows(&text),
        "csv" => csv_rows(&text),
        _ => return Err(EvalError::UnknownFormat(display)),
    }
    .map_err(|(line, reason)| EvalError::Row {
        path: display.clone(),
        line,
        reason,
    })?;
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(EvalError::TooManyRows(display));
    }
    if rows.is_empty() {
        return Err(EvalError::Empty(display));
    }
    let scales = own_scales(agreements, region);
    let mut seen = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let fail = |reason: String| EvalError::Row {
            path: display.clone(),
            line,
            reason,
        };
        let r = validate_row(line, row, &scales, region, now_ms).map_err(fail)?;
        if let Some(first) = seen.insert((r.scheme, r.subject.clone()), line) {
            return Err(fail(format!(
                "the subject's {} result already appears on line {first}",
                r.scheme
            )));
        }
        out.push(r);
    }
    Ok(out)
}

/// `region`'s own grades per scheme, over every agreement.
fn own_scales(set: &AgreementSet, region: RegionCode) -> BTreeMap<Scheme, BTreeSet<String>> {
    let mut out: BTreeMap<Scheme, BTreeSet<String>> = BTreeMap::new();
    for a in set.iter() {
        for (scheme, terms) in &a.schemes {
            if let Some(m) = terms.members.get(&region) {
                out.entry(*scheme)
                    .or_default()
                    .extend(m.scale.iter().cloned());
            }
        }
    }
    out
}

use crate::records::{RawRow, csv_rows, jsonl_rows};

fn validate_row(
    line: u64,
    mut row: RawRow,
    scales: &BTreeMap<Scheme, BTreeSet<String>>,
    region: RegionCode,
    now_ms: i64,
) -> Result<ResultRow, String> {
    let mut take = |key: &str| {
        row.remove(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing {key}"))
    };
    let subject = take("subject")?;
    let uscc = Uscc::parse(&subject).map_err(|e| format!("subject: {e}"))?;
    let scheme: Scheme = take("scheme")?
        .parse()
        .map_err(|e| format!("scheme: {e}"))?;
    let scheme_version = take("scheme_version")?;
    let grade = take("grade")?;
    let period_start = take("period_start")?;
    let period_end = take("period_end")?;
    let valid_until = take("valid_until")?;
    let issued_at = take("issued_at").ok();
    if let Some(extra) = row.keys().next() {
        return Err(format!("unknown key {extra:?}"));
    }
    let Some(scale) = scales.get(&scheme) else {
        return Err(format!(
            "no agreement gives region {region} a grade scale for scheme {scheme}"
        ));
    };
    if !scale.contains(&grade) {
        return Err(format!(
            "grade {grade:?} is not on region {region}'s {scheme} scale ({})",
            scale.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let issued_at_ms = match issued_at {
        Some(t) => parse_time(&t, false).map_err(|e| format!("issued_at: {e}"))?,
        None => now_ms,
    };
    if issued_at_ms > now_ms {
        return Err("issued_at is in the future".into());
    }
    let valid_until_ms = parse_time(&valid_until, true).map_err(|e| format!("valid_until: {e}"))?;
    let attestation = EvaluationAttestation {
        attestation_id: [0; 16],
        issuer_region: region,
        issuer_node: "check".parse().map_err(|e| format!("{e}"))?,
        scheme,
        scheme_version: scheme_version.clone(),
        subject: uscc.as_str().to_owned(),
        grade: grade.clone(),
        period_start: period_start.clone(),
        period_end: period_end.clone(),
        issued_at_ms,
        valid_until_ms,
        status: AttestationStatus::Active,
        supersedes: None,
    };
    attestation.validate().map_err(|e| e.to_string())?;
    Ok(ResultRow {
        line,
        subject: uscc.as_str().to_owned(),
        scheme,
        scheme_version,
        grade,
        period_start,
        period_end,
        issued_at_ms,
        valid_until_ms,
    })
}

/// `YYYY-MM-DD` (CST; start of day, or end of day if `end`) or Unix ms.
fn parse_time(text: &str, end: bool) -> Result<i64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("{text:?} is out of range"));
    }
    let b = text.as_bytes();
    let date = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| calendar::parse_date(text))
        .flatten()
        .ok_or_else(|| format!("{text:?} is neither a date YYYY-MM-DD nor Unix milliseconds"))?;
    let start = calendar::china_midnight_ms(date);
    Ok(if end {
        start + calendar::DAY_MS - 1
    } else {
        start
    })
}

// ---------------------------------------------------------------------------
// Issuing

/// What [`issue`] did with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// A new result (no earlier one), pushed to these members.
    Issued {
        /// The attestation's id.
        attestation_id: [u8; 16],
        /// The members it was queued for.
        pushed_to: Vec<RegionCode>,
    },
    /// A re-evaluation (another grade, period, version or validity)
    /// superseding `supersedes`.
    Superseded {
        /// The new attestation's id.
        attestation_id: [u8; 16],
        /// The one it supersedes.
        supersedes: [u8; 16],
        /// The members it was queued for.
        pushed_to: Vec<RegionCode>,
    },
    /// The same result is already current: nothing signed or pushed (its
    /// credit record is written again).
    Unchanged,
}

/// Summary of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueReport {
    /// Per row, in file order.
    pub outcomes: Vec<IssueOutcome>,
}

impl IssueReport {
    /// Counts of (new, superseding, unchanged) results.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for o in &self.outcomes {
            match o {
                IssueOutcome::Issued { .. } => c.0 += 1,
                IssueOutcome::Superseded { .. } => c.1 += 1,
                IssueOutcome::Unchanged => c.2 += 1,
            }
        }
        c
    }
}

/// The members a result of `region` under `scheme` is pushed to by default
/// (they are subscribed): every other member of every agreement that has
/// `region` as a member and recognises `scheme`.
pub fn subscribers(set: &AgreementSet, region: RegionCode, scheme: Scheme) -> BTreeSet<RegionCode> {
    set.iter()
        .filter(|a| a.has_member(region) && a.schemes.contains_key(&scheme))
        .flat_map(|a| a.members.iter().copied())
        .filter(|&r| r != region)
        .collect()
}

/// The members a new, updated or revoked result of this node's region about
/// `subject` under `scheme` goes to: the [`subscribers`] and every member
/// that recognised an earlier result of the same subject and scheme.
pub async fn recipients(
    storage: &Storage,
    set: &AgreementSet,
    region: RegionCode,
    scheme: Scheme,
    subject: &str,
) -> Result<BTreeSet<RegionCode>, StorageError> {
    let mut out = subscribers(set, region, scheme);
    out.extend(holders(storage, scheme, subject).await?);
    out.remove(&region);
    Ok(out)
}

/// The members that recognised an earlier result of this node's region
/// about `subject` under `scheme` (learnt from their acknowledgements).
pub async fn holders(
    storage: &Storage,
    scheme: Scheme,
    subject: &str,
) -> Result<BTreeSet<RegionCode>, StorageError> {
    let prefix = format!("{scheme}/{subject}/");
    Ok(storage
        .state_scan(HOLDERS_NS, &prefix, None, crate::storage::MAX_STATE_SCAN)
        .await?
        .into_iter()
        .filter_map(|(key, _)| {
            key.strip_prefix(&prefix)
                .and_then(|r| r.parse::<RegionCode>().ok())
        })
        .collect())
}

/// Sign `attestation` with the node key of `federation`.
pub fn sign_attestation(
    federation: &Federation,
    attestation: EvaluationAttestation,
) -> Result<IssuedAttestation, EvalError> {
    let ctx = federation.context();
    let bytes =
        credex_protocol::encode(&attestation).map_err(|e| EvalError::Sign(e.to_string()))?;
    let issuer = sign_node_statement(
        DOMAIN_EVAL_ATTESTATION,
        &bytes,
        &ctx.node_key,
        ctx.chain.clone(),
    )
    .map_err(|e| EvalError::Sign(e.to_string()))?;
    Ok(IssuedAttestation {
        attestation,
        issuer,
    })
}

/// The outbox writes that push `result` to each of `to` (regions without
/// a configured peer are skipped and left out of the returned list).
///
/// Each push is released by the egress gate under the agreement that binds
/// this region and the member for the result's scheme; a member no such
/// agreement binds gets the change only if it is one of `holders` (it
/// recognised an earlier result: `release_result_to_holder`), and
/// otherwise nothing (and is left out of the list).
pub fn push_writes(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    result: &IssuedAttestation,
    to: &BTreeSet<RegionCode>,
    holders: &BTreeSet<RegionCode>,
    now_ms: i64,
) -> Result<(Vec<StateWrite>, Vec<RegionCode>), EvalError> {
    let push = ResultPush {
        result: result.clone(),
    };
    let from = federation.context().region;
    let mut writes = Vec::new();
    let mut pushed = Vec::new();
    for &region in to {
        if !federation.context().peers.knows(region) {
            tracing::debug!(%region, "no peer configured for a subscribed member; result not pushed there");
            continue;
        }
        let released =
            release_result_push(agreements, catalogue, from, region, &push).or_else(|e| {
                match holders.contains(&region) {
                    true => release_result_to_holder(catalogue, region, &push),
                    false => Err(e),
                }
            });
        let body = match released {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%region, error = %e, "result not pushed: the egress gate released nothing");
                continue;
            }
        };
        let (_, write) = federation
            .prepare(body, now_ms)
            .map_err(|e| EvalError::Sign(e.to_string()))?;
        writes.push(write);
        pushed.push(region);
    }
    Ok((writes, pushed))
}

/// Sign, store, journal and push every row (see the module doc). A row
/// equal to the current result is left alone, so re-running an import
/// after a failure is safe. Wakes the delivery task at the end.
pub async fn issue(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    rows: &[ResultRow],
    now_ms: i64,
) -> Result<IssueReport, EvalError> {
    let ctx = federation.context();
    let mut report = IssueReport::default();
    for row in rows {
        let current = current_issued(&ctx.storage, row.scheme, &row.subject).await?;
        if let Some(cur) = &current {
            let a = &cur.result.attestation;
            if a.status == AttestationStatus::Active
                && a.grade == row.grade
                && a.scheme_version == row.scheme_version
                && a.period_start == row.period_start
                && a.period_end == row.period_end
                && a.valid_until_ms == row.valid_until_ms
            {
                // Rewrite the credit record: repairs one lost to a crash
                // between the two writes of an earlier import.
                ctx.storage
                    .import_records(vec![credit_record(catalogue, &cur.result)?])
                    .await?;
                report.outcomes.push(IssueOutcome::Unchanged);
                continue;
            }
        }
        let supersedes = current
            .as_ref()
            .map(|c| c.result.attestation.attestation_id);
        let attestation = EvaluationAttestation {
            attestation_id: random_id(),
            issuer_region: ctx.region,
            issuer_node: ctx.node.clone(),
            scheme: row.scheme,
            scheme_version: row.scheme_version.clone(),
            subject: row.subject.clone(),
            grade: row.grade.clone(),
            period_start: row.period_start.clone(),
            period_end: row.period_end.clone(),
            issued_at_ms: row.issued_at_ms,
            valid_until_ms: row.valid_until_ms,
            status: AttestationStatus::Active,
            supersedes,
        };
        let id = attestation.attestation_id;
        let pushed_to =
            commit_issued(federation, agreements, catalogue, attestation, now_ms).await?;
        report.outcomes.push(match supersedes {
            Some(supersedes) => IssueOutcome::Superseded {
                attestation_id: id,
                supersedes,
                pushed_to,
            },
            None => IssueOutcome::Issued {
                attestation_id: id,
                pushed_to,
            },
        });
    }
    federation.wake();
    Ok(report)
}

/// Revoke this region's current result for `subject` under `scheme`: a
/// revocation attestation superseding it, stored, journalled and pushed
/// like a new result. Returns the revocation's id and where it was pushed.
pub async fn revoke(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    subject: &str,
    scheme: Scheme,
    reason: &str,
    now_ms: i64,
) -> Result<([u8; 16], Vec<RegionCode>), EvalError> {
    let uscc = Uscc::parse(subject).map_err(|e| EvalError::Invalid(format!("subject: {e}")))?;
    let ctx = federation.context();
    let current = current_issued(&ctx.storage, scheme, uscc.as_str())
        .await?
        .ok_or(EvalError::NothingToRevoke(scheme))?;
    let old = &current.result.attestation;
    if old.status != AttestationStatus::Active {
        return Err(EvalError::AlreadyRevoked(scheme));
    }
    let attestation = EvaluationAttestation {
        attestation_id: random_id(),
        issuer_node: ctx.node.clone(),
        issued_at_ms: now_ms.max(old.issued_at_ms),
        valid_until_ms: old.valid_until_ms.max(now_ms),
        status: AttestationStatus::Revoked {
            reason: reason.to_owned(),
        },
        supersedes: Some(old.attestation_id),
        ..old.clone()
    };
    attestation
        .validate()
        .map_err(|e| EvalError::Invalid(e.to_string()))?;
    let id = attestation.attestation_id;
    let pushed = commit_issued(federation, agreements, catalogue, attestation, now_ms).await?;
    federation.wake();
    Ok((id, pushed))
}

async fn current_issued(
    storage: &Storage,
    scheme: Scheme,
    subject: &str,
) -> Result<Option<IssuedRecord>, EvalError> {
    let key = format!("{scheme}/{subject}");
    match storage.state(ISSUED_NS, &key).await? {
        None => Ok(None),
        Some(bytes) => credex_protocol::decode(&bytes)
            .map(Some)
            .map_err(|e| EvalError::Invalid(format!("stored result {key} is unreadable: {e}"))),
    }
}

/// Sign, then in one transaction: journal, store as current, queue the
/// pushes. Then store as a credit record (a separate write; a crash in
/// between leaves the previous record until the next import).
async fn commit_issued(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    attestation: EvaluationAttestation,
    now_ms: i64,
) -> Result<Vec<RegionCode>, EvalError> {
    let ctx = federation.context();
    let scheme = attestation.scheme;
    let subject = attestation.subject.clone();
    let to = recipients(&ctx.storage, agreements, ctx.region, scheme, &subject).await?;
    let holders = holders(&ctx.storage, scheme, &subject).await?;
    let result = sign_attestation(federation, attestation)?;
    let (mut writes, pushed_to) = push_writes(
        federation, agreements, catalogue, &result, &to, &holders, now_ms,
    )?;
    let a = &result.attestation;
    let entry = EvaluationIssued {
        version: ENTRY_VERSION,
        at_ms: now_ms,
        attestation_id: a.attestation_id,
        attestation_digest: attestation_digest(&result)
            .map_err(|e| EvalError::Sign(e.to_string()))?,
        scheme,
        subject_digest: subject_digest(&SubjectRef::LegalPerson(subject.clone())),
        grade: a.grade.clone(),
        revoked: matches!(a.status, AttestationStatus::Revoked { .. }),
        supersedes: a.supersedes,
        pushed_to: pushed_to.clone(),
    };
    let record = IssuedRecord {
        result: result.clone(),
        pushed_to: pushed_to.clone(),
    };
    writes.push(StateWrite::put(
        ISSUED_NS,
        format!("{scheme}/{subject}"),
        credex_protocol::encode(&record).map_err(|e| EvalError::Sign(e.to_string()))?,
    ));
    ctx.storage.append_entry_with_state(&entry, writes).await?;
    let row = credit_record(catalogue, &result)?;
    ctx.storage.import_records(vec![row]).await?;
    Ok(pushed_to)
}

/// SHA-256 of encode(result).
pub fn attestation_digest(
    result: &IssuedAttestation,
) -> Result<[u8; 32], credex_protocol::FrameError> {
    Ok(sha256(&credex_protocol::encode(result)?))
}

/// The credit record that makes `result` fetchable by an ordinary query:
/// category [`category_of`] its scheme, record id `eval-{scheme}`
/// (one current result per subject and scheme), field `attestation` the
/// hex of encode(result), plus the category's descriptive fields where the
/// values fit the catalogue.
pub fn credit_record(
    catalogue: &Catalogue,
    result: &IssuedAttestation,
) -> Result<RecordRow, EvalError> {
    let a = &result.attestation;
    let category = category_of(a.scheme);
    let cat = catalogue.category(category).ok_or_else(|| {
        EvalError::Invalid(format!(
            "the catalogue has no category {category} for scheme {}",
            a.scheme
        ))
    })?;
    let encoded = credex_protocol::encode(result).map_err(|e| EvalError::Sign(e.to_string()))?;
    let mut fields = BTreeMap::new();
    fields.insert(
        "attestation".to_owned(),
        FieldValue::Text(hex::encode(encoded)),
    );
    let date = calendar::china_date_text(a.issued_at_ms);
    let period = format!("{}/{}", a.period_start, a.period_end);
    for (field, text) in [
        ("grade", a.grade.as_str()),
        ("period", period.as_str()),
        ("evaluation_date", date.as_str()),
        ("model_version", a.scheme_version.as_str()),
    ] {
        if let Some(f) = cat.field(field)
            && let Ok(v) = f.parse_value(text)
        {
            fields.insert(field.to_owned(), v);
        }
    }
    if cat.field("attestation").is_none() {
        return Err(EvalError::Invalid(format!(
            "catalogue category {category} has no field \"attestation\""
        )));
    }
    let record = Record {
        category: category.to_owned(),
        fields,
    };
    Ok(RecordRow {
        category: category.to_owned(),
        record_id: format!("eval-{}", a.scheme),
        subject_key: crate::query::subject_key(&SubjectRef::LegalPerson(a.subject.clone())),
        body: credex_protocol::encode(&record).map_err(|e| EvalError::Sign(e.to_string()))?,
    })
}

// ---------------------------------------------------------------------------
// Recognising

/// What [`recognise_from_response`] decided on one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundResult {
    /// The attestation.
    pub attestation: EvaluationAttestation,
    /// The decision (`superseded` if a newer one was held).
    pub decision: StoredDecision,
}

/// Recognise the results in a verified query response (records with an
/// `attestation` field): verify each, decide, store and journal a
/// [`RecognitionDecided`] entry per result. A result that does not verify
/// is an error: the response carried a forged result.
pub async fn recognise_from_response(
    storage: &Storage,
    trust: &credex_pki::TrustStore,
    agreements: &AgreementSet,
    region: RegionCode,
    response: &QueryResponse,
    now_ms: i64,
) -> Result<Vec<FoundResult>, EvalError> {
    let mut out = Vec::new();
    for record in &response.body.records {
        let Some(Value::Text(text)) = record
            .fields
            .iter()
            .find(|(k, _)| k == "attestation")
            .map(|(_, v)| v)
        else {
            continue;
        };
        let fail = |reason: String| {
            EvalError::Invalid(format!(
                "record {} of the response: {reason}",
                record.record_id
            ))
        };
        let bytes = hex::decode(text).map_err(|e| fail(format!("attestation is not hex: {e}")))?;
        let result: IssuedAttestation = credex_protocol::decode(&bytes)
            .map_err(|e| fail(format!("unreadable attestation: {e}")))?;
        verify_attestation(trust, &result, now_ms).map_err(fail)?;
        if result.attestation.issuer_region != response.body.responder_region {
            return Err(fail(format!(
                "the responder {} returned a result issued by {}",
                response.body.responder_region, result.attestation.issuer_region
            )));
        }
        let origin = Origin::Query {
            request_id: response.body.request_id,
        };
        let key = received_key(&result);
        let held: Option<ReceivedRecord> = storage
            .state(&key.ns, &key.key)
            .await?
            .and_then(|b| credex_protocol::decode(&b).ok());
        let decided = decide(
            agreements,
            region,
            held.as_ref(),
            &result,
            origin.clone(),
            now_ms,
        )
        .map_err(StorageError::from)?;
        let a = &result.attestation;
        let entry = RecognitionDecided {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            attestation_id: a.attestation_id,
            attestation_digest: attestation_digest(&result)
                .map_err(|e| EvalError::Sign(e.to_string()))?,
            issuer_region: a.issuer_region,
            scheme: a.scheme,
            subject_digest: subject_digest(&SubjectRef::LegalPerson(a.subject.clone())),
            decision: decided.decision.clone(),
            origin,
        };
        storage
            .append_entry_with_state(&entry, decided.writes)
            .await?;
        out.push(FoundResult {
            attestation: result.attestation,
            decision: decided.decision,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Effective grade

/// One input of an effective-grade answer, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    /// `local` (this region's own result) or `recognised`.
    pub source: &'static str,
    /// The attestation's id (hex).
    pub attestation_id: String,
    /// The issuing region.
    pub issuer_region: String,
    /// The issuing node.
    pub issuer_node: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme version.
    pub scheme_version: String,
    /// The grade on the issuer's scale.
    pub grade: String,
    /// The grade on the agreement's common scale.
    pub common_grade: Option<String>,
    /// The grade on this region's scale.
    pub local_grade: Option<String>,
    /// The agreement applied.
    pub agreement: Option<String>,
    /// When issued (Unix ms).
    pub issued_at_ms: i64,
    /// Until when it counts (Unix ms, inclusive).
    pub counts_until_ms: Option<i64>,
    /// Whether it counts now.
    pub counts: bool,
    /// `counts`, or why not (a reason code).
    pub status: String,
    /// How it reached this node: `issued here`, `pushed by R` or `query`.
    pub via: String,
}

/// The effective result for one scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemeEffective {
    /// The scheme.
    pub scheme: Scheme,
    /// The grade on this region's scale, if any input counts.
    pub grade: Option<String>,
    /// Its common grade.
    pub common_grade: Option<String>,
    /// The supervision tier granted.
    pub supervision_tier: Option<String>,
    /// Whether the green channel is granted.
    pub green_channel: bool,
    /// The index in `inputs` of the input that decides.
    pub decided_by: Option<usize>,
    /// Every input, local first, then recognised by issue time (newest first).
    pub inputs: Vec<Input>,
}

/// A subject's effective grades here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// This region.
    pub region: String,
    /// Evaluated at (Unix ms).
    pub at_ms: i64,
    /// Per scheme with at least one input.
    pub schemes: Vec<SchemeEffective>,
}

/// (agreement code, common grade, treatment) of a local result.
type LocalTreatment = (String, String, credex_policies::Treatment);

/// The treatment of `grade` (on `region`'s scale) for a local result: the
/// common grade and treatment of the most specific agreement that gives
/// `region` a scale for the scheme.
fn local_treatment(
    set: &AgreementSet,
    region: RegionCode,
    scheme: Scheme,
    grade: &str,
) -> Option<LocalTreatment> {
    let mut agreements: Vec<_> = set
        .iter()
        .filter(|a| a.has_member(region) && a.schemes.contains_key(&scheme))
        .collect();
    agreements.sort_by(|x, y| {
        x.members
            .len()
            .cmp(&y.members.len())
            .then_with(|| x.code.cmp(&y.code))
    });
    agreements.into_iter().find_map(|a| {
        let terms = a.schemes.get(&scheme)?;
        let common = terms.members.get(&region)?.to_common.get(grade)?;
        let t = terms.treatments.get(common)?;
        Some((a.code.clone(), common.clone(), t.clone()))
    })
}

/// The subject's effective grade and treatment per scheme at `now_ms`
/// (precedence in the module documentation).
pub async fn effective(
    storage: &Storage,
    agreements: &AgreementSet,
    region: RegionCode,
    subject: &str,
    now_ms: i64,
) -> Result<Effective, EvalError> {
    let uscc = Uscc::parse(subject).map_err(|e| EvalError::Invalid(format!("subject: {e}")))?;
    let subject = uscc.as_str();
    let mut schemes = Vec::new();
    let received: Vec<ReceivedRecord> = storage
        .state_scan(
            RECEIVED_NS,
            &format!("{subject}/"),
            None,
            crate::storage::MAX_STATE_SCAN,
        )
        .await?
        .into_iter()
        .filter_map(|(_, v)| credex_protocol::decode(&v).ok())
        .collect();
    for scheme in Scheme::ALL {
        let mut inputs = Vec::new();
        let mut local_best: Option<(usize, String, Option<LocalTreatment>)> = None;
        if let Some(own) = current_issued(storage, scheme, subject).await? {
            let a = &own.result.attestation;
            let revoked = matches!(a.status, AttestationStatus::Revoked { .. });
            let status = if revoked {
                "revoked"
            } else if now_ms < a.issued_at_ms {
                "not_yet_valid"
            } else if now_ms > a.valid_until_ms {
                "expired"
            } else {
                "counts"
            };
            let treat = local_treatment(agreements, region, scheme, &a.grade);
            inputs.push(Input {
                source: "local",
                attestation_id: hex::encode(a.attestation_id),
                issuer_region: a.issuer_region.to_string(),
                issuer_node: a.issuer_node.to_string(),
                scheme,
                scheme_version: a.scheme_version.clone(),
                grade: a.grade.clone(),
                common_grade: treat.as_ref().map(|t| t.1.clone()),
                local_grade: Some(a.grade.clone()),
                agreement: treat.as_ref().map(|t| t.0.clone()),
                issued_at_ms: a.issued_at_ms,
                counts_until_ms: Some(a.valid_until_ms),
                counts: status == "counts",
                status: status.into(),
                via: "issued here".into(),
            });
            if status == "counts" {
                local_best = Some((0, a.grade.clone(), treat));
            }
        }
        let mut recog: Vec<(&ReceivedRecord, RecognitionDecision)> = received
            .iter()
            .filter(|r| r.result.attestation.scheme == scheme)
            .map(|r| {
                (
                    r,
                    recognise(agreements, region, &r.result.attestation, now_ms),
                )
            })
            .collect();
        recog.sort_by(|(x, _), (y, _)| {
            let (x, y) = (&x.result.attestation, &y.result.attestation);
            y.issued_at_ms
                .cmp(&x.issued_at_ms)
                .then_with(|| x.issuer_region.cmp(&y.issuer_region))
        });
        let mut recognised_best: Option<(usize, String, String, credex_policies::Treatment)> = None;
        for (r, decision) in recog {
            let a = &r.result.attestation;
            let via = match &r.origin {
                Origin::Pushed { from, .. } => format!("pushed by {from}"),
                Origin::Query { .. } => "query".into(),
            };
            let mut input = Input {
                source: "recognised",
                attestation_id: hex::encode(a.attestation_id),
                issuer_region: a.issuer_region.to_string(),
                issuer_node: a.issuer_node.to_string(),
                scheme,
                scheme_version: a.scheme_version.clone(),
                grade: a.grade.clone(),
                common_grade: None,
                local_grade: None,
                agreement: None,
                issued_at_ms: a.issued_at_ms,
                counts_until_ms: None,
                counts: false,
                status: String::new(),
                via,
            };
            match decision {
                RecognitionDecision::Recognised {
                    agreement,
                    common_grade,
                    local_grade,
                    treatment,
                    counts_until_ms,
                } => {
                    input.common_grade = Some(common_grade.clone());
                    input.local_grade = Some(local_grade.clone());
                    input.agreement = Some(agreement);
                    input.counts_until_ms = Some(counts_until_ms);
                    input.counts = true;
                    input.status = "counts".into();
                    if recognised_best.is_none() {
                        recognised_best =
                            Some((inputs.len(), local_grade, common_grade, treatment));
                    }
                }
                RecognitionDecision::NotRecognised(reason) => {
                    input.status = reason.code().into();
                    if let NotRecognisedReason::Expired { valid_until_ms } = reason {
                        input.counts_until_ms = Some(valid_until_ms);
                    }
                }
            }
            inputs.push(input);
        }
        if inputs.is_empty() {
            continue;
        }
        let mut eff = SchemeEffective {
            scheme,
            grade: None,
            common_grade: None,
            supervision_tier: None,
            green_channel: false,
            decided_by: None,
            inputs,
        };
        if let Some((i, grade, treat)) = local_best {
            eff.decided_by = Some(i);
            eff.grade = Some(grade);
            if let Some((_, common, t)) = treat {
                eff.common_grade = Some(common);
                eff.supervision_tier = Some(t.supervision_tier);
                eff.green_channel = t.green_channel;
            }
        } else if let Some((i, grade, common, t)) = recognised_best {
            eff.decided_by = Some(i);
            eff.grade = Some(grade);
            eff.common_grade = Some(common);
            eff.supervision_tier = Some(t.supervision_tier);
            eff.green_channel = t.green_channel;
        }
        schemes.push(eff);
    }
    Ok(Effective {
        region: region.to_string(),
        at_ms: now_ms,
        schemes,
    })
}

/// One line of [`list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// `issued` (this region's current results) or `received`.
    pub kind: &'static str,
    /// The subject's USCC.
    pub subject: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The issuer region.
    pub issuer_region: String,
    /// The grade on the issuer's scale.
    pub grade: String,
    /// `active` or `revoked`.
    pub status: &'static str,
    /// Issued (Unix ms).
    pub issued_at_ms: i64,
    /// Valid until (Unix ms).
    pub valid_until_ms: i64,
    /// For received results: the decision when received.
    pub decision: Option<String>,
    /// For issued results: where pushed.
    pub pushed_to: Vec<String>,
}

/// The results this node issued and received (at most
/// [`crate::storage::MAX_STATE_SCAN`] of each).
pub async fn list(storage: &Storage) -> Result<Vec<Listed>, EvalError> {
    let mut out = Vec::new();
    let status = |a: &EvaluationAttestation| match a.status {
        AttestationStatus::Active => "active",
        AttestationStatus::Revoked { .. } => "revoked",
    };
    for (_, v) in storage
        .state_scan(ISSUED_NS, "", None, crate::storage::MAX_STATE_SCAN)
        .await?
    {
        let Ok(r) = credex_protocol::decode::<IssuedRecord>(&v) else {
            continue;
        };
        let a = &r.result.attestation;
        out.push(Listed {
            kind: "issued",
            subject: a.subject.clone(),
            scheme: a.scheme,
            issuer_region: a.issuer_region.to_string(),
            grade: a.grade.clone(),
            status: status(a),
            issued_at_ms: a.issued_at_ms,
            valid_until_ms: a.valid_until_ms,
            decision: None,
            pushed_to: r.pushed_to.iter().map(|r| r.to_string()).collect(),
        });
    }
    for (_, v) in storage
        .state_scan(RECEIVED_NS, "", None, crate::storage::MAX_STATE_SCAN)
        .await?
    {
        let Ok(r) = credex_protocol::decode::<ReceivedRecord>(&v) else {
            continue;
        };
        let a = &r.result.attestation;
        out.push(Listed {
            kind: "received",
            subject: a.subject.clone(),
            scheme: a.scheme,
            issuer_region: a.issuer_region.to_string(),
            grade: a.grade.clone(),
            status: status(a),
            issued_at_ms: a.issued_at_ms,
            valid_until_ms: a.valid_until_ms,
            decision: Some(match (&r.decision.agreement, &r.decision.local_grade) {
                (Some(ag), Some(g)) => format!("recognised under {ag} as {g}"),
                _ => format!("not recognised: {}", r.decision.reason_code),
            }),
            pushed_to: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_cst_days() {
        // 2026-01-01 00:00 CST = 2025-12-31 16:00 UTC.
        assert_eq!(parse_time("2026-01-01", false), Ok(1_767_196_800_000));
        assert_eq!(
            parse_time("2026-01-01", true),
            Ok(1_767_196_800_000 + calendar::DAY_MS - 1)
        );
        assert_eq!(parse_time("1767196800000", false), Ok(1_767_196_800_000));
        assert!(parse_time("2026-02-30", false).is_err());
        assert!(parse_time("yesterday", false).is_err());
        assert_eq!(calendar::china_date_text(1_767_196_800_000), "2026-01-01");
    }

    #[test]
    fn subscribers_follow_the_agreements() {
        let set = AgreementSet::builtin();
        let gy: RegionCode = "520000".parse().unwrap();
        let cq: RegionCode = "500000".parse().unwrap();
        let gd: RegionCode = "440000".parse().unwrap();
        let pc = subscribers(&set, gy, Scheme::PublicCredit);
        assert!(pc.contains(&cq) && pc.contains(&gd) && !pc.contains(&gy));
        assert_eq!(pc.len(), 9, "eight Pan-Pearl River members and Chongqing");
        // Chongqing–Guizhou does not list environmental credit.
        assert!(!subscribers(&set, gy, Scheme::EnvironmentalCredit).contains(&cq));
        assert!(subscribers(&set, cq, Scheme::EnvironmentalCredit).is_empty());
    }
}
