//! `credex bench gateway-checks`: credit checks (信用核查) through the
//! gateway, as a region's business system makes them.
//!
//! A throw-away development federation ([`BenchFederation`]); the Guizhou
//! node started in this process with its gateway on `127.0.0.1` (rate
//! limit raised out of the way), its sample records imported plus one
//! penalty record for each of `--subjects` synthetic companies; a client
//! certificate with role `check`; then, over **one** keep-alive HTTPS
//! connection ([`GatewayClient`]): `--singles` single checks one after
//! another (latency p50/p99), and `--batches` batches of `--batch-size`
//! subjects (subjects/s). Every check is journaled durably before its
//! answer, as in production; the client and the node share the machine.
//!
//! It does not measure the federation (`credex bench query`) nor the log
//! alone (`credex bench log`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use credex_node::config::GatewayConfig;
use credex_node::pki_files::CaDir;
use credex_node::service::RunningNode;
use credex_pki::{GatewayRoles, KeyAlgorithm};
use credex_protocol::RegionCode;
use serde::Serialize;

use super::fixtures::BenchFederation;
use super::machine::Machine;
use super::{BenchError, REQUESTER_NODE};
use crate::gateway_client::{ClientFiles, GatewayClient};

/// The purpose the benchmark's checks state.
pub const CHECK_PURPOSE: &str = "public_procurement";

/// `credex bench gateway-checks` options.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayChecksArgs {
    /// Single checks, one after another (latency percentiles).
    #[arg(long, default_value_t = 2000)]
    pub singles: usize,
    /// Batches to send, one after another.
    #[arg(long, default_value_t = 10)]
    pub batches: usize,
    /// Subjects per batch (at most 10,000).
    #[arg(long, default_value_t = 10_000)]
    pub batch_size: usize,
    /// Synthetic companies with a record each, checked round robin.
    #[arg(long, default_value_t = 10_000)]
    pub subjects: u32,
    /// Unmeasured single checks before the measured ones.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayChecksReport {
    /// The machine.
    pub machine: Machine,
    /// Synthetic subjects with records.
    pub subjects: u32,
    /// Records stored at the node.
    pub records: u64,
    /// Single checks measured.
    pub singles: usize,
    /// Their median latency, ms.
    pub single_p50_ms: f64,
    /// Their 99th percentile latency, ms.
    pub single_p99_ms: f64,
    /// Their maximum latency, ms.
    pub single_max_ms: f64,
    /// Single checks per second (one at a time).
    pub singles_per_s: f64,
    /// Batches measured.
    pub batches: usize,
    /// Subjects per batch.
    pub batch_size: usize,
    /// Subjects checked per second in batches.
    pub batch_subjects_per_s: f64,
    /// Median time of one batch, ms.
    pub batch_p50_ms: f64,
    /// Bytes of one batch answer (the last).
    pub batch_answer_bytes: usize,
}

/// Run the benchmark.
pub async fn run(args: &GatewayChecksArgs) -> Result<GatewayChecksReport, BenchError> {
    if args.batch_size == 0 || args.batch_size > 10_000 || args.subjects == 0 {
        return Err(BenchError::Usage(
            "--batch-size must be 1 to 10000 and --subjects at least 1".into(),
        ));
    }
    let fed = BenchFederation::create()?;
    let mut config = fed.config(REQUESTER_NODE)?;
    let mut gateway = GatewayConfig::on(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    gateway.requests_per_second = 1_000_000;
    gateway.burst = 1_000_000;
    config.gateway = Some(gateway);
    let node = RunningNode::start(config.clone()).await?;
    let catalogue = node.queries().policy().catalogue().clone();
    let mut records = fed
        .import_samples(node.storage(), &config, &catalogue)
        .await?;
    let subjects: Vec<String> = (1..=args.subjects)
        .map(|i| crate::dev::synthetic_uscc(config.region, 500_000 + i))
        .collect();
    records += seed_records(&fed, &node, &subjects, &catalogue).await?;
    let mut conn = connect(&fed, &node, config.region).await?;

    for s in subjects.iter().cycle().take(args.warmup) {
        single(&mut conn, s).await?;
    }
    let mut latencies = Vec::with_capacity(args.singles);
    let started = Instant::now();
    for s in subjects.iter().cycle().take(args.singles) {
        let t = Instant::now();
        single(&mut conn, s).await?;
        latencies.push(t.elapsed());
    }
    let singles_elapsed = started.elapsed();

    let mut batch_times = Vec::with_capacity(args.batches);
    let mut answer_bytes = 0;
    let started = Instant::now();
    for b in 0..args.batches {
        let chunk: Vec<&String> = subjects
            .iter()
            .cycle()
            .skip(b * args.batch_size)
            .take(args.batch_size)
            .collect();
        let t = Instant::now();
        answer_bytes = batch(&mut conn, &chunk).await?;
        batch_times.push(t.elapsed());
    }
    let batches_elapsed = started.elapsed();
    node.shutdown().await;

    latencies.sort();
    batch_times.sort();
    Ok(GatewayChecksReport {
        machine: Machine::detect(),
        subjects: args.subjects,
        records,
        singles: args.singles,
        single_p50_ms: pct_ms(&latencies, 0.50),
        single_p99_ms: pct_ms(&latencies, 0.99),
        single_max_ms: latencies.last().map_or(0.0, ms),
        singles_per_s: per_s(args.singles, singles_elapsed),
        batches: args.batches,
        batch_size: args.batch_size,
        batch_subjects_per_s: per_s(args.batches * args.batch_size, batches_elapsed),
        batch_p50_ms: pct_ms(&batch_times, 0.50),
        batch_answer_bytes: answer_bytes,
    })
}

/// The report as a short table.
pub fn render(r: &GatewayChecksReport) -> String {
    format!(
        "credex bench gateway-checks — {cpus} CPU ({model}), {mem} MiB, load {load}\n\
         store: {records} records, {subjects} synthetic companies\n\
         single checks (one keep-alive connection, one at a time): {n}\n  \
         p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms   {rate:.0} checks/s\n\
         batches: {b} × {size} subjects\n  \
         {sps:.0} subjects/s   batch p50 {bp50:.1} ms   answer {bytes} bytes\n",
        cpus = r.machine.cpus,
        model = r.machine.cpu_model,
        mem = r.machine.memory_mib,
        load = r.machine.load_average,
        records = r.records,
        subjects = r.subjects,
        n = r.singles,
        p50 = r.single_p50_ms,
        p99 = r.single_p99_ms,
        max = r.single_max_ms,
        rate = r.singles_per_s,
        b = r.batches,
        size = r.batch_size,
        sps = r.batch_subjects_per_s,
        bp50 = r.batch_p50_ms,
        bytes = r.batch_answer_bytes,
    )
}

/// One penalty record for each of `subjects`, imported in one file.
async fn seed_records(
    fed: &BenchFederation,
    node: &RunningNode,
    subjects: &[String],
    catalogue: &credex_policies::Catalogue,
) -> Result<u64, BenchError> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(subjects.len() * 400);
    for (i, s) in subjects.iter().enumerate() {
        let _ = writeln!(
            text,
            r#"{{"record_id":"BENCH-AP-{i:06}","subject":"{s}","decision_number":"黔市监罚〔2026〕B{i}号","violation_type":"未按规定公示年度报告","basis":"《企业信息公示暂行条例》第八条","penalty_type":"罚款","content":"罚款人民币3000元","amount":"3000.00","decision_date":"2026-06-15","deciding_authority":"贵州省市场监督管理局","case_notes":"内部备注：不得外传"}}"#
        );
    }
    let path = fed.path().join("bench-penalties.jsonl");
    std::fs::write(&path, text).map_err(|source| BenchError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(
        credex_node::records::import_file(node.storage(), &path, "admin_penalty", catalogue)
            .await?,
    )
}

/// A client certificate with role `check`, connected to the gateway.
async fn connect(
    fed: &BenchFederation,
    node: &RunningNode,
    region: RegionCode,
) -> Result<GatewayClient, BenchError> {
    let fail = |e: String| BenchError::Usage(format!("gateway client: {e}"));
    let out = fed.path().join("clients");
    std::fs::create_dir_all(&out).map_err(|source| BenchError::Io {
        path: out.clone(),
        source,
    })?;
    let name = "bench-checks".parse().map_err(|e| fail(format!("{e}")))?;
    let roles = GatewayRoles::parse_list("check").map_err(|e| fail(e.to_string()))?;
    let issued = CaDir::at(fed.path().join(format!("pki/{region}"))).issue_client(
        &name,
        roles,
        KeyAlgorithm::Ed25519,
        1,
        &out,
    )?;
    let root = CaDir::at(fed.path().join("pki/root")).cert_path();
    let files = ClientFiles {
        cert: &issued.cert,
        key: &issued.key,
        root: &root,
    };
    let addr = node
        .gateway()
        .ok_or_else(|| fail("the node has no gateway".into()))?
        .local_addr();
    GatewayClient::connect(addr, &files, region)
        .await
        .map_err(|e| fail(e.to_string()))
}

async fn single(conn: &mut GatewayClient, subject: &str) -> Result<(), BenchError> {
    let body = serde_json::json!({
        "subject": subject, "purpose": CHECK_PURPOSE, "officer": "bench officer"
    });
    let r = conn
        .post_json("/v1/checks", &body)
        .await
        .map_err(|e| BenchError::Usage(format!("POST /v1/checks: {e}")))?;
    expect_ok(r.status, &r.body)
}

async fn batch(conn: &mut GatewayClient, subjects: &[&String]) -> Result<usize, BenchError> {
    let body = serde_json::json!({
        "purpose": CHECK_PURPOSE, "officer": "bench officer", "subjects": subjects
    });
    let r = conn
        .post_json("/v1/checks/batch", &body)
        .await
        .map_err(|e| BenchError::Usage(format!("POST /v1/checks/batch: {e}")))?;
    expect_ok(r.status, &r.body)?;
    Ok(r.body.len())
}

fn expect_ok(status: u16, body: &[u8]) -> Result<(), BenchError> {
    if status == 200 {
        return Ok(());
    }
    Err(BenchError::Usage(format!(
        "the gateway answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(400)])
    )))
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    ms(&sorted[i])
}

fn per_s(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}
