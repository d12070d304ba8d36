//! `credex demo`: a throw-away federation on this machine, narrated.
//!
//! Today it shows the foundation: four nodes (Guizhou, Chongqing,
//! Guangdong, the national platform) on loopback, mutually authenticated
//! QUIC, Hello exchanges, and the transport refusing what it must refuse.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::dev::{self, DevNode};
use credex_node::pki_files::{CaDir, lifetime};
use credex_node::service::RunningNode;
use credex_pki::KeyAlgorithm;

/// Options of `credex demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the federation (certificates, configurations, databases) in DIR
    /// instead of a temporary directory.
    #[arg(long)]
    keep: Option<PathBuf>,
}

struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: &str, detail: &str) {
        if ok {
            self.passed += 1;
            println!("  ✔ {what}");
        } else {
            self.failed += 1;
            println!("  ✘ {what}");
        }
        if !detail.is_empty() {
            println!("      {detail}");
        }
    }
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let tmp;
    let dir = match &args.keep {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "{}: not empty; choose a new directory for --keep",
                    dir.display()
                );
            }
            dir.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_owned()
        }
    };
    println!("credex demo — a throw-away federation on this machine\n");
    println!("1. Federation PKI: a root CA, one CA per region, a certificate per node");
    let nodes = dev::init(&dir, dev::DEV_BASE_PORT).context("creating the federation")?;
    for n in &nodes {
        println!("   region {} {:<28} node {}", n.region, n.label, n.name);
    }

    println!("\n2. Starting the four nodes (QUIC + TLS 1.3, client certificates required)");
    let mut running = Vec::new();
    for n in &nodes {
        let mut config = NodeConfig::load(&n.config)?;
        config.listen.set_port(0);
        let node = RunningNode::start(config)
            .await
            .with_context(|| format!("starting {}", n.name))?;
        println!("   {} listening on {}", n.name, node.local_addr());
        running.push(node);
    }
    let addr_of = |i: usize| running[i].local_addr();
    let mut checks = Checks {
        passed: 0,
        failed: 0,
    };

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

    println!("\n4. What the transport refuses");
    // A node that dials Guangdong's address expecting Chongqing.
    let (gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2]);
    let r = running[0]
        .transport()
        .connect(
            addr_of(2),
            &logical_server_name(cq.region, &cq.name),
            cq.region,
            Some(cq.name.clone()),
        )
        .await;
    checks.check(
        r.is_err(),
        &format!(
            "{} dials {}'s address believing it is {} ({}): refused",
            gy.name, gz.name, cq.name, cq.region
        ),
        &r.err().map(|e| e.to_string()).unwrap_or_default(),
    );

    // An impostor federation: its own root, a "Guizhou" CA, a node gy-1.
    let rogue = dir.join("rogue");
    let root = CaDir::create_root(
        rogue.join("root"),
        "rogue root",
        KeyAlgorithm::Ed25519,
        lifetime::ROOT_DAYS,
    )?;
    let ca = root.create_region(
        gy.region,
        rogue.join("520000"),
        KeyAlgorithm::Ed25519,
        lifetime::REGION_CA_DAYS,
    )?;
    ca.issue_node(
        &gy.name,
        &[],
        &[],
        KeyAlgorithm::Ed25519,
        30,
        &rogue.join("node"),
    )?;
    let mut rogue_config = NodeConfig::load(&gy.config)?;
    rogue_config.tls.cert = rogue.join("node/gy-1.pem");
    rogue_config.tls.key = rogue.join("node/gy-1.key");
    rogue_config.listen.set_port(0);
    let rogue_transport = credex_node::service::client_transport(&rogue_config)?;
    let r = rogue_transport
        .connect(
            addr_of(1),
            &logical_server_name(cq.region, &cq.name),
            cq.region,
            Some(cq.name.clone()),
        )
        .await;
    checks.check(
        r.is_err(),
        "an impostor \"gy-1\" whose certificate chains to another root: refused",
        &r.err().map(|e| e.to_string()).unwrap_or_default(),
    );
    rogue_transport.close().await;

    // Revocation: Chongqing's CA revokes cq-1; Guizhou reloads its CRLs.
    let conn = running[1]
        .transport()
        .connect(
            addr_of(0),
            &logical_server_name(gy.region, &gy.name),
            gy.region,
            Some(gy.name.clone()),
        )
        .await?;
    CaDir::at(dir.join(format!("pki/{}", cq.region)))
        .revoke(&cq.config.with_file_name(format!("{}.pem", cq.name)))?;
    let closed = running[0].reload_crls().await?;
    let reason = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed()).await;
    checks.check(
        closed >= 1 && reason.is_ok(),
        &format!(
            "{} revoked: {}'s live connection from it is closed on CRL reload",
            cq.name, gy.name
        ),
        &reason
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "connection still open".into()),
    );
    let r = running[1]
        .transport()
        .connect(
            addr_of(0),
            &logical_server_name(gy.region, &gy.name),
            gy.region,
            Some(gy.name.clone()),
        )
        .await;
    checks.check(
        r.is_err(),
        &format!(
            "{} tries again with its revoked certificate: refused",
            cq.name
        ),
        &r.err().map(|e| e.to_string()).unwrap_or_default(),
    );

    for node in running {
        node.shutdown().await;
    }
    print_summary(&checks, started, args.keep.as_ref(), &nodes);
    if checks.failed > 0 {
        bail!("{} demo checks failed", checks.failed);
    }
    Ok(())
}

fn print_summary(checks: &Checks, started: Instant, kept: Option<&PathBuf>, nodes: &[DevNode]) {
    println!(
        "\nSummary: {} checks passed, {} failed, in {:.1} s.",
        checks.passed,
        checks.failed,
        started.elapsed().as_secs_f64()
    );
    match kept {
        Some(dir) => {
            println!(
                "The federation is kept in {}. Run a node of it with:",
                dir.display()
            );
            if let Some(n) = nodes.first() {
                println!("  credex node run --config {}", n.config.display());
            }
        }
        None => println!(
            "(Everything was created in a temporary directory and has been removed; use --keep DIR to keep it.)"
        ),
    }
}
