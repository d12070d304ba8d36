//! One measured phase of `credex bench query`: a pool of pre-built queries
//! handed out once each, `concurrency` tasks keeping that many requests in
//! flight until the deadline, and the phase's figures summarized into a
//! [`LevelResult`] (nearest-rank percentiles, CPU per query, ratios to the
//! crypto ceiling).
//!
//! Owns: [`Pool`], [`Phase`], [`run_phase`]. Does not own the federation,
//! the levels' order ([`super::query`]) or the timeline's steps
//! ([`super::timeline`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use credex_node::requester;
use credex_node::storage::Storage;
use credex_node::transport::PeerConnection;
use credex_protocol::query::AuthorizedQuery;

use super::crypto::CryptoFloor;
use super::machine::{machine_busy_s, process_cpu_s};
use super::query::LevelResult;
use super::timeline::timeline;

/// Pre-built queries, handed out once each.
pub(crate) struct Pool {
    queries: Vec<AuthorizedQuery>,
    next: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(queries: Vec<AuthorizedQuery>) -> Arc<Pool> {
        Arc::new(Pool {
            queries,
            next: AtomicUsize::new(0),
        })
    }

    pub(crate) fn take(&self) -> Option<(usize, &AuthorizedQuery)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.queries.get(i).map(|q| (i, q))
    }
}

/// What one phase measured.
#[derive(Default)]
pub(super) struct Phase {
    /// Each query's (sent, ns since the phase began; latency, ns).
    samples: Vec<(u64, u64)>,
    outcomes: BTreeMap<String, u64>,
    first_error: Option<String>,
    exhausted: bool,
    elapsed: Duration,
    process_cpu_s: f64,
    machine_busy_s: f64,
}

impl Phase {
    /// Add another task's share of the phase.
    fn merge(&mut self, other: Phase) {
        self.samples.extend(other.samples);
        for (k, v) in other.outcomes {
            *self.outcomes.entry(k).or_default() += v;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.exhausted |= other.exhausted;
    }

    /// The level's figures.
    pub(super) fn summarize(
        self,
        concurrency: usize,
        prebuilt: usize,
        crypto: &CryptoFloor,
    ) -> LevelResult {
        let timeline = timeline(&self.samples);
        let mut latencies_ns: Vec<u64> = self.samples.iter().map(|&(_, ns)| ns).collect();
        latencies_ns.sort_unstable();
        let n = latencies_ns.len();
        let pct = |p: f64| {
            if n == 0 {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            latencies_ns[rank - 1] as f64 / 1e6
        };
        let seconds = self.elapsed.as_secs_f64();
        let qps = if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        };
        let ratio = |c: f64| if c > 0.0 { qps / c } else { 0.0 };
        let cpu_us = if n > 0 {
            self.process_cpu_s * 1e6 / n as f64
        } else {
            0.0
        };
        let others = if seconds > 0.0 {
            ((self.machine_busy_s - self.process_cpu_s) / seconds).max(0.0)
        } else {
            0.0
        };
        LevelResult {
            concurrency,
            completed: n as u64,
            seconds,
            queries_per_s: qps,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            max_ms: pct(1.0),
            outcomes: self.outcomes,
            first_error: self.first_error,
            prebuilt,
            pool_exhausted: self.exhausted,
            process_cpu_s: self.process_cpu_s,
            cpu_us_per_query: cpu_us,
            others_busy_cores: others,
            cpu_bound_qps: if cpu_us > 0.0 {
                crypto.threads as f64 * 1e6 / cpu_us
            } else {
                0.0
            },
            crypto_share_of_cpu: if cpu_us > 0.0 {
                crypto.crypto_us_per_query_cached_chains / cpu_us
            } else {
                0.0
            },
            ratio_to_ceiling_intrinsic: ratio(crypto.ceiling_qps_intrinsic),
            ratio_to_ceiling_executed: ratio(crypto.ceiling_qps_executed),
            // Set by the caller, which holds the stores.
            commits_per_query: 0.0,
            appends_per_commit: 0.0,
            floor_qps_cached_chains: crypto.ceiling_qps_cached_chains,
            floor_qps_intrinsic: crypto.ceiling_qps_intrinsic,
            timeline,
        }
    }
}

/// Keep `concurrency` requests in flight for `duration` (or until the pool
/// runs out); the phase ends when the last response is in.
pub(super) async fn run_phase(
    pool: &Arc<Pool>,
    conns: &[Arc<PeerConnection>],
    trust: &Arc<credex_pki::TrustStore>,
    storage: &Storage,
    concurrency: usize,
    duration: Duration,
) -> Phase {
    let (cpu_before, busy_before) = (process_cpu_s(), machine_busy_s());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let pool = Arc::clone(pool);
        let conns: Vec<Arc<PeerConnection>> = conns.to_vec();
        let trust = Arc::clone(trust);
        let storage = storage.clone();
        tasks.spawn(async move {
            let mut phase = Phase::default();
            while Instant::now() < deadline {
                let Some((i, query)) = pool.take() else {
                    phase.exhausted = true;
                    break;
                };
                let conn = &conns[i % conns.len()];
                let sent = Instant::now();
                let result = requester::send(conn, &trust, &storage, query).await;
                let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                phase.samples.push((ns(sent - start), ns(sent.elapsed())));
                let key = match result {
                    Ok(r) => match r.body.outcome {
                        credex_protocol::query::Outcome::Denied => {
                            format!("Denied/{}", r.body.reason)
                        }
                        other => format!("{other:?}"),
                    },
                    Err(e) => {
                        if phase.first_error.is_none() {
                            phase.first_error = Some(e.to_string());
                        }
                        "error".to_owned()
                    }
                };
                *phase.outcomes.entry(key).or_default() += 1;
            }
            phase
        });
    }
    let mut all = Phase::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(p) => all.merge(p),
            Err(e) => {
                *all.outcomes.entry("error".to_owned()).or_default() += 1;
                all.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    all.elapsed = start.elapsed();
    all.process_cpu_s = process_cpu_s() - cpu_before;
    all.machine_busy_s = machine_busy_s() - busy_before;
    all
}

/// A level of `n` queries answered in one second at `concurrency`, compared
/// with `floor` (for the reports' tests).
#[cfg(test)]
pub(super) fn level_for_tests(concurrency: usize, n: u64, floor: &CryptoFloor) -> LevelResult {
    let phase = Phase {
        samples: (1..=n).map(|i| (0, i * 1_000_000)).collect(),
        elapsed: Duration::from_secs(1),
        ..Phase::default()
    };
    phase.summarize(concurrency, n as usize, floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::crypto::floor_from;

    #[test]
    fn percentiles_are_nearest_rank() {
        let phase = Phase {
            samples: (1..=1000u64).rev().map(|ms| (0, ms * 1_000_000)).collect(),
            elapsed: Duration::from_secs(2),
            ..Phase::default()
        };
        let floor = floor_from(512, 2, [20_000.0, 40_000.0, 40_000.0, 80_000.0]);
        let level = phase.summarize(64, 1000, &floor);
        assert_eq!(level.completed, 1000);
        assert_eq!(level.queries_per_s, 500.0);
        assert_eq!(level.p50_ms, 500.0);
        assert_eq!(level.p99_ms, 990.0);
        assert_eq!(level.p999_ms, 999.0);
        assert_eq!(level.max_ms, 1000.0);
    }
}
