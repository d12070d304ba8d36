//! The security headers every console response carries.
//!
//! The Content-Security-Policy allows scripts, styles, fonts, images and
//! fetches from the console's own origin only — no inline script or style,
//! no `eval`, no plug-ins, no framing, no `<base>`, forms posting only here.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The console's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every header set on every response, with its value.
pub const HEADERS: &[(HeaderName, &str)] = &[
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
];

/// The middleware: set the security headers on the response.
pub async fn secure(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/console/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if api {
        // What the API answers is about people; no cache keeps it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    for (name, value) in HEADERS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}
