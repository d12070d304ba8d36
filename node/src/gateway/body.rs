//! Request bodies: JSON read within a size bound and decoded with the path
//! of the member at fault, so every refusal names where it is.
//!
//! `JsonBody<T>` replaces axum's `Json` extractor, whose rejections are
//! plain text: a body that is not JSON is `body-malformed` (with line and
//! column), a member that is missing, unknown (bodies deny unknown
//! members) or of the wrong type is `field-invalid` with `field` as an
//! RFC 6901 JSON Pointer, a body over [`MAX_JSON_BODY`] is
//! `body-too-large`, and another media type `unsupported-media-type`.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::problem::{Problem, ProblemType};

/// A query string decoded into `T`; a bad one is `query-invalid` (400)
/// saying which parameter and why, instead of axum's plain-text rejection.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|e| Problem::new(ProblemType::QueryInvalid, e.body_text()))
    }
}

/// Largest JSON body accepted, in bytes.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// A JSON request body decoded into `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let path = request.uri().path().to_owned();
        require_media_type(&request, "application/json").map_err(|p| p.at_instance(&path))?;
        let bytes = read_body(request, MAX_JSON_BODY)
            .await
            .map_err(|p| p.at_instance(&path))?;
        decode_json(&bytes)
            .map(JsonBody)
            .map_err(|p| p.at_instance(&path))
    }
}

/// Refuse a request whose `Content-Type` is not `expected` (parameters such
/// as `charset=utf-8` allowed).
pub fn require_media_type(request: &Request, expected: &str) -> Result<(), Problem> {
    let found = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = found.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemType::UnsupportedMediaType,
            format!(
                "expected Content-Type {expected}, got {}",
                if found.is_empty() { "none" } else { found }
            ),
        ))
    }
}

/// Read the whole body, refusing it past `limit` bytes.
pub async fn read_body(request: Request, limit: usize) -> Result<axum::body::Bytes, Problem> {
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Problem::new(
                    ProblemType::BodyTooLarge,
                    format!("the body exceeds {limit} bytes"),
                )
            } else {
                Problem::new(
                    ProblemType::BodyMalformed,
                    format!("the body could not be read: {e}"),
                )
            }
        })
}

/// Decode one JSON value, naming the member at fault.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = json_pointer(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                Problem::new(ProblemType::FieldInvalid, data_message(&inner)).at_field(pointer)
            }
            _ => Problem::new(ProblemType::BodyMalformed, inner.to_string()),
        }
    })?;
    de.end()
        .map_err(|e| Problem::new(ProblemType::BodyMalformed, format!("after the value: {e}")))?;
    Ok(value)
}

/// serde_json's message without its " at line L column C" suffix, which
/// says nothing more than the pointer for data errors.
fn data_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A serde path as an RFC 6901 JSON Pointer (`/subjects/17`), `""` for the
/// whole document.
pub fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        purpose: String,
        subjects: Vec<Subject>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Subject {
        id: String,
    }

    #[test]
    fn problems_name_the_member_at_fault() {
        let p = decode_json::<Batch>(br#"{"purpose":"p","subjects":[{"id":"a"},{"id":7}]}"#)
            .unwrap_err();
        assert_eq!(p.kind(), ProblemType::FieldInvalid);
        assert_eq!(p.field(), Some("/subjects/1/id"));

        let p = decode_json::<Batch>(br#"{"purpose":"p","subjects":[],"extra":1}"#).unwrap_err();
        assert_eq!(p.kind(), ProblemType::FieldInvalid);
        assert!(p.detail().contains("extra"), "{}", p.detail());

        let p = decode_json::<Batch>(br#"{"subjects":[]}"#).unwrap_err();
        assert_eq!(p.kind(), ProblemType::FieldInvalid);
        assert!(p.detail().contains("purpose"), "{}", p.detail());

        let p = decode_json::<Batch>(br#"{"purpose":"p","#).unwrap_err();
        assert_eq!(p.kind(), ProblemType::BodyMalformed);
        let p = decode_json::<Batch>(br#"{"purpose":"p","subjects":[]} {}"#).unwrap_err();
        assert_eq!(p.kind(), ProblemType::BodyMalformed);
    }
}
