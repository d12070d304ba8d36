//! Per-client rate limits: one token bucket per client certificate
//! (`gateway.requests_per_second`, `gateway.burst`), checked after routing
//! and before the handler, answering `rate-limited` (429) with
//! `Retry-After`.
//!
//! The key is the certificate's SHA-256, so two systems never share a
//! budget and a re-issued certificate starts afresh. Idle clients' full
//! buckets are forgotten when the map grows past [`FORGET_ABOVE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemType};
use crate::config::GatewayConfig;
use crate::token_bucket::TokenBucket;

/// Buckets kept before idle (full) ones are forgotten.
pub const FORGET_ABOVE: usize = 4096;

/// How often, at most, one client's throttling is journaled.
pub const JOURNAL_EVERY: Duration = Duration::from_secs(60);

/// The gateway's per-client buckets.
#[derive(Debug)]
pub struct ClientLimits {
    rate: u64,
    burst: u64,
    clients: Mutex<HashMap<[u8; 32], ClientBucket>>,
}

#[derive(Debug)]
struct ClientBucket {
    bucket: TokenBucket,
    last_journaled: Option<Instant>,
}

/// A request over its client's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverRate {
    /// When the request would have passed.
    pub retry_after: Duration,
    /// Whether this refusal should be journaled (the first in
    /// [`JOURNAL_EVERY`] for the client).
    pub journal: bool,
}

impl ClientLimits {
    /// Limits as `config` sets them.
    pub fn new(config: &GatewayConfig) -> Self {
        ClientLimits {
            rate: u64::from(config.requests_per_second),
            burst: u64::from(config.burst),
            clients: Mutex::default(),
        }
    }

    /// Admit one request of the client with certificate `fingerprint` at
    /// `now`; a refused request takes no token.
    pub fn admit(&self, fingerprint: [u8; 32], now: Instant) -> Result<(), OverRate> {
        // Buckets are updated whole under the lock; a poisoned lock still
        // holds whole buckets.
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() > FORGET_ABOVE {
            clients.retain(|_, c| {
                c.bucket.refill(now);
                !c.bucket.is_full()
            });
        }
        let c = clients.entry(fingerprint).or_insert_with(|| ClientBucket {
            bucket: TokenBucket::full(self.rate, self.burst, now),
            last_journaled: None,
        });
        c.bucket.refill(now);
        match c.bucket.check(1) {
            Ok(()) => {
                c.bucket.take(1);
                Ok(())
            }
            Err(retry_after) => {
                let journal = c
                    .last_journaled
                    .is_none_or(|t| now.saturating_duration_since(t) >= JOURNAL_EVERY);
                if journal {
                    c.last_journaled = Some(now);
                }
                Err(OverRate {
                    retry_after,
                    journal,
                })
            }
        }
    }
}

/// The middleware: admit the request or answer 429.
pub async fn limit(
    Extension(limits): Extension<Arc<ClientLimits>>,
    client: ClientIdentity,
    request: Request,
    next: Next,
) -> Response {
    match limits.admit(client.fingerprint(), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(over) => {
            let seconds = over.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let problem = Problem::new(
                ProblemType::RateLimited,
                format!(
                    "more than {} requests/s (burst {}) from {}; retry in {seconds} s",
                    limits.rate,
                    limits.burst,
                    client.name()
                ),
            )
            .retry_after(seconds)
            .at_instance(request.uri().path());
            let mut response = problem.into_response();
            if !over.journal {
                response.extensions_mut().insert(NotJournaled);
            }
            response
        }
    }
}

/// Marks a refusal the journal middleware should not log again.
#[derive(Debug, Clone, Copy)]
pub struct NotJournaled;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_burst_waits_and_another_is_unaffected() {
        let mut config = GatewayConfig::on("127.0.0.1:0".parse().unwrap());
        config.requests_per_second = 10;
        config.burst = 5;
        let limits = ClientLimits::new(&config);
        let t0 = Instant::now();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        for _ in 0..5 {
            limits.admit(a, t0).unwrap();
        }
        let over = limits.admit(a, t0).unwrap_err();
        assert!(over.journal);
        assert!(
            over.retry_after > Duration::ZERO && over.retry_after <= Duration::from_millis(100)
        );
        // Refused again within a minute: not journaled again.
        assert!(!limits.admit(a, t0).unwrap_err().journal);
        // Another client has its own bucket.
        limits.admit(b, t0).unwrap();
        // A tenth of a second refills one token.
        limits.admit(a, t0 + Duration::from_millis(100)).unwrap();
        assert!(limits.admit(a, t0 + Duration::from_millis(100)).is_err());
    }
}
