//! Sign-in challenges: 32 random bytes the node hands a browser, bound to
//! the origin that asked, taken back once, within [`CHALLENGE_TTL`].
//!
//! A challenge that is never used expires; the table holds at most
//! [`MAX_CHALLENGES`], so an unauthenticated caller cannot grow it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use credex_pki::sign_in::CHALLENGE_LEN;

/// How long a challenge can be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);

/// Most challenges outstanding at once.
pub const MAX_CHALLENGES: usize = 10_000;

/// A challenge as it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The console origin that asked for it (and that the signature binds).
    pub origin: String,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// Why no challenge could be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// [`MAX_CHALLENGES`] are outstanding.
    #[error("{MAX_CHALLENGES} sign-in challenges are outstanding; try again in a minute")]
    Full,
    /// The system RNG failed.
    #[error("the system random number generator failed")]
    NoRandomness,
}

/// Every outstanding challenge.
#[derive(Debug, Default)]
pub struct Challenges {
    map: Mutex<HashMap<[u8; CHALLENGE_LEN], Issued>>,
}

impl Challenges {
    /// A fresh challenge for `origin` at `now_ms`.
    pub fn issue(&self, origin: &str, now_ms: i64) -> Result<[u8; CHALLENGE_LEN], IssueError> {
        let nonce = crate::ids::secret().ok_or(IssueError::NoRandomness)?;
        let mut map = self.lock();
        if map.len() >= MAX_CHALLENGES {
            map.retain(|_, c| !expired(c, now_ms));
            if map.len() >= MAX_CHALLENGES {
                return Err(IssueError::Full);
            }
        }
        map.insert(
            nonce,
            Issued {
                origin: origin.to_owned(),
                at_ms: now_ms,
            },
        );
        Ok(nonce)
    }

    /// Take `nonce` back: `Some` once, and only within [`CHALLENGE_TTL`].
    pub fn take(&self, nonce: &[u8; CHALLENGE_LEN], now_ms: i64) -> Option<Issued> {
        self.lock().remove(nonce).filter(|c| !expired(c, now_ms))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; CHALLENGE_LEN], Issued>> {
        // A poisoned lock only means a request panicked mid-update; every
        // entry is complete.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn expired(c: &Issued, now_ms: i64) -> bool {
    now_ms.saturating_sub(c.at_ms) > i64::try_from(CHALLENGE_TTL.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_taken_once_and_only_while_fresh() {
        let c = Challenges::default();
        let n = c.issue("https://127.0.0.1:8444", 1_000).unwrap();
        let issued = c.take(&n, 2_000).unwrap();
        assert_eq!(issued.origin, "https://127.0.0.1:8444");
        assert!(c.take(&n, 2_000).is_none(), "taken twice");

        let n = c.issue("https://127.0.0.1:8444", 1_000).unwrap();
        assert!(c.take(&n, 1_000 + 60_001).is_none(), "stale");
        assert!(c.take(&[0; CHALLENGE_LEN], 1_000).is_none(), "never issued");
    }
}
