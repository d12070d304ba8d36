//! What a peer may send before the node does anything with it (decision
//! 0650): per-region token buckets for requests and bytes, checked on a
//! frame's header — before its payload is read, decoded, handled or
//! logged — and the frame memory budget that every connection shares.
//!
//! - [`PeerQuotas`]: two token buckets per peer region (requests, declared
//!   frame bytes). The clock comes in as a value (`now`), so the buckets
//!   are tested without sleeping.
//! - [`FrameMemory`]: a semaphore of bytes for all connections and one per
//!   peer region. A frame takes permits chunk by chunk as its bytes arrive
//!   and gives them back when its request has been handled; its buffer
//!   never holds more than the permits it took.
//!
//! Keys are the regions of verified peer certificates: a region CA cannot
//! mint regions, so the maps are bounded by the federation's regions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credex_protocol::RegionCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::IngressLimits;
use crate::metrics::Sample;
use crate::token_bucket::TokenBucket;

/// How often, at most, throttling of one region is logged as a warning.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Which quota a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// `limits.peer_requests_per_second` / `limits.peer_burst`.
    Requests,
    /// `limits.peer_bytes_per_second`.
    Bytes,
}

impl Quota {
    /// A short stable name, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Quota::Requests => "requests",
            Quota::Bytes => "bytes",
        }
    }
}

/// A request refused by a quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// The quota.
    pub quota: Quota,
    /// When the request would have passed.
    pub retry_after: Duration,
    /// Set at most once per [`WARN_EVERY`] per region: how many requests
    /// of the region were refused since the last warning (this one
    /// included). Log a warning then; otherwise stay quiet.
    pub warn: Option<u64>,
}

struct RegionBuckets {
    requests: TokenBucket,
    bytes: TokenBucket,
    refused_since_warn: u64,
    last_warn: Option<Instant>,
}

/// Per-region request and byte quotas.
pub struct PeerQuotas {
    limits: IngressLimits,
    regions: Mutex<HashMap<RegionCode, RegionBuckets>>,
    throttled_requests: AtomicU64,
    throttled_bytes: AtomicU64,
}

impl PeerQuotas {
    /// Quotas as `limits` set them; every region starts with full buckets.
    pub fn new(limits: IngressLimits) -> PeerQuotas {
        PeerQuotas {
            limits,
            regions: Mutex::default(),
            throttled_requests: AtomicU64::new(0),
            throttled_bytes: AtomicU64::new(0),
        }
    }

    /// Admit one request of `frame_bytes` (header and declared payload)
    /// from `region` at `now`, or say which quota it breaks. A refused
    /// request takes no tokens.
    pub fn admit(
        &self,
        region: RegionCode,
        frame_bytes: u64,
        now: Instant,
    ) -> Result<(), Throttled> {
        let l = &self.limits;
        // Buckets are updated whole under the lock; a panic cannot leave
        // one half-updated, so a poisoned lock is still usable.
        let mut regions = self
            .regions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = regions.entry(region).or_insert_with(|| RegionBuckets {
            requests: TokenBucket::full(
                u64::from(l.peer_requests_per_second),
                u64::from(l.peer_burst),
                now,
            ),
            bytes: TokenBucket::full(l.peer_bytes_per_second, l.peer_bytes_per_second, now),
            refused_since_warn: 0,
            last_warn: None,
        });
        r.requests.refill(now);
        r.bytes.refill(now);
        let refused = match (r.requests.check(1), r.bytes.check(frame_bytes)) {
            (Ok(()), Ok(())) => {
                r.requests.take(1);
                r.bytes.take(frame_bytes);
                return Ok(());
            }
            (Err(after), _) => (Quota::Requests, after),
            (Ok(()), Err(after)) => (Quota::Bytes, after),
        };
        match refused.0 {
            Quota::Requests => &self.throttled_requests,
            Quota::Bytes => &self.throttled_bytes,
        }
        .fetch_add(1, Ordering::Relaxed);
        r.refused_since_warn += 1;
        let warn = if r
            .last_warn
            .is_none_or(|t| now.saturating_duration_since(t) >= WARN_EVERY)
        {
            r.last_warn = Some(now);
            Some(std::mem::take(&mut r.refused_since_warn))
        } else {
            None
        };
        Err(Throttled {
            quota: refused.0,
            retry_after: refused.1,
            warn,
        })
    }

    /// Requests refused so far by `quota`.
    pub fn throttled(&self, quota: Quota) -> u64 {
        match quota {
            Quota::Requests => &self.throttled_requests,
            Quota::Bytes => &self.throttled_bytes,
        }
        .load(Ordering::Relaxed)
    }
}

/// Why a frame could not get memory for its next bytes.
#[derive(Debug, thiserror::Error)]
pub enum NoMemory {
    /// The budget is exhausted and no bytes came free in time.
    #[error("no frame memory came free within {after_ms} ms")]
    Exhausted {
        /// How long the frame waited.
        after_ms: u128,
    },
}

/// The frame memory budget: bytes of request frames buffered at once, in
/// all and per peer region.
pub struct FrameMemory {
    global: Arc<Semaphore>,
    budget: usize,
    per_region: usize,
    regions: Mutex<HashMap<RegionCode, Arc<Semaphore>>>,
    allocated: AtomicUsize,
    peak: AtomicUsize,
}

impl FrameMemory {
    /// A budget of `limits.frame_memory_bytes` in all and
    /// `limits.peer_frame_memory_bytes` per region.
    pub fn new(limits: &IngressLimits) -> FrameMemory {
        let clamp = |b: u64| {
            usize::try_from(b)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS)
        };
        let budget = clamp(limits.frame_memory_bytes);
        FrameMemory {
            global: Arc::new(Semaphore::new(budget)),
            budget,
            per_region: clamp(limits.peer_frame_memory_bytes).min(budget),
            regions: Mutex::default(),
            allocated: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    fn region(&self, region: RegionCode) -> Arc<Semaphore> {
        // Entries are inserted whole; a poisoned lock is still consistent.
        let mut regions = self
            .regions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            regions
                .entry(region)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_region))),
        )
    }

    /// Reserve `bytes` for a frame of `region`, waiting at most `wait`: the
    /// region's share first, then the common budget.
    ///
    /// Cancel-safe: dropping the future releases whatever it had taken.
    pub async fn reserve(
        &self,
        region: RegionCode,
        bytes: u32,
        wait: Duration,
    ) -> Result<Reservation, NoMemory> {
        let exhausted = || NoMemory::Exhausted {
            after_ms: wait.as_millis(),
        };
        let take = async {
            // The semaphores are never closed: `Err` cannot happen, and is
            // reported as exhaustion if it ever did.
            let mine = self.region(region).acquire_many_owned(bytes).await.ok()?;
            let ours = Arc::clone(&self.global)
                .acquire_many_owned(bytes)
                .await
                .ok()?;
            Some(Reservation { mine, ours })
        };
        tokio::time::timeout(wait, take)
            .await
            .ok()
            .flatten()
            .ok_or_else(exhausted)
    }

    /// Bytes of request frames buffered now.
    pub fn in_use(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// The most bytes of request frames ever buffered at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// The budget in all.
    pub fn budget(&self) -> usize {
        self.budget
    }

    fn allocated(&self, bytes: usize) {
        let now = self.allocated.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn freed(&self, bytes: usize) {
        self.allocated.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Permits for some bytes of one frame, from its region's share and from
/// the common budget; released when dropped.
pub struct Reservation {
    mine: OwnedSemaphorePermit,
    ours: OwnedSemaphorePermit,
}

/// A request frame's buffer, grown only within the permits it holds. The
/// memory is counted in [`FrameMemory::in_use`] until the buffer is
/// dropped.
pub struct FrameBuffer {
    bytes: Vec<u8>,
    memory: Option<Arc<FrameMemory>>,
    held: Option<Reservation>,
    counted: usize,
}

impl FrameBuffer {
    /// An empty buffer, counted against `memory` (if any).
    pub fn new(memory: Option<Arc<FrameMemory>>) -> FrameBuffer {
        FrameBuffer {
            bytes: Vec::new(),
            memory,
            held: None,
            counted: 0,
        }
    }

    /// Grow by `by` zeroed bytes, under `reservation` (permits for at
    /// least `by` bytes; `None` when the buffer has no budget). Returns the
    /// new bytes to fill.
    pub fn grow(&mut self, by: usize, reservation: Option<Reservation>) -> &mut [u8] {
        if let Some(r) = reservation {
            match &mut self.held {
                Some(held) => {
                    held.mine.merge(r.mine);
                    held.ours.merge(r.ours);
                }
                None => self.held = Some(r),
            }
        }
        let start = self.bytes.len();
        self.bytes.reserve_exact(by);
        self.bytes.resize(start + by, 0);
        let capacity = self.bytes.capacity();
        if let Some(m) = &self.memory
            && capacity > self.counted
        {
            m.allocated(capacity - self.counted);
            self.counted = capacity;
        }
        &mut self.bytes[start..]
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes, no longer counted against any budget.
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        if let Some(m) = &self.memory {
            m.freed(self.counted);
        }
    }
}

/// Everything a node enforces on incoming frames: the quotas, the frame
/// memory budget, and counts of frames abandoned.
pub struct Ingress {
    /// Per-region request and byte quotas.
    pub quotas: PeerQuotas,
    /// The frame memory budget.
    pub memory: Arc<FrameMemory>,
    /// The limits in force.
    pub limits: IngressLimits,
    stalled: AtomicU64,
    starved: AtomicU64,
}

impl Ingress {
    /// Quotas and budget as `limits` set them.
    pub fn new(limits: IngressLimits) -> Ingress {
        Ingress {
            quotas: PeerQuotas::new(limits.clone()),
            memory: Arc::new(FrameMemory::new(&limits)),
            limits,
            stalled: AtomicU64::new(0),
            starved: AtomicU64::new(0),
        }
    }

    /// Count a frame abandoned because its bytes stalled.
    pub fn count_stalled(&self) {
        self.stalled.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a frame abandoned because no memory came free for it.
    pub fn count_starved(&self) {
        self.starved.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters and gauges now.
    pub fn stats(&self) -> IngressStats {
        IngressStats {
            throttled_requests: self.quotas.throttled(Quota::Requests),
            throttled_bytes: self.quotas.throttled(Quota::Bytes),
            frames_stalled: self.stalled.load(Ordering::Relaxed),
            frames_starved: self.starved.load(Ordering::Relaxed),
            frame_memory_in_use: self.memory.in_use() as u64,
            frame_memory_peak: self.memory.peak() as u64,
            frame_memory_budget: self.memory.budget() as u64,
        }
    }
}

/// A snapshot of [`Ingress`] for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressStats {
    /// Requests refused by the request quota.
    pub throttled_requests: u64,
    /// Requests refused by the byte quota.
    pub throttled_bytes: u64,
    /// Frames abandoned because their bytes stalled.
    pub frames_stalled: u64,
    /// Frames abandoned because no frame memory came free in time.
    pub frames_starved: u64,
    /// Bytes of request frames buffered now.
    pub frame_memory_in_use: u64,
    /// The most bytes of request frames buffered at once so far.
    pub frame_memory_peak: u64,
    /// The frame memory budget in all.
    pub frame_memory_budget: u64,
}

impl IngressStats {
    /// Samples of the transport's ingress limits: refusals by quota, frames
    /// abandoned by reason, frame memory in use, its high-water mark and budget.
    pub fn samples(&self) -> Vec<Sample> {
        let s = self;
        let refused = "Requests refused because the peer's region was over its quota (before reading, decoding or logging them).";
        let abandoned = "Request frames abandoned before their end: bytes stalled, or no frame memory came free.";
        vec![
            Sample::counter(
                "credex_peer_throttled_total",
                refused,
                s.throttled_requests as f64,
            )
            .label("quota", "requests"),
            Sample::counter(
                "credex_peer_throttled_total",
                refused,
                s.throttled_bytes as f64,
            )
            .label("quota", "bytes"),
            Sample::counter(
                "credex_frames_abandoned_total",
                abandoned,
                s.frames_stalled as f64,
            )
            .label("reason", "stalled"),
            Sample::counter(
                "credex_frames_abandoned_total",
                abandoned,
                s.frames_starved as f64,
            )
            .label("reason", "no_memory"),
            Sample::gauge(
                "credex_frame_memory_bytes",
                "Bytes of request frames buffered now.",
                s.frame_memory_in_use as f64,
            ),
            Sample::gauge(
                "credex_frame_memory_peak_bytes",
                "The most bytes of request frames buffered at once since the node started.",
                s.frame_memory_peak as f64,
            ),
            Sample::gauge(
                "credex_frame_memory_budget_bytes",
                "The frame memory budget all connections share (limits.frame_memory_bytes).",
                s.frame_memory_budget as f64,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rps: u32, burst: u32, bytes: u64) -> IngressLimits {
        IngressLimits {
            peer_requests_per_second: rps,
            peer_burst: burst,
            peer_bytes_per_second: bytes,
            ..IngressLimits::default()
        }
    }

    fn region(code: &str) -> RegionCode {
        code.parse().expect("region")
    }

    #[test]
    fn a_region_gets_its_burst_then_its_rate_and_others_are_untouched() {
        let q = PeerQuotas::new(limits(10, 5, 1 << 30));
        let t0 = Instant::now();
        let gy = region("520000");
        for _ in 0..5 {
            q.admit(gy, 100, t0).expect("within the burst");
        }
        let refused = q.admit(gy, 100, t0).expect_err("burst used up");
        assert_eq!(refused.quota, Quota::Requests);
        assert_eq!(refused.warn, Some(1), "the first refusal warns");
        assert!(refused.retry_after <= Duration::from_millis(100));
        assert_eq!(
            q.admit(gy, 100, t0).expect_err("still empty").warn,
            None,
            "then it stays quiet"
        );
        // Another region has its own bucket.
        q.admit(region("500000"), 100, t0).expect("own bucket");
        // 10/s: one more token after 100 ms, not two.
        let t1 = t0 + Duration::from_millis(100);
        q.admit(gy, 100, t1).expect("refilled");
        q.admit(gy, 100, t1).expect_err("only one token came back");
        assert_eq!(q.throttled(Quota::Requests), 3);
        // The next warning, 10 s on, counts the two quiet refusals and itself.
        let t2 = t0 + WARN_EVERY;
        for _ in 0..5 {
            q.admit(gy, 100, t2)
                .expect("refilled to the burst, no more");
        }
        let w = q.admit(gy, 100, t2).expect_err("empty again");
        assert_eq!(w.warn, Some(3), "{w:?}");
    }

    #[test]
    fn bytes_are_charged_as_declared_and_a_refusal_takes_nothing() {
        let q = PeerQuotas::new(limits(1000, 1000, 1_000));
        let t0 = Instant::now();
        let gy = region("520000");
        q.admit(gy, 600, t0).expect("fits");
        let refused = q.admit(gy, 600, t0).expect_err("400 left");
        assert_eq!(refused.quota, Quota::Bytes);
        q.admit(gy, 400, t0)
            .expect("the refused request took neither bytes nor a request");
        assert_eq!(q.throttled(Quota::Bytes), 1);
        assert_eq!(q.throttled(Quota::Requests), 0);
    }

    #[tokio::test]
    async fn frame_memory_is_bounded_per_region_and_in_all_and_given_back() {
        let m = Arc::new(FrameMemory::new(&IngressLimits {
            frame_memory_bytes: 3000,
            peer_frame_memory_bytes: 2000,
            ..IngressLimits::default()
        }));
        let wait = Duration::from_millis(20);
        let gy = region("520000");
        let mut a = FrameBuffer::new(Some(Arc::clone(&m)));
        a.grow(1500, Some(m.reserve(gy, 1500, wait).await.expect("fits")));
        assert!(
            m.reserve(gy, 600, wait).await.is_err(),
            "the region's share is 2000"
        );
        let cq = region("500000");
        let mut b = FrameBuffer::new(Some(Arc::clone(&m)));
        b.grow(
            1500,
            Some(m.reserve(cq, 1500, wait).await.expect("own share")),
        );
        assert_eq!(m.in_use(), 3000);
        assert!(
            m.reserve(region("440000"), 1, wait).await.is_err(),
            "the common budget is 3000"
        );
        drop(a);
        assert_eq!(m.in_use(), 1500);
        m.reserve(gy, 1500, wait)
            .await
            .expect("given back when the frame is dropped");
        assert_eq!(m.peak(), 3000);
    }
}
