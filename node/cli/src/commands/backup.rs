//! `credex backup` and `credex restore`: a node's snapshot, and bringing
//! the node back from one (`credex_node::backup`).

use std::path::PathBuf;

use anyhow::Result;
use credex_node::config::NodeConfig;

/// `credex backup`.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// The node's configuration file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// A new directory for the snapshot (it holds the node's keys: keep it
    /// as carefully as the node).
    #[arg(long)]
    out: PathBuf,
}

/// `credex restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The snapshot directory `credex backup` wrote.
    #[arg(long)]
    from: PathBuf,
    /// Replace files and a database that differ from the snapshot's (the
    /// node must be stopped).
    #[arg(long)]
    force: bool,
}

/// Take a consistent snapshot of a node, running or not.
pub async fn backup(args: BackupArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let storage = credex_node::service::open_storage(&config).await?;
    let taken =
        credex_node::backup::take(&config, &storage, &args.out, credex_node::clock::now_ms()).await;
    storage.close().await;
    let manifest = taken?;
    println!(
        "snapshot of {} in {}: {} database at log size {}, {} files (configuration, certificates, keys, policies, agreements)",
        manifest.origin,
        args.out.display(),
        manifest.engine,
        manifest.log_size,
        manifest.files.len()
    );
    println!(
        "it holds the node's private keys: keep it encrypted and apart from the node. `credex restore --from {}` brings the node back.",
        args.out.display()
    );
    if !manifest.kept_apart.is_empty() {
        println!(
            "not in it, back them up apart from the database (with them it would open natural persons' IDs and the sealed records): {}",
            manifest
                .kept_apart
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Bring a node back from a snapshot.
pub async fn restore(args: RestoreArgs) -> Result<()> {
    let restored = credex_node::backup::restore(&args.from, args.force).await?;
    let missing: Vec<String> = restored
        .manifest
        .kept_apart
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        println!(
            "put back from where they are kept (the snapshot leaves them out): {}",
            missing.join(", ")
        );
    }
    println!(
        "restored {} from {}: {} files written, {} already as in the snapshot; database {} at log size {}",
        restored.manifest.origin,
        args.from.display(),
        restored.written,
        restored.unchanged,
        restored.database,
        restored.manifest.log_size
    );
    println!(
        "next: start the node. Before it signs anything it asks its witnesses for the largest checkpoint its log \
         published since the snapshot, and refuses to start if entries are missing (then `credex log recover \
         --from EXPORT_DIR` puts them back from an export of this log that holds them). Marker: {}",
        restored.marker.display()
    );
    Ok(())
}
