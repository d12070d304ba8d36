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
use credex_pki::GatewayRole;
use credex_policies::SubjectId;
use credex_protocol::query::SubjectRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
use crate::subject_access::federated::AccessReportError;
use crate::subject_access::{FederatedReport, SubjectAccessFederation};
pub use crate::subject_access::{RecordDisclosure, SubjectAccess};

/// Whose accesses to list.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subject": "91520000MA6DKXXX1Q"}))]
pub struct SubjectAccessRequest {
    /// A unified social credit code, or a citizen ID.
    pub subject: String,
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
    let (log_size, accesses) = crate::subject_access::accesses(state.storage(), &digests)
        .await
        .map_err(Problem::store_failed)?;
    let disclosures = match subject_ref(state, subject) {
        Some(subject) => {
            crate::subject_access::disclosures(state.storage(), &subject, &categories(state))
                .await
                .map_err(Problem::store_failed)?
        }
        None => Vec::new(),
    };
    Ok(SubjectAccessReport {
        subject: shown,
        log_size,
        accesses,
        disclosures,
    })
}

/// The subject as messages name it (a person by the current-epoch
/// pseudonym), if it can be named here.
pub fn subject_ref(state: &GatewayState, subject: &str) -> Option<SubjectRef> {
    match SubjectId::parse(subject.trim()).ok()? {
        SubjectId::LegalPerson(u) => Some(SubjectRef::LegalPerson(u.as_str().to_owned())),
        SubjectId::NaturalPerson(c) => {
            let persons = state.parts().persons.as_deref()?;
            persons
                .ring
                .current_pseudonym(c.expose())
                .ok()
                .map(SubjectRef::NaturalPerson)
        }
    }
}

/// Every category of the catalogue in force.
fn categories(state: &GatewayState) -> Vec<String> {
    state
        .parts()
        .queries
        .policy()
        .catalogue()
        .categories()
        .map(|c| c.code.clone())
        .collect()
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

/// A federated report asked for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FederatedRequested {
    /// The request's id: `GET /v1/subject-access/federated/{request}`.
    pub request: String,
    /// The regions asked.
    pub asked: Vec<String>,
}

/// Ask every region for its part of a subject's access report (the
/// subject's home region gathers it: for a company, the province its
/// unified social credit code names).
#[utoipa::path(
    post,
    path = "/v1/subject-access/federated",
    tag = "subjects",
    request_body = SubjectAccessRequest,
    responses(
        (status = 202, description = "asked; the parts arrive over the federation", body = FederatedRequested),
        (status = 400, description = "the body is not JSON", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `sar`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "the subject is invalid", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn ask_federated(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    JsonBody(request): JsonBody<SubjectAccessRequest>,
) -> Result<(axum::http::StatusCode, Json<FederatedRequested>), Problem> {
    client.require(GatewayRole::Sar, "POST /v1/subject-access/federated")?;
    let asked = gather(&state, &request.subject, &client.identity_uri()).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(asked)))
}

/// Ask every peer region for its part of `subject`'s access report, for
/// `asked_by` (the gateway's and the console's).
pub async fn gather(
    state: &GatewayState,
    subject: &str,
    asked_by: &str,
) -> Result<FederatedRequested, Problem> {
    digests(state, subject)?;
    let subject = subject_ref(state, subject).ok_or_else(|| {
        Problem::new(
            ProblemType::FieldInvalid,
            "this node cannot name the subject to other regions (no pseudonym key ring)",
        )
        .at_field("/subject")
    })?;
    let id = gathering(state)
        .ask(subject, asked_by, state.storage().clock().now_ms())
        .await
        .map_err(federated_problem)?;
    let asked = state
        .parts()
        .config
        .peers
        .iter()
        .map(|p| p.region.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(FederatedRequested { request: id, asked })
}

/// The report of request `request` as gathered so far.
pub async fn gathered(state: &GatewayState, request: &str) -> Result<FederatedReport, Problem> {
    gathering(state)
        .gathered(request)
        .await
        .map_err(federated_problem)
}

/// A subject's access report as gathered so far: this region's part, every
/// part received, the regions still to answer and those that refused.
#[utoipa::path(
    get,
    path = "/v1/subject-access/federated/{request}",
    tag = "subjects",
    params(("request" = String, Path, description = "the request's id (hex)")),
    responses(
        (status = 200, description = "the report gathered so far", body = FederatedReport),
        (status = 403, description = "the certificate lacks role `sar`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "no such request", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn show_federated(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    axum::extract::Path(request): axum::extract::Path<String>,
) -> Result<Json<FederatedReport>, Problem> {
    client.require(
        GatewayRole::Sar,
        "GET /v1/subject-access/federated/{request}",
    )?;
    gathering(&state)
        .gathered(&request)
        .await
        .map(Json)
        .map_err(federated_problem)
}

fn gathering(state: &GatewayState) -> SubjectAccessFederation {
    SubjectAccessFederation::new(
        state.parts().federation.clone(),
        categories(state),
        state.parts().config.peers.iter().map(|p| p.region),
    )
}

fn federated_problem(e: AccessReportError) -> Problem {
    match e {
        AccessReportError::UnknownRequest(_) => {
            Problem::new(ProblemType::AccessReportUnknown, e.to_string())
        }
        AccessReportError::Storage(s) => Problem::store_failed(s),
        AccessReportError::NotEntitled(reason) => {
            Problem::new(ProblemType::FieldInvalid, reason).at_field("/subject")
        }
        other => Problem::new(ProblemType::Unavailable, other.to_string()),
    }
}
