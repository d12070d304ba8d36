//! Two-person cross-region queries over the gateway (issue 15 item 5): the
//! same flow as `credex query draft | approve | send`, with the officers'
//! signatures made where their keys are — never at the node.
//!
//! 1. `POST /v1/queries` drafts a query (checked against the catalogue and
//!    the configured peers) and answers with `to_sign`: the exact bytes the
//!    requester (经办人) signs.
//! 2. `POST /v1/queries/{id}/signatures` takes the requester's signature
//!    (checked as the responder will: an operator of this region with the
//!    requester role, over the request), then answers with the approver's
//!    `to_sign`; the second call takes the approver's (审核人): another
//!    person, the approver role, over the request and the requester's
//!    signature. Then the node sends it.
//! 3. `GET /v1/queries/{id}?wait=…` shows where it stands and, once the
//!    target region answered, the verified answer and its log receipt.
//!
//! The log entries are the CLI's (`QueryIntent`, the sent `AccessEntry`
//! or `QueryNoAnswer`), written by [`crate::requester::send`].

pub mod actions;
mod draft;
mod model;
pub(crate) mod officers;
mod send;
pub mod store;
pub mod view;

use axum::Extension;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use credex_pki::GatewayRole;
use serde::Deserialize;
use utoipa::IntoParams;

pub use model::{Answer, Fields, NewQuery, OfficerSignature, QueryState, QueryView, Receipt};

use super::body::{JsonBody, QueryParams};
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument};
use super::state::GatewayState;

/// Longest wait for a query's answer, in seconds.
pub const MAX_WAIT_S: u32 = 30;

/// Draft a cross-region query; the requester signs `to_sign` next.
#[utoipa::path(
    post,
    path = "/v1/queries",
    tag = "queries",
    request_body = NewQuery,
    responses(
        (status = 201, description = "drafted; the requester signs `to_sign`", body = QueryView),
        (status = 400, description = "the body is not JSON", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `query`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "a field is invalid", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    JsonBody(new): JsonBody<NewQuery>,
) -> Result<(StatusCode, Json<QueryView>), Problem> {
    client.require(GatewayRole::Query, "POST /v1/queries")?;
    let held = actions::draft(&state, new, client.identity_uri()).await?;
    Ok((StatusCode::CREATED, Json(view::view(&held))))
}

/// The query of `GET /v1/queries/{id}`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// Seconds to wait while the query is being sent (0–30, default 0).
    pub wait: Option<u32>,
}

/// Where a query stands, and its answer once it came.
#[utoipa::path(
    get,
    path = "/v1/queries/{id}",
    tag = "queries",
    params(("id" = String, Path, description = "the query's id (hex)"), ShowQuery),
    responses(
        (status = 200, description = "the query", body = QueryView),
        (status = 400, description = "a query parameter is invalid", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `query`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "no such query", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<ShowQuery>,
) -> Result<Json<QueryView>, Problem> {
    client.require(GatewayRole::Query, "GET /v1/queries/{id}")?;
    actions::show(&state, &id, query.wait.unwrap_or(0))
        .await
        .map(|held| Json(view::view(&held)))
}

/// Add the next officer's signature: the requester's, then the approver's
/// (who must be another person); the approved query is then sent.
#[utoipa::path(
    post,
    path = "/v1/queries/{id}/signatures",
    tag = "queries",
    params(("id" = String, Path, description = "the query's id (hex)")),
    request_body = OfficerSignature,
    responses(
        (status = 200, description = "the signature is in; the query as it stands now", body = QueryView),
        (status = 400, description = "the body is not JSON", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `query`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "no such query", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "the query takes no more signatures", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "the signature or its signer is refused", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn sign(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    Path(id): Path<String>,
    JsonBody(signature): JsonBody<OfficerSignature>,
) -> Result<Json<QueryView>, Problem> {
    client.require(GatewayRole::Query, "POST /v1/queries/{id}/signatures")?;
    actions::add_signature(&state, &id, &signature)
        .await
        .map(|held| Json(view::view(&held)))
}
