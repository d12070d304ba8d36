//! The API document (OpenAPI 3.1), generated from the handlers' own
//! annotations, and the guard that keeps router and document equal.
//!
//! Every route is registered through `utoipa_axum::routes!`, so a handler
//! and its entry in the document come from one place. The guard answers
//! `undocumented-route` (500) for any served `(method, path)` that is not
//! in the document, so nothing can be served that an integrator cannot
//! read about. Every `application/problem+json` response in the document
//! gets one example per problem type of its status.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::Modify;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::security::SecurityScheme;
use utoipa::openapi::{OpenApi, RefOr};

use super::problem::{PROBLEM_JSON, Problem, ProblemType};

/// The document's root: title, description, the mutual-TLS scheme.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "credex gateway",
        description = "The integration gateway of a credex node: the region's own systems \
            (its provincial credit platform, administrative approval, public resource trading, \
            信易贷 financing platforms) feed records, run credit checks (信用核查), send two-person \
            cross-region queries and read the event feed. Every call is authenticated by a client \
            certificate from the region CA; its roles decide what the client may do. Errors are \
            RFC 9457 problem details with a stable `type`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(super::problem::ProblemDocument, super::problem::LineProblem)),
    security(("mutualTLS" = [])),
    modifiers(&MutualTls)
)]
pub struct ApiDoc;

struct MutualTls;

impl Modify for MutualTls {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "mutualTLS",
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate issued by this region's CA (`credex pki client`), \
                     whose identity URI names the system and its roles."
                        .into(),
                ),
                extensions: None,
            },
        );
    }
}

/// Finish the document once every route is in it: each problem response
/// gets an example of every problem type with that response's status.
pub fn finish(doc: &mut OpenApi) {
    ProblemExamples.modify(doc);
}

struct ProblemExamples;

impl Modify for ProblemExamples {
    fn modify(&self, doc: &mut OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in operations_mut(item) {
                for (status, response) in op.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let Some(content) = response.content.get_mut(PROBLEM_JSON) else {
                        continue;
                    };
                    for t in ProblemType::ALL {
                        if t.status().as_str() != status || t.console_only() {
                            continue;
                        }
                        let value = serde_json::from_slice(&t.example().to_json()).ok();
                        let example = ExampleBuilder::new()
                            .summary(t.title())
                            .value(value)
                            .build();
                        content
                            .examples
                            .insert(t.slug().to_owned(), RefOr::T(example));
                    }
                }
            }
        }
    }
}

fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Every `(method, path)` the document describes.
pub fn documented_operations(doc: &OpenApi) -> HashSet<(Method, String)> {
    let mut out = HashSet::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            (Method::GET, item.get.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::PATCH, item.patch.is_some()),
        ];
        for (method, present) in ops {
            if present {
                out.insert((method, path.clone()));
            }
        }
    }
    out
}

/// The guard: refuse a matched route the document does not describe.
pub async fn guard(
    Extension(documented): Extension<Arc<HashSet<(Method, String)>>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let key = (request.method().clone(), matched.as_str().to_owned());
    if documented.contains(&key) {
        return next.run(request).await;
    }
    tracing::error!(method = %key.0, path = %key.1, "gateway route served but not documented");
    Problem::new(
        ProblemType::Undocumented,
        format!("{} {} is served but not documented", key.0, key.1),
    )
    .at_instance(request.uri().path())
    .into_response()
}

/// The document as served.
#[derive(Clone)]
pub struct ApiJson(pub Arc<Vec<u8>>);

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "the OpenAPI 3.1 document of this gateway", content_type = "application/json", body = Object),
    )
)]
pub async fn document(Extension(doc): Extension<ApiJson>) -> Response {
    let mut response = doc.0.as_ref().clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
