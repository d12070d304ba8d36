//! `credex node …`: run a node, greet a peer, list the peers seen. The
//! running service is [`credex_node::service::RunningNode`]; this module
//! loads the configuration, sets up logging and waits for signals.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use credex_node::config::{LogFormat, NodeConfig};
use credex_node::service::RunningNode;
use credex_protocol::{NodeName, RegionCode};

use crate::init_tracing;

#[derive(Subcommand)]
pub enum NodeCommand {
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

/// Run a `credex node` subcommand.
pub async fn node(cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Run { config } => {
            let config = NodeConfig::load(&config)?;
            init_tracing(config.log_format, &config.log_level);
            // Before the start: a SIGTERM sent while the node starts (a
            // service manager's stop) is then answered by a clean shutdown
            // once it has started, not by the signal's default kill.
            let signals = Signals::install()?;
            let node = RunningNode::start(config).await?;
            credex_node::service::dial_peers_in_background(&node);
            signals.wait(&node).await?;
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
            let conn = transport.connect_peer(&peer).await?;
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

/// The signals `credex node run` answers: SIGINT and SIGTERM shut the node
/// down, SIGHUP reloads its CRLs. Installed before the node starts; a
/// signal that arrives meanwhile waits until [`Signals::wait`].
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
            hangup: signal(SignalKind::hangup()).context("installing SIGHUP handler")?,
        })
    }

    /// Serve `node`'s signals until one asks it to stop.
    async fn wait(mut self, node: &RunningNode) -> Result<()> {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => { tracing::info!("SIGINT: shutting down"); return Ok(()) }
                _ = self.terminate.recv() => { tracing::info!("SIGTERM: shutting down"); return Ok(()) }
                _ = self.hangup.recv() => {
                    match node.reload_crls().await {
                        Ok(closed) => tracing::info!(closed, "SIGHUP: CRLs checked"),
                        Err(e) => tracing::error!(error = %e, "SIGHUP: CRL reload failed"),
                    }
                }
            }
        }
    }
}

/// Ctrl-C stops the node.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals)
    }

    async fn wait(self, _node: &RunningNode) -> Result<()> {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    }
}
