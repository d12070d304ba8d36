//! `credex demo`: a throw-away federation on this machine, narrated.
//!
//! Four nodes (Guizhou, Chongqing, Guangdong, the national platform) on
//! loopback: mutually authenticated QUIC and Hello exchanges; dual-authorized
//! queries granted, trimmed and denied under each region's policy, logged on
//! both sides; and the transport refusing what it must refuse.
//!
//! One module per act, in the order they run: `setup` (1–3: PKI, nodes,
//! greetings), `queries` (4), `recognition` (5), `joint_lists` (6),
//! `upward` (7), `audit` (8), `refusals` (9), `gateway` (10), `console` (11),
//! `backup` (12).
//! This file holds the script,
//! the running tally of checks and the closing summary.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use credex_node::requester::Signer;

use crate::dev::{self, DevNode};

mod audit;
mod backup;
mod console;
mod corrections;
mod gateway;
mod joint_lists;
mod objection;
mod queries;
mod recognition;
mod refusals;
mod repair;
mod report;
mod rights;
mod setup;
mod upward;

/// Options of `credex demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the federation (certificates, configurations, databases) in DIR
    /// instead of a temporary directory.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// The federation's crypto suite: ed25519-sha256 (the default) or
    /// sm2-sm3 (商用密码: SM2 certificates and signatures, HMAC-SM3
    /// pseudonyms, checkpoints with an SM2 line).
    #[arg(long, default_value = "ed25519-sha256")]
    suite: credex_protocol::Suite,
}

/// The demo's tally: each check passed or failed, printed as it is made.
struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    /// Count and print one check, with its detail.
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
    let nodes = setup::federation(&dir, args.suite)?;
    let mut running = setup::start(&nodes).await?;
    let mut checks = Checks {
        passed: 0,
        failed: 0,
    };
    setup::sealed_stores(&running, args.suite, &mut checks).await?;
    setup::greetings(&nodes, &running, &mut checks).await?;
    queries::act(&dir, &running, &mut checks).await?;
    recognition::act(&dir, &running, &mut checks).await?;
    joint_lists::act(&running, &mut checks).await?;
    upward::act(&dir, &mut running, &mut checks).await?;
    audit::act(&dir, &running, &mut checks).await?;
    refusals::act(&dir, &nodes, &running, &mut checks).await?;
    gateway::act(&dir, &running, &mut checks).await?;
    console::act(&dir, &running, &mut checks).await?;
    backup::act(&dir, &mut running, &mut checks).await?;

    for node in running {
        node.shutdown().await;
    }
    print_summary(&checks, started, args.keep.as_ref(), &nodes);
    if checks.failed > 0 {
        bail!("{} demo checks failed", checks.failed);
    }
    Ok(())
}

/// What the demo showed, the tally, and how to look further when kept.
fn print_summary(checks: &Checks, started: Instant, kept: Option<&PathBuf>, nodes: &[DevNode]) {
    println!("\nWhat this showed:");
    for line in [
        "• A region releases only the fields its sharing policy permits, and only to a request signed by two accountable officers with the company's consent or a legal basis.",
        "• Evaluation results are recognised across an agreement without re-evaluation, and a downgrade reaches every region that recognised the result.",
        "• A serious-dishonesty listing binds the regions its agreements name; each responds and reports its measures; an objection and a credit repair application filed in another region are marked on every holder and decided by the region that listed, and a granted repair ends the entry everywhere; a signed credit report verifies offline in another region.",
        "• Every province's records reach the national platform exactly once, with reporting-rate and 7-working-day timeliness figures.",
        "• Every access and message is in both sides' tamper-evident logs, cosigned by every peer; the auditor verifies them offline and catches a changed byte.",
        "• A node restored from an old backup refuses to sign until the entries its log already published are back: no second history.",
        "• A region's own systems plug in over an HTTPS gateway with client certificates and roles: events by cursor, two-person queries signed outside the node, who looked at a company.",
        "• Officers and auditors work in a web console in Chinese, signing in with their own key: two-person queries, a subject's page, federation health, offline log verification with anomalies.",
        "• The same federation runs under the sm2-sm3 suite (商用密码, `credex demo --suite sm2-sm3`): SM2 certificates and signatures, HMAC-SM3 pseudonyms, SM4-GCM at rest, checkpoints with an SM2 line beside the C2SP Ed25519 one and the root of an SM3 tree over the same entries; a certificate or signature of the other suite is refused; officers sign in the console with SM2 keys.",
        "• Every store is encrypted at rest — records, attachments, the outbox — under a data key wrapped by the node's key-encryption key (`credex storage rewrap|new-data-key|verify`); a node's key can live in a PKCS#11 module instead of a file (`credex pki key new pkcs11:…`, decision 1090).",
    ] {
        println!("  {line}");
    }
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
            println!(
                "Re-verify the four exported logs (C2SP tiles, verifier key in each log.vkey) with:"
            );
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| {
                    dir.join("audit")
                        .join(n.name.as_str())
                        .display()
                        .to_string()
                })
                .collect();
            println!(
                "  credex audit verify {} --trust {}",
                logs.join(" "),
                dir.join("pki/root/ca.pem").display()
            );
            if let Some(n) = nodes.get(1) {
                println!(
                    "  credex eval effective --config {} {}   # a company's grade in Chongqing, with provenance",
                    n.config.display(),
                    dev::sample_subjects(nodes[0].region)[1]
                );
            }
            if let Some(n) = nodes.first() {
                println!(
                    "  credex lists status --config {}   # the listing's progress in each region",
                    n.config.display()
                );
            }
        }
        None => println!(
            "(Everything was created in a temporary directory and has been removed; use --keep DIR to keep it.)"
        ),
    }
}

/// An operator or (`portal`) the authorization authority of `region`.
fn signer(dir: &Path, region: &str, name: &str) -> Result<Signer> {
    let sub = if name == "portal" {
        "authorities"
    } else {
        "operators"
    };
    let base = dir.join(format!("{sub}/{region}"));
    Ok(Signer::load(
        &base.join(format!("{name}.pem")),
        &base.join(format!("{name}.key")),
    )?)
}

/// Wait (at most 15 s) until `probe` returns `Some`.
async fn wait_for<T, F, Fut>(mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
