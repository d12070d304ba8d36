//! The subject access report (谁查询了我的信息) at the gateway, role `sar`:
//! every access to one subject this node's log records — other regions'
//! queries it answered, its own systems' credit checks and the credit
//! reports it issued — oldest first,
//! and every region that received one of the subject's records (by query,
//! upward report or list push) from the disclosures ledger.
//!
//! The subject comes in the body, never the path, so a citizen ID appears
//! in no URL; it is matched by digest (of the USCC, or of the person's
//! pseudonym under every epoch of the node's key ring), and the report
//! names the person only masked.

use axum::Extension;
use axum::Json;
use credex_journal::{AccessEntry, CreditChecked, Direction, ReportIssued, kind};
use credex_pki::GatewayRole;
use credex_policies::SubjectId;
use credex_protocol::query::SubjectRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
use crate::storage::{MAX_RANGE_LIMIT, Storage, StorageError};

/// Whose accesses to list.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subject": "91520000MA6DKXXX1Q"}))]
pub struct SubjectAccessRequest {
    /// A unified social credit code, or a citizen ID.
    pub subject: String,
}

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

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubjectAccessReport {
    /// The subject: the USCC, or the citizen ID masked.
    pub subject: String,
    /// The log's size when the report was made.
    pub log_size: u64,
    /// Every access, oldest first.
    pub accesses: Vec<SubjectAccess>,
    /// Every region that received one of the subject's records held here,
    /// by query, upward report or list push.
    pub disclosures: Vec<RecordDisclosure>,
}

/// Every access to a subject this node's log records.
#[utoipa::path(
    post,
    path = "/v1/subject-access",
    tag = "subjects",
    request_body = SubjectAccessRequest,
    responses(
        (status = 200, description = "every access, oldest first", body = SubjectAccessReport),
        (status = 400, description = "the body is not JSON", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `sar`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "the subject is invalid", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn subject_access(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    JsonBody(request): JsonBody<SubjectAccessRequest>,
) -> Result<Json<SubjectAccessReport>, Problem> {
    client.require(GatewayRole::Sar, "POST /v1/subject-access")?;
    report(&state, &request.subject).await.map(Json)
}

/// The subject access report for `subject` (a USCC or a citizen ID).
pub async fn report(state: &GatewayState, subject: &str) -> Result<SubjectAccessReport, Problem> {
    let (shown, digests) = digests(state, subject)?;
    let (log_size, accesses) = scan(state.storage(), &digests)
        .await
        .map_err(Problem::store_failed)?;
    let disclosures = disclosures(state, subject)
        .await
        .map_err(Problem::store_failed)?;
    Ok(SubjectAccessReport {
        subject: shown,
        log_size,
        accesses,
        disclosures,
    })
}

/// The recipients of every record of `subject` held here, by record.
async fn disclosures(
    state: &GatewayState,
    subject: &str,
) -> Result<Vec<RecordDisclosure>, StorageError> {
    let storage = state.storage();
    let subject_ref = match SubjectId::parse(subject.trim()) {
        Ok(SubjectId::LegalPerson(u)) => SubjectRef::LegalPerson(u.as_str().to_owned()),
        Ok(SubjectId::NaturalPerson(c)) => {
            let Some(persons) = state.parts().persons.as_deref() else {
                return Ok(Vec::new());
            };
            match persons.ring.current_pseudonym(c.expose()) {
                Ok(p) => SubjectRef::NaturalPerson(p),
                Err(_) => return Ok(Vec::new()),
            }
        }
        Err(_) => return Ok(Vec::new()),
    };
    let Some(key) = crate::pseudonyms::stored_subject_key(storage, &subject_ref).await? else {
        return Ok(Vec::new());
    };
    let categories: Vec<String> = state
        .parts()
        .queries
        .policy()
        .catalogue()
        .categories()
        .map(|c| c.code.clone())
        .collect();
    let mut out = Vec::new();
    for chunk in categories.chunks(crate::storage::MAX_QUERY_CATEGORIES) {
        for record in storage.records_for(&key, chunk).await? {
            let record_key = credex_journal::record_key(&record.category, &record.record_id);
            let to = crate::disclosures::recipients(storage, &record_key)
                .await
                .map_err(|e| StorageError::InvalidState {
                    reason: e.to_string(),
                })?;
            out.extend(to.into_iter().map(|d| RecordDisclosure {
                category: record.category.clone(),
                record_id: record.record_id.clone(),
                recipient: d.recipient.to_string(),
                channel: d.channel.name().to_owned(),
                last_at_ms: d.at_ms,
            }));
        }
    }
    Ok(out)
}

/// The subject as shown, and every digest it has in the log.
fn digests(state: &GatewayState, text: &str) -> Result<(String, Vec<[u8; 32]>), Problem> {
    let invalid = |e: String| Problem::new(ProblemType::FieldInvalid, e).at_field("/subject");
    match SubjectId::parse(text.trim()).map_err(|e| invalid(e.to_string()))? {
        SubjectId::LegalPerson(u) => {
            let code = u.as_str().to_owned();
            let digest = credex_journal::subject_digest(&SubjectRef::LegalPerson(code.clone()));
            Ok((code, vec![digest]))
        }
        SubjectId::NaturalPerson(c) => {
            let persons = state.parts().persons.as_deref().ok_or_else(|| {
                invalid("this node has no pseudonym key ring to name natural persons".into())
            })?;
            let ring = &persons.ring;
            let digests = ring
                .epochs()
                .into_iter()
                .filter_map(|epoch| ring.pseudonym_at(epoch, c.expose()).ok())
                .map(|p| credex_journal::subject_digest(&SubjectRef::NaturalPerson(p)))
                .collect();
            Ok((c.masked(), digests))
        }
    }
}

/// Scan the whole log for accesses to any of `digests`.
async fn scan(
    storage: &Storage,
    digests: &[[u8; 32]],
) -> Result<(u64, Vec<SubjectAccess>), StorageError> {
    let mut out = Vec::new();
    let mut next = 0u64;
    loop {
        let page = storage.journal_range(next, MAX_RANGE_LIMIT).await?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        for r in &page {
            match r.kind {
                kind::QUERY_RECEIVED => {
                    if let Ok(a) = credex_journal::decode::<AccessEntry>(r.kind, &r.body)
                        && a.direction == Direction::Received
                        && digests.contains(&a.subject_digest)
                    {
                        out.push(query_access(r.seq, &a));
                    }
                }
                kind::CREDIT_CHECKED => {
                    if let Ok(c) = credex_journal::decode::<CreditChecked>(r.kind, &r.body)
                        && c.subjects.iter().any(|s| digests.contains(s))
                    {
                        out.push(SubjectAccess {
                            log_index: r.seq,
                            at_ms: c.at_ms,
                            kind: "credit_check".into(),
                            by: c.client.identity,
                            officers: vec![c.officer],
                            purpose: c.purpose,
                            outcome: None,
                            released: Vec::new(),
                        });
                    }
                }
                kind::REPORT_ISSUED => {
                    if let Ok(i) = credex_journal::decode::<ReportIssued>(r.kind, &r.body)
                        && digests.contains(&i.subject_digest)
                    {
                        out.push(SubjectAccess {
                            log_index: r.seq,
                            at_ms: i.at_ms,
                            kind: "credit_report".into(),
                            by: i.requested_by,
                            officers: vec![i.officer],
                            purpose: i.purpose,
                            outcome: Some(i.kind.code().to_owned()),
                            released: Vec::new(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    Ok((next, out))
}

fn query_access(seq: u64, a: &AccessEntry) -> SubjectAccess {
    SubjectAccess {
        log_index: seq,
        at_ms: a.at_ms,
        kind: "query".into(),
        by: format!("{}/{}", a.requester_region, a.requester_node),
        officers: [&a.requester_officer, &a.approver_officer]
            .into_iter()
            .flatten()
            .map(|o| o.identity.clone())
            .collect(),
        purpose: a.purpose.clone(),
        outcome: Some(format!("{:?}", a.outcome).to_lowercase()),
        released: a
            .released
            .iter()
            .flat_map(|c| c.fields.iter().map(move |f| format!("{}.{f}", c.category)))
            .collect(),
    }
}
