//! The node's one reading of the wall clock: [`SystemClock`], the
//! [`Clock`] the composition root hands to storage, the federation and the
//! flows' drivers. Everything else is handed a clock or a time.

pub use credex_flows::calendar::Clock;

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Now by the system clock, Unix milliseconds: for tools and entry points
/// that run outside a node (the CLI's one-shot commands). A running node's
/// parts use the clock they were handed.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}
