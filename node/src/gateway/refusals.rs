//! Refusals in the access log: when the gateway refuses an authenticated
//! client an operation — a role its certificate lacks, a rate it exceeds
//! (the first refusal per client per minute) — a
//! [`GatewayRefused`](credex_journal::GatewayRefused) entry names the
//! client, the operation as routed (never the raw path, which may hold a
//! subject) and the problem. The entry is durable before the client gets
//! its answer. Refused handshakes are not journaled (decision 0810).
//!
//! The same layer names the request path as the problem's `instance` when
//! the handler did not (gateway paths carry no subject identifier).

use axum::Extension;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use credex_journal::{ENTRY_VERSION, GatewayClient, GatewayRefused, gateway::MAX_REFUSAL_DETAIL};

use super::identity::ClientIdentity;
use super::problem::{ProblemRecord, ProblemType};
use super::rate_limit::NotJournaled;
use super::state::GatewayState;

/// Which problems are journaled as refusals.
pub fn journaled(kind: ProblemType) -> bool {
    matches!(kind, ProblemType::RoleMissing | ProblemType::RateLimited)
}

/// The middleware: name the instance of a problem the inner layers
/// answered, and journal it if it is a refusal.
pub async fn journal_refusals(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let operation = format!("{} {}", request.method(), matched.as_str());
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let Some(ProblemRecord(problem)) = response.extensions().get::<ProblemRecord>().cloned() else {
        return response;
    };
    let not_journaled = response.extensions().get::<NotJournaled>().is_some();
    if problem.instance().is_none() {
        response = problem.clone().at_instance(path).into_response();
    }
    if !journaled(problem.kind()) || not_journaled {
        return response;
    }
    let mut detail = problem.detail().to_owned();
    if detail.len() > MAX_REFUSAL_DETAIL {
        let mut cut = MAX_REFUSAL_DETAIL;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    let entry = GatewayRefused {
        version: ENTRY_VERSION,
        at_ms: state.storage().clock().now_ms(),
        client: GatewayClient {
            identity: client.identity_uri(),
            fingerprint: client.fingerprint(),
        },
        operation,
        problem: problem.kind().slug().to_owned(),
        detail,
    };
    if let Err(e) = state.storage().append_entry(&entry).await {
        tracing::error!(error = %e, "gateway refusal could not be journaled");
    }
    response
}
