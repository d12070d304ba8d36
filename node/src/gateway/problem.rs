//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every refusal the gateway gives is a [`Problem`]: a stable `type` from
//! [`ProblemType`] (`urn:credex:problem:<slug>`, never reworded, so a
//! client may branch on it), a `title` per type, the HTTP `status`, a
//! `detail` that says what was wrong, and where it applies the extension
//! members `field` (an RFC 6901 JSON Pointer into the request body), `line`
//! (the 1-based line of an NDJSON batch) and `errors` (every bad line of a
//! batch). Problems never carry a clear personal identifier.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The URN prefix of every problem type.
pub const PROBLEM_URN: &str = "urn:credex:problem:";

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One kind of problem: a stable `type`, a title and a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    /// The body is not JSON (or NDJSON) at all, or has bytes after the value.
    BodyMalformed,
    /// The body is JSON but a member is missing, unknown or of the wrong type.
    FieldInvalid,
    /// The body is larger than the route accepts.
    BodyTooLarge,
    /// The body's media type is not one the route accepts.
    UnsupportedMediaType,
    /// A query-string parameter is missing or malformed.
    QueryInvalid,
    /// No such resource.
    NotFound,
    /// The resource exists but not with this method.
    MethodNotAllowed,
    /// The client certificate does not grant the role the operation needs.
    RoleMissing,
    /// The client sent more than its rate allows; retry after `Retry-After`.
    RateLimited,
    /// The route is served but not in the OpenAPI document (a bug; refused).
    Undocumented,
    /// The node failed to answer (storage, signing); nothing was applied.
    Internal,
    /// The node is shutting down or its store is overloaded; retry later.
    Unavailable,
    /// No query with this id at this gateway.
    QueryUnknown,
    /// The query takes no more signatures (approved, answered or failed).
    QueryClosed,
    /// An officer's signature, or the officer's certificate, is refused.
    SignatureRefused,
    /// No such file in the log's export layout.
    LogFileUnknown,
    /// A feed line's sequence number does not continue its source's (a gap
    /// or a rewind).
    SequenceGap,
    /// The `Idempotency-Key` was used before for another request body.
    IdempotencyConflict,
    /// The operation needs an `Idempotency-Key` header (1 to 128 visible
    /// ASCII characters).
    IdempotencyKeyMissing,
    /// Console: no session, or it ended (signed out, idle, expired, the
    /// officer's certificate revoked); sign in again.
    SessionMissing,
    /// Console: a state-changing call without the session's CSRF token, or
    /// from another origin than the console's own.
    CsrfRefused,
    /// Console: the sign-in signature, challenge or certificate is refused.
    SignInRefused,
    /// No federated subject access report was asked for with this id here.
    AccessReportUnknown,
}

impl ProblemType {
    /// Every problem type.
    pub const ALL: [ProblemType; 23] = [
        ProblemType::BodyMalformed,
        ProblemType::FieldInvalid,
        ProblemType::BodyTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::QueryInvalid,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::RoleMissing,
        ProblemType::RateLimited,
        ProblemType::Undocumented,
        ProblemType::Internal,
        ProblemType::Unavailable,
        ProblemType::QueryUnknown,
        ProblemType::QueryClosed,
        ProblemType::SignatureRefused,
        ProblemType::LogFileUnknown,
        ProblemType::SequenceGap,
        ProblemType::IdempotencyConflict,
        ProblemType::IdempotencyKeyMissing,
        ProblemType::SessionMissing,
        ProblemType::CsrfRefused,
        ProblemType::SignInRefused,
        ProblemType::AccessReportUnknown,
    ];

    /// The slug after [`PROBLEM_URN`].
    pub fn slug(self) -> &'static str {
        match self {
            ProblemType::BodyMalformed => "body-malformed",
            ProblemType::FieldInvalid => "field-invalid",
            ProblemType::BodyTooLarge => "body-too-large",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::QueryInvalid => "query-invalid",
            ProblemType::NotFound => "not-found",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::RoleMissing => "role-missing",
            ProblemType::RateLimited => "rate-limited",
            ProblemType::Undocumented => "undocumented-route",
            ProblemType::Internal => "internal",
            ProblemType::Unavailable => "unavailable",
            ProblemType::QueryUnknown => "query-unknown",
            ProblemType::QueryClosed => "query-closed",
            ProblemType::SignatureRefused => "signature-refused",
            ProblemType::LogFileUnknown => "log-file-unknown",
            ProblemType::SequenceGap => "sequence-gap",
            ProblemType::IdempotencyConflict => "idempotency-conflict",
            ProblemType::IdempotencyKeyMissing => "idempotency-key-missing",
            ProblemType::SessionMissing => "session-missing",
            ProblemType::CsrfRefused => "csrf-refused",
            ProblemType::SignInRefused => "sign-in-refused",
            ProblemType::AccessReportUnknown => "access-report-unknown",
        }
    }

    /// Whether only the console's session API answers it (the gateway's
    /// document does not list it).
    pub fn console_only(self) -> bool {
        matches!(
            self,
            ProblemType::SessionMissing | ProblemType::CsrfRefused | ProblemType::SignInRefused
        )
    }

    /// The `type` member: `urn:credex:problem:<slug>`.
    pub fn uri(self) -> String {
        format!("{PROBLEM_URN}{}", self.slug())
    }

    /// A short summary that does not change between occurrences.
    pub fn title(self) -> &'static str {
        match self {
            ProblemType::BodyMalformed => "the request body is not well-formed",
            ProblemType::FieldInvalid => "a field of the request is invalid",
            ProblemType::BodyTooLarge => "the request body is too large",
            ProblemType::UnsupportedMediaType => "unsupported media type",
            ProblemType::QueryInvalid => "a query parameter is invalid",
            ProblemType::NotFound => "no such resource",
            ProblemType::MethodNotAllowed => "method not allowed on this resource",
            ProblemType::RoleMissing => "the client certificate lacks the role for this operation",
            ProblemType::RateLimited => "too many requests from this client",
            ProblemType::Undocumented => "route not in the API document",
            ProblemType::Internal => "the node could not answer",
            ProblemType::Unavailable => "the node cannot take requests now",
            ProblemType::QueryUnknown => "no such query",
            ProblemType::QueryClosed => "the query takes no more signatures",
            ProblemType::SignatureRefused => "the officer's signature is refused",
            ProblemType::LogFileUnknown => "no such file in the log",
            ProblemType::SequenceGap => "a sequence number does not continue its source's",
            ProblemType::IdempotencyConflict => "the idempotency key was used for another request",
            ProblemType::IdempotencyKeyMissing => "the request needs a valid Idempotency-Key",
            ProblemType::SessionMissing => "no console session; sign in",
            ProblemType::CsrfRefused => "the request did not come from the console's own page",
            ProblemType::SignInRefused => "the sign-in is refused",
            ProblemType::AccessReportUnknown => "no such subject access report request",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::BodyMalformed | ProblemType::QueryInvalid => StatusCode::BAD_REQUEST,
            ProblemType::FieldInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::RoleMissing => StatusCode::FORBIDDEN,
            ProblemType::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::Undocumented | ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::QueryUnknown => StatusCode::NOT_FOUND,
            ProblemType::QueryClosed => StatusCode::CONFLICT,
            ProblemType::SignatureRefused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::LogFileUnknown => StatusCode::NOT_FOUND,
            ProblemType::SequenceGap => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::IdempotencyConflict => StatusCode::CONFLICT,
            ProblemType::IdempotencyKeyMissing => StatusCode::BAD_REQUEST,
            ProblemType::SessionMissing | ProblemType::SignInRefused => StatusCode::UNAUTHORIZED,
            ProblemType::AccessReportUnknown => StatusCode::NOT_FOUND,
            ProblemType::CsrfRefused => StatusCode::FORBIDDEN,
        }
    }

    /// A typical occurrence, for the API document's examples.
    pub fn example(self) -> Problem {
        let p = Problem::new(self, self.example_detail());
        match self {
            ProblemType::FieldInvalid => p.at_field("/subject"),
            ProblemType::RateLimited => p.retry_after(2),
            ProblemType::SequenceGap => p.at_line(3).at_field("/seq"),
            _ => p,
        }
    }

    fn example_detail(self) -> &'static str {
        match self {
            ProblemType::BodyMalformed => "expected `,` or `}` at line 1 column 17",
            ProblemType::FieldInvalid => {
                "not a unified social credit code: check character is wrong"
            }
            ProblemType::BodyTooLarge => "the body exceeds 1048576 bytes",
            ProblemType::UnsupportedMediaType => {
                "expected Content-Type application/json, got text/plain"
            }
            ProblemType::QueryInvalid => "after: expected a cursor such as \"42\"",
            ProblemType::NotFound => "no resource at /v1/nothing",
            ProblemType::MethodNotAllowed => "DELETE is not allowed on /v1/whoami",
            ProblemType::RoleMissing => {
                "POST /v1/checks needs role `check`; the certificate grants feed"
            }
            ProblemType::RateLimited => "more than 50 requests/s in class `check`",
            ProblemType::Undocumented => "GET /v1/secret is served but not documented",
            ProblemType::Internal => "the store did not answer; nothing was applied",
            ProblemType::Unavailable => "the node is shutting down",
            ProblemType::QueryUnknown => "no query 5d2f… at this gateway",
            ProblemType::QueryClosed => "query 5d2f… is Answered and takes no more signatures",
            ProblemType::SignatureRefused => {
                "rule 4: the requester and the approver must be different officers (same certificate)"
            }
            ProblemType::LogFileUnknown => "no \"tile/0/x001/000\" in this log",
            ProblemType::SequenceGap => {
                "source \"market-regulation\": expected seq 43, got 45 (gap; the last applied is 42)"
            }
            ProblemType::IdempotencyConflict => {
                "Idempotency-Key \"batch-2026-12-04-0001\" was used for another batch; nothing was applied"
            }
            ProblemType::IdempotencyKeyMissing => "a feed batch needs an Idempotency-Key header",
            ProblemType::SessionMissing => "the session ended after 30 minutes without a request",
            ProblemType::CsrfRefused => {
                "Origin \"https://evil.example\" is not this console's (https://127.0.0.1:8444)"
            }
            ProblemType::SignInRefused => {
                "the officer belongs to region 500000, but this console serves region 520000"
            }
            ProblemType::AccessReportUnknown => {
                "no access report request 9c1e… was sent from this region"
            }
        }
    }
}

/// One bad line of a batch, inside a problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LineProblem {
    /// The 1-based line of the batch.
    pub line: u64,
    /// The problem type of this line.
    #[serde(rename = "type")]
    pub kind: String,
    /// The member of the line, as a JSON Pointer, when one is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What was wrong.
    pub detail: String,
}

/// A refusal: a problem details document, boxed so results stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemDocument>);

/// A problem details document (RFC 9457), as sent; `Problem` in the API
/// document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Problem, example = json!({
    "type": "urn:credex:problem:field-invalid",
    "title": "a field of the request is invalid",
    "status": 422,
    "detail": "not a unified social credit code: check character is wrong",
    "instance": "/v1/checks",
    "field": "/subject"
}))]
pub struct ProblemDocument {
    /// `urn:credex:problem:<slug>`; stable, one per kind of problem.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "urn:credex:problem:field-invalid")]
    kind: ProblemKind,
    /// The type's summary.
    title: &'static str,
    /// The HTTP status, repeated.
    status: u16,
    /// What was wrong in this request.
    detail: String,
    /// The request path the problem occurred at.
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    /// The member of the body at fault, as an RFC 6901 JSON Pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// The 1-based line of an NDJSON body at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    /// Every bad line of a batch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<LineProblem>,
    /// Seconds to wait before retrying (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// The `type` member, serialized as its URN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProblemKind(ProblemType);

impl Serialize for ProblemKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{PROBLEM_URN}{}", self.0.slug()))
    }
}

impl Problem {
    /// A problem of `kind` saying `detail`.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Problem(Box::new(ProblemDocument {
            kind: ProblemKind(kind),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            instance: None,
            field: None,
            line: None,
            errors: Vec::new(),
            retry_after: None,
        }))
    }

    /// The store failed under a request: logged with its cause, answered
    /// as `internal` without it (nothing of the store's inner state leaves).
    pub fn store_failed(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "gateway: the store did not answer");
        Problem::new(ProblemType::Internal, "the store did not answer")
    }

    /// The problem's type.
    pub fn kind(&self) -> ProblemType {
        self.0.kind.0
    }

    /// What was wrong.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The request path it occurred at, if named.
    pub fn instance(&self) -> Option<&str> {
        self.0.instance.as_deref()
    }

    /// The member at fault, if one was named.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// Name the member at fault (a JSON Pointer such as `/subjects/17`).
    pub fn at_field(mut self, pointer: impl Into<String>) -> Self {
        self.0.field = Some(pointer.into());
        self
    }

    /// Name the line of a batch at fault.
    pub fn at_line(mut self, line: u64) -> Self {
        self.0.line = Some(line);
        self
    }

    /// Name the request path.
    pub fn at_instance(mut self, path: impl Into<String>) -> Self {
        self.0.instance = Some(path.into());
        self
    }

    /// Every bad line of a batch.
    pub fn with_errors(mut self, errors: Vec<LineProblem>) -> Self {
        self.0.errors = errors;
        self
    }

    /// Ask the client to wait `seconds` before retrying.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// The document as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and integers into a Vec cannot fail.
        serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}: {}",
            PROBLEM_URN,
            self.0.kind.0.slug(),
            self.0.detail
        )?;
        if let Some(field) = &self.0.field {
            write!(f, " (field {field})")?;
        }
        if let Some(line) = self.0.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// What a problem response was, for the layers around the handler (the
/// refusal journal, the `instance` member); put into the response's
/// extensions.
#[derive(Debug, Clone)]
pub struct ProblemRecord(pub Problem);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.0.kind.0.status(), self.to_json()).into_response();
        response
            .extensions_mut()
            .insert(ProblemRecord(self.clone()));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.0.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_type_has_its_own_stable_uri_and_an_error_status() {
        let uris: HashSet<String> = ProblemType::ALL.iter().map(|t| t.uri()).collect();
        assert_eq!(uris.len(), ProblemType::ALL.len());
        for t in ProblemType::ALL {
            assert!(
                t.status().is_client_error() || t.status().is_server_error(),
                "{t:?}"
            );
            let doc: serde_json::Value = serde_json::from_slice(&t.example().to_json()).unwrap();
            assert_eq!(doc["type"], t.uri());
            assert_eq!(doc["status"], t.status().as_u16());
        }
        assert_eq!(
            ProblemType::FieldInvalid.uri(),
            "urn:credex:problem:field-invalid"
        );
    }

    #[test]
    fn a_rate_limited_problem_says_when_to_retry() {
        let r = ProblemType::RateLimited.example().into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
