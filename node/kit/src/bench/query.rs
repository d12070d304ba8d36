//! `credex bench query`: authorized queries end to end between a requester
//! and a responder started in this process, one phase per concurrency
//! level, after the crypto floor is measured.
//!
//! Owns: [`QueryBenchArgs`], [`QueryBenchReport`], [`LevelResult`] and
//! [`query_bench`]: starting the two nodes, connecting them, pre-building
//! each level's queries and running its phases. Does not own a phase's
//! loop ([`super::phase`]) nor the table ([`super::render`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use credex_node::config::{NodeConfig, StorageTarget, logical_server_name};
use credex_node::service::RunningNode;
use credex_node::transport::{ClientError, PeerConnection};
use serde::Serialize;

use super::crypto::{CryptoFloor, measure_crypto_floor_of};
use super::fixtures::{BenchFederation, QueryFactory};
use super::machine::{Machine, runtime_workers};
use super::phase::{Pool, run_phase};
use super::{
    BENCH_CATEGORY, BENCH_FIELDS, BENCH_LEGAL_BASIS, BENCH_PURPOSE, BENCH_QUOTA_PER_DAY,
    BenchError, MAX_PREBUILT, REQUESTER_NODE, RESPONDER_NODE,
};

/// Options of `credex bench query`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryBenchArgs {
    /// Concurrent in-flight requests, one level per value.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured warm-up seconds before each level.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// QUIC connections from requester to responder (requests are spread
    /// over them round robin).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Seconds per crypto-floor figure (four figures).
    #[arg(long, default_value_t = 0.5)]
    pub crypto_seconds: f64,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also draw each level's latency over its measured phase (per 100 ms
    /// of send time: the median and the slowest) as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Store both nodes in PostgreSQL at URL (`postgres://…`), each in a
    /// schema of its own that is dropped afterwards, instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// The federation's crypto suite: ed25519-sha256 or sm2-sm3 (every
    /// signature SM2; the crypto floor measured in SM2 too).
    #[arg(long, default_value = "ed25519-sha256")]
    pub suite: credex_protocol::Suite,
}

/// One concurrency level's result.
#[derive(Debug, Clone, Serialize)]
pub struct LevelResult {
    /// Requests kept in flight.
    pub concurrency: usize,
    /// Queries answered in the measured phase (any outcome or error).
    pub completed: u64,
    /// Measured wall time, seconds (to the last response).
    pub seconds: f64,
    /// `completed / seconds`.
    pub queries_per_s: f64,
    /// Latency percentiles of one `requester::send`, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Count per outcome (`Granted`, `Trimmed`, `Denied/<reason>`, `error`).
    pub outcomes: BTreeMap<String, u64>,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// Queries pre-built for the level (warm-up included).
    pub prebuilt: usize,
    /// Whether the level ran out of pre-built queries before its time.
    pub pool_exhausted: bool,
    /// CPU time this process (both nodes) used in the measured phase, seconds.
    pub process_cpu_s: f64,
    /// `process_cpu_s` per completed query, microseconds: what one query
    /// costs the machine, whatever else runs on it.
    pub cpu_us_per_query: f64,
    /// Cores other processes kept busy on average during the phase (the
    /// machine is shared): all cores' busy time minus this process's.
    pub others_busy_cores: f64,
    /// Queries per second the whole machine would give at this CPU cost
    /// per query: cores / `cpu_us_per_query`.
    pub cpu_bound_qps: f64,
    /// Share of the CPU per query that the floor's signatures would take
    /// with certificate chains cached, as the node caches them
    /// (`crypto_us_per_query_cached_chains / cpu_us_per_query`). Chains and
    /// their CRLs are verified once per trust store, not per query.
    pub crypto_share_of_cpu: f64,
    /// `queries_per_s` / the intrinsic crypto ceiling.
    pub ratio_to_ceiling_intrinsic: f64,
    /// `queries_per_s` / the ceiling with every chain and CRL checked per
    /// query.
    pub ratio_to_ceiling_executed: f64,
    /// Group commits of both nodes' stores in the measured phase, per
    /// completed query (each query appends four journal records).
    pub commits_per_query: f64,
    /// Journal records per group commit, both nodes.
    pub appends_per_commit: f64,
    /// The crypto floor's ceiling with chains cached, queries/s, measured
    /// just before this level: the ratios of this level are to it, so that
    /// a shared machine's speed, which moves from minute to minute, is the
    /// same on both sides of each ratio.
    pub floor_qps_cached_chains: f64,
    /// The intrinsic ceiling measured just before this level.
    pub floor_qps_intrinsic: f64,
    /// The measured phase step by step ([`super::timeline`]).
    pub timeline: Vec<super::timeline::TimelineStep>,
}

/// The whole report of `credex bench query`.
#[derive(Debug, Clone, Serialize)]
pub struct QueryBenchReport {
    /// The machine.
    pub machine: Machine,
    /// When the run started, Unix seconds.
    pub started_unix_s: u64,
    /// `credex` version.
    pub version: String,
    /// What was measured, in words.
    pub setup: Vec<String>,
    /// The federation's crypto suite.
    pub suite: String,
    /// QUIC connections used.
    pub connections: usize,
    /// Measured seconds per level, as asked.
    pub seconds_per_level: f64,
    /// The crypto floor.
    pub crypto: CryptoFloor,
    /// One entry per concurrency level.
    pub levels: Vec<LevelResult>,
}

impl QueryBenchArgs {
    /// Refuse options outside what the benchmark supports.
    fn check(&self) -> Result<(), BenchError> {
        let usage = |m: String| Err(BenchError::Usage(m));
        if self.concurrency.is_empty() || self.concurrency.iter().any(|&c| c == 0 || c > 4096) {
            return usage("--concurrency: each level must be 1–4096".into());
        }
        if !(self.seconds > 0.0 && self.seconds <= 3600.0) {
            return usage("--seconds: expected more than 0 and at most 3600".into());
        }
        if !(self.warmup >= 0.0 && self.warmup <= 60.0) {
            return usage("--warmup: expected 0–60".into());
        }
        if !(self.crypto_seconds > 0.0 && self.crypto_seconds <= 60.0) {
            return usage("--crypto-seconds: expected more than 0 and at most 60".into());
        }
        // The responder admits 8 connections per peer node (TransportLimits).
        if !(1..=8).contains(&self.connections) {
            return usage("--connections: expected 1–8".into());
        }
        Ok(())
    }
}

/// Run the end-to-end query benchmark (progress on stderr).
pub async fn query_bench(args: &QueryBenchArgs) -> Result<QueryBenchReport, BenchError> {
    args.check()?;
    let machine = Machine::detect();
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    eprintln!("measuring the crypto floor ({})…", args.suite);
    let crypto = tokio::task::block_in_place(|| {
        measure_crypto_floor_of(
            args.suite,
            Duration::from_secs_f64(args.crypto_seconds),
            512,
        )
    });

    eprintln!(
        "creating a throw-away federation and starting {REQUESTER_NODE} and {RESPONDER_NODE}…"
    );
    let pair = NodePair::start(args.connections, args.postgres.as_deref(), args.suite).await?;
    let levels = run_levels(args, &machine, &crypto, &pair).await;
    let imported = pair.imported;
    pair.stop().await;
    let levels = levels?;

    Ok(QueryBenchReport {
        setup: setup_description(args, imported),
        machine,
        started_unix_s,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        suite: args.suite.name().to_owned(),
        connections: args.connections,
        seconds_per_level: args.seconds,
        crypto,
        levels,
    })
}

/// The requester and the responder of the benchmark, running, with the
/// responder's sample records imported and the requester connected to it.
struct NodePair {
    fed: BenchFederation,
    requester: RunningNode,
    responder: RunningNode,
    conns: Vec<Arc<PeerConnection>>,
    imported: u64,
}

impl NodePair {
    /// Group commits and journal records committed so far, both stores.
    fn commits_and_appends(&self) -> (u64, u64) {
        let (r, s) = (
            self.requester.storage().stats(),
            self.responder.storage().stats(),
        );
        (r.commits + s.commits, r.appends + s.appends)
    }

    /// Start both nodes of a fresh federation — in SQLite, or in
    /// PostgreSQL at `postgres` — and open `connections` QUIC connections
    /// from the requester to the responder.
    async fn start(
        connections: usize,
        postgres: Option<&str>,
        suite: credex_protocol::Suite,
    ) -> Result<NodePair, BenchError> {
        let fed = BenchFederation::create_in(suite)?;
        let stored = |mut config: NodeConfig| {
            if let Some(url) = postgres {
                config.storage = StorageTarget::Postgres {
                    url: url.to_owned(),
                    schema: Some(bench_schema(&config)),
                };
            }
            config
        };
        let requester = RunningNode::start(stored(fed.config(REQUESTER_NODE)?)).await?;
        let responder = RunningNode::start(stored(fed.config(RESPONDER_NODE)?)).await?;
        let imported = fed
            .import_samples(
                responder.storage(),
                responder.config(),
                responder.queries().policy().catalogue(),
            )
            .await?;
        let mut conns = Vec::with_capacity(connections);
        for _ in 0..connections {
            conns.push(Arc::new(connect(&requester, &responder).await?));
        }
        Ok(NodePair {
            fed,
            requester,
            responder,
            conns,
            imported,
        })
    }

    /// Close the connections, shut both nodes down, remove the federation.
    async fn stop(self) {
        for c in &self.conns {
            c.close();
        }
        drop(self.conns);
        let schemas: Vec<(String, String)> = [&self.requester, &self.responder]
            .iter()
            .filter_map(|n| match &n.config().storage {
                StorageTarget::Postgres {
                    url,
                    schema: Some(schema),
                } => Some((url.clone(), schema.clone())),
                _ => None,
            })
            .collect();
        self.requester.shutdown().await;
        self.responder.shutdown().await;
        drop(self.fed);
        for (url, schema) in schemas {
            if let Err(e) = drop_schema(&url, &schema).await {
                eprintln!("could not drop the benchmark's schema {schema}: {e}");
            }
        }
    }
}

/// The throw-away PostgreSQL schema of a benchmark node.
pub(crate) fn bench_schema(config: &NodeConfig) -> String {
    format!(
        "credex_bench_{}_{}",
        std::process::id(),
        config.name.as_str().replace('-', "_")
    )
}

/// Drop a benchmark node's schema.
pub(crate) async fn drop_schema(url: &str, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(url).await?;
    conn.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
        .await?;
    conn.close().await
}

/// A new QUIC connection from the requester's transport to the responder,
/// as a peer opens it.
pub(crate) async fn connect(
    requester: &RunningNode,
    responder: &RunningNode,
) -> Result<PeerConnection, ClientError> {
    let target = responder.config().region;
    let name = responder.config().name.clone();
    requester
        .transport()
        .connect(
            responder.local_addr(),
            &logical_server_name(target, &name),
            target,
            Some(name),
        )
        .await
}

/// Each concurrency level in turn: pre-build enough queries for the crypto
/// ceiling's rate (not timed), warm up, then measure.
async fn run_levels(
    args: &QueryBenchArgs,
    machine: &Machine,
    crypto: &CryptoFloor,
    pair: &NodePair,
) -> Result<Vec<LevelResult>, BenchError> {
    let requester = &pair.requester;
    let factory = QueryFactory::new(
        &pair.fed,
        requester.config().region,
        requester.config().name.clone(),
        pair.responder.config().region,
    )?;
    let trust = requester.transport().trust().current();
    let storage = requester.storage().clone();
    let mut levels = Vec::new();
    for &concurrency in &args.concurrency {
        // Enough for the cached-chains floor's rate over warm-up and
        // measurement: credex cannot answer faster than the message
        // signatures every query needs (it now passes the intrinsic
        // ceiling, which ran the pool dry at 64 in flight).
        let ceiling = crypto.ceiling_qps_cached_chains.max(1000.0);
        let want = ((ceiling * (args.seconds + args.warmup) * 1.1) as usize + 4 * concurrency)
            .min(MAX_PREBUILT);
        eprintln!("level {concurrency}: signing and approving {want} queries (not timed)…");
        let queries = tokio::task::block_in_place(|| factory.build_many(want, machine.cpus))?;
        // The floor again, next to the level it is compared with.
        eprintln!("level {concurrency}: measuring the crypto floor…");
        let floor = tokio::task::block_in_place(|| {
            measure_crypto_floor_of(
                args.suite,
                Duration::from_secs_f64(args.crypto_seconds),
                512,
            )
        });
        let pool = Pool::new(queries);
        let phase = |seconds: f64| {
            run_phase(
                &pool,
                &pair.conns,
                &trust,
                &storage,
                concurrency,
                Duration::from_secs_f64(seconds),
            )
        };
        if args.warmup > 0.0 {
            let _ = phase(args.warmup).await;
        }
        eprintln!("level {concurrency}: measuring for {} s…", args.seconds);
        let before = pair.commits_and_appends();
        let mut level = phase(args.seconds)
            .await
            .summarize(concurrency, want, &floor);
        let after = pair.commits_and_appends();
        let (commits, appends) = (after.0 - before.0, after.1 - before.1);
        if level.completed > 0 && commits > 0 {
            level.commits_per_query = commits as f64 / level.completed as f64;
            level.appends_per_commit = appends as f64 / commits as f64;
        }
        eprintln!(
            "level {concurrency}: {:.0} queries/s, p99 {:.2} ms, {:.2} group commits per query \
             ({:.1} records each)",
            level.queries_per_s, level.p99_ms, level.commits_per_query, level.appends_per_commit
        );
        levels.push(level);
    }
    Ok(levels)
}

/// What was measured, in words, for the report.
fn setup_description(args: &QueryBenchArgs, imported: u64) -> Vec<String> {
    vec![
        format!(
            "requester {REQUESTER_NODE} (520000 Guizhou) → responder {RESPONDER_NODE} (440000 Guangdong), \
             both in this process on 127.0.0.1, one tokio runtime ({} worker threads)",
            runtime_workers()
        ),
        format!(
            "{} QUIC connection(s), mTLS, opened before timing; requests spread round robin; \
             crypto suite {}",
            args.connections, args.suite
        ),
        format!(
            "queries pre-signed by req-1 and approved by apv-1 before timing, each with its own nonce; \
             {BENCH_PURPOSE}, legal basis {BENCH_LEGAL_BASIS}, {} fields of {BENCH_CATEGORY}; \
             3 sample companies round robin, 1 record each ({imported} sample records imported)",
            BENCH_FIELDS.len()
        ),
        format!(
            "each request through requester::send: the responder verifies both officers and chains \
             (with CRLs), evaluates the policy, durably records the decision with nonce and quota claims \
             ({store}), waits for a signed log checkpoint covering it, reads and projects, signs; \
             the requester verifies the response signature and chain and the log receipt (checkpoint \
             signature, inclusion proof) and durably logs its side ({store})",
            store = if args.postgres.is_some() {
                "PostgreSQL, a schema per node"
            } else {
                "SQLite WAL"
            }
        ),
        format!(
            "quotas raised to {BENCH_QUOTA_PER_DAY}/day in the throw-away policies (still claimed per query)"
        ),
    ]
}
