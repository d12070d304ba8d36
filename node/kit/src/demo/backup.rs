//! Act 12, an old backup cannot fork the log: Guangdong is backed up while
//! it runs, answers one more query that its witnesses see, and is then
//! restored from the backup onto a "new machine". It refuses to start —
//! its witnesses hold a checkpoint its restored log lacks — until the
//! missing entries are recovered from an export of its log; then it starts,
//! confirmed by its witnesses.
//!
//! Owns: the act. Does not own the rule (`credex_node::log::head`) or the
//! snapshot (`credex_node::backup`).

use std::path::Path;

use anyhow::{Context, Result};
use credex_node::boot::StartError;
use credex_node::service::RunningNode;

use super::Checks;

/// Act 12. Guangdong (`running[2]`) is stopped and started again in place.
pub(super) async fn act(
    dir: &Path,
    running: &mut Vec<RunningNode>,
    checks: &mut Checks,
) -> Result<()> {
    println!("\n12. An old backup cannot fork the log (credex backup / restore / log recover)");
    let out = dir.join("backup");
    let gz = &running[2];
    let snapshot = out.join("gz-1-snapshot");
    let manifest = credex_node::backup::take(
        gz.config(),
        gz.storage(),
        &snapshot,
        credex_node::clock::now_ms(),
    )
    .await?;
    println!(
        "   Guangdong backed up while running: {} database at log size {}, {} files (configuration, keys, policies, agreements); its {} pseudonym key file(s) named, not copied — kept apart from the database",
        manifest.engine,
        manifest.log_size,
        manifest.files.len(),
        manifest.kept_apart.len()
    );
    super::queries::one_more_penalty_query(dir, &running[0], gz).await?;
    let export = out.join("gz-1-export");
    let chain = std::fs::read_to_string(&gz.config().tls.cert)?;
    let (summary, round) = gz.export_witnessed(&chain, &export).await?;
    println!(
        "   it answers one more query; its log, now {} entries, is cosigned by {} witnesses and exported",
        summary.size,
        round.map_or(0, |r| r.cosigned_by.len())
    );
    let config = gz.config().clone();
    running.remove(2).shutdown().await;
    for _ in 0..50 {
        if std::net::UdpSocket::bind(config.listen).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    credex_node::backup::restore(&snapshot, true).await?;
    // A new machine: the head file the old one kept is gone too.
    let _ = std::fs::remove_file(config.data_dir.join(credex_node::log::head::HEAD_FILE));
    let refused = RunningNode::start(config.clone()).await;
    let refusal = match refused {
        Err(StartError::LogHead(e)) => e.to_string(),
        Err(e) => format!("refused for another reason: {e}"),
        Ok(node) => {
            node.shutdown().await;
            "it started".into()
        }
    };
    checks.check(
        refusal.contains("signing now would publish a second history"),
        &format!(
            "Guangdong restored from the backup (log size {}) refuses to start: its witnesses cosigned a larger tree, so signing now would fork its log",
            manifest.log_size
        ),
        &refusal,
    );
    let key_pem = std::fs::read_to_string(&config.tls.key)?;
    let key = credex_node::log::LogKey::from_pkcs8_pem(&key_pem, config.region, &config.name)?;
    let storage = credex_node::service::open_storage(&config).await?;
    let recovered = credex_node::log::recover::recover_from_export(&storage, &key, &export).await;
    storage.close().await;
    let recovered = recovered?;
    let started = RunningNode::start(config)
        .await
        .context("restarting Guangdong")?;
    checks.check(
        recovered.to == summary.size,
        &format!(
            "entries {}..{} recovered from the export of its log; Guangdong starts again, confirmed by its witnesses",
            recovered.from, recovered.to
        ),
        &recovered
            .kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    running.insert(2, started);
    Ok(())
}
