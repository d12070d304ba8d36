//! Credit reports in the console (信用报告, decision 0970): an officer
//! issues a signed report on a subject for a purpose — logged in the
//! officer's name before the file exists — and takes away the file and its
//! printable page; and verifies a report a company presents, from any
//! region, and whether an agreement lets this region accept it (信用报告互认).
//!
//! Issuing is the gateway's `POST /v1/reports` (`crate::reports::issue`);
//! verifying is the auditor's (`credex_audit::report`), against the trust
//! (roots and CRLs) the node holds now.

use axum::Extension;
use axum::Json;
use credex_audit::report::{accept, verify};
use credex_protocol::report::ReportKind;
use rustls_pki_types::UnixTime;
use serde::{Deserialize, Serialize};

use super::guard::SignedIn;
use super::state::ConsoleState;
use crate::gateway::body::JsonBody;
use crate::gateway::problem::{Problem, ProblemType};
use crate::reports::{ReportError, ReportRequest, issue, render, summary};

/// Longest report file the console verifies, in bytes (a report is a few
/// kilobytes; the bound keeps a pasted file from costing more).
const MAX_REPORT_FILE: usize = 1024 * 1024;

/// A report to issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// A unified social credit code or a citizen ID.
    pub subject: String,
    /// `general` or `no_violation`.
    pub kind: String,
    /// The check purpose it is for.
    pub purpose: String,
    /// Days it stays valid (default 90).
    pub valid_days: Option<u32>,
}

/// A report issued: the file, its printable page, and what it says.
#[derive(Debug, Serialize)]
pub struct Issued {
    /// The report file (a C2SP `tlog-proof`).
    pub file: String,
    /// The printable page (HTML with its QR code).
    pub html: String,
    /// What it is and covers.
    pub summary: serde_json::Value,
}

/// A report file to verify.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The file's text.
    pub file: String,
}

/// What verifying found.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// It passed every check.
    pub verified: bool,
    /// Why it was refused.
    pub refused: Option<String>,
    /// What it is and covers, when verified.
    pub summary: Option<serde_json::Value>,
    /// Accepted here: `this region` or the agreement's code.
    pub accepted: Option<String>,
    /// Why it is not accepted here, when verified.
    pub not_accepted: Option<String>,
}

/// `POST /console/api/reports`: issue a report in the officer's name.
pub async fn issue_report(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
    JsonBody(request): JsonBody<IssueRequest>,
) -> Result<Json<Issued>, Problem> {
    let invalid = |field: &str, detail: String| {
        Problem::new(ProblemType::FieldInvalid, detail).at_field(field)
    };
    let kind = ReportKind::from_code(&request.kind).ok_or_else(|| {
        invalid(
            "/kind",
            format!("{:?}: expected general or no_violation", request.kind),
        )
    })?;
    let officer = &session.officer;
    let ask = ReportRequest {
        subject: request.subject,
        kind,
        purpose: request.purpose,
        valid_days: request.valid_days.unwrap_or(90),
        requested_by: officer.uri(),
        officer: officer.uri(),
    };
    let parts = state.node().parts();
    let now_ms = state.node().storage().clock().now_ms();
    let file = match issue(&parts.federation, parts.queries.policy(), &ask, now_ms).await {
        Ok(file) => file,
        Err(ReportError::Invalid(detail)) => {
            let field = ["subject", "purpose", "valid_days"]
                .into_iter()
                .find(|f| detail.starts_with(f))
                .map_or("", |f| f);
            return Err(invalid(&format!("/{field}"), detail));
        }
        Err(e) => {
            tracing::error!(error = %e, "report could not be issued");
            return Err(Problem::new(
                ProblemType::Internal,
                "the report could not be issued; nothing was handed out",
            ));
        }
    };
    let trust = parts.federation.context().trust.current();
    let verified = verify(&file, &trust, UnixTime::now()).map_err(|e| {
        tracing::error!(error = %e, "a report issued here does not verify");
        Problem::new(
            ProblemType::Internal,
            format!("the report issued here does not verify: {e}"),
        )
    })?;
    Ok(Json(Issued {
        html: render::html(&verified),
        summary: summary(&verified),
        file,
    }))
}

/// `POST /console/api/reports/verify`: verify a report file against the
/// trust held now, and say whether this region accepts it.
pub async fn verify_report(
    Extension(state): Extension<ConsoleState>,
    SignedIn(_session): SignedIn,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> Result<Json<Verdict>, Problem> {
    if request.file.len() > MAX_REPORT_FILE {
        return Err(Problem::new(
            ProblemType::FieldInvalid,
            format!(
                "the file is {} bytes; a report file is at most {MAX_REPORT_FILE}",
                request.file.len()
            ),
        )
        .at_field("/file"));
    }
    let parts = state.node().parts();
    let trust = parts.federation.context().trust.current();
    let verified = match verify(&request.file, &trust, UnixTime::now()) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Json(Verdict {
                verified: false,
                refused: Some(e.to_string()),
                summary: None,
                accepted: None,
                not_accepted: None,
            }));
        }
    };
    let agreements = crate::eval::load_agreements(&parts.config).map_err(|e| {
        Problem::new(
            ProblemType::Internal,
            format!("the agreements do not load: {e}"),
        )
    })?;
    let now_ms = state.node().storage().clock().now_ms();
    let (accepted, not_accepted) = match accept(&verified, &agreements, parts.config.region, now_ms)
    {
        Ok(Some(code)) => (Some(code), None),
        Ok(None) => (Some("this region".to_owned()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(Json(Verdict {
        verified: true,
        refused: None,
        summary: Some(summary(&verified)),
        accepted,
        not_accepted,
    }))
}
