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
//!
//! What it does not do: it does not isolate the machine (other processes'
//! load is reported per level), and both sides share the process and its
//! cores, as on the development machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use credex_node::boot::load_credentials;
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::service::{RunningNode, load_trust};
use credex_node::tls::FederationTrust;
use credex_node::transport::{ClientError, Handler, PeerConnection, PeerIdentity, Transport};
use credex_protocol::{ErrorCode, ErrorReply, Hello, NodeName, RegionCode, Request, Response};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::log::{LogBenchArgs, LogBenchReport};
use crate::bench::{
    BenchError, BenchFederation, CryptoFloor, LevelResult, Machine, QueryBenchArgs,
    QueryBenchReport, QueryFactory, REQUESTER_NODE, RESPONDER_NODE,
};

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
}

/// Log entries one answered query appends: the requester's intent and
/// answer, the responder's access entry and, for an answer that carries
/// records, its disclosure (decision 0930).
pub const APPENDS_PER_QUERY: f64 = 4.0;

/// Answers `Hello` as a node and every `Query` with one pre-recorded
/// response; nothing else.
struct CannedHandler {
    hello: Hello,
    response: Response,
}

impl Handler for CannedHandler {
    async fn handle(&self, _peer: &PeerIdentity, request: Request) -> Response {
        match request {
            Request::Hello(_) => Response::Hello(self.hello.clone()),
            Request::Query(q) => {
                std::hint::black_box(&q);
                self.response.clone()
            }
            other => Response::Error(ErrorReply::new(
                ErrorCode::UnsupportedMessage,
                format!(
                    "the transport benchmark answers queries only, not {}",
                    other.kind()
                ),
            )),
        }
    }
}

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

    // 1. credex end to end (measures the crypto floor first).
    let credex = crate::bench::query_bench(&QueryBenchArgs {
        concurrency: args.concurrency.clone(),
        seconds: args.seconds,
        warmup: args.warmup,
        connections: 1,
        crypto_seconds: 0.5,
        json: None,
        postgres: None,
        suite: credex_protocol::Suite::Ed25519Sha256,
    })
    .await?;
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

    let ratios = level_ratios(&credex.levels, &transport, &crypto);
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
    })
}

/// Refuse handshake and log options out of range.
fn check_args(args: &AllBenchArgs) -> Result<(), BenchError> {
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
fn level_ratios(
    levels: &[LevelResult],
    transport: &[TransportLevel],
    crypto: &CryptoFloor,
) -> Vec<LevelRatios> {
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
                credex_over_floor_all_chains: ratio(l.queries_per_s, crypto.ceiling_qps_intrinsic),
                credex_over_floor_cached_chains: ratio(
                    l.queries_per_s,
                    crypto.ceiling_qps_cached_chains,
                ),
            }
        })
        .collect()
}

/// Record one real query's frames, then serve them from a trivial handler
/// on transports holding the two nodes' real credentials.
async fn transport_and_handshakes(
    args: &AllBenchArgs,
) -> Result<(usize, usize, Vec<TransportLevel>, HandshakeResult), BenchError> {
    eprintln!("transport: recording one real query's request and response…");
    let fed = BenchFederation::create()?;
    let requester_cfg = fed.config(REQUESTER_NODE)?;
    let responder_cfg = fed.config(RESPONDER_NODE)?;
    let (request, response) = record_query(&fed, &requester_cfg, &responder_cfg).await?;
    let request_bytes = frame_len("request", credex_protocol::encode(&request))?;
    let response_bytes = frame_len("response", credex_protocol::encode(&response))?;

    let canned = CannedPair::start(&requester_cfg, &responder_cfg, response).await?;
    let conn = Arc::new(canned.target.connect().await?);
    let levels = transport_levels(&conn, Arc::new(request), args).await;
    conn.close();
    drop(conn);
    let handshakes = handshakes(&canned.target, args).await;
    canned.close().await;
    drop(fed);
    Ok((request_bytes, response_bytes, levels, handshakes))
}

/// One real query, sent between the two nodes running in full: the
/// request and the response the transport figure replays.
async fn record_query(
    fed: &BenchFederation,
    requester_cfg: &NodeConfig,
    responder_cfg: &NodeConfig,
) -> Result<(Request, Response), BenchError> {
    let requester = RunningNode::start(requester_cfg.clone()).await?;
    let responder = RunningNode::start(responder_cfg.clone()).await?;
    let target = responder.config().region;
    fed.import_samples(
        responder.storage(),
        responder.config(),
        responder.queries().policy().catalogue(),
    )
    .await?;
    let conn = crate::bench::connect(&requester, &responder).await?;
    let factory = QueryFactory::new(
        fed,
        requester.config().region,
        requester.config().name.clone(),
        target,
    )?;
    let query = factory.build(0)?;
    let trust = requester.transport().trust().current();
    let answer = credex_node::requester::send(&conn, &trust, requester.storage(), &query).await?;
    conn.close();
    drop(conn);
    requester.shutdown().await;
    responder.shutdown().await;
    Ok((
        Request::Query(Box::new(query)),
        Response::Query(Box::new(answer)),
    ))
}

/// The length of an encoded recorded frame.
fn frame_len(
    what: &str,
    encoded: Result<Vec<u8>, credex_protocol::FrameError>,
) -> Result<usize, BenchError> {
    encoded
        .map(|b| b.len())
        .map_err(|e| BenchError::Usage(format!("encoding the recorded {what}: {e}")))
}

/// The canned server's address and names, and the client that connects
/// to it.
#[derive(Clone)]
struct CannedTarget {
    client: Transport,
    addr: SocketAddr,
    region: RegionCode,
    name: NodeName,
    server_name: String,
}

impl CannedTarget {
    /// A new mTLS connection to the canned server.
    async fn connect(&self) -> Result<PeerConnection, ClientError> {
        self.client
            .connect(
                self.addr,
                &self.server_name,
                self.region,
                Some(self.name.clone()),
            )
            .await
    }
}

/// The two nodes' transports: the responder's serving the canned handler,
/// the requester's as its client.
struct CannedPair {
    server: Transport,
    target: CannedTarget,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl CannedPair {
    /// Bind both transports with their real credentials, trust and
    /// verifiers, and serve `response` to every query.
    async fn start(
        requester_cfg: &NodeConfig,
        responder_cfg: &NodeConfig,
        response: Response,
    ) -> Result<CannedPair, BenchError> {
        // Per-peer connection cap raised so closed connections still
        // draining do not refuse new handshakes, and the per-peer quotas
        // lifted: this measures the transport's ceiling, far above any
        // peer's quota.
        let mut server_limits = responder_cfg.transport.clone();
        server_limits.max_connections_per_peer = 1024;
        server_limits.ingress.peer_requests_per_second = 1_000_000;
        server_limits.ingress.peer_burst = 10_000_000;
        server_limits.ingress.peer_bytes_per_second = 64 << 30;
        let server = Transport::bind(
            responder_cfg.listen,
            load_credentials(responder_cfg)?,
            FederationTrust::new(load_trust(&responder_cfg.tls)?),
            server_limits,
        )
        .map_err(|e| BenchError::Usage(format!("binding the benchmark server: {e}")))?;
        let client = Transport::bind(
            requester_cfg.listen,
            load_credentials(requester_cfg)?,
            FederationTrust::new(load_trust(&requester_cfg.tls)?),
            requester_cfg.transport.clone(),
        )
        .map_err(|e| BenchError::Usage(format!("binding the benchmark client: {e}")))?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        {
            let handler = Arc::new(CannedHandler {
                hello: server.hello(),
                response,
            });
            let server = server.clone();
            let shutdown = shutdown.clone();
            let t = tracker.clone();
            tracker.spawn(async move { server.serve(handler, shutdown, t).await });
        }
        let addr = server
            .local_addr()
            .map_err(|e| BenchError::Usage(format!("benchmark server address: {e}")))?;
        let (region, name) = (responder_cfg.region, responder_cfg.name.clone());
        let server_name = logical_server_name(region, &name);
        Ok(CannedPair {
            server,
            target: CannedTarget {
                client,
                addr,
                region,
                name,
                server_name,
            },
            shutdown,
            tracker,
        })
    }

    /// Stop serving and close both transports.
    async fn close(self) {
        self.shutdown.cancel();
        self.target.client.close().await;
        self.server.close().await;
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// The transport ceiling: each concurrency level, after its warm-up, on
/// one connection.
async fn transport_levels(
    conn: &Arc<PeerConnection>,
    request: Arc<Request>,
    args: &AllBenchArgs,
) -> Vec<TransportLevel> {
    let mut levels = Vec::new();
    for &concurrency in &args.concurrency {
        if args.warmup > 0.0 {
            let _ = transport_phase(conn, &request, concurrency, args.warmup).await;
        }
        eprintln!(
            "transport level {concurrency}: measuring for {} s…",
            args.seconds
        );
        let level = transport_phase(conn, &request, concurrency, args.seconds).await;
        eprintln!(
            "transport level {concurrency}: {:.0} round trips/s, p99 {:.2} ms",
            level.requests_per_s, level.p99_ms
        );
        levels.push(level);
    }
    levels
}

/// New connections, each confirmed by its `Hello`, from
/// `--handshake-concurrency` tasks for `--handshake-seconds`.
async fn handshakes(target: &CannedTarget, args: &AllBenchArgs) -> HandshakeResult {
    eprintln!(
        "handshakes: {} concurrent new connections for {} s…",
        args.handshake_concurrency, args.handshake_seconds
    );
    let deadline = Instant::now() + Duration::from_secs_f64(args.handshake_seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.handshake_concurrency {
        let target = target.clone();
        tasks.spawn(async move { handshake_loop(&target, deadline).await });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((l, e, f)) => {
                lat.extend(l);
                errors += e;
                if first_error.is_none() {
                    first_error = f;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let handshakes = HandshakeResult {
        concurrency: args.handshake_concurrency,
        completed: lat.len() as u64,
        errors,
        first_error,
        per_s: lat.len() as f64 / elapsed.max(1e-9),
        p50_ms: pct(&lat, 0.5),
        p99_ms: pct(&lat, 0.99),
    };
    eprintln!(
        "handshakes: {:.0}/s, p99 {:.2} ms",
        handshakes.per_s, handshakes.p99_ms
    );
    handshakes
}

/// One task's handshakes until the deadline: latencies (ns), errors, the
/// first error.
async fn handshake_loop(
    target: &CannedTarget,
    deadline: Instant,
) -> (Vec<u64>, u64, Option<String>) {
    let mut lat = Vec::new();
    let mut errors = 0u64;
    let mut first_error = None;
    while Instant::now() < deadline {
        let t = Instant::now();
        match target.connect().await {
            Ok(c) => {
                lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                c.close();
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    (lat, errors, first_error)
}

/// Keep `concurrency` canned query round trips in flight for `seconds`.
async fn transport_phase(
    conn: &Arc<PeerConnection>,
    request: &Arc<Request>,
    concurrency: usize,
    seconds: f64,
) -> TransportLevel {
    let busy_before = crate::bench::machine::machine_busy_s();
    let cpu_before = crate::bench::machine::process_cpu_s();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let conn = Arc::clone(conn);
        let request = Arc::clone(request);
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                // The request is cloned per round trip, as requester::send does.
                match conn.request(&request).await {
                    Ok(Response::Query(r)) => {
                        std::hint::black_box(&r);
                        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((l, e)) => {
                lat.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let busy = crate::bench::machine::machine_busy_s() - busy_before;
    let cpu = crate::bench::machine::process_cpu_s() - cpu_before;
    lat.sort_unstable();
    TransportLevel {
        concurrency,
        completed: lat.len() as u64,
        errors,
        requests_per_s: lat.len() as f64 / elapsed.max(1e-9),
        p50_ms: pct(&lat, 0.5),
        p99_ms: pct(&lat, 0.99),
        p999_ms: pct(&lat, 0.999),
        others_busy_cores: ((busy - cpu) / elapsed.max(1e-9)).max(0.0),
    }
}

/// The human table.
pub fn render(r: &AllBenchReport) -> String {
    let mut s = String::new();
    render_setup(&mut s, r);
    render_levels(&mut s, r);
    render_log_and_handshakes(&mut s, r);
    s
}

/// The machine, the frames, the crypto floor.
fn render_setup(s: &mut String, r: &AllBenchReport) {
    use std::fmt::Write as _;
    let m = &r.machine;
    let c = &r.crypto;
    let _ = writeln!(
        s,
        "\ncredex bench all — {} CPUs ({}), {} MiB, kernel {}, load {}",
        m.cpus, m.cpu_model, m.memory_mib, m.kernel, m.load_average
    );
    let _ = writeln!(
        s,
        "same frames for transport and credex: request {} bytes, response {} bytes; one QUIC connection",
        r.request_bytes, r.response_bytes
    );
    let _ = writeln!(
        s,
        "\ncrypto floor (ring Ed25519, 512-byte messages, {} threads): verify {:.0}/s, sign {:.0}/s per thread",
        c.threads, c.verify_per_s_one_thread, c.sign_per_s_one_thread
    );
    let _ = writeln!(
        s,
        "  every chain verified ({} verifications + {} signature): {:.0} queries/s",
        c.budget.intrinsic_verifies(),
        c.budget.signs,
        c.ceiling_qps_intrinsic
    );
    let _ = writeln!(
        s,
        "  chains cached ({} verifications + {} signature):        {:.0} queries/s",
        c.budget.message_verifies, c.budget.signs, c.ceiling_qps_cached_chains
    );
}

/// Transport and credex side by side per level, with the ratios.
fn render_levels(s: &mut String, r: &AllBenchReport) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\n{:>5} | {:>11} {:>7} {:>7} | {:>9} {:>7} {:>7} {:>8} | {:>9} {:>10} {:>10} | {:>6}",
        "in",
        "transport/s",
        "p50 ms",
        "p99 ms",
        "credex/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "/transport",
        "/floor all",
        "/floor cached",
        "others"
    );
    for ratio in &r.ratios {
        let t = r
            .transport
            .iter()
            .find(|t| t.concurrency == ratio.concurrency);
        let l = r
            .credex
            .levels
            .iter()
            .find(|l| l.concurrency == ratio.concurrency);
        let (Some(t), Some(l)) = (t, l) else { continue };
        let _ = writeln!(
            s,
            "{:>5} | {:>11.0} {:>7.2} {:>7.2} | {:>9.0} {:>7.2} {:>7.2} {:>8.2} | {:>9.1}% {:>9.0}% {:>12.0}% | {:>6.2}",
            ratio.concurrency,
            t.requests_per_s,
            t.p50_ms,
            t.p99_ms,
            l.queries_per_s,
            l.p50_ms,
            l.p99_ms,
            l.p999_ms,
            100.0 * ratio.credex_over_transport,
            100.0 * ratio.credex_over_floor_all_chains,
            100.0 * ratio.credex_over_floor_cached_chains,
            l.others_busy_cores.max(t.others_busy_cores),
        );
        let outcomes: Vec<String> = l.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if outcomes.iter().any(|o| !o.starts_with("Granted")) || t.errors > 0 {
            let _ = writeln!(
                s,
                "{:>5}   (transport errors {}; credex outcomes: {})",
                "",
                t.errors,
                outcomes.join(", ")
            );
        }
    }
}

/// The log figure, the handshake figure, the legend.
fn render_log_and_handshakes(s: &mut String, r: &AllBenchReport) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\nlog: {:.0} durable appends/s ({} appenders, p99 {:.2} ms) = {:.1}× the {APPENDS_PER_QUERY} appends/query of credex's best level; \
         audit verify {:.0} entries/s over {} entries",
        r.log.appends_per_second,
        r.log.concurrency,
        r.log.append_p99_ms,
        r.log_headroom,
        r.log.audit_entries_per_second,
        r.log.log_entries
    );
    let h = &r.handshakes;
    let _ = writeln!(
        s,
        "handshakes: {:.0} new mTLS connections/s ({} concurrent, p50 {:.2} ms, p99 {:.2} ms, {} errors{}) = {:.2}× credex queries/s at 1 in flight",
        h.per_s,
        h.concurrency,
        h.p50_ms,
        h.p99_ms,
        h.errors,
        h.first_error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        r.handshake_over_query_at_1
    );
    let _ = writeln!(
        s,
        "  transport: credex's Transport, mTLS with credex's verifiers, a handler that answers with a recorded response; \
         others: cores other processes kept busy"
    );
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
}
