//! Issuing signed credit reports (信用报告, decision 0970): what this node
//! holds and recognised about a company, for a purpose, as the sharing
//! policy releases it for that purpose — the same release a credit check
//! gets (decision 0820) — signed by the node, logged, and handed out as a
//! C2SP `tlog-proof` file that any region verifies offline
//! (`credex_audit::report::verify`).
//!
//! The steps, in order: the gate decides what the purpose releases; the
//! holdings are read and projected through it; the report is built and
//! signed; its `report_issued` entry is appended and made durable; the
//! node's checkpointer signs a checkpoint covering it; the file is the
//! entry's inclusion proof, the checkpoint, and — in the proof's `extra`
//! line — the signed report with the entry's bytes. Nothing is handed out
//! before the entry is durable and covered.
//!
//! [`render`] draws a verified report for people (HTML with a QR code).
//! Does not decide whether another region accepts a report (its
//! agreements do).

use std::collections::BTreeMap;

use credex_journal::{ENTRY_VERSION, ReportIssued, sha256, subject_digest};
use credex_pki::authorization::sign_node_statement;
use credex_policies::check_release::release_for_check;
use credex_policies::subject_id::Uscc;
use credex_policies::{PolicySet, Purpose, SubjectKind};
use credex_protocol::query::SubjectRef;
use credex_protocol::report::{
    CreditReport, DOMAIN_REPORT, REPORT_VERSION, ReportBundle, ReportItem, ReportKind,
    ReportSection, SignedCreditReport,
};
use credex_protocol::tlog::{Hash, TlogProof};

use crate::federation::Federation;
use crate::holdings::{self, CheckedSubject, SubjectAnswer};

pub mod render;

/// Longest validity a report may be given, in days.
pub const MAX_VALID_DAYS: u32 = 366;

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// The company's unified social credit code.
    pub subject: String,
    /// General or no-violation.
    pub kind: ReportKind,
    /// A check purpose of the closed list (what the report is for).
    pub purpose: String,
    /// Days it may be relied on from today (1 to [`MAX_VALID_DAYS`]).
    pub valid_days: u32,
    /// Who asks: a gateway client's identity, or `cli`.
    pub requested_by: String,
    /// The officer accountable for the request (1 to
    /// [`MAX_OFFICER_LEN`] bytes, no control characters).
    pub officer: String,
}

/// Longest officer name, in bytes (as a credit check's).
pub const MAX_OFFICER_LEN: usize = 128;

/// Why no report was issued.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request is not one this node issues.
    #[error("{0}")]
    Invalid(String),
    /// The store or the log failed.
    #[error("the store or the log failed: {0}")]
    Store(String),
    /// The report could not be signed or encoded.
    #[error("the report could not be signed: {0}")]
    Sign(String),
}

/// Issue the report `request` asks for, at `now_ms`, under `policy`; the
/// report file's text. Cancel-safe only before the entry is appended: once
/// it is, the report is logged whether or not the caller waits for it.
pub async fn issue(
    federation: &Federation,
    policy: &PolicySet,
    request: &ReportRequest,
    now_ms: i64,
) -> Result<String, ReportError> {
    let ctx = federation.context();
    let uscc =
        Uscc::parse(&request.subject).map_err(|e| ReportError::Invalid(format!("subject: {e}")))?;
    let officer = request.officer.trim();
    if officer.is_empty()
        || officer.len() > MAX_OFFICER_LEN
        || officer.chars().any(char::is_control)
    {
        return Err(ReportError::Invalid(format!(
            "officer: name the officer accountable, 1 to {MAX_OFFICER_LEN} bytes without control characters"
        )));
    }
    if request.valid_days == 0 || request.valid_days > MAX_VALID_DAYS {
        return Err(ReportError::Invalid(format!(
            "valid_days: 1 to {MAX_VALID_DAYS}, not {}",
            request.valid_days
        )));
    }
    let purpose: Purpose = request
        .purpose
        .parse()
        .map_err(|e| ReportError::Invalid(format!("purpose: {e}")))?;
    let today = credex_flows::calendar::china_date(now_ms)
        .ok_or_else(|| ReportError::Invalid(format!("time {now_ms} has no China date")))?;
    let release = release_for_check(policy, purpose, today)
        .map_err(|e| ReportError::Invalid(format!("purpose: {e}")))?;
    let code = uscc.as_str().to_owned();
    let subject = CheckedSubject {
        shown: code.clone(),
        kind: SubjectKind::LegalPerson,
        pseudonym: None,
        record_key: code.clone(),
        digest_ref: SubjectRef::LegalPerson(code.clone()),
        list_keys: vec![code.clone()],
    };
    let answer = holdings::answers(&ctx.storage, ctx.region, &[subject], &release, now_ms)
        .await
        .map_err(|e| ReportError::Store(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| ReportError::Store("no answer for the subject".into()))?;
    let valid_until = today
        .checked_add(time::Duration::days(i64::from(request.valid_days) - 1))
        .map(credex_flows::calendar::date_text)
        .ok_or_else(|| ReportError::Invalid("valid_days runs past the calendar".into()))?;
    let sections = sections(&answer, ctx.region);
    let mut covered: Vec<String> = release.released().keys().cloned().collect();
    for s in &sections {
        if !covered.contains(&s.category) {
            covered.push(s.category.clone());
        }
    }
    let report = CreditReport {
        version: REPORT_VERSION,
        id: crate::ids::random_id(),
        kind: request.kind,
        issuer: ctx.region,
        issuer_node: ctx.node.clone(),
        subject: SubjectRef::LegalPerson(code),
        purpose: purpose.as_str().to_owned(),
        issued_at_ms: now_ms,
        valid_until,
        policy_hash: release.policy_hash(),
        covered,
        sections,
        withheld: release
            .withheld()
            .iter()
            .flat_map(|(c, fields)| fields.keys().map(move |f| format!("{c}.{f}")))
            .collect(),
    };
    report
        .validate()
        .map_err(|e| ReportError::Invalid(format!("the report would break a bound: {e}")))?;
    let message = credex_protocol::encode(&report).map_err(|e| ReportError::Sign(e.to_string()))?;
    let signer = sign_node_statement(DOMAIN_REPORT, &message, &ctx.node_key, ctx.chain.clone())
        .map_err(|e| ReportError::Sign(e.to_string()))?;
    let entry = ReportIssued {
        version: ENTRY_VERSION,
        at_ms: now_ms,
        report: report.id,
        kind: report.kind,
        subject_digest: subject_digest(&report.subject),
        report_digest: sha256(&message),
        purpose: report.purpose.clone(),
        valid_until: report.valid_until.clone(),
        requested_by: request.requested_by.clone(),
        officer: officer.to_owned(),
    };
    let seq = ctx
        .storage
        .append_entry(&entry)
        .await
        .map_err(|e| ReportError::Store(e.to_string()))?;
    let receipt = crate::log::receipt(&ctx.storage, &ctx.checkpoints, seq)
        .await
        .map_err(|e| ReportError::Store(e.to_string()))?;
    let bundle = ReportBundle {
        signed: SignedCreditReport { report, signer },
        entry: receipt.entry,
    };
    let proof = TlogProof {
        extra: Some(
            credex_protocol::encode(&bundle).map_err(|e| ReportError::Sign(e.to_string()))?,
        ),
        index: receipt.leaf_index,
        proof: receipt.inclusion_proof.into_iter().map(Hash).collect(),
        checkpoint: receipt.checkpoint,
    };
    Ok(proof.to_text())
}

/// The report's sections from a credit check's answer: records by
/// category, recognised evaluations by scheme, list entries by list.
fn sections(answer: &SubjectAnswer, here: credex_protocol::RegionCode) -> Vec<ReportSection> {
    let mut by_category: BTreeMap<String, Vec<ReportItem>> = BTreeMap::new();
    for r in &answer.records {
        by_category
            .entry(r.category.clone())
            .or_default()
            .push(ReportItem {
                id: r.record_id.clone(),
                source: here,
                fields: r
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), value_text(v)))
                    .collect(),
                marks: [
                    (r.under_objection, "under_objection"),
                    (r.under_repair_review, "under_repair_review"),
                ]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, m)| m.to_owned())
                .collect(),
            });
    }
    for e in &answer.evaluations {
        let Ok(source) = e.issuer_region.parse() else {
            continue;
        };
        let mut fields = BTreeMap::from([
            ("scheme_version".to_owned(), e.scheme_version.clone()),
            ("grade".to_owned(), e.original_grade.clone()),
        ]);
        if let Some(local) = &e.local_grade {
            fields.insert("local_grade".to_owned(), local.clone());
        }
        let mut marks = Vec::new();
        if source != here {
            marks.push("recognised".to_owned());
        }
        if e.under_objection {
            marks.push("under_objection".to_owned());
        }
        by_category
            .entry(e.scheme.clone())
            .or_default()
            .push(ReportItem {
                id: format!("{}/{}/{}", e.issuer_region, e.scheme, e.scheme_version),
                source,
                fields,
                marks,
            });
    }
    for l in &answer.lists {
        let Ok(source) = l.origin_region.parse() else {
            continue;
        };
        let mut fields = BTreeMap::new();
        for (key, value) in [
            ("basis", &l.basis),
            ("deciding_authority", &l.deciding_authority),
            ("entry_date", &l.entry_date),
            ("planned_exit", &l.planned_exit),
        ] {
            if let Some(v) = value {
                fields.insert(key.to_owned(), v.clone());
            }
        }
        if !l.measures.is_empty() {
            let names: Vec<&str> = l.measures.iter().map(|m| m.name_zh.as_str()).collect();
            fields.insert("measures".to_owned(), names.join("、"));
        }
        let mut marks = Vec::new();
        if l.under_objection {
            marks.push("under_objection".to_owned());
        }
        if l.under_repair_review {
            marks.push("under_repair_review".to_owned());
        }
        by_category
            .entry(l.list_type.clone())
            .or_default()
            .push(ReportItem {
                id: l.entry_id.clone(),
                source,
                fields,
                marks,
            });
    }
    by_category
        .into_iter()
        .map(|(category, items)| ReportSection { category, items })
        .collect()
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A verified report as JSON: what it is, who issued it, until when, what
/// it covers and where its issuance is in the issuer's log (the CLI's
/// `--json`, the console).
pub fn summary(v: &credex_audit::report::VerifiedReport) -> serde_json::Value {
    let r = &v.report;
    serde_json::json!({
        "verified": true,
        "id": hex::encode(r.id),
        "kind": r.kind.code(),
        "issuer": v.issuer.0.to_string(),
        "issuer_node": v.issuer.1.to_string(),
        "purpose": r.purpose,
        "valid_until": r.valid_until,
        "policy_hash": hex::encode(r.policy_hash),
        "log_index": v.log_index,
        "checkpoint_size": v.checkpoint_size,
        "sections": r.sections.iter().map(|s| serde_json::json!({
            "category": s.category, "items": s.items.len()
        })).collect::<Vec<_>>(),
        "nothing_held": r.nothing_held(),
        "withheld": r.withheld,
    })
}
