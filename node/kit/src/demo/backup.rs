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
    duties_taken_over(&started, checks).await?;
    running.insert(2, started);
    Ok(())
}

/// The restarted Guangdong took its region's duties (delivery, upward
/// reporting, witnessing, the watches) from the process it replaces, under
/// the next fencing token, and journaled it: what a process of a region
/// served by several does at every takeover (decision 1020).
async fn duties_taken_over(gz: &RunningNode, checks: &mut Checks) -> Result<()> {
    let len = gz.storage().journal_len().await?;
    let mut taken = Vec::new();
    let mut from = 0;
    while from < len {
        let page = gz.storage().journal_range(from, 1000).await?;
        from += page.len() as u64;
        for record in page
            .into_iter()
            .filter(|r| r.kind == credex_journal::kind::DUTIES_TAKEN)
        {
            taken.push(credex_protocol::decode::<credex_journal::DutiesTaken>(
                &record.body,
            )?);
        }
    }
    let tokens: Vec<u64> = taken.iter().map(|d| d.token).collect();
    let last = taken.last();
    checks.check(
        last.is_some_and(|d| d.previous.is_some())
            && tokens.windows(2).all(|w| w[1] == w[0] + 1)
            && gz.duties().and_then(|d| d.token()) == last.map(|d| d.token),
        &format!(
            "the new process took Guangdong's duties (delivery, upward reporting, witnessing) from the one it replaces under token {}, and journaled it — as each of a region's several processes over PostgreSQL does at a takeover",
            last.map_or(0, |d| d.token)
        ),
        &format!("duties_taken tokens {tokens:?}"),
    );
    Ok(())
}
