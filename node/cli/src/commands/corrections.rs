//! `credex records corrections`: the corrections this node sent (to every
//! region that received a record that changed) and whether each was
//! confirmed, and the corrections it received.

use std::path::Path;

use anyhow::{Result, bail};
use credex_flows::calendar::china_date_text;
use credex_node::config::NodeConfig;

/// Print the corrections; with `unconfirmed`, only those not confirmed,
/// failing if there are any.
pub async fn show(config: &Path, unconfirmed: bool, json: bool) -> Result<()> {
    let config = NodeConfig::load(config)?;
    let storage = credex_node::service::open_storage(&config).await?;
    let result = async {
        let sent = credex_node::corrections::sent(&storage).await?;
        let received = credex_node::corrections::received(&storage).await?;
        anyhow::Ok((sent, received))
    }
    .await;
    storage.close().await;
    let (mut sent, received) = result?;
    if unconfirmed {
        sent.retain(|t| t.confirmed_at_ms.is_none());
    }
    if json {
        let received: Vec<serde_json::Value> = received
            .iter()
            .map(|(owner, record, c)| {
                serde_json::json!({
                    "owner": owner.to_string(), "record": record,
                    "change": c.change.code(), "changed_at_ms": c.changed_at_ms,
                    "received_at_ms": c.received_at_ms,
                })
            })
            .collect();
        let doc = serde_json::json!({ "sent": sent, "received": received });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for t in &sent {
            let state = match (&t.confirmed_at_ms, &t.refused) {
                (_, Some(reason)) => format!("REFUSED: {reason}"),
                (Some(at), None) => format!("confirmed {}", china_date_text(*at)),
                (None, None) => "NOT CONFIRMED".to_owned(),
            };
            println!(
                "sent: record {}… {} on {} → {}: {state}",
                &t.record[..16],
                t.change,
                china_date_text(t.changed_at_ms),
                t.recipient
            );
        }
        if !unconfirmed {
            for (owner, record, c) in &received {
                println!(
                    "received: record {}… of {owner} {} on {} — the copy held here is stale",
                    &record[..16.min(record.len())],
                    c.change.code(),
                    china_date_text(c.changed_at_ms)
                );
            }
        }
    }
    if unconfirmed && !sent.is_empty() {
        bail!("{} correction(s) not confirmed", sent.len());
    }
    Ok(())
}
