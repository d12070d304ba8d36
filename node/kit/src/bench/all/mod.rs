//! `credex bench all`: issue 7's figures side by side, in one process, on
//! the same machine, with the same payload and the same concurrency, each
//! with the ratio to what bounds it.
//!
//! - **Transport ceiling**: credex's own [`Transport`] (quinn + rustls mTLS,
//!   credex's verifiers, framing, postcard decoding and validation of each
//!   request) with a trivial [`Handler`] that answers every query with a
//!   pre-recorded real response. The request and response frames are the
//!   bytes of a real credex query and its answer, so only the handler
//!   differs from the end-to-end figure: no signature checks, no policy, no
//!   storage, no log.
//! - **Crypto floor**: ring Ed25519 ([`crate::bench::measure_crypto_floor`])
//!   and the query rates it allows.
//! - **credex**: authorized queries end to end ([`crate::bench::query_bench`]).
//! - **Log**: durable appends and `audit verify` ([`super::log`]).
//! - **Handshakes**: new mTLS QUIC connections per second between two
//!   nodes' transports (credex's client and server verifiers, no
//!   resumption), each followed by the `Hello` round trip that confirms it.
//! - **Suites side by side** (issue 19): the same authorized queries in a
//!   federation of each crypto suite (`ed25519-sha256`, `sm2-sm3`), each
//!   against its own crypto floor, and the one suite's rate over the
//!   other's ([`suites`]).
//!
//! What it does not do: it does not isolate the machine (other processes'
//! load is reported per level), and both sides share the process and its
//! cores, as on the development machine.

use std::time::SystemTime;

use credex_protocol::Suite;
use serde::Serialize;

use super::log::{LogBenchArgs, LogBenchReport};
use crate::bench::{
    BenchError, CryptoFloor, LevelResult, Machine, QueryBenchArgs, QueryBenchReport,
};

mod render;
mod suites;
mod transport;

pub use render::render;
pub use suites::{SuiteLevel, SuiteRun, SuitesSideBySide};
use transport::transport_and_handshakes;

/// Options of `credex bench all`.
#[derive(Debug, Clone, clap::Args)]
pub struct AllBenchArgs {
    /// Concurrent in-flight requests, one level per value (transport and
    /// credex alike).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    pub concurrency: Vec<usize>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Unmeasured warm-up seconds before each level.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Concurrent connection attempts in the handshake figure.
    #[arg(long, default_value_t = 8)]
    pub handshake_concurrency: usize,
    /// Measured seconds of handshakes.
    #[arg(long, default_value_t = 4.0)]
    pub handshake_seconds: f64,
    /// Concurrent appenders in the log figure.
    #[arg(long, default_value_t = 64)]
    pub log_concurrency: usize,
    /// Measured seconds of log appends.
    #[arg(long, default_value_t = 4.0)]
    pub log_seconds: f64,
    /// The crypto suites whose query rates are set side by side; the
    /// first is the one every other figure is measured under.
    #[arg(long, value_delimiter = ',', default_value = "ed25519-sha256,sm2-sm3")]
    pub suites: Vec<Suite>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
}

/// One level of the transport ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct TransportLevel {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Round trips completed in the measured phase.
    pub completed: u64,
    /// Failed round trips.
    pub errors: u64,
    /// Round trips per second.
    pub requests_per_s: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Cores other processes kept busy meanwhile.
    pub others_busy_cores: f64,
}

/// The handshake figure.
#[derive(Debug, Clone, Serialize)]
pub struct HandshakeResult {
    /// Concurrent connection attempts.
    pub concurrency: usize,
    /// Completed handshakes (each confirmed by a `Hello` round trip).
    pub completed: u64,
    /// Failed attempts.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Handshakes per second.
    pub per_s: f64,
    /// Latency of one connect + `Hello`, p50 ms.
    pub p50_ms: f64,
    /// p99 ms.
    pub p99_ms: f64,
}

/// Ratios at one concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelRatios {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// credex queries/s.
    pub credex_qps: f64,
    /// Transport round trips/s with the same frames.
    pub transport_rps: f64,
    /// credex ÷ transport.
    pub credex_over_transport: f64,
    /// credex ÷ crypto floor with every chain verified (10 + 1 signatures).
    pub credex_over_floor_all_chains: f64,
    /// credex ÷ crypto floor with chains cached (4 + 1 signatures).
    pub credex_over_floor_cached_chains: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct AllBenchReport {
    /// The machine.
    pub machine: Machine,
    /// When the run started, Unix seconds.
    pub started_unix_s: u64,
    /// Encoded request frame of one credex query, bytes (both figures).
    pub request_bytes: usize,
    /// Encoded response frame of one credex query, bytes (both figures).
    pub response_bytes: usize,
    /// The crypto floor.
    pub crypto: CryptoFloor,
    /// The transport ceiling per level.
    pub transport: Vec<TransportLevel>,
    /// credex end to end per level (with the crypto floor of that run).
    pub credex: QueryBenchReport,
    /// The log.
    pub log: LogBenchReport,
    /// New mTLS connections.
    pub handshakes: HandshakeResult,
    /// The ratios, per level.
    pub ratios: Vec<LevelRatios>,
    /// Durable appends/s ÷ the appends credex's best level needs
    /// ([`APPENDS_PER_QUERY`] per query).
    pub log_headroom: f64,
    /// Handshakes/s ÷ credex queries/s at 1 in flight.
    pub handshake_over_query_at_1: f64,
    /// The same queries under each suite asked for (the first is
    /// [`AllBenchReport::credex`] itself).
    pub suites: SuitesSideBySide,
}

/// Log entries one answered query appends: the requester's intent and
/// answer, the responder's access entry and, for an answer that carries
/// records, its disclosure (decision 0930).
pub const APPENDS_PER_QUERY: f64 = 4.0;

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

/// Run `credex bench all`, print the table, write the JSON if asked.
pub async fn run(args: &AllBenchArgs) -> Result<(), BenchError> {
    let report = bench_all(args).await?;
    print!("{}", render(&report));
    if let Some(path) = &args.json {
        crate::bench::write_json(path, &report)?;
    }
    Ok(())
}

/// Measure everything (progress on stderr).
pub async fn bench_all(args: &AllBenchArgs) -> Result<AllBenchReport, BenchError> {
    check_args(args)?;
    let machine = Machine::detect();
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    // 1. credex end to end (measures the crypto floor first), under the
    // first suite.
    let credex = crate::bench::query_bench(&query_args(args, args.suites[0])).await?;
    let crypto = credex.crypto.clone();

    // 2. Transport ceiling and handshakes, with the same frames.
    let (request_bytes, response_bytes, transport, handshakes) =
        transport_and_handshakes(args).await?;

    // 3. The log.
    eprintln!("log: durable appends, then audit verify…");
    let log = super::log::run(&LogBenchArgs {
        concurrency: args.log_concurrency,
        seconds: args.log_seconds,
        body_bytes: 512,
        json: None,
    })
    .await
    .map_err(BenchError::Log)?;

    // 4. The same queries under every other suite.
    let mut others = Vec::new();
    for &suite in &args.suites[1..] {
        others.push(crate::bench::query_bench(&query_args(args, suite)).await?);
    }
    let suites = SuitesSideBySide::new(&credex, &others);

    let ratios = level_ratios(&credex.levels, &transport);
    let best = credex
        .levels
        .iter()
        .map(|l| l.queries_per_s)
        .fold(0.0, f64::max);
    let at1 = credex
        .levels
        .iter()
        .find(|l| l.concurrency == 1)
        .map_or(0.0, |l| l.queries_per_s);
    Ok(AllBenchReport {
        machine,
        started_unix_s,
        request_bytes,
        response_bytes,
        log_headroom: ratio(log.appends_per_second, APPENDS_PER_QUERY * best),
        handshake_over_query_at_1: ratio(handshakes.per_s, at1),
        crypto,
        transport,
        credex,
        log,
        handshakes,
        ratios,
        suites,
    })
}

/// The query figure's options under `suite`.
fn query_args(args: &AllBenchArgs, suite: Suite) -> QueryBenchArgs {
    QueryBenchArgs {
        concurrency: args.concurrency.clone(),
        seconds: args.seconds,
        warmup: args.warmup,
        connections: 1,
        crypto_seconds: 0.5,
        json: None,
        svg: None,
        postgres: None,
        suite,
    }
}

/// Refuse handshake and log options out of range.
fn check_args(args: &AllBenchArgs) -> Result<(), BenchError> {
    let mut seen = Vec::new();
    for suite in &args.suites {
        if seen.contains(suite) {
            return Err(BenchError::Usage(format!(
                "--suites: {suite} is named twice"
            )));
        }
        seen.push(*suite);
    }
    if seen.is_empty() {
        return Err(BenchError::Usage(
            "--suites: expected at least one of ed25519-sha256, sm2-sm3".into(),
        ));
    }
    if !(1..=64).contains(&args.handshake_concurrency) {
        return Err(BenchError::Usage(
            "--handshake-concurrency: expected 1–64".into(),
        ));
    }
    for (name, s) in [
        ("--handshake-seconds", args.handshake_seconds),
        ("--log-seconds", args.log_seconds),
    ] {
        if !(s > 0.0 && s <= 600.0) {
            return Err(BenchError::Usage(format!(
                "{name}: expected more than 0 and at most 600"
            )));
        }
    }
    Ok(())
}

/// `a ÷ b`, or 0 when there is nothing to divide by.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Per credex level: its rate against the transport's at the same
/// concurrency and against the crypto floor.
/// Each level's ratios, to the transport at the same concurrency and to the
/// crypto floor measured just before the level.
fn level_ratios(levels: &[LevelResult], transport: &[TransportLevel]) -> Vec<LevelRatios> {
    levels
        .iter()
        .map(|l| {
            let t = transport
                .iter()
                .find(|t| t.concurrency == l.concurrency)
                .map_or(0.0, |t| t.requests_per_s);
            LevelRatios {
                concurrency: l.concurrency,
                credex_qps: l.queries_per_s,
                transport_rps: t,
                credex_over_transport: ratio(l.queries_per_s, t),
                credex_over_floor_all_chains: ratio(l.queries_per_s, l.floor_qps_intrinsic),
                credex_over_floor_cached_chains: ratio(l.queries_per_s, l.floor_qps_cached_chains),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_in_ms() {
        let v: Vec<u64> = (1..=100u64).map(|ms| ms * 1_000_000).collect();
        assert_eq!(pct(&v, 0.5), 50.0);
        assert_eq!(pct(&v, 0.99), 99.0);
        assert_eq!(pct(&v, 1.0), 100.0);
        assert_eq!(pct(&[], 0.5), 0.0);
    }

    #[test]
    fn each_level_is_compared_with_the_floor_measured_before_it() {
        use crate::bench::crypto::floor_from;
        use crate::bench::phase::level_for_tests;
        // A slow minute before the first level, a fast one before the second.
        let slow = floor_from(512, 2, [10_000.0, 20_000.0, 20_000.0, 40_000.0]);
        let fast = floor_from(512, 2, [20_000.0, 40_000.0, 40_000.0, 80_000.0]);
        let levels = [
            level_for_tests(16, 1000, &slow),
            level_for_tests(64, 1000, &fast),
        ];
        let ratios = level_ratios(&levels, &[]);
        assert_eq!(
            levels[0].floor_qps_cached_chains,
            slow.ceiling_qps_cached_chains
        );
        let expected = [
            1000.0 / slow.ceiling_qps_cached_chains,
            1000.0 / fast.ceiling_qps_cached_chains,
        ];
        for (r, want) in ratios.iter().zip(expected) {
            assert!(
                (r.credex_over_floor_cached_chains - want).abs() < 1e-9,
                "{r:?}"
            );
        }
        assert!(
            ratios[0].credex_over_floor_cached_chains > ratios[1].credex_over_floor_cached_chains
        );
    }

    #[test]
    fn suites_default_to_both_and_are_named_once() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            all: AllBenchArgs,
        }
        let defaults = Cli::try_parse_from(["all"]).expect("defaults parse").all;
        assert_eq!(defaults.suites, [Suite::Ed25519Sha256, Suite::Sm2Sm3]);
        check_args(&defaults).expect("the defaults are valid");

        let twice = Cli::try_parse_from(["all", "--suites", "sm2-sm3,sm2-sm3"])
            .expect("parses")
            .all;
        let refused = check_args(&twice).expect_err("a suite named twice is refused");
        assert!(
            refused.to_string().contains("sm2-sm3 is named twice"),
            "{refused}"
        );

        let unknown = Cli::try_parse_from(["all", "--suites", "rsa"]);
        assert!(
            unknown.is_err(),
            "an unknown suite is refused by the parser"
        );
    }
}
