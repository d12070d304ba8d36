//! Act 9, what the transport refuses: a peer at the wrong address, an
//! impostor whose certificate chains to another root, and a node whose
//! certificate was revoked — its live connection closed on CRL reload and
//! its next attempt refused.
//!
//! Owns: the act. Does not own the checks themselves (`credex_node::tls`,
//! `credex_node::transport`).

use std::path::Path;

use anyhow::Result;
use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::pki_files::{CaDir, lifetime};
use credex_node::service::RunningNode;
use credex_pki::KeyAlgorithm;

use super::Checks;
use crate::dev::DevNode;

/// Act 9.
pub(super) async fn act(
    dir: &Path,
    nodes: &[DevNode],
    running: &[RunningNode],
    checks: &mut Checks,
) -> Result<()> {
    println!("\n9. What the transport refuses");
    wrong_address(nodes, running, checks).await;
    impostor(dir, nodes, running, checks).await?;
    revoked(dir, nodes, running, checks).await
}

/// A node that dials Guangdong's address expecting Chongqing.
async fn wrong_address(nodes: &[DevNode], running: &[RunningNode], checks: &mut Checks) {
    let addr_of = |i: usize| running[i].local_addr();
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
}

/// An impostor federation: its own root, a "Guizhou" CA, a node gy-1.
async fn impostor(
    dir: &Path,
    nodes: &[DevNode],
    running: &[RunningNode],
    checks: &mut Checks,
) -> Result<()> {
    let addr_of = |i: usize| running[i].local_addr();
    let (gy, cq) = (&nodes[0], &nodes[1]);
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

    Ok(())
}

/// Revocation: Chongqing's CA revokes cq-1; Guizhou reloads its CRLs.
async fn revoked(
    dir: &Path,
    nodes: &[DevNode],
    running: &[RunningNode],
    checks: &mut Checks,
) -> Result<()> {
    let addr_of = |i: usize| running[i].local_addr();
    let (gy, cq) = (&nodes[0], &nodes[1]);
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

    Ok(())
}
