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

mod draft;
mod model;
pub(crate) mod officers;
mod send;
mod store;
mod view;

use std::time::{Duration, SystemTime};

use axum::Extension;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use credex_pki::GatewayRole;
use rustls_pki_types::UnixTime;
use serde::Deserialize;
use utoipa::IntoParams;

pub use model::{Answer, Fields, NewQuery, OfficerSignature, QueryState, QueryView, Receipt};

use super::body::{JsonBody, QueryParams};
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
use store::{HeldQuery, HeldState};

/// Longest wait for a query's answer, in seconds.
pub const MAX_WAIT_S: u32 = 30;

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::store_failed(e)
}

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
    let file = draft::draft(&state, new, SystemTime::now())?;
    let held = HeldQuery {
        file,
        state: HeldState::AwaitingRequester,
        drafted_by: client.identity_uri(),
        response: None,
        failure: None,
    };
    store::save(state.storage(), &held)
        .await
        .map_err(internal)?;
    tracing::info!(query = %store::key(&held.file.request.request_id), client = %client.name(), "gateway query drafted");
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
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_S {
        return Err(Problem::new(
            ProblemType::QueryInvalid,
            format!("wait: {wait} s is more than {MAX_WAIT_S} s"),
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
    let mut writes = state.storage().subscribe_writes();
    loop {
        writes.borrow_and_update();
        let held = held(&state, &id).await?;
        if held.state != HeldState::Sending || tokio::time::Instant::now() >= deadline {
            return Ok(Json(view::view(&held)));
        }
        if tokio::time::timeout_at(deadline, writes.changed())
            .await
            .is_err()
        {
            return Ok(Json(view::view(&held)));
        }
    }
}

async fn held(state: &GatewayState, id: &str) -> Result<HeldQuery, Problem> {
    let valid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if valid {
        store::load(state.storage(), &id.to_ascii_lowercase())
            .await
            .map_err(internal)?
    } else {
        None
    };
    found.ok_or_else(|| {
        Problem::new(
            ProblemType::QueryUnknown,
            format!("no query {id} at this gateway"),
        )
    })
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
    let proof = officers::proof(&signature)?;
    // One signature at a time per gateway: two approvals racing must not
    // both send.
    let _turn = state.query_turn().await;
    let mut held = held(&state, &id).await?;
    let trust = state.parts().federation.context().trust.current();
    let now = UnixTime::now();
    let request = &held.file.request;
    let refused = |e: credex_pki::AuthorizationError| {
        Problem::new(ProblemType::SignatureRefused, e.to_string()).at_field("/signature")
    };
    match held.state {
        HeldState::AwaitingRequester => {
            credex_pki::authorization::verify_requester(request, &proof, &trust, now)
                .map_err(refused)?;
            held.file.requester = Some(proof);
            held.state = HeldState::AwaitingApprover;
        }
        HeldState::AwaitingApprover => {
            let Some(requester) = held.file.requester.as_ref() else {
                return Err(internal("an awaiting-approver query without its requester"));
            };
            credex_pki::authorization::verify_approver(request, requester, &proof, &trust, now)
                .map_err(refused)?;
            if let Some(id) = &signature.subject_id {
                confirm_subject(&state, &held, id)?;
            } else if matches!(
                request.subject,
                credex_protocol::query::SubjectRef::NaturalPerson(_)
            ) {
                return Err(Problem::new(
                    ProblemType::FieldInvalid,
                    "the query is about a natural person: the approver gives the citizen ID in the case file, and the node checks the draft is about that person",
                )
                .at_field("/subject_id"));
            }
            held.file.approver = Some(proof);
            held.state = HeldState::Sending;
        }
        other => {
            return Err(Problem::new(
                ProblemType::QueryClosed,
                format!(
                    "query {id} is {:?} and takes no more signatures",
                    QueryState::from(other)
                ),
            ));
        }
    }
    store::save(state.storage(), &held)
        .await
        .map_err(internal)?;
    if held.state == HeldState::Sending {
        send::spawn(state.clone(), store::key(&held.file.request.request_id));
    }
    Ok(Json(view::view(&held)))
}

fn confirm_subject(
    state: &GatewayState,
    held: &HeldQuery,
    citizen_id: &str,
) -> Result<(), Problem> {
    let field = |e: String| Problem::new(ProblemType::FieldInvalid, e).at_field("/subject_id");
    let Some(persons) = state.parts().persons.as_deref() else {
        return Err(field("this node has no pseudonym key ring".into()));
    };
    let ring = &persons.ring;
    crate::requester::confirm_subject(&held.file, citizen_id, ring)
        .map_err(|e| field(e.to_string()))
}
