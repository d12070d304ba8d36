//! The console API's three locks against forged requests (decision 0900):
//!
//! 1. [`same_origin`], on every API route: a call that changes anything
//!    (any method but GET and HEAD) must carry an `Origin` that is one of
//!    the console's own, and, when the browser sends `Sec-Fetch-Site`, be
//!    `same-origin`;
//! 2. [`SignedIn`], on every route that needs a session: the
//!    `__Host-credex_session` cookie names a live session whose officer's
//!    certificate still verifies (revocation ends it at once), and a call
//!    that changes anything repeats the session's token in `X-CSRF-Token`;
//! 3. the cookie itself is `SameSite=Strict`, so another site's page
//!    cannot make the browser send it at all.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustls_pki_types::UnixTime;

use super::session::{SESSION_COOKIE, Session};
use super::state::ConsoleState;
use crate::gateway::problem::{Problem, ProblemType};

/// The header a state-changing call repeats the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether `method` changes nothing (and so needs no origin or token).
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// Lock 1: refuse a state-changing call from anywhere but the console's
/// own pages.
pub async fn same_origin(request: Request, next: Next) -> Response {
    if !is_safe(request.method())
        && let Some(state) = request.extensions().get::<ConsoleState>()
        && let Err(problem) = check_origin(state, request.headers())
    {
        return problem.at_instance(request.uri().path()).into_response();
    }
    next.run(request).await
}

/// The request's `Origin`, if it is one of the console's own.
pub fn check_origin(state: &ConsoleState, headers: &HeaderMap) -> Result<String, Problem> {
    let refused = |detail: String| Problem::new(ProblemType::CsrfRefused, detail);
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Err(refused(format!(
            "Sec-Fetch-Site is {:?}: only the console's own pages may call this",
            String::from_utf8_lossy(site.as_bytes())
        )));
    }
    let origin = headers
        .get(header::ORIGIN)
        .ok_or_else(|| refused("the request has no Origin header".to_owned()))?
        .to_str()
        .map_err(|_| refused("the Origin header is not visible ASCII".to_owned()))?;
    if !state.origins().allows(origin) {
        return Err(refused(format!(
            "Origin {origin:?} is not this console's ({})",
            state.origins().all().join(", ")
        )));
    }
    Ok(origin.to_owned())
}

/// Lock 2: the officer signed in, as an extractor.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let path = parts.uri.path().to_owned();
        let state = parts
            .extensions
            .get::<ConsoleState>()
            .cloned()
            .ok_or_else(|| Problem::store_failed("the console state is not installed"))?;
        signed_in(&state, &parts.method, &parts.headers)
            .map(SignedIn)
            .map_err(|p| p.at_instance(&path))
    }
}

fn signed_in(
    state: &ConsoleState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Session, Problem> {
    let missing = |detail: &str| Problem::new(ProblemType::SessionMissing, detail);
    let token = session_cookie(headers).ok_or_else(|| missing("no session cookie; sign in"))?;
    let now_ms = state.now_ms();
    let session = state.sessions().find(token, now_ms).ok_or_else(|| {
        missing(
            "the session ended (signed out, idle, expired or the node restarted); sign in again",
        )
    })?;
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_millis(
        u64::try_from(now_ms).unwrap_or_default(),
    ));
    if let Err(e) = state.trust().current().verify_chain(
        &session.officer.chain,
        now,
        credex_pki::Purpose::Signing,
    ) {
        state.sessions().close(&session.digest);
        return Err(missing(&format!(
            "your certificate no longer verifies ({e}); the session is ended"
        )));
    }
    if !is_safe(method) {
        let sent = headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .ok_or_else(|| {
                Problem::new(
                    ProblemType::CsrfRefused,
                    "a state-changing call needs the session's X-CSRF-Token header",
                )
            })?;
        // Compare digests, so the time taken says nothing about the token.
        if credex_journal::sha256(sent) != credex_journal::sha256(session.csrf.as_bytes()) {
            return Err(Problem::new(
                ProblemType::CsrfRefused,
                "the X-CSRF-Token header is not this session's",
            ));
        }
    }
    Ok(session)
}

/// The value of the session cookie in the request's `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(session_cookie(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; __Host-credex_session=abc; z=1"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("credex_session=forged"),
        );
        assert_eq!(session_cookie(&h), None, "only the __Host- cookie counts");
    }
}
