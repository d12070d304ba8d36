//! The token bucket every rate limit of the node uses: per peer region on
//! the federation's transport (decision 0650) and per client certificate
//! on the gateway. The clock comes in as a value, so limits are tested
//! without sleeping.

use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `capacity` kept.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn full(rate: u64, capacity: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            capacity: capacity as f64,
            tokens: capacity as f64,
            last: now,
        }
    }

    pub(crate) fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = self.last.max(now);
    }

    /// Whether `n` tokens are there (without taking them), and if not, how
    /// long until they will be.
    pub(crate) fn check(&self, n: u64) -> Result<(), Duration> {
        let missing = n as f64 - self.tokens;
        if missing <= 0.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(missing / self.rate).max(Duration::from_millis(1)))
        }
    }

    pub(crate) fn take(&mut self, n: u64) {
        self.tokens -= n as f64;
    }

    /// Whether the bucket is full (an idle client's can be forgotten).
    pub(crate) fn is_full(&self) -> bool {
        self.tokens >= self.capacity
    }
}
