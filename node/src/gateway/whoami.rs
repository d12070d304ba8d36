//! `GET /v1/whoami`: the calling system as the gateway sees it — the first
//! call an integrator makes to check a new client certificate.

use axum::Json;

use super::identity::{ClientIdentity, WhoAmI};
use super::problem::ProblemDocument;

/// Who the gateway takes the caller to be: region, system name, roles and
/// certificate. Needs no role.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "meta",
    responses(
        (status = 200, description = "the client's identity from its certificate", body = WhoAmI),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn whoami(client: ClientIdentity) -> Json<WhoAmI> {
    Json(client.describe())
}
