//! `credex report issue|verify`: signed credit reports (信用报告) — a node
//! issues one on a company for a purpose, logged, with its inclusion proof;
//! anyone verifies it offline with the federation root and CRLs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use credex_audit::report::{VerifiedReport, verify};
use credex_node::config::NodeConfig;
use credex_node::offline::OfflineNode;
use credex_node::reports::{ReportRequest, issue};
use credex_node::service::now_ms;
use credex_protocol::report::ReportKind;
use rustls_pki_types::UnixTime;

/// `credex report …`.
#[derive(Subcommand)]
pub enum ReportCommand {
    /// Issue a signed credit report on a company from what this node holds
    /// and recognised, as the sharing policy releases it for the purpose;
    /// the report is logged before it is written out.
    Issue {
        /// The node's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The company's unified social credit code.
        #[arg(long)]
        subject: String,
        /// `general` (公共信用信息报告) or `no_violation` (专项信用报告,
        /// 有无违法违规记录).
        #[arg(long, default_value = "general")]
        kind: String,
        /// The check purpose it is issued for (e.g. administrative_approval).
        #[arg(long)]
        purpose: String,
        /// Days it may be relied on, from today.
        #[arg(long, default_value_t = 90)]
        valid_days: u32,
        /// Where to write the report file (`.tlog-proof`); refused if it
        /// exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a report file offline: the issuer's signature and
    /// certificate (not revoked), its validity, and the proof that its
    /// issuance is in the issuer's log.
    Verify {
        /// The report file.
        file: PathBuf,
        /// The federation root certificate (PEM).
        #[arg(long)]
        trust: PathBuf,
        /// CRLs to check the issuer against (PEM), repeatable.
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a report command.
pub async fn report(cmd: ReportCommand) -> Result<()> {
    match cmd {
        ReportCommand::Issue {
            config,
            subject,
            kind,
            purpose,
            valid_days,
            out,
        } => {
            let Some(kind) = ReportKind::from_code(&kind) else {
                bail!("--kind {kind:?}: expected general or no_violation");
            };
            if out.exists() {
                bail!("{} exists: not overwritten", out.display());
            }
            let config = NodeConfig::load(&config)?;
            let node = OfflineNode::open(&config).await?;
            let request = ReportRequest {
                subject,
                kind,
                purpose,
                valid_days,
            };
            let issued = issue(&node.federation, &node.policy, &request, now_ms()).await;
            node.close().await;
            let text = issued?;
            std::fs::write(&out, &text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "report written to {} (logged; verify with credex report verify)",
                out.display()
            );
            Ok(())
        }
        ReportCommand::Verify {
            file,
            trust,
            crl,
            json,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let store = super::log::trust(&trust, &crl)?;
            let verified = verify(&text, &store, UnixTime::now())
                .map_err(|e| anyhow::anyhow!("{}: REFUSED: {e}", file.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary(&verified))?);
            } else {
                print(&verified);
            }
            Ok(())
        }
    }
}

fn summary(v: &VerifiedReport) -> serde_json::Value {
    let r = &v.report;
    serde_json::json!({
        "verified": true,
        "id": hex::encode(r.id),
        "kind": r.kind.code(),
        "issuer": v.issuer.0.to_string(),
        "issuer_node": v.issuer.1.to_string(),
        "purpose": r.purpose,
        "valid_until": r.valid_until,
        "policy_hash": hex::encode(r.policy_hash),
        "log_index": v.log_index,
        "checkpoint_size": v.checkpoint_size,
        "sections": r.sections.iter().map(|s| serde_json::json!({
            "category": s.category, "items": s.items.len()
        })).collect::<Vec<_>>(),
        "nothing_held": r.nothing_held(),
        "withheld": r.withheld,
    })
}

fn print(v: &VerifiedReport) {
    let r = &v.report;
    println!(
        "VERIFIED {} {} by node {} of region {}, valid until {}",
        r.kind.title_zh(),
        hex::encode(r.id),
        v.issuer.1,
        v.issuer.0,
        r.valid_until
    );
    println!(
        "  logged at index {} of the issuer's log (checkpoint size {})",
        v.log_index, v.checkpoint_size
    );
    for s in &r.sections {
        println!("  {}: {} item(s)", s.category, s.items.len());
    }
    for c in r.nothing_held() {
        println!("  {c}: 无相关记录 (nothing held)");
    }
}
