//! `credex bench log`: the access log's figures on this machine — durable
//! appends per second (fsync before acknowledge, group commit), time from an
//! append to a signed checkpoint covering it, and `audit verify` entries per
//! second over the exported log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use credex_node::log::{Checkpoints, LogKey};
use credex_node::storage::Storage;
use credex_pki::{KeyAlgorithm, Validity};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Options of `credex bench log`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogBenchArgs {
    /// Concurrent appenders.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Measured seconds of appending.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Bytes per entry body (an access entry is about 400–700 bytes).
    #[arg(long, default_value_t = 512)]
    pub body_bytes: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct LogBenchReport {
    /// Concurrent appenders.
    pub concurrency: usize,
    /// Durable appends per second.
    pub appends_per_second: f64,
    /// Append latency p50/p99, ms.
    pub append_p50_ms: f64,
    /// Append latency p99, ms.
    pub append_p99_ms: f64,
    /// Append → signed checkpoint covering it (on demand, as a receipt waits), p50, ms.
    pub checkpoint_p50_ms: f64,
    /// … p99, ms.
    pub checkpoint_p99_ms: f64,
    /// Entries in the exported log.
    pub log_entries: u64,
    /// `audit verify` entries per second over it.
    pub audit_entries_per_second: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Run the log benchmark in a temporary directory.
pub async fn run(args: &LogBenchArgs) -> Result<LogBenchReport, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let node = BenchNode::create()?;
    let storage = Storage::open_sqlite(&dir.path().join("credex.db"))
        .await
        .map_err(|e| e.to_string())?;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let checkpoints = Checkpoints::spawn(
        storage.clone(),
        Arc::clone(&node.key),
        None,
        &tracker,
        shutdown.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;

    let (mut appends, mut covered) = append_phase(&storage, &checkpoints, args).await?;
    let rate = appends.len() as f64 / args.seconds;
    appends.sort_by(f64::total_cmp);
    covered.sort_by(f64::total_cmp);

    let (log_entries, audit_entries_per_second) =
        export_and_audit(&storage, &node, &dir.path().join("export")).await?;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    storage.close().await;
    Ok(LogBenchReport {
        concurrency: args.concurrency,
        appends_per_second: rate,
        append_p50_ms: percentile(&appends, 0.5),
        append_p99_ms: percentile(&appends, 0.99),
        checkpoint_p50_ms: percentile(&covered, 0.5),
        checkpoint_p99_ms: percentile(&covered, 0.99),
        log_entries,
        audit_entries_per_second,
    })
}

/// A one-node federation: root, region CA, node key (Ed25519) for the log.
struct BenchNode {
    /// The federation root certificate.
    root_pem: String,
    /// The node's certificate chain: its certificate, then its region CA.
    chain: String,
    /// The node's log key.
    key: Arc<LogKey>,
}

impl BenchNode {
    fn create() -> Result<BenchNode, String> {
        let now = time::OffsetDateTime::now_utc();
        let root = credex_pki::create_root(
            "bench root",
            KeyAlgorithm::Ed25519,
            Validity::days_from(now, 30),
        )
        .map_err(|e| e.to_string())?;
        let root_ca = credex_pki::CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem)
            .map_err(|e| e.to_string())?;
        let region: credex_protocol::RegionCode = "520000"
            .parse()
            .map_err(|e: credex_protocol::IdError| e.to_string())?;
        let name: credex_protocol::NodeName = "gy-1"
            .parse()
            .map_err(|e: credex_protocol::IdError| e.to_string())?;
        let ca = root_ca
            .issue_region_ca(region, KeyAlgorithm::Ed25519, Validity::days_from(now, 20))
            .map_err(|e| e.to_string())?;
        let ca = credex_pki::CertificateAuthority::from_pem(&ca.cert_pem, &ca.key_pem)
            .map_err(|e| e.to_string())?;
        let node = ca
            .issue_node(
                &name,
                &[],
                &[],
                KeyAlgorithm::Ed25519,
                Validity::days_from(now, 10),
            )
            .map_err(|e| e.to_string())?;
        let key =
            LogKey::from_pkcs8_pem(&node.key_pem, region, &name).map_err(|e| e.to_string())?;
        Ok(BenchNode {
            root_pem: root.cert_pem,
            chain: format!("{}{}", node.cert_pem, ca.cert_pem()),
            key: Arc::new(key),
        })
    }
}

/// `--concurrency` callers appending for `--seconds`: each append's
/// latency, and for every 50th append of each caller the time until a
/// checkpoint covers it (ms, unsorted).
async fn append_phase(
    storage: &Storage,
    checkpoints: &Checkpoints,
    args: &LogBenchArgs,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    eprintln!(
        "appending with {} concurrent callers for {:.0} s…",
        args.concurrency, args.seconds
    );
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for t in 0..args.concurrency {
        let storage = storage.clone();
        let checkpoints = checkpoints.clone();
        let body = vec![b'x'; args.body_bytes];
        tasks.push(tokio::spawn(async move {
            append_until(&storage, &checkpoints, body, t as u64 % 50, deadline).await
        }));
    }
    let mut appends = Vec::new();
    let mut covered = Vec::new();
    for t in tasks {
        let (a, c) = t.await.map_err(|e| e.to_string())??;
        appends.extend(a);
        covered.extend(c);
    }
    Ok((appends, covered))
}

/// One caller's appends until the deadline; the appends whose count is
/// `phase` modulo 50 wait for their checkpoint, as a receipt does.
async fn append_until(
    storage: &Storage,
    checkpoints: &Checkpoints,
    body: Vec<u8>,
    phase: u64,
    deadline: Instant,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let mut appends = Vec::new();
    let mut covered = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let started = Instant::now();
        let seq = storage
            .append(9, body.clone())
            .await
            .map_err(|e| e.to_string())?;
        appends.push(started.elapsed().as_secs_f64() * 1e3);
        if n % 50 == phase {
            checkpoints.covering(seq).await.map_err(|e| e.to_string())?;
            covered.push(started.elapsed().as_secs_f64() * 1e3);
        }
        n += 1;
    }
    Ok((appends, covered))
}

/// Export the log to `out` and verify it: the entries exported and the
/// verification's entries per second.
async fn export_and_audit(
    storage: &Storage,
    node: &BenchNode,
    out: &std::path::Path,
) -> Result<(u64, f64), String> {
    eprintln!(
        "exporting and auditing {} entries…",
        storage.tree_head().size
    );
    let summary = credex_node::export::export(storage, &node.key, &node.chain, out)
        .await
        .map_err(|e| e.to_string())?;
    let trust = credex_pki::TrustStore::from_pem(&node.root_pem, &[]).map_err(|e| e.to_string())?;
    let started = Instant::now();
    // No peers witness the benchmark's log: the auditor pins the checkpoint
    // of the export itself, as it would one kept from an earlier audit.
    let options = credex_audit::anchor::AuditOptions {
        pinned: vec![(
            "the export's checkpoint".to_owned(),
            std::fs::read(out.join("checkpoint")).map_err(|e| e.to_string())?,
        )],
        ..Default::default()
    };
    let report = credex_audit::verify_with(&[out.to_path_buf()], &trust, &options, &|_| {});
    let secs = started.elapsed().as_secs_f64();
    if !report.passed() {
        return Err(format!(
            "the benchmark log does not verify: {:?}",
            report.violations
        ));
    }
    Ok((summary.size, report.entries as f64 / secs.max(1e-9)))
}

/// Human table of the figures.
pub fn render(r: &LogBenchReport) -> String {
    format!(
        "credex bench log — SQLite WAL, synchronous=FULL (fsync before acknowledge), {} concurrent callers\n\
         durable appends        {:>10.0} /s   (p50 {:.2} ms, p99 {:.2} ms)\n\
         append → checkpoint    p50 {:.2} ms, p99 {:.2} ms (signed on demand, as a receipt waits; at most 1 s otherwise)\n\
         audit verify           {:>10.0} entries/s over {} entries (tiles, entries, checkpoints, signatures)\n",
        r.concurrency,
        r.appends_per_second,
        r.append_p50_ms,
        r.append_p99_ms,
        r.checkpoint_p50_ms,
        r.checkpoint_p99_ms,
        r.audit_entries_per_second,
        r.log_entries
    )
}
