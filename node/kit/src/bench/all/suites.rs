//! The crypto suites side by side (issue 19): the same authorized queries
//! in a federation of each suite, each against the floor of its own
//! signatures, and every suite's rate over the first one's at the same
//! concurrency — what a federation gives up, or gains, by its suite.

use serde::Serialize;

use super::ratio;
use crate::bench::QueryBenchReport;

/// One suite's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteRun {
    /// The suite (`ed25519-sha256`, `sm2-sm3`).
    pub suite: String,
    /// Signature verifications per second, one thread.
    pub verify_per_s_one_thread: f64,
    /// Signatures per second, one thread.
    pub sign_per_s_one_thread: f64,
    /// Queries/s the suite's message signatures allow on every core
    /// (certificate chains cached).
    pub floor_cached_chains_qps: f64,
    /// Per concurrency level.
    pub levels: Vec<SuiteLevel>,
}

/// One suite at one concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteLevel {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Authorized queries per second.
    pub queries_per_s: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Queries/s ÷ this suite's own cached-chains floor.
    pub over_own_floor: f64,
    /// Queries/s ÷ the first suite's at the same level.
    pub over_first_suite: f64,
}

/// Every suite asked for, the first one first.
#[derive(Debug, Clone, Serialize)]
pub struct SuitesSideBySide {
    /// One run per suite.
    pub runs: Vec<SuiteRun>,
}

impl SuitesSideBySide {
    /// Set `others` beside `first`, level by level.
    pub fn new(first: &QueryBenchReport, others: &[QueryBenchReport]) -> SuitesSideBySide {
        let runs = std::iter::once(first)
            .chain(others)
            .map(|run| SuiteRun {
                suite: run.suite.clone(),
                verify_per_s_one_thread: run.crypto.verify_per_s_one_thread,
                sign_per_s_one_thread: run.crypto.sign_per_s_one_thread,
                floor_cached_chains_qps: run.crypto.ceiling_qps_cached_chains,
                levels: run
                    .levels
                    .iter()
                    .map(|l| {
                        let first_rate = first
                            .levels
                            .iter()
                            .find(|f| f.concurrency == l.concurrency)
                            .map_or(0.0, |f| f.queries_per_s);
                        SuiteLevel {
                            concurrency: l.concurrency,
                            queries_per_s: l.queries_per_s,
                            p99_ms: l.p99_ms,
                            over_own_floor: ratio(
                                l.queries_per_s,
                                run.crypto.ceiling_qps_cached_chains,
                            ),
                            over_first_suite: ratio(l.queries_per_s, first_rate),
                        }
                    })
                    .collect(),
            })
            .collect();
        SuitesSideBySide { runs }
    }
}

/// The suites' table (nothing when only one suite was asked for).
pub(super) fn render(s: &mut String, suites: &SuitesSideBySide) {
    use std::fmt::Write as _;
    let Some(first) = suites.runs.first() else {
        return;
    };
    if suites.runs.len() < 2 {
        return;
    }
    let _ = writeln!(s, "\nsuites side by side (the same queries, one run each):");
    for run in &suites.runs {
        let _ = writeln!(
            s,
            "  {:<15} verify {:>6.0}/s, sign {:>6.0}/s per thread ({:.2}× / {:.2}× {}); floor, chains cached: {:.0} queries/s",
            run.suite,
            run.verify_per_s_one_thread,
            run.sign_per_s_one_thread,
            ratio(run.verify_per_s_one_thread, first.verify_per_s_one_thread),
            ratio(run.sign_per_s_one_thread, first.sign_per_s_one_thread),
            first.suite,
            run.floor_cached_chains_qps,
        );
    }
    let _ = writeln!(
        s,
        "{:>5} | {:<15} {:>9} {:>7} {:>10} {:>8}",
        "in", "suite", "queries/s", "p99 ms", "/own floor", "/first"
    );
    for level in &first.levels {
        for run in &suites.runs {
            let Some(l) = run
                .levels
                .iter()
                .find(|l| l.concurrency == level.concurrency)
            else {
                continue;
            };
            let _ = writeln!(
                s,
                "{:>5} | {:<15} {:>9.0} {:>7.2} {:>9.0}% {:>7.2}×",
                l.concurrency,
                run.suite,
                l.queries_per_s,
                l.p99_ms,
                100.0 * l.over_own_floor,
                l.over_first_suite,
            );
        }
    }
}
