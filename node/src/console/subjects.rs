//! A subject's page (主体信用页): what this region holds about a company
//! or a person, as a credit check for a purpose releases it — its records,
//! evaluations recognised from other regions, list entries binding here
//! with their measures, objections in progress — and who accessed it.
//!
//! It is the gateway's credit check and subject access report, run for
//! the signed-in officer: the check is logged (`CreditChecked`, naming the
//! officer's certificate) before anything is shown. The subject travels in
//! the body, never the URL.
//!
//! The officer may also gather the subject's access report from every
//! region (decision 0980): [`gather`], then [`gathered`] until every region
//! answered.

use axum::Extension;
use axum::Json;
use axum::extract::Path;
use serde::{Deserialize, Serialize};

use super::guard::SignedIn;
use super::state::ConsoleState;
use crate::gateway::body::JsonBody;
use crate::gateway::checks::answer::CheckAnswer;
use crate::gateway::checks::{Asked, Checker, run};
use crate::gateway::problem::Problem;
use crate::gateway::subject_access::{FederatedRequested, SubjectAccessReport, report};
use crate::subject_access::FederatedReport;

/// Whom to look up, and why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequest {
    /// A unified social credit code or a citizen ID.
    pub subject: String,
    /// The purpose of the look-up (a check purpose).
    pub purpose: String,
}

/// The page.
#[derive(Debug, Serialize)]
pub struct SubjectPage {
    /// What the region holds, as the purpose releases it.
    pub check: CheckAnswer,
    /// Every access to the subject in this node's log.
    pub accesses: SubjectAccessReport,
}

/// `POST /console/api/subjects`: the subject's page.
pub async fn show(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    JsonBody(request): JsonBody<SubjectRequest>,
) -> Result<Json<SubjectPage>, Problem> {
    let officer = &session.officer;
    let checker = Checker {
        identity: officer.uri(),
        fingerprint: officer.identity.fingerprint,
    };
    let name = officer.uri();
    let asked = Asked {
        purpose: &request.purpose,
        officer: &name,
        subjects: vec![("/subject".to_owned(), request.subject.as_str())],
    };
    let check = run(state.node(), &checker, asked).await?;
    let accesses = report(state.node(), &request.subject).await?;
    Ok(Json(SubjectPage { check, accesses }))
}

/// Whose access report to gather from every region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatherRequest {
    /// A unified social credit code or a citizen ID.
    pub subject: String,
}

/// `POST /console/api/subjects/federated`: ask every region for its part of
/// the subject's access report, in the signed-in officer's name.
pub async fn gather(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    JsonBody(request): JsonBody<GatherRequest>,
) -> Result<Json<FederatedRequested>, Problem> {
    crate::gateway::subject_access::gather(state.node(), &request.subject, &session.officer.uri())
        .await
        .map(Json)
}

/// `GET /console/api/subjects/federated/{request}`: the report gathered so
/// far, the regions still to answer and those that refused.
pub async fn gathered(
    Extension(state): Extension<ConsoleState>,
    SignedIn(_session): SignedIn,
    Path(request): Path<String>,
) -> Result<Json<FederatedReport>, Problem> {
    crate::gateway::subject_access::gathered(state.node(), &request)
        .await
        .map(Json)
}
