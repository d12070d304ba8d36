//! `credex bench`: how fast credex is on this machine, and what bounds it.
//!
//! `credex bench query` measures authorized queries end to end: a
//! throw-away development federation ([`crate::dev::init`]) in a temporary
//! directory, the Guizhou node (requester, 申请方) and the Guangdong node
//! (responder) started in this process on `127.0.0.1` with ephemeral ports,
//! the responder's sample records imported, and, per concurrency level,
//! that many requests kept in flight for a fixed time over one (or a few)
//! QUIC connections. Requests are signed and approved before the clock
//! starts (the human step is not timed); each goes through
//! [`credex_node::requester::send`], so the response signature and the log
//! receipt are verified and the requester durably logs its side too. Beside the figures it reports
//! the crypto floor: Ed25519 signatures and verifications per second on
//! this machine, how many one query needs, and the query rate that allows.
//!
//! The fixtures ([`BenchFederation`], [`QueryFactory`]) are also what the
//! criterion benchmark `node/kit/benches/decision.rs` drives.
//!
//! What it does not do: handshakes, the transport ceiling, log appends and
//! the auditor are in `credex bench all` ([`all`]) and
//! `credex bench log`; both nodes share the process and the machine's
//! cores, as on the development machine.
//! `docs/performance.md` holds the latest figures and how to read them.

//!
//! The parts: the fixtures (`fixtures`), the crypto floor (`crypto`), the
//! machine (`machine`), the query benchmark (`query`) with its measured
//! phases (`phase`) and its table (`render`). This file holds the command,
//! its error and the figures' common constants.

use std::path::{Path, PathBuf};

use credex_node::config::ConfigError;
use credex_node::pki_files::PkiFileError;
use credex_node::records::ImportError;
use credex_node::requester::RequesterError;
use credex_node::service::StartError;
use credex_node::transport::ClientError;
use serde::Serialize;

pub mod all;
mod crypto;
mod fixtures;
pub mod gateway_checks;
pub mod intake;
pub mod log;
pub(crate) mod machine;
mod phase;
mod query;
mod render;
mod svg;
pub mod timeline;

pub use crypto::{CryptoFloor, SignatureBudget, measure_crypto_floor, measure_crypto_floor_of};
pub use fixtures::{BenchFederation, QueryFactory};
pub use machine::Machine;
pub(crate) use query::connect;
pub use query::{LevelResult, QueryBenchArgs, QueryBenchReport, query_bench};
pub use render::render;

/// The requesting node of the benchmark: Guizhou 贵州.
pub const REQUESTER_NODE: &str = "gy-1";
/// The responding node of the benchmark: Guangdong 广东.
pub const RESPONDER_NODE: &str = "gz-1";
/// Daily quota per peer written into the benchmark federation's policies,
/// in place of the examples' (20,000 a day would end a run early with
/// `QuotaExceeded`). The quota is still claimed on every query.
pub const BENCH_QUOTA_PER_DAY: u64 = 1_000_000_000;
/// The legal basis the benchmark's queries cite (Guangdong's policy accepts it).
pub const BENCH_LEGAL_BASIS: &str = "joint-punishment-memorandum";
/// The purpose of the benchmark's queries.
pub const BENCH_PURPOSE: &str = "public_procurement";
/// The category the benchmark's queries ask for.
pub const BENCH_CATEGORY: &str = "admin_penalty";
/// The fields the benchmark's queries ask for: all released under the
/// Guangdong policy, so every query is `Granted`.
pub const BENCH_FIELDS: [&str; 4] = [
    "decision_number",
    "amount",
    "decision_date",
    "deciding_authority",
];
/// Most queries pre-built for one level (memory bound: about 3 KiB each).
pub const MAX_PREBUILT: usize = 200_000;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The log benchmark failed.
    #[error("log benchmark: {0}")]
    Log(String),
    /// The throw-away federation could not be created.
    #[error("creating the benchmark federation: {0}")]
    Federation(#[from] PkiFileError),
    /// A file of the federation could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A node configuration of the federation is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node did not start.
    #[error("starting a node: {0}")]
    Start(#[from] StartError),
    /// Sample records could not be imported.
    #[error("importing sample records: {0}")]
    Import(#[from] ImportError),
    /// A query could not be drafted, signed or approved.
    #[error("building queries: {0}")]
    Requester(#[from] RequesterError),
    /// The requester could not connect to the responder.
    #[error("connecting to the responder: {0}")]
    Connect(#[from] ClientError),
    /// The federation's policy could not be adapted to the benchmark.
    #[error("{path}: {reason}")]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    Usage(String),
    /// The JSON report could not be written.
    #[error("writing {path}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// `credex bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Authorized queries end to end between two nodes on loopback
    /// (Guizhou → Guangdong, in this process), with the crypto floor.
    Query(QueryBenchArgs),
    /// The access log: durable appends/s, append-to-checkpoint latency,
    /// `audit verify` entries/s.
    Log(log::LogBenchArgs),
    /// Everything side by side in one run: transport ceiling, crypto
    /// floor, credex queries at 1/16/64/256 in flight, log appends and
    /// audit, mTLS handshakes, each with the ratios between them.
    All(all::AllBenchArgs),
    /// Credit checks through the gateway over one keep-alive HTTPS
    /// connection: single-check latency (p50/p99) and batch subjects/s.
    GatewayChecks(gateway_checks::GatewayChecksArgs),
    /// The national node's durable intake of upward reports: up to 31
    /// provinces reporting at once over QUIC, records/s.
    Intake(intake::IntakeBenchArgs),
}

/// Run a `credex bench` subcommand, printing its report.
pub async fn run(command: BenchCommand) -> Result<(), BenchError> {
    match command {
        BenchCommand::All(args) => all::run(&args).await,
        BenchCommand::Log(args) => {
            let report = log::run(&args).await.map_err(BenchError::Log)?;
            print!("{}", log::render(&report));
            if let Some(path) = &args.json {
                write_json(path, &report)?;
            }
            Ok(())
        }
        BenchCommand::GatewayChecks(args) => {
            let report = gateway_checks::run(&args).await?;
            print!("{}", gateway_checks::render(&report));
            if let Some(path) = &args.json {
                write_json(path, &report)?;
            }
            Ok(())
        }
        BenchCommand::Intake(args) => {
            let report = intake::run(&args).await?;
            print!("{}", intake::render(&report));
            if let Some(path) = &args.svg {
                intake::plot_intake(&report, path)?;
                println!("SVG written to {}", path.display());
            }
            if let Some(path) = &args.json {
                write_json(path, &report)?;
            }
            if !report.errors.is_empty() || report.national_records != report.records {
                return Err(BenchError::Usage(format!(
                    "the intake run did not complete: {} records acknowledged, the national node holds {}",
                    report.records, report.national_records
                )));
            }
            Ok(())
        }
        BenchCommand::Query(args) => {
            let report = query_bench(&args).await?;
            print!("{}", render(&report));
            if let Some(path) = &args.svg {
                timeline::plot_timelines(&report.levels, path)?;
                println!("SVG written to {}", path.display());
            }
            if let Some(path) = &args.json {
                write_json(path, &report)?;
            }
            Ok(())
        }
    }
}

/// Write a benchmark report as pretty JSON to `path`.
pub fn write_json(path: &Path, report: &impl Serialize) -> Result<(), BenchError> {
    let fail = |reason: String| BenchError::Json {
        path: path.to_owned(),
        reason,
    };
    let json = serde_json::to_vec_pretty(report).map_err(|e| fail(e.to_string()))?;
    std::fs::write(path, json).map_err(|e| fail(e.to_string()))?;
    println!("JSON written to {}", path.display());
    Ok(())
}
