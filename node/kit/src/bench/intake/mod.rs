//! `credex bench intake`: the national platform's durable intake of upward
//! reports (数据报送). A throw-away federation of the national node and up
//! to all 31 provinces ([`crate::dev::init_regions`] over
//! [`crate::dev::PROVINCES`]); the national node is started in this process
//! (SQLite, or PostgreSQL with `--postgres`), and each province reports
//! over a QUIC connection of its own, with its own node certificate
//! ([`provinces`]). Every province sends its batches one after the other,
//! as its outbox delivers them, all provinces at once.
//!
//! What each record goes through at the national node — the figure this
//! measures: the envelope's signature and chain, the egress record checked
//! against the reporting catalogue the node collects under (every field of
//! every record, and every value against the catalogue), the batch's
//! sequence, the per-subject bound (a read of what each subject holds), the
//! records stored under region-qualified ids, the batch's journal entry
//! with its attachment and the province's position (durable before the
//! answer), and the signed acknowledgement with its log receipt, which the
//! province verifies.
//!
//! What it does not measure: the provinces' own side (reading their records
//! and making batches: done before the clock starts and reported apart as
//! `prebuild_records_per_s`), nor the provinces' journals.

mod plot;
mod provinces;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use credex_node::config::{NodeConfig, StorageTarget};
use credex_node::service::RunningNode;
use credex_protocol::RegionCode;
use serde::Serialize;

use super::BenchError;
use super::machine::{Machine, process_cpu_s, runtime_workers};
use super::query::{bench_schema, drop_schema};
use crate::dev::{self, DEV_BASE_PORT, PROVINCES};
use provinces::{Province, Reported};

pub use plot::plot_intake;

/// Options of `credex bench intake`.
#[derive(Debug, Clone, clap::Args)]
pub struct IntakeBenchArgs {
    /// Provinces reporting at once, each over its own QUIC connection with
    /// its own node certificate (1–31).
    #[arg(long, default_value_t = 31)]
    pub provinces: usize,
    /// Batches each province sends, one after the other.
    #[arg(long, default_value_t = 20)]
    pub batches: usize,
    /// Records per batch (1–500; a reporter's default is 500).
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw the records taken in per second over the run as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Store the national node in PostgreSQL at URL (`postgres://…`), in a
    /// schema of its own that is dropped afterwards, instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
}

impl IntakeBenchArgs {
    fn check(&self) -> Result<(), BenchError> {
        let usage = |m: &str| Err(BenchError::Usage(m.to_owned()));
        if !(1..=31).contains(&self.provinces) {
            return usage("--provinces: expected 1–31");
        }
        if !(1..=10_000).contains(&self.batches) {
            return usage("--batches: expected 1–10000");
        }
        if !(1..=credex_protocol::upward::MAX_BATCH_RECORDS).contains(&self.batch_size) {
            return usage("--batch-size: expected 1–500");
        }
        if self.provinces * self.batches * self.batch_size > 20_000_000 {
            return usage("--provinces × --batches × --batch-size: at most 20 million records");
        }
        Ok(())
    }
}

/// The report of `credex bench intake`.
#[derive(Debug, Clone, Serialize)]
pub struct IntakeReport {
    /// The machine.
    pub machine: Machine,
    /// When the run started, Unix seconds.
    pub started_unix_s: u64,
    /// `credex` version.
    pub version: String,
    /// What was measured, in words.
    pub setup: Vec<String>,
    /// `SQLite` or `PostgreSQL`.
    pub engine: String,
    /// Provinces reporting.
    pub provinces: usize,
    /// Batches per province.
    pub batches_per_province: usize,
    /// Records per batch.
    pub batch_size: usize,
    /// Records acknowledged as applied.
    pub records: u64,
    /// Batches acknowledged as applied.
    pub batches: u64,
    /// From the first send to the last acknowledgement, seconds.
    pub seconds: f64,
    /// `records / seconds`: the national node's durable intake.
    pub records_per_s: f64,
    /// `batches / seconds`.
    pub batches_per_s: f64,
    /// One batch, sent to acknowledged (verified), ms: median.
    pub batch_p50_ms: f64,
    /// 99th percentile, ms.
    pub batch_p99_ms: f64,
    /// Slowest, ms.
    pub batch_max_ms: f64,
    /// Batches the national node asked to send again later.
    pub retries: u64,
    /// CPU this process used in the run (the national node and the 31
    /// provinces' sending and checking), seconds.
    pub process_cpu_s: f64,
    /// `process_cpu_s` per record, µs.
    pub cpu_us_per_record: f64,
    /// The provinces' side, before the clock: records gated and signed
    /// into batches per second (all cores).
    pub prebuild_records_per_s: f64,
    /// Records the national node says it holds from the provinces after
    /// the run (its upward status): must equal `records`.
    pub national_records: u64,
    /// Entries the national node's log gained during the run (one per
    /// batch, and any of its own).
    pub national_entries: u64,
    /// Records acknowledged per 250 ms, as records/s, from the first send.
    pub timeline: Vec<f64>,
    /// Why a province stopped early, if any did.
    pub errors: Vec<String>,
}

/// The width of one [`IntakeReport::timeline`] bucket.
pub const TIMELINE_STEP: Duration = Duration::from_millis(250);

/// Run the intake benchmark (progress on stderr).
pub async fn run(args: &IntakeBenchArgs) -> Result<IntakeReport, BenchError> {
    args.check()?;
    let machine = Machine::detect();
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = tempfile::tempdir().map_err(|source| BenchError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let regions: Vec<_> = PROVINCES
        .iter()
        .filter(|(code, _, _)| *code == "000000")
        .chain(
            PROVINCES
                .iter()
                .filter(|(code, _, _)| *code != "000000")
                .take(args.provinces),
        )
        .copied()
        .collect();
    eprintln!(
        "creating a throw-away federation of the national node and {} provinces…",
        args.provinces
    );
    let nodes = dev::init_regions(dir.path(), DEV_BASE_PORT, &regions)?;
    let mut configs = Vec::with_capacity(nodes.len());
    for node in &nodes {
        let mut config = NodeConfig::load(&node.config)?;
        config.listen.set_port(0);
        configs.push(config);
    }
    let Some(at) = configs
        .iter()
        .position(|c| c.region == RegionCode::NATIONAL)
    else {
        return Err(BenchError::Usage(
            "the federation has no national node".into(),
        ));
    };
    let mut national_config = configs.remove(at);
    if let Some(url) = &args.postgres {
        national_config.storage = StorageTarget::Postgres {
            url: url.clone(),
            schema: Some(bench_schema(&national_config)),
        };
    }
    let national = RunningNode::start(national_config).await?;
    let measured = measure(args, &national, &configs, &machine).await;
    let schema = match &national.config().storage {
        StorageTarget::Postgres {
            url,
            schema: Some(schema),
        } => Some((url.clone(), schema.clone())),
        _ => None,
    };
    national.shutdown().await;
    if let Some((url, schema)) = schema
        && let Err(e) = drop_schema(&url, &schema).await
    {
        eprintln!("could not drop the benchmark's schema {schema}: {e}");
    }
    drop(dir);
    let mut report = measured?;
    report.machine = machine;
    report.started_unix_s = started_unix_s;
    Ok(report)
}

/// Connect the provinces, make their batches, send them all, and read what
/// the national node holds afterwards.
async fn measure(
    args: &IntakeBenchArgs,
    national: &RunningNode,
    provinces: &[NodeConfig],
    machine: &Machine,
) -> Result<IntakeReport, BenchError> {
    let catalogue = national.queries().policy().catalogue().clone();
    let list = credex_node::upward::load_rules(national.config(), &catalogue)?.list;
    eprintln!(
        "connecting {} provinces and making {} batches of {} records each (not timed)…",
        provinces.len(),
        args.batches,
        args.batch_size
    );
    let built = Instant::now();
    let mut reporters = Vec::with_capacity(provinces.len());
    for config in provinces {
        reporters.push(
            Province::connect(
                config,
                national,
                &list,
                &catalogue,
                args.batches,
                args.batch_size,
            )
            .await?,
        );
    }
    let to_send: u64 = reporters.iter().map(Province::records).sum();
    let prebuild_records_per_s = to_send as f64 / built.elapsed().as_secs_f64().max(1e-9);
    let storage = national.storage();
    let entries_before = storage
        .journal_len()
        .await
        .map_err(|e| usage_err("the log", e))?;

    eprintln!("{} provinces reporting {to_send} records…", reporters.len());
    let cpu_before = process_cpu_s();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let reporters: Vec<_> = reporters.into_iter().map(std::sync::Arc::new).collect();
    for r in &reporters {
        let r = std::sync::Arc::clone(r);
        tasks.spawn(async move { r.report().await });
    }
    let mut reported = Vec::with_capacity(reporters.len());
    while let Some(joined) = tasks.join_next().await {
        reported.push(joined.unwrap_or_else(|e| Reported {
            error: Some(format!("a province's task failed: {e}")),
            ..Reported::default()
        }));
    }
    let cpu_s = process_cpu_s() - cpu_before;
    let entries_after = storage
        .journal_len()
        .await
        .map_err(|e| usage_err("the log", e))?;
    let national_records: u64 = credex_node::upward::received(storage)
        .await
        .map_err(|e| usage_err("the upward status", e))?
        .iter()
        .map(|p| p.records)
        .sum();
    for r in reporters {
        if let Ok(r) = std::sync::Arc::try_unwrap(r) {
            r.close().await;
        }
    }
    Ok(summarize(
        args,
        machine,
        start,
        &reported,
        cpu_s,
        prebuild_records_per_s,
        national_records,
        entries_after.saturating_sub(entries_before),
    ))
}

fn usage_err(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Usage(format!("reading the national node's {what}: {e}"))
}

/// The figures of a run that started at `start`.
#[allow(clippy::too_many_arguments)]
fn summarize(
    args: &IntakeBenchArgs,
    machine: &Machine,
    start: Instant,
    reported: &[Reported],
    cpu_s: f64,
    prebuild_records_per_s: f64,
    national_records: u64,
    national_entries: u64,
) -> IntakeReport {
    let acked: Vec<&(u32, Instant, Instant)> = reported.iter().flat_map(|r| &r.acked).collect();
    let end = acked.iter().map(|a| a.2).max().unwrap_or(start);
    let seconds = end.duration_since(start).as_secs_f64().max(1e-9);
    let records: u64 = acked.iter().map(|a| u64::from(a.0)).sum();
    let batches = acked.len() as u64;
    let mut ms: Vec<f64> = acked
        .iter()
        .map(|a| a.2.duration_since(a.1).as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 * p) as usize).min(ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let step = TIMELINE_STEP.as_secs_f64();
    let buckets = ((seconds / step).ceil() as usize).max(1);
    let mut timeline = vec![0.0; buckets];
    for a in &acked {
        let i = (a.2.duration_since(start).as_secs_f64() / step) as usize;
        if let Some(b) = timeline.get_mut(i.min(buckets - 1)) {
            *b += f64::from(a.0) / step;
        }
    }
    let engine = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    IntakeReport {
        machine: machine.clone(),
        started_unix_s: 0,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        setup: setup_description(args, engine),
        engine: engine.to_owned(),
        provinces: args.provinces,
        batches_per_province: args.batches,
        batch_size: args.batch_size,
        records,
        batches,
        seconds,
        records_per_s: records as f64 / seconds,
        batches_per_s: batches as f64 / seconds,
        batch_p50_ms: pct(0.50),
        batch_p99_ms: pct(0.99),
        batch_max_ms: ms.last().copied().unwrap_or(0.0),
        retries: reported.iter().map(|r| r.retries).sum(),
        process_cpu_s: cpu_s,
        cpu_us_per_record: if records > 0 {
            cpu_s * 1e6 / records as f64
        } else {
            0.0
        },
        prebuild_records_per_s,
        national_records,
        national_entries,
        timeline,
        errors: reported.iter().filter_map(|r| r.error.clone()).collect(),
    }
}

/// What was measured, in words, for the report.
fn setup_description(args: &IntakeBenchArgs, engine: &str) -> Vec<String> {
    vec![
        format!(
            "the national node (000000 national-1) in this process on 127.0.0.1, {engine}, one tokio \
             runtime ({} worker threads); {} provinces in the same process, each over a QUIC \
             connection of its own with its own node certificate (mTLS, opened before timing)",
            runtime_workers(),
            args.provinces
        ),
        format!(
            "each province sends {} batches of {} synthetic administrative penalties (distinct \
             companies), one after the other as its outbox does; batches gated by the reporting \
             catalogue and signed with the province's node key before timing",
            args.batches, args.batch_size
        ),
        "per batch at the national node: envelope signature and chain, egress record against \
         the reporting catalogue (every field and value), sequence, per-subject bound (what each \
         subject holds), records stored, journal entry with attachment and position (durable), \
         signed acknowledgement with log receipt; the province verifies it"
            .to_owned(),
    ]
}

/// The report as a table.
pub fn render(r: &IntakeReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "credex bench intake — the national node's upward intake, {} ({} cores, {})",
        r.engine, r.machine.cpus, r.machine.cpu_model
    );
    for line in &r.setup {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(
        s,
        "\nrecords taken in        {:>12}  ({} batches from {} provinces; the national node holds {})",
        r.records, r.batches, r.provinces, r.national_records
    );
    let _ = writeln!(s, "seconds                 {:>12.2}", r.seconds);
    let _ = writeln!(s, "records/s (durable)     {:>12.0}", r.records_per_s);
    let _ = writeln!(s, "batches/s               {:>12.1}", r.batches_per_s);
    let _ = writeln!(
        s,
        "one batch, sent → acknowledged: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        r.batch_p50_ms, r.batch_p99_ms, r.batch_max_ms
    );
    let _ = writeln!(
        s,
        "CPU of this process     {:>12.2} s  ({:.1} µs per record); log entries gained {}; sent again {}",
        r.process_cpu_s, r.cpu_us_per_record, r.national_entries, r.retries
    );
    let _ = writeln!(
        s,
        "the provinces' side (not timed): {:.0} records/s gated and signed into batches",
        r.prebuild_records_per_s
    );
    for e in &r.errors {
        let _ = writeln!(s, "ERROR {e}");
    }
    s
}
