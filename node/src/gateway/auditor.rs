//! The log for auditors (role `audit`): every file of the export layout —
//! checkpoint, newest cosigned checkpoint, node certificate, hash tiles,
//! entry bundles, authorization bundles — one by one, as the federation's
//! audit fetch serves them, so `credex audit fetch-gateway` can copy a log
//! and `credex audit verify` check it offline. Every read is itself logged
//! (`AuditAccess`, naming the client).

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use credex_pki::GatewayRole;
use serde::Deserialize;
use utoipa::IntoParams;

use super::body::QueryParams;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;

/// Longest path accepted.
pub const MAX_PATH: usize = 256;

/// The query of `GET /v1/log/files`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogFile {
    /// A path of the export layout: `checkpoint`, `cosigned`, `node.pem`,
    /// `node-signing.pem` (under `sm2-sm3`), `tile/0/000` (C2SP
    /// tlog-tiles), `tile/entries/000`,
    /// `attachments/<hex sha-256>`.
    pub path: String,
    /// For `attachments/<hex sha-256>`: the index of the entry that names
    /// it (a query's bundle, a message's envelope, a delivery
    /// acknowledgement is kept by its entry: decision 1220). Without it,
    /// only what is stored by digest alone is found.
    pub entry: Option<u64>,
}

/// One file of this node's log, in the layout `credex log export` writes.
#[utoipa::path(
    get,
    path = "/v1/log/files",
    tag = "audit",
    params(LogFile),
    responses(
        (status = 200, description = "the file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "a query parameter is invalid", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `audit`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "no such file in this log", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn log_file(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    QueryParams(LogFile { path, entry }): QueryParams<LogFile>,
) -> Result<Response, Problem> {
    client.require(GatewayRole::Audit, "GET /v1/log/files")?;
    if path.is_empty() || path.len() > MAX_PATH || path.contains("..") {
        return Err(Problem::new(
            ProblemType::QueryInvalid,
            format!("path: expected a path of the export layout of at most {MAX_PATH} bytes"),
        ));
    }
    let path = match entry {
        Some(index) if path.starts_with("attachments/") => {
            format!("{path}{}{index}", crate::remote_audit::ENTRY_HINT)
        }
        Some(_) => {
            return Err(Problem::new(
                ProblemType::QueryInvalid,
                "entry: names the entry that keeps an attachment; only with path attachments/<hex>",
            ));
        }
        None => path,
    };
    let parts = state.parts();
    let storage = state.storage();
    let entry = credex_journal::AuditAccess {
        version: credex_journal::ENTRY_VERSION,
        at_ms: storage.clock().now_ms(),
        auditor: client.identity_uri(),
        path: path.clone(),
    };
    storage.append_entry(&entry).await.map_err(|e| {
        tracing::error!(error = %e, "audit read not journaled");
        Problem::new(
            ProblemType::Internal,
            "the store did not answer; nothing was read",
        )
    })?;
    match crate::remote_audit::serve(storage, &parts.checkpoints, parts.chains(), &path).await {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            Ok(response)
        }
        Err((credex_protocol::ErrorCode::NotFound, message)) => {
            Err(Problem::new(ProblemType::LogFileUnknown, message))
        }
        Err((_, message)) => {
            tracing::error!(%message, "audit read failed");
            Err(Problem::new(
                ProblemType::Internal,
                "the log could not be read",
            ))
        }
    }
}
