//! `credex`: the credex node daemon and its operator tools.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use credex_node::config::{LogFormat, NodeConfig};
use credex_node::pki_files::{CaDir, lifetime};
use credex_node::service::RunningNode;
use credex_pki::{KeyAlgorithm, Purpose, TrustStore};
use credex_protocol::{NodeName, RegionCode, Role};

mod cli_eval;
mod cli_lists;
mod cli_log;
mod cli_pseudonym;
mod cli_query;
mod cli_upward;
mod demo;

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
    Demo(demo::DemoArgs),
    /// Run and inspect a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage the federation PKI: CAs, certificates, revocation.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Development helpers.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Ask another region for a subject's records: draft, approve, send.
    #[command(subcommand)]
    Query(cli_query::QueryCommand),
    /// Data subjects' electronic authorizations.
    #[command(subcommand)]
    Authorization(cli_query::AuthorizationCommand),
    /// This region's credit records.
    #[command(subcommand)]
    Records(cli_query::RecordsCommand),
    /// Natural persons' keyed pseudonyms: compute them, rekey a node's aliases.
    #[command(subcommand)]
    Pseudonym(cli_pseudonym::PseudonymCommand),
    /// Validate subject identifiers (USCC, citizen ID).
    #[command(subcommand)]
    Id(cli_query::IdCommand),
    /// The node's verifiable access log.
    #[command(subcommand)]
    Log(cli_log::LogCommand),
    /// Verify exported logs offline; list who looked at a subject.
    #[command(subcommand)]
    Audit(cli_log::AuditCommand),
    /// Measure credex on this machine (throw-away federation on loopback).
    #[command(subcommand)]
    Bench(credex_node::bench::BenchCommand),
    /// Credit evaluation results: import, revoke, effective grade, mutual recognition.
    #[command(subcommand)]
    Eval(cli_eval::EvalCommand),
    /// Joint reward/punishment lists (联合奖惩名单).
    #[command(subcommand)]
    Lists(cli_lists::ListsCommand),
    /// Upward reporting to the national platform (数据报送).
    #[command(subcommand)]
    Upward(cli_upward::UpwardCommand),
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Start the node and serve until SIGINT or SIGTERM (SIGHUP reloads CRLs).
    Run {
        /// The node's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Dial one configured peer, exchange Hello and Ping, and print what it said.
    Hello {
        /// The node's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The peer as REGION/NAME, e.g. 500000/cq-1.
        #[arg(long)]
        peer: String,
    },
    /// List the peers this node has seen (from its database).
    Peers {
        /// The node's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Args)]
struct KeyOpts {
    /// Key algorithm: ed25519 or p256.
    #[arg(long, default_value = "ed25519")]
    alg: KeyAlgorithm,
    /// Validity in days (capped at the issuing CA's own end of validity).
    #[arg(long)]
    days: Option<u32>,
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the federation root CA (the national trust anchor).
    InitRoot {
        /// Directory to create the CA in.
        #[arg(long)]
        dir: PathBuf,
        /// Common name of the root.
        #[arg(long, default_value = "credex federation root")]
        name: String,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Create a region CA, issued by the root.
    RegionCa {
        /// The root CA's directory.
        #[arg(long)]
        root: PathBuf,
        /// Six-digit GB/T 2260 region code (000000 = national platform).
        #[arg(long)]
        region: RegionCode,
        /// Directory to create the region CA in.
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Issue a node certificate (TLS client and server) from a region CA.
    Node {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// Node name, e.g. gy-1.
        #[arg(long)]
        name: NodeName,
        /// DNS names (SANs); NAME.REGION.credex is always added.
        #[arg(long)]
        dns: Vec<String>,
        /// IP addresses (SANs).
        #[arg(long)]
        ip: Vec<IpAddr>,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Issue an operator certificate for an accountable person.
    Operator {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// Operator name, e.g. zhang-san.
        #[arg(long)]
        name: NodeName,
        /// requester, approver, auditor or admin.
        #[arg(long)]
        role: Role,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Issue an authorization-authority certificate (signs subjects' authorizations).
    Authority {
        /// The region CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// Authority name, e.g. portal.
        #[arg(long)]
        name: NodeName,
        /// Output directory for NAME.pem and NAME.key.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyOpts,
    },
    /// Revoke a certificate issued by a CA and re-sign its CRL.
    Revoke {
        /// The issuing CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// The certificate file (PEM; its first certificate is revoked).
        cert: PathBuf,
    },
    /// Re-sign a CA's CRL (e.g. before it expires).
    Crl {
        /// The CA's directory.
        #[arg(long)]
        ca: PathBuf,
    },
    /// The federation's pseudonymization key ring (names natural persons).
    #[command(subcommand)]
    PseudonymKey(cli_pseudonym::PseudonymKeyCommand),
    /// Show what certificates say, in plain words.
    Show {
        /// PEM files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Verify a certificate chain against the federation root and CRLs.
    Verify {
        /// The federation root certificate (PEM).
        #[arg(long)]
        root: PathBuf,
        /// CRL files (PEM).
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// The certificate file: leaf first, then its region CA.
        cert: PathBuf,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Write a ready-to-run development federation into DIR.
    Init {
        /// Directory to create (must not hold a federation already).
        dir: PathBuf,
        /// First UDP port; nodes use consecutive ports from here.
        #[arg(long, default_value_t = credex_node::dev::DEV_BASE_PORT)]
        base_port: u16,
    },
}

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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => {
            // The narration reports each refusal; node warnings would repeat it.
            init_tracing(LogFormat::Human, "error");
            demo::run(args).await
        }
        Command::Node(cmd) => node(cmd).await,
        Command::Pki(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            pki(cmd)
        }
        Command::Query(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_query::query(cmd).await
        }
        Command::Authorization(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_query::authorization(cmd)
        }
        Command::Records(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_query::records(cmd).await
        }
        Command::Log(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_log::log(cmd).await
        }
        Command::Audit(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_log::audit(cmd).await
        }
        Command::Pseudonym(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_pseudonym::pseudonym(cmd).await
        }
        Command::Id(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_query::id(cmd)
        }
        Command::Dev(DevCommand::Init { dir, base_port }) => {
            init_tracing(LogFormat::Human, "warn");
            dev_init(dir, base_port)
        }
        Command::Bench(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            Ok(credex_node::bench::run(cmd).await?)
        }
        Command::Eval(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_eval::eval(cmd).await
        }
        Command::Lists(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_lists::lists(cmd).await
        }
        Command::Upward(cmd) => {
            init_tracing(LogFormat::Human, "warn");
            cli_upward::upward(cmd).await
        }
    }
}

async fn node(cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Run { config } => {
            let config = NodeConfig::load(&config)?;
            init_tracing(config.log_format, &config.log_level);
            let node = RunningNode::start(config).await?;
            credex_node::service::dial_peers_in_background(&node);
            wait_for_signals(&node).await?;
            node.shutdown().await;
            Ok(())
        }
        NodeCommand::Hello { config, peer } => {
            let config = NodeConfig::load(&config)?;
            init_tracing(LogFormat::Human, "warn");
            let (region, name) = peer.split_once('/').with_context(|| {
                format!("--peer {peer:?}: expected REGION/NAME, e.g. 500000/cq-1")
            })?;
            let region: RegionCode = region.parse().context("--peer")?;
            let name: NodeName = name.parse().context("--peer")?;
            let Some(peer) = config.peer(region, &name).cloned() else {
                bail!(
                    "{}: no [[peers]] entry for {region}/{name}",
                    config.path.display()
                );
            };
            let transport = credex_node::service::client_transport(&config)?;
            let conn = transport
                .connect(
                    peer.addr,
                    &peer.server_name,
                    peer.region,
                    Some(peer.name.clone()),
                )
                .await?;
            let started = std::time::Instant::now();
            conn.ping(1).await?;
            let rtt = started.elapsed();
            if let Some(h) = conn.peer_hello() {
                println!(
                    "{}/{} at {}: protocol {}, software {}, capabilities {:?}; ping {:.2} ms",
                    h.region,
                    h.node,
                    peer.addr,
                    h.protocol_version,
                    h.software,
                    h.capabilities,
                    rtt.as_secs_f64() * 1e3
                );
            }
            conn.close();
            transport.close().await;
            Ok(())
        }
        NodeCommand::Peers { config } => {
            let config = NodeConfig::load(&config)?;
            init_tracing(LogFormat::Human, "warn");
            let storage = credex_node::service::open_storage(&config).await?;
            let peers = storage.peers().await?;
            if peers.is_empty() {
                println!("no peer has said Hello to this node yet");
            }
            for p in peers {
                println!(
                    "{}/{}  protocol {}  fingerprint {}  first seen {}  last seen {}",
                    p.region,
                    p.node,
                    p.protocol_version,
                    hex::encode(p.fingerprint),
                    fmt_ms(p.first_seen_unix_ms),
                    fmt_ms(p.last_seen_unix_ms)
                );
            }
            storage.close().await;
            Ok(())
        }
    }
}

fn fmt_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| {
            format!(
                "{} {:02}:{:02}:{:02}Z",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(unix)]
async fn wait_for_signals(node: &RunningNode) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: shutting down"); return Ok(()) }
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); return Ok(()) }
            _ = hup.recv() => {
                match node.reload_crls().await {
                    Ok(closed) => tracing::info!(closed, "SIGHUP: CRLs checked"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: CRL reload failed"),
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_node: &RunningNode) -> Result<()> {
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}

fn pki(cmd: PkiCommand) -> Result<()> {
    match cmd {
        PkiCommand::InitRoot { dir, name, key } => {
            let ca = CaDir::create_root(
                &dir,
                &name,
                key.alg,
                key.days.unwrap_or(lifetime::ROOT_DAYS),
            )?;
            println!(
                "created federation root CA in {} (keep {} offline)",
                dir.display(),
                ca.key_path().display()
            );
        }
        PkiCommand::RegionCa {
            root,
            region,
            dir,
            key,
        } => {
            CaDir::at(root).create_region(
                region,
                &dir,
                key.alg,
                key.days.unwrap_or(lifetime::REGION_CA_DAYS),
            )?;
            println!("created region CA {region} in {}", dir.display());
        }
        PkiCommand::Node {
            ca,
            name,
            mut dns,
            ip,
            out,
            key,
        } => {
            let ca = CaDir::at(ca);
            let region = ca
                .load()?
                .identity()
                .region()
                .context("the root cannot issue node certificates; use a region CA")?;
            let logical = credex_node::config::logical_server_name(region, &name);
            if !dns.contains(&logical) {
                dns.insert(0, logical);
            }
            let files = ca.issue_node(
                &name,
                &dns,
                &ip,
                key.alg,
                key.days.unwrap_or(lifetime::LEAF_DAYS),
                &out,
            )?;
            print_issued(&files);
        }
        PkiCommand::Operator {
            ca,
            name,
            role,
            out,
            key,
        } => {
            let files = CaDir::at(ca).issue_operator(
                &name,
                role,
                key.alg,
                key.days.unwrap_or(lifetime::LEAF_DAYS),
                &out,
            )?;
            print_issued(&files);
        }
        PkiCommand::Authority { ca, name, out, key } => {
            let files = CaDir::at(ca).issue_authority(
                &name,
                key.alg,
                key.days.unwrap_or(lifetime::LEAF_DAYS),
                &out,
            )?;
            print_issued(&files);
        }
        PkiCommand::Revoke { ca, cert } => {
            let ca = CaDir::at(ca);
            let identity = ca.revoke(&cert)?;
            println!(
                "revoked {} (serial {}); CRL re-signed at {} — nodes pick it up at their next CRL check",
                identity.subject,
                identity.serial_hex(),
                ca.crl_path().display()
            );
        }
        PkiCommand::Crl { ca } => {
            let path = CaDir::at(ca).write_crl()?;
            println!("CRL re-signed at {}", path.display());
        }
        PkiCommand::PseudonymKey(cmd) => cli_pseudonym::pseudonym_key(cmd)?,
        PkiCommand::Show { files } => {
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("{}", file.display()))?;
                let certs = credex_pki::certs_from_pem(&text)
                    .with_context(|| format!("{}", file.display()))?;
                if certs.is_empty() {
                    bail!("{}: no CERTIFICATE section", file.display());
                }
                for (i, der) in certs.iter().enumerate() {
                    let id = credex_pki::identity_from_der(der)
                        .with_context(|| format!("{}: certificate {}", file.display(), i + 1))?;
                    println!("{} [{}]: {}", file.display(), i + 1, id.describe());
                }
            }
        }
        PkiCommand::Verify { root, crl, cert } => {
            let root_pem =
                std::fs::read_to_string(&root).with_context(|| format!("{}", root.display()))?;
            let crls = crl
                .iter()
                .map(|p| std::fs::read_to_string(p).with_context(|| format!("{}", p.display())))
                .collect::<Result<Vec<_>>>()?;
            let store = TrustStore::from_pem(&root_pem, &crls)?;
            let text =
                std::fs::read_to_string(&cert).with_context(|| format!("{}", cert.display()))?;
            let certs =
                credex_pki::certs_from_pem(&text).with_context(|| format!("{}", cert.display()))?;
            let (leaf, rest) = certs
                .split_first()
                .with_context(|| format!("{}: no CERTIFICATE section", cert.display()))?;
            let id = credex_pki::identity_from_der(leaf)?;
            let purpose = match id.subject {
                credex_pki::Subject::Node { .. } => Purpose::TlsClient,
                _ => Purpose::Signing,
            };
            let verified = store
                .verify(leaf, rest, rustls_pki_types::UnixTime::now(), purpose)
                .with_context(|| format!("{}: does not verify", cert.display()))?;
            println!(
                "OK: {} issued by {}",
                verified.identity().subject,
                verified.issuer().subject
            );
        }
    }
    Ok(())
}

fn print_issued(files: &credex_node::pki_files::IssuedFiles) {
    println!("issued {}", files.identity.describe());
    println!("  certificate chain: {}", files.cert.display());
    println!("  private key (0600): {}", files.key.display());
}

fn dev_init(dir: PathBuf, base_port: u16) -> Result<()> {
    let nodes = credex_node::dev::init(&dir, base_port)?;
    println!("development federation written to {}\n", dir.display());
    println!("Start each node in its own terminal:");
    for n in &nodes {
        println!(
            "  credex node run --config {}    # {} {}/{}",
            n.config.display(),
            n.label,
            n.region,
            n.name
        );
    }
    if let (Some(a), Some(b)) = (nodes.first(), nodes.get(1)) {
        println!(
            "\nThen, from a third terminal, have {} greet {}:",
            a.name, b.name
        );
        println!(
            "  credex node hello --config {} --peer {}/{}",
            a.config.display(),
            b.region,
            b.name
        );
    }
    println!("\nRevoke a node and watch its peers drop it within the CRL reload interval:");
    if let Some(b) = nodes.get(1) {
        println!(
            "  credex pki revoke --ca {} {}",
            dir.join(format!("pki/{}", b.region)).display(),
            b.config.with_file_name(format!("{}.pem", b.name)).display()
        );
    }
    Ok(())
}
