//! Act 10, a correction (更正, 经手必有责): the provincial platform corrects a
//! penalty Guizhou had already reported to the national platform; the node
//! finds every region that received the record in its disclosures ledger
//! and sends each a correction, which each confirms.
//!
//! Owns: the scene. Does not own the sweep (`credex_node::corrections`).

use crate::gateway_client::GatewayClient;
use anyhow::Result;
use credex_node::service::RunningNode;
use serde_json::json;

use super::{Checks, wait_for};

/// The penalty decided today that act 7 reported upward (`company`'s),
/// corrected through the feed as the source's `seq`.
pub(super) async fn corrected_everywhere(
    conn: &mut GatewayClient,
    gy: &RunningNode,
    company: &str,
    seq: u64,
    checks: &mut Checks,
) -> Result<()> {
    let record_id = "520000-AP-TODAY";
    let line = json!({
        "source": "market-regulation", "seq": seq, "op": "upsert",
        "record": {
            "category": "admin_penalty", "record_id": record_id, "subject": company,
            "decision_number": "黔市监罚〔2026〕99号", "penalty_type": "罚款",
            "amount": "15000.00", "decision_date": "2026-03-15",
            "content": "罚款人民币15000元（复议后变更）"
        }
    });
    let r = conn
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("application/x-ndjson"),
            &[("Idempotency-Key", "market-0003")],
            format!("{line}\n").into_bytes(),
        )
        .await?;
    let key: String = credex_journal::record_key("admin_penalty", record_id)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let confirmed = wait_for(|| async {
        let sent = credex_node::corrections::sent(gy.storage()).await.ok()?;
        let mine: Vec<_> = sent.into_iter().filter(|t| t.record == key).collect();
        (!mine.is_empty() && mine.iter().all(|t| t.confirmed_at_ms.is_some())).then_some(mine)
    })
    .await;
    checks.check(
        r.status == 200 && confirmed.is_some(),
        "a penalty is corrected at its source: every region that received it (here the national platform, by the upward channel) is sent a correction and confirms it (经手必有责)",
        &confirmed
            .map(|c| {
                let to: Vec<String> = c
                    .iter()
                    .map(|t| format!("{} ({})", t.recipient, t.change))
                    .collect();
                format!(
                    "record {record_id}: corrections confirmed by {}; `credex records corrections` lists them",
                    to.join(", ")
                )
            })
            .unwrap_or_else(|| format!("status {}; no confirmation within 15 s", r.status)),
    );
    Ok(())
}
