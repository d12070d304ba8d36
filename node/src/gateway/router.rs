//! The gateway's routes and their document, assembled from the feature
//! modules; unknown paths and methods answer problems too.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auditor;
use super::checks;
use super::events;
use super::openapi::{self, ApiDoc, ApiJson};
use super::problem::{Problem, ProblemType};
use super::queries;
use super::rate_limit::{self, ClientLimits};
use super::refusals;
use super::reports;
use super::state::GatewayState;
use super::subject_access;
use super::{feed, whoami};

/// The routes, guarded, rate-limited per client, refusals journaled, with
/// the node's parts for the handlers; and the document that describes them.
pub fn build(state: GatewayState, limits: Arc<ClientLimits>) -> (Router, OpenApi) {
    let (router, doc) = document_and_routes();
    let router = router
        .route_layer(axum::middleware::from_fn(rate_limit::limit))
        .route_layer(axum::middleware::from_fn(refusals::journal_refusals))
        .layer(axum::Extension(limits))
        .layer(axum::Extension(state));
    (router, doc)
}

/// The guarded routes and the finished document, without the node.
pub fn document_and_routes() -> (Router, OpenApi) {
    let (router, mut doc) = routes().split_for_parts();
    openapi::finish(&mut doc);
    (guarded(router, &doc), doc)
}

/// Every documented route, before the guard.
pub fn routes() -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi::document))
        .routes(routes!(whoami::whoami))
        .routes(routes!(events::events))
        .routes(routes!(queries::create))
        .routes(routes!(queries::show))
        .routes(routes!(queries::sign))
        .routes(routes!(subject_access::subject_access))
        .routes(routes!(subject_access::ask_federated))
        .routes(routes!(subject_access::show_federated))
        .routes(routes!(auditor::log_file))
        .routes(routes!(checks::check))
        .routes(routes!(checks::check_batch))
        .routes(routes!(feed::feed_records))
        .routes(routes!(reports::issue_report))
}

/// `router` with the guard (served = documented), problem answers for
/// unknown paths and methods, and the document to serve.
pub fn guarded(router: Router, doc: &OpenApi) -> Router {
    let documented = Arc::new(openapi::documented_operations(doc));
    // A document that does not serialize is a bug in an annotation; serve
    // what there is rather than nothing.
    let json = doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the API document does not serialize");
        String::from("{}")
    });
    router
        .route_layer(axum::middleware::from_fn(openapi::guard))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(documented))
        .layer(axum::Extension(ApiJson(Arc::new(json.into_bytes()))))
}

async fn not_found(request: Request) -> impl IntoResponse {
    let path = request.uri().path().to_owned();
    Problem::new(ProblemType::NotFound, format!("no resource at {path}")).at_instance(path)
}

async fn method_not_allowed(request: Request) -> impl IntoResponse {
    let path = request.uri().path().to_owned();
    Problem::new(
        ProblemType::MethodNotAllowed,
        format!("{} is not allowed on {path}", request.method()),
    )
    .at_instance(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;

    async fn call(router: Router, method: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let response = router
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[tokio::test]
    async fn a_route_served_but_not_documented_is_refused() {
        let (router, doc) = routes().split_for_parts();
        let router = router.route("/v1/secret", axum::routing::get(|| async { "leak" }));
        let router = guarded(router, &doc);
        let (status, body) = call(router.clone(), "GET", "/v1/secret").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["type"], "urn:credex:problem:undocumented-route");
        // The documented document route is served.
        let (status, body) = call(router, "GET", "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["openapi"], "3.1.0");
    }

    #[test]
    fn every_problem_response_carries_examples_of_its_types() {
        let (_, doc) = document_and_routes();
        let json = serde_json::to_value(&doc).unwrap();
        let example = &json["paths"]["/v1/whoami"]["get"]["responses"]["429"]["content"]["application/problem+json"]
            ["examples"]["rate-limited"]["value"];
        assert_eq!(example["type"], "urn:credex:problem:rate-limited");
        assert_eq!(example["retry_after"], 2);
    }
}
