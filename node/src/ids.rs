//! Fresh identifiers: one place for what was written four times.

use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::SecureRandom as _;

/// 16 random bytes from the system RNG: request ids, nonces, message and
/// authorization ids. The system RNG does not fail on supported platforms;
/// if it ever did, a time- and counter-derived id keeps ids unique within
/// this process (never a constant, which would turn every later id into a
/// replay).
pub fn random_id() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut id = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut id).is_err() {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        id[..8].copy_from_slice(&crate::clock::now_ms().to_be_bytes());
        id[8..].copy_from_slice(&n.to_be_bytes());
    }
    id
}

/// 32 random bytes for a secret (a console session token, a CSRF token, a
/// sign-in challenge), or `None` if the system RNG fails: unlike
/// [`random_id`], a secret has no predictable fallback, so the caller
/// refuses to go on.
pub fn secret() -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ() {
        assert_ne!(random_id(), random_id());
    }
}
