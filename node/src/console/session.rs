//! Console sessions (控制台会话): held by the node, in memory, named to the
//! browser by an opaque token in a `__Host-` cookie.
//!
//! A session is opened by a verified sign-in and ends when the officer
//! signs out, after [`IDLE`] without a request, after [`ABSOLUTE`] in any
//! case, when the node restarts (officers sign in again; nothing else is
//! lost), or when the officer's certificate stops verifying (each request
//! re-checks it against the current CRLs). The map is keyed by the
//! token's SHA-256, so the node never keeps a token it could leak, and
//! holds at most [`MAX_SESSIONS`].
//!
//! Each session has its own CSRF token, which every state-changing call
//! repeats in the `X-CSRF-Token` header (decision 0900).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credex_pki::{CertIdentity, Subject};
use credex_protocol::{RegionCode, Role};

/// The session cookie's name. `__Host-` makes the browser refuse it unless
/// it is `Secure`, has `Path=/` and names no domain.
pub const SESSION_COOKIE: &str = "__Host-credex_session";

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 60 * 60);

/// Most sessions held at once; a sign-in beyond it is refused.
pub const MAX_SESSIONS: usize = 10_000;

/// The officer a session belongs to: their verified operator certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    /// The verified identity.
    pub identity: CertIdentity,
    /// The chain they signed in with (operator first, then region CA), DER.
    pub chain: Vec<Vec<u8>>,
}

impl Officer {
    /// Their role (经办人 requester, 审核人 approver, 审计员 auditor, 管理员 admin).
    pub fn role(&self) -> Role {
        match self.identity.subject {
            Subject::Operator { role, .. } => role,
            // Only operators sign in (pki::sign_in rule 3); an admin is the
            // least privilege-bearing fallback that never signs a query.
            _ => Role::Admin,
        }
    }

    /// Their region.
    pub fn region(&self) -> Option<RegionCode> {
        self.identity.region()
    }

    /// `urn:credex:operator:RRRRRR:ROLE:NAME`.
    pub fn uri(&self) -> String {
        self.identity.subject.to_uri()
    }

    /// Their name within the region.
    pub fn name(&self) -> String {
        match &self.identity.subject {
            Subject::Operator { name, .. } => name.to_string(),
            other => other.to_uri(),
        }
    }
}

/// An open session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whose.
    pub officer: Arc<Officer>,
    /// The token every state-changing call must repeat.
    pub csrf: String,
    /// SHA-256 of the session token.
    pub digest: [u8; 32],
    /// When it was opened, Unix ms.
    pub opened_ms: i64,
    last_seen_ms: i64,
}

impl Session {
    /// When it ends if no request comes first, Unix ms.
    pub fn expires_ms(&self) -> i64 {
        (self.last_seen_ms + ms(IDLE)).min(self.opened_ms + ms(ABSOLUTE))
    }
}

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// [`MAX_SESSIONS`] are open.
    #[error("{MAX_SESSIONS} console sessions are open; try again later")]
    Full,
    /// The system RNG failed; no token can be made.
    #[error("the system random number generator failed")]
    NoRandomness,
}

/// Every open session.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Open a session for `officer` at `now_ms`; returns the token for the
    /// cookie and the session.
    pub fn open(&self, officer: Officer, now_ms: i64) -> Result<(String, Session), OpenError> {
        let token = crate::ids::secret().ok_or(OpenError::NoRandomness)?;
        let csrf = crate::ids::secret().ok_or(OpenError::NoRandomness)?;
        let token = URL_SAFE_NO_PAD.encode(token);
        let digest = digest(&token);
        let session = Session {
            officer: Arc::new(officer),
            csrf: URL_SAFE_NO_PAD.encode(csrf),
            digest,
            opened_ms: now_ms,
            last_seen_ms: now_ms,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_ms() > now_ms);
            if map.len() >= MAX_SESSIONS {
                return Err(OpenError::Full);
            }
        }
        map.insert(digest, session.clone());
        Ok((token, session))
    }

    /// The session `token` names at `now_ms`, its idle time restarted;
    /// `None` if there is none or it has ended (then it is dropped).
    pub fn find(&self, token: &str, now_ms: i64) -> Option<Session> {
        let key = digest(token);
        let mut map = self.lock();
        let session = map.get_mut(&key)?;
        if session.expires_ms() <= now_ms {
            map.remove(&key);
            return None;
        }
        session.last_seen_ms = now_ms;
        Some(session.clone())
    }

    /// End the session with this token digest.
    pub fn close(&self, digest: &[u8; 32]) {
        self.lock().remove(digest);
    }

    /// How many sessions are held (ended ones included until next touched).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A poisoned lock only means a request panicked mid-update; every
        // entry in the map is complete.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn digest(token: &str) -> [u8; 32] {
    credex_journal::sha256(token.as_bytes())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn officer() -> Officer {
        Officer {
            identity: CertIdentity {
                subject: Subject::Operator {
                    region: "520000".parse().unwrap(),
                    role: Role::Approver,
                    name: "wang".parse().unwrap(),
                },
                serial: vec![1],
                fingerprint: [7; 32],
                not_before: time::OffsetDateTime::UNIX_EPOCH,
                not_after: time::OffsetDateTime::UNIX_EPOCH,
                common_name: String::new(),
                dns_names: vec![],
                ip_addrs: vec![],
            },
            chain: vec![],
        }
    }

    #[test]
    fn a_session_ends_when_idle_and_at_its_absolute_limit() {
        let sessions = Sessions::default();
        let (token, s) = sessions.open(officer(), 0).unwrap();
        assert_eq!(s.officer.role(), Role::Approver);
        assert_ne!(token, s.csrf);
        // Kept alive by requests just inside the idle limit …
        let mut now = 0;
        while now + ms(IDLE) - 1 < ms(ABSOLUTE) {
            now += ms(IDLE) - 1;
            assert!(sessions.find(&token, now).is_some(), "at {now}");
        }
        // … but not past the absolute one.
        assert!(sessions.find(&token, ms(ABSOLUTE)).is_none());
        assert!(sessions.is_empty());

        let (token, _) = sessions.open(officer(), 0).unwrap();
        assert!(sessions.find(&token, ms(IDLE)).is_none(), "idle");
        assert!(sessions.find("not a token", 0).is_none());
    }

    #[test]
    fn a_closed_session_is_gone() {
        let sessions = Sessions::default();
        let (token, s) = sessions.open(officer(), 0).unwrap();
        sessions.close(&s.digest);
        assert!(sessions.find(&token, 1).is_none());
    }
}
