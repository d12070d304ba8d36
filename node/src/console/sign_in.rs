//! Signing in and out (decision 0900).
//!
//! 1. `POST /console/api/challenges` → a one-use challenge bound to the
//!    calling origin and `to_sign`, the exact bytes to sign
//!    (`signed_bytes(DOMAIN_CONSOLE_SIGN_IN, challenge ‖ len ‖ origin)`).
//! 2. The browser signs them with the officer's key (WebCrypto; the key
//!    never leaves it) and posts `POST /console/api/sessions` with the
//!    challenge, the certificate chain and the signature. The node takes
//!    the challenge back (once, within 60 s, from the same origin),
//!    verifies the officer ([`credex_pki::sign_in::verify_sign_in`]),
//!    journals [`OfficerSignedIn`] and opens a session: the token in a
//!    `__Host-` cookie (`Secure; HttpOnly; SameSite=Strict; Path=/`), the
//!    CSRF token in the answer.
//! 3. `GET /console/api/session` tells the page who is signed in (and the
//!    CSRF token again, after a reload); `DELETE` signs out.

use axum::Extension;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credex_journal::{ENTRY_VERSION, OfficerSignedIn};
use credex_pki::sign_in::{CHALLENGE_LEN, DOMAIN_CONSOLE_SIGN_IN, sign_in_message, verify_sign_in};
use rustls_pki_types::UnixTime;
use serde::{Deserialize, Serialize};

use super::challenge::CHALLENGE_TTL;
use super::guard::{SignedIn, check_origin};
use super::session::{ABSOLUTE, Officer, SESSION_COOKIE, Session};
use super::state::ConsoleState;
use crate::gateway::body::JsonBody;
use crate::gateway::problem::{Problem, ProblemType};
use crate::gateway::queries::OfficerSignature;

/// A challenge to sign.
#[derive(Debug, Serialize)]
pub struct ChallengeView {
    /// The challenge, base64; sent back with the signature.
    pub challenge: String,
    /// The exact bytes to sign, base64.
    pub to_sign: String,
    /// Seconds it can be answered in.
    pub expires_in_s: u64,
}

/// A signed challenge.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    /// The challenge, as issued (base64).
    pub challenge: String,
    /// The operator certificate chain, DER base64, operator first.
    pub chain: Vec<String>,
    /// `ed25519`, `ecdsa-p256-sha256` or `sm2-sm3`.
    pub algorithm: String,
    /// The signature over `to_sign`, base64 (ECDSA: ASN.1 DER; SM2:
    /// `r ‖ s`, 64 bytes).
    pub signature: String,
}

/// Who is signed in.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// `urn:credex:operator:RRRRRR:ROLE:NAME`.
    pub officer: String,
    /// Their name within the region.
    pub name: String,
    /// `requester`, `approver`, `auditor` or `admin`.
    pub role: String,
    /// Their region code.
    pub region: String,
    /// The token every state-changing call repeats in `X-CSRF-Token`.
    pub csrf: String,
    /// When the session ends without further requests, Unix ms.
    pub expires_ms: i64,
}

impl SessionView {
    fn of(session: &Session) -> Self {
        let officer = &session.officer;
        SessionView {
            officer: officer.uri(),
            name: officer.name(),
            role: officer.role().as_str().to_owned(),
            region: officer.region().map(|r| r.to_string()).unwrap_or_default(),
            csrf: session.csrf.clone(),
            expires_ms: session.expires_ms(),
        }
    }
}

/// `POST /console/api/challenges`.
pub async fn challenge(
    Extension(state): Extension<ConsoleState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<ChallengeView>), Problem> {
    let origin = check_origin(&state, &headers)?;
    let challenge = state
        .challenges()
        .issue(&origin, state.now_ms())
        .map_err(|e| Problem::new(ProblemType::Unavailable, e.to_string()))?;
    let to_sign = to_sign(&challenge, &origin)?;
    Ok((
        StatusCode::CREATED,
        Json(ChallengeView {
            challenge: STANDARD.encode(challenge),
            to_sign: STANDARD.encode(to_sign),
            expires_in_s: CHALLENGE_TTL.as_secs(),
        }),
    ))
}

fn to_sign(challenge: &[u8; CHALLENGE_LEN], origin: &str) -> Result<Vec<u8>, Problem> {
    sign_in_message(challenge, origin)
        .and_then(|m| credex_pki::signing::signed_bytes(DOMAIN_CONSOLE_SIGN_IN, &m))
        .ok_or_else(|| {
            Problem::new(
                ProblemType::CsrfRefused,
                "the Origin header is longer than 255 bytes",
            )
        })
}

/// `POST /console/api/sessions`: sign in.
pub async fn sign_in(
    Extension(state): Extension<ConsoleState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignInBody>,
) -> Result<Response, Problem> {
    let origin = check_origin(&state, &headers)?;
    let refused = |detail: String| Problem::new(ProblemType::SignInRefused, detail);
    let challenge: [u8; CHALLENGE_LEN] = STANDARD
        .decode(body.challenge.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Problem::new(
                ProblemType::FieldInvalid,
                format!("expected {CHALLENGE_LEN} bytes, base64"),
            )
            .at_field("/challenge")
        })?;
    let now_ms = state.now_ms();
    let issued = state.challenges().take(&challenge, now_ms).ok_or_else(|| {
        refused(format!(
            "the challenge is unknown, already used or older than {} s; ask for a new one",
            CHALLENGE_TTL.as_secs()
        ))
    })?;
    if issued.origin != origin {
        return Err(refused(format!(
            "the challenge was issued to {:?}, not to {origin:?}",
            issued.origin
        )));
    }
    let proof = crate::gateway::queries::officers::proof(&OfficerSignature {
        chain: body.chain,
        algorithm: body.algorithm,
        signature: body.signature,
        subject_id: None,
    })?;
    let message = sign_in_message(&challenge, &origin)
        .ok_or_else(|| refused("the origin is too long".to_owned()))?;
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_millis(
        u64::try_from(now_ms).unwrap_or_default(),
    ));
    let region = state.node().parts().config.region;
    let identity = verify_sign_in(&proof, &message, region, &state.trust().current(), now)
        .map_err(|e| {
            tracing::info!(error = %e, "console sign-in refused");
            refused(e.to_string())
        })?;
    let officer = Officer {
        identity,
        chain: proof.chain,
    };
    let (token, session) = state
        .sessions()
        .open(officer, now_ms)
        .map_err(|e| Problem::new(ProblemType::Unavailable, e.to_string()))?;
    let entry = OfficerSignedIn {
        version: ENTRY_VERSION,
        at_ms: now_ms,
        officer: session.officer.uri(),
        fingerprint: session.officer.identity.fingerprint,
        origin,
        session: session.digest,
    };
    if let Err(e) = state.node().storage().append_entry(&entry).await {
        state.sessions().close(&session.digest);
        return Err(Problem::store_failed(e));
    }
    tracing::info!(officer = %session.officer.uri(), "console sign-in");
    let mut response = (StatusCode::CREATED, Json(SessionView::of(&session))).into_response();
    set_cookie(&mut response, &token, ABSOLUTE.as_secs());
    Ok(response)
}

/// `GET /console/api/session`: who is signed in.
pub async fn current(SignedIn(session): SignedIn) -> Json<SessionView> {
    Json(SessionView::of(&session))
}

/// `DELETE /console/api/session`: sign out.
pub async fn sign_out(
    Extension(state): Extension<ConsoleState>,
    SignedIn(session): SignedIn,
) -> Response {
    state.sessions().close(&session.digest);
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut response, "", 0);
    response
}

fn set_cookie(response: &mut Response, token: &str, max_age_s: u64) {
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
}
