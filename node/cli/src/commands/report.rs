//! `credex report issue|verify|render`: signed credit reports (信用报告) — a
//! node issues one on a company for a purpose, logged, with its inclusion
//! proof; anyone verifies it offline with the federation root and CRLs,
//! and draws it for people (HTML with a QR code, PDF).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use credex_audit::report::{VerifiedReport, accept, verify};
use credex_node::config::NodeConfig;
use credex_node::offline::OfflineNode;
use credex_node::reports::{ReportRequest, issue, render};
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
        /// The officer accountable for issuing it (logged with the report).
        #[arg(long)]
        officer: String,
        /// Where to write the report file (`.tlog-proof`); refused if it
        /// exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a report file offline: the issuer's signature and
    /// certificate (not revoked), its validity, and the proof that its
    /// issuance is in the issuer's log.
    Verify {
        #[command(flatten)]
        report: ReportFile,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a report file with this node's trust (root and CRLs), then
    /// decide whether this region accepts it: its own, or another region's
    /// under an agreement that recognises its kind for its purpose, and not
    /// older than the agreement allows (信用报告互认).
    Accept {
        /// The report file.
        file: PathBuf,
        /// This node's configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// Verify a report file, then draw it for people: an HTML page in plain
    /// Chinese with a QR code, and optionally a PDF of it printed by
    /// headless Chromium (`CREDEX_CHROMIUM`, default /usr/bin/chromium).
    Render {
        #[command(flatten)]
        report: ReportFile,
        /// Where to write the HTML page.
        #[arg(long)]
        out: PathBuf,
        /// Also print the page to this PDF file.
        #[arg(long)]
        pdf: Option<PathBuf>,
    },
}

/// A report file and what to verify it against.
#[derive(Args)]
pub struct ReportFile {
    /// The report file.
    file: PathBuf,
    /// The federation root certificate (PEM).
    #[arg(long)]
    trust: PathBuf,
    /// CRLs to check the issuer against (PEM), repeatable.
    #[arg(long)]
    crl: Vec<PathBuf>,
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
            officer,
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
                requested_by: "cli".into(),
                officer,
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
        ReportCommand::Verify { report, json } => {
            let verified = verified(&report)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&credex_node::reports::summary(&verified))?
                );
            } else {
                print(&verified);
            }
            Ok(())
        }
        ReportCommand::Accept { file, config } => {
            let config = NodeConfig::load(&config)?;
            let trust = credex_node::boot::load_trust(&config.tls)?;
            let agreements = credex_node::eval::load_agreements(&config)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let verified = verify(&text, &trust, UnixTime::now())
                .map_err(|e| anyhow::anyhow!("{}: REFUSED: {e}", file.display()))?;
            match accept(&verified, &agreements, config.region, now_ms()) {
                Ok(Some(code)) => {
                    let name = agreements
                        .agreement(&code)
                        .map_or(code.clone(), |a| format!("{} ({code})", a.name_zh));
                    println!(
                        "ACCEPTED: a {} report of region {} for {}, under {name}",
                        verified.report.kind.code(),
                        verified.report.issuer,
                        verified.report.purpose
                    );
                }
                Ok(None) => println!("ACCEPTED: issued by this region"),
                Err(e) => bail!("{}: NOT ACCEPTED: {e}", file.display()),
            }
            Ok(())
        }
        ReportCommand::Render { report, out, pdf } => {
            let verified = verified(&report)?;
            std::fs::write(&out, render::html(&verified))
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "{} verified; page written to {}",
                report.file.display(),
                out.display()
            );
            if let Some(pdf) = pdf {
                print_pdf(&out, &pdf)?;
                println!("printed to {}", pdf.display());
            }
            Ok(())
        }
    }
}

/// The report file, verified against the root and CRLs given.
fn verified(report: &ReportFile) -> Result<VerifiedReport> {
    let file = &report.file;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = super::log::trust(&report.trust, &report.crl)?;
    verify(&text, &store, UnixTime::now())
        .map_err(|e| anyhow::anyhow!("{}: REFUSED: {e}", file.display()))
}

/// Print the HTML page `html` to `pdf` with headless Chromium. The page is
/// credex's own, every text in it escaped; Chromium runs without its
/// sandbox only because it refuses to start as root with it.
fn print_pdf(html: &Path, pdf: &Path) -> Result<()> {
    let chromium =
        std::env::var("CREDEX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let page =
        std::fs::canonicalize(html).with_context(|| format!("cannot find {}", html.display()))?;
    let status = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
            &format!("file://{}", page.display()),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| {
            format!(
                "cannot run {chromium}: install Debian's chromium (or set CREDEX_CHROMIUM), or open the page in a browser and print it"
            )
        })?;
    if !status.success() || !pdf.exists() {
        bail!("{chromium} did not print {} ({status})", pdf.display());
    }
    Ok(())
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
