//! Acts 1–3: the federation's PKI (a root CA, one CA per region, a
//! certificate per node), the four nodes started on loopback, and peers
//! greeting each other over mutual TLS.
//!
//! Owns: creating and starting the demo's federation. Does not own what
//! `credex dev init` writes (`crate::dev`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::service::RunningNode;

use super::Checks;
use crate::dev::{self, DevNode};

/// Act 1: the federation's PKI and configurations in `dir`, on free ports.
pub(super) fn federation(dir: &Path, suite: credex_protocol::Suite) -> Result<Vec<DevNode>> {
    println!(
        "1. Federation PKI: a root CA, one CA per region, a certificate per node (crypto suite {suite})"
    );
    let base_port = free_base_port(dev::DEV_REGIONS.len() as u16)?;
    let nodes = dev::init_regions_with_suite(dir, base_port, &dev::DEV_REGIONS, suite)
        .context("creating the federation")?;
    for n in &nodes {
        println!("   region {} {:<28} node {}", n.region, n.label, n.name);
    }
    Ok(nodes)
}

/// Act 2: start every node on the port its peers' configurations name.
pub(super) async fn start(nodes: &[DevNode]) -> Result<Vec<RunningNode>> {
    println!("\n2. Starting the four nodes (QUIC + TLS 1.3, client certificates required)");
    let mut running = Vec::new();
    for n in nodes {
        // Each node listens on the port its peers' configurations name, so
        // they can reach each other (recognition, lists, reports). The
        // provinces report upward to the national platform.
        let mut config = NodeConfig::load(&n.config)?;
        config.upward.enabled = !n.region.is_national();
        config.upward.interval = std::time::Duration::from_millis(200);
        // Guizhou's and Guangdong's own systems reach their nodes through
        // their integration gateways.
        if ["520000", "440000"].contains(&n.region.to_string().as_str()) {
            config.gateway = Some(credex_node::config::GatewayConfig::on(
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ));
        }
        // Guizhou's officers and auditors use its web console, served with
        // a P-256 web certificate (browsers refuse Ed25519 servers).
        if n.region.to_string() == "520000" {
            config.console = Some(console_config(dir_of(&n.config))?);
        }
        let node = RunningNode::start(config)
            .await
            .with_context(|| format!("starting {}", n.name))?;
        println!("   {} listening on {}", n.name, node.local_addr());
        running.push(node);
    }
    Ok(running)
}

/// Act 2, continued: every node's store is encrypted at rest under the
/// suite's cipher (decision 1110).
pub(super) async fn sealed_stores(
    running: &[RunningNode],
    suite: credex_protocol::Suite,
    checks: &mut Checks,
) -> Result<()> {
    let cipher = credex_node::storage::Cipher::of_suite(suite);
    println!(
        "   every store is encrypted at rest: records, attachments and the outbox sealed with {cipher}, \
         each value bound to its row, under a data key wrapped by the node's key-encryption key (storage-kek.pem)"
    );
    for node in running {
        let storage = node.storage();
        let keys = storage.data_keys().await?;
        let opened = storage.open_every_value(|_, _| {}).await?;
        checks.check(
            storage.encrypted_at_rest()
                && keys.iter().all(|(_, c)| *c == cipher)
                && !keys.is_empty(),
            &format!("{} stores sealed", node.config().name),
            &format!(
                "data key {} ({cipher}); {} flow-state values open under it",
                keys.last().map_or(0, |(id, _)| *id),
                opened.flow_state
            ),
        );
    }
    Ok(())
}

/// Act 3: pairs of nodes connect and exchange Hello.
pub(super) async fn greetings(
    nodes: &[DevNode],
    running: &[RunningNode],
    checks: &mut Checks,
) -> Result<()> {
    let addr_of = |i: usize| running[i].local_addr();
    println!(
        "\n3. Peers greet each other (mutual TLS, then Hello as the handshake's confirmation)"
    );
    for (a, b) in [(0usize, 1usize), (1, 0), (0, 3), (1, 3), (2, 3), (2, 0)] {
        let (na, nb) = (&nodes[a], &nodes[b]);
        let t = Instant::now();
        let result = running[a]
            .transport()
            .connect(
                addr_of(b),
                &logical_server_name(nb.region, &nb.name),
                nb.region,
                Some(nb.name.clone()),
            )
            .await;
        match result {
            Ok(conn) => {
                let ms = t.elapsed().as_secs_f64() * 1e3;
                conn.ping(7).await?;
                checks.check(
                    true,
                    &format!("{} ({}) ⇄ {} ({})", na.name, na.region, nb.name, nb.region),
                    &format!(
                        "handshake + Hello in {ms:.1} ms; peer certified as {}",
                        conn.peer()
                    ),
                );
                conn.close();
            }
            Err(e) => checks.check(false, &format!("{} ⇄ {}", na.name, nb.name), &e.to_string()),
        }
    }

    Ok(())
}

/// The first of `count` consecutive free loopback UDP ports, from
/// [`dev::DEV_BASE_PORT`] + 10,000 upward, so the demo does not collide
/// with a development federation running on the default ports. The search
/// starts at an offset taken from the process id: two demos started at
/// once (the tests run both suites side by side) would otherwise find the
/// same ports free and both bind them.
fn free_base_port(count: u16) -> Result<u16> {
    let offset = u16::try_from(std::process::id() % 512).unwrap_or(0) * 16;
    let mut base = dev::DEV_BASE_PORT + 10_000 + offset;
    while base < 60_000 {
        let all_free =
            (0..count).all(|i| std::net::UdpSocket::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return Ok(base);
        }
        base += 16;
    }
    bail!(
        "no {count} consecutive free UDP ports on 127.0.0.1 between {} and 60000",
        dev::DEV_BASE_PORT + 10_000
    )
}

/// The federation's folder, from a node's configuration path
/// (`DIR/nodes/NAME/node.toml`).
fn dir_of(config: &std::path::Path) -> &std::path::Path {
    config
        .ancestors()
        .nth(3)
        .unwrap_or_else(|| std::path::Path::new("."))
}

/// Guizhou's console on an ephemeral loopback port, with a P-256 web
/// certificate for 127.0.0.1 and localhost from its region CA.
fn console_config(dir: &std::path::Path) -> Result<credex_node::config::ConsoleConfig> {
    let issued = credex_node::pki_files::CaDir::at(dir.join("pki/520000")).issue_node(
        &"gy-1-console".parse()?,
        &["localhost".to_owned()],
        &[std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
        credex_pki::KeyAlgorithm::EcdsaP256,
        30,
        &dir.join("console/520000"),
    )?;
    let mut config =
        credex_node::config::ConsoleConfig::on(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.web_identity = Some(credex_node::config::WebIdentityFiles {
        certificate: issued.cert,
        key: issued.key,
    });
    Ok(config)
}
