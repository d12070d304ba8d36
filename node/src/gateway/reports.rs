//! Signed credit reports at the gateway (`POST /v1/reports`, role `check`):
//! a system of the region — a government service hall's counter, a
//! procurement platform — asks the node for a report on a company, for a
//! purpose, on behalf of an accountable officer, and gets the report file
//! (a C2SP `tlog-proof`) that any region verifies offline. The content is
//! what a credit check for the purpose releases (decision 0970); the
//! report is logged with the system and the officer before it is answered.

use axum::{Extension, Json};
use credex_pki::GatewayRole;
use credex_protocol::report::ReportKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonBody;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
use crate::reports::{ReportError, ReportRequest, issue};

/// What report to issue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "subject": "91520100MA6DKXXXX1",
    "kind": "no_violation",
    "purpose": "public_procurement",
    "officer": "李强 (交易中心)",
    "valid_days": 30
}))]
pub struct ReportAsk {
    /// The company's unified social credit code (check digit verified).
    pub subject: String,
    /// `general` (公共信用信息报告) or `no_violation` (专项信用报告).
    pub kind: String,
    /// A check purpose code (e.g. `administrative_approval`).
    pub purpose: String,
    /// The officer accountable for the request (1 to 128 bytes).
    pub officer: String,
    /// Days it may be relied on, from today (1 to 366; default 90).
    #[serde(default)]
    pub valid_days: Option<u32>,
}

/// The issued report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedReport {
    /// The report file (`c2sp.org/tlog-proof@v1`, save as `.tlog-proof`):
    /// verify it with `credex report verify`.
    pub report: String,
}

/// Issue a signed credit report on a company for a purpose.
#[utoipa::path(
    post,
    path = "/v1/reports",
    tag = "reports",
    request_body = ReportAsk,
    responses(
        (status = 200, description = "the report file, logged", body = IssuedReport),
        (status = 403, description = "the client certificate lacks role `check`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "a member of the body is invalid (`field` names it)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn issue_report(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    body: Result<JsonBody<ReportAsk>, Problem>,
) -> Result<Json<IssuedReport>, Problem> {
    client.require(GatewayRole::Check, "POST /v1/reports")?;
    let JsonBody(ask) = body?;
    let invalid = |field: &str, detail: String| {
        Problem::new(ProblemType::FieldInvalid, detail)
            .at_field(field)
            .at_instance("/v1/reports")
    };
    let kind = ReportKind::from_code(&ask.kind).ok_or_else(|| {
        invalid(
            "/kind",
            format!("{:?}: expected general or no_violation", ask.kind),
        )
    })?;
    let request = ReportRequest {
        subject: ask.subject,
        kind,
        purpose: ask.purpose,
        valid_days: ask.valid_days.unwrap_or(90),
        requested_by: client.identity_uri().to_owned(),
        officer: ask.officer,
    };
    let parts = state.parts();
    let now_ms = state.storage().clock().now_ms();
    match issue(&parts.federation, parts.queries.policy(), &request, now_ms).await {
        Ok(report) => Ok(Json(IssuedReport { report })),
        Err(ReportError::Invalid(detail)) => {
            let field = ["subject", "purpose", "officer", "valid_days"]
                .into_iter()
                .find(|f| detail.starts_with(f))
                .map_or("", |f| f);
            Err(invalid(&format!("/{field}"), detail))
        }
        Err(e) => {
            tracing::error!(error = %e, "report could not be issued");
            Err(Problem::new(
                ProblemType::Internal,
                "the report could not be issued; nothing was handed out",
            )
            .at_instance("/v1/reports"))
        }
    }
}
