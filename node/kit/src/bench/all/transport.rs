//! The transport ceiling and the handshake figure of `credex bench all`:
//! one real query recorded between two full nodes, then replayed by a
//! trivial handler on transports that hold the nodes' real credentials.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credex_node::boot::load_credentials;
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::service::{RunningNode, load_trust};
use credex_node::tls::FederationTrust;
use credex_node::transport::{ClientError, Handler, PeerConnection, PeerIdentity, Transport};
use credex_protocol::{ErrorCode, ErrorReply, Hello, NodeName, RegionCode, Request, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{AllBenchArgs, HandshakeResult, TransportLevel, pct};
use crate::bench::{BenchError, BenchFederation, QueryFactory, REQUESTER_NODE, RESPONDER_NODE};

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

/// Record one real query's frames, then serve them from a trivial handler
/// on transports holding the two nodes' real credentials.
pub(super) async fn transport_and_handshakes(
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
