//! One process of a region served by several (decision 1020,
//! `tests/tests/region_processes.rs`): starts the node of the configuration
//! file given, dials its peers, prints `READY <holder name>` and runs until
//! it is killed.

use std::io::Write;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: region-member CONFIG"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let config = credex_node::config::NodeConfig::load(std::path::Path::new(&path))?;
    let node = credex_node::service::RunningNode::start(config).await?;
    credex_node::service::dial_peers_in_background(&node);
    let holder = node
        .duties()
        .map(|d| d.holder().to_owned())
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {holder}")?;
    out.flush()?;
    drop(out);
    std::future::pending::<()>().await;
    Ok(())
}
