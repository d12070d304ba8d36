//! `credex`: the credex node daemon and its operator tools.
//!
//! This crate is the command line only: argument parsing ([`clap`] derive,
//! doc comments are the help text), logging set-up and printing. The node
//! is the `credex-node` library; the demo, the development federation and
//! the benchmarks are `credex-kit`. One module per command group under
//! [`commands`].

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use credex_node::config::LogFormat;

use commands::{
    backup, dev, eval, lists, log, node, pki, pseudonym, query, repair, report, storage, upward,
};

mod commands;

/// mimalloc rather than glibc's malloc: a node allocates and frees small
/// buffers on every request, often on another thread than the one that
/// allocated them (decision 1130).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// credex: a privacy-preserving exchange node for public credit information
/// between regions.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a throw-away federation on this machine and show it working.
    Demo(credex_kit::demo::DemoArgs),
    /// Run and inspect a node.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Manage the federation PKI: CAs, certificates, revocation.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Development helpers.
    #[command(subcommand)]
    Dev(dev::DevCommand),
    /// Ask another region for a subject's records: draft, approve, send.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Data subjects' electronic authorizations.
    #[command(subcommand)]
    Authorization(query::AuthorizationCommand),
    /// This region's credit records.
    #[command(subcommand)]
    Records(query::RecordsCommand),
    /// Natural persons' keyed pseudonyms: compute them, rekey a node's aliases.
    #[command(subcommand)]
    Pseudonym(pseudonym::PseudonymCommand),
    /// Validate subject identifiers (USCC, citizen ID).
    #[command(subcommand)]
    Id(query::IdCommand),
    /// The node's verifiable access log.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Verify exported logs offline; list who looked at a subject.
    #[command(subcommand)]
    Audit(log::AuditCommand),
    /// Measure credex on this machine (throw-away federation on loopback).
    #[command(subcommand)]
    Bench(credex_kit::bench::BenchCommand),
    /// Credit evaluation results: import, revoke, effective grade, mutual recognition.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Joint reward/punishment lists (联合奖惩名单).
    #[command(subcommand)]
    Lists(lists::ListsCommand),
    /// Upward reporting to the national platform (数据报送).
    #[command(subcommand)]
    Upward(upward::UpwardCommand),
    /// Credit repair and objections in time (信用修复、异议): publication
    /// periods and working-day deadlines.
    #[command(subcommand)]
    Repair(repair::RepairCommand),
    /// Signed credit reports (信用报告): issue, verify offline.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Take a consistent snapshot of a node (database, keys, configuration,
    /// policies, agreements), while it runs.
    Backup(backup::BackupArgs),
    /// Bring a node back from a snapshot; its next start confirms with its
    /// witnesses that its log lost nothing it published.
    Restore(backup::RestoreArgs),
    /// Encryption at rest: key-encryption key, rewrap, new data key.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
}

/// Log to standard error at `level` (`RUST_LOG` wins when set).
fn init_tracing(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match credex_node::service::runtime::build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once. Most of credex's
/// errors already print their cause in their own message (`"storage:
/// {0}"`), where anyhow's `{:#}` would append it again at every level: a
/// failed migration read the same cause five times.
fn describe(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => {
            // The narration reports each refusal; node warnings would repeat it.
            init_tracing(LogFormat::Human, "error");
            credex_kit::demo::run(args).await
        }
        Command::Node(cmd) => node::node(cmd).await,
        Command::Pki(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            pki::pki(cmd)
        }
        Command::Query(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            query::query(cmd).await
        }
        Command::Authorization(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            query::authorization(cmd)
        }
        Command::Records(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            query::records(cmd).await
        }
        Command::Log(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            log::log(cmd).await
        }
        Command::Audit(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            log::audit(cmd).await
        }
        Command::Pseudonym(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            pseudonym::pseudonym(cmd).await
        }
        Command::Id(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            query::id(cmd)
        }
        Command::Dev(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            dev::dev(cmd)
        }
        Command::Bench(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            Ok(credex_kit::bench::run(cmd).await?)
        }
        Command::Eval(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            eval::eval(cmd).await
        }
        Command::Lists(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            lists::lists(cmd).await
        }
        Command::Upward(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            upward::upward(cmd).await
        }
        Command::Repair(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            repair::repair(cmd)
        }
        Command::Report(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            report::report(cmd).await
        }
        Command::Backup(args) => {
            init_tracing(LogFormat::Human, "warn");
            backup::backup(args).await
        }
        Command::Restore(args) => {
            init_tracing(LogFormat::Human, "warn");
            backup::restore(args).await
        }
        Command::Storage(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            storage::storage(cmd).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    /// An error that prints its cause in its own message, as credex's
    /// `thiserror` enums do (`#[error("storage: {0}")]`).
    #[derive(Debug)]
    struct Wraps(&'static str, Box<dyn std::error::Error + Send + Sync>);

    impl std::fmt::Display for Wraps {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.0, self.1)
        }
    }

    impl std::error::Error for Wraps {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let disk = std::io::Error::other("disk I/O error");
        let migrating = Wraps("migrating /data/credex.db failed", Box::new(disk));
        let storage = Wraps("storage", Box::new(migrating));
        let e = anyhow::Error::new(storage).context("starting a node");
        assert_eq!(
            describe(&e),
            "starting a node: storage: migrating /data/credex.db failed: disk I/O error"
        );
        // A cause that its wrapper does not print is still said.
        let bare = anyhow::Error::new(std::io::Error::other("permission denied"))
            .context("reading node.toml");
        assert_eq!(describe(&bare), "reading node.toml: permission denied");
    }
}
