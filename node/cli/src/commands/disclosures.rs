//! `credex log recipients` and `credex log check-disclosures`: the
//! disclosures ledger, read and checked against the log.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use credex_flows::disclosures::Difference;
use credex_node::config::NodeConfig;

/// `credex log recipients`.
#[derive(Args)]
pub struct RecipientsArgs {
    /// The node's configuration.
    #[arg(long)]
    config: PathBuf,
    /// The record's category (e.g. `admin_penalty`).
    #[arg(long)]
    category: String,
    /// The record's id, as imported.
    #[arg(long)]
    record_id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `credex log check-disclosures`.
#[derive(Args)]
pub struct CheckArgs {
    /// The node's configuration.
    #[arg(long)]
    config: PathBuf,
    /// Make the stored ledger equal to the log's (stop the node first).
    #[arg(long)]
    rebuild: bool,
}

/// Print every recipient of one record.
pub async fn recipients(args: RecipientsArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let record = credex_journal::record_key(&args.category, &args.record_id);
    let storage = credex_node::service::open_storage(&config).await?;
    let found = credex_node::disclosures::recipients(&storage, &record).await;
    storage.close().await;
    let found = found?;
    if args.json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|d| {
                serde_json::json!({
                    "recipient": d.recipient.to_string(),
                    "channel": d.channel.name(),
                    "last_at_ms": d.at_ms,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "record_key": hex::encode(record), "recipients": rows })
        );
        return Ok(());
    }
    println!(
        "record {} / {} (key {}): {} recipient(s)",
        args.category,
        args.record_id,
        hex::encode(record),
        found.len()
    );
    for d in &found {
        let who = if d.recipient.is_national() {
            "000000 (national platform)".to_owned()
        } else {
            d.recipient.to_string()
        };
        println!(
            "  {who:<28} by {:<10} last {}",
            d.channel.name(),
            credex_flows::calendar::china_date_text(d.at_ms)
        );
    }
    Ok(())
}

/// Compare (and optionally rebuild) the ledger.
pub async fn check(args: CheckArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let storage = credex_node::service::open_storage(&config).await?;
    let result = if args.rebuild {
        credex_node::disclosures::rebuild(&storage).await
    } else {
        credex_node::disclosures::check(&storage)
            .await
            .map(|(_, c)| c)
    };
    storage.close().await;
    let found = result?;
    println!(
        "{} records_disclosed entries imply {} ledger rows; {} difference(s)",
        found.entries,
        found.rows,
        found.differences.len()
    );
    for d in &found.differences {
        match d {
            Difference::Missing { key } => println!("  missing (the log names it): {key}"),
            Difference::Extra { key } => println!("  extra (no entry names it):   {key}"),
            Difference::Changed { key, logged_ms } => {
                println!("  changed (the log says {logged_ms}):   {key}")
            }
        }
    }
    if args.rebuild {
        if !found.differences.is_empty() {
            println!("rebuilt: the stored ledger now equals the log's");
        }
        return Ok(());
    }
    if !found.differences.is_empty() {
        bail!(
            "the stored disclosures ledger differs from the log in {} row(s)",
            found.differences.len()
        );
    }
    Ok(())
}
