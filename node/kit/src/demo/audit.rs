//! Act 8, the auditor: every node has its peers cosign its newest
//! checkpoint and exports its log as of that checkpoint (C2SP tiles); the
//! four are verified offline together, each vouched for in full by three
//! independent witnesses; a copy with one byte changed is caught.
//!
//! Owns: the act. Does not own the verification (`credex_audit`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credex_node::service::RunningNode;

use super::Checks;

/// Act 8.
pub(super) async fn act(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    println!("\n8. The auditor: every node's log exported as C2SP tiles and verified offline");
    let out = dir.join("audit");
    let dirs = export_and_verify(&out, running, checks).await?;
    let trust = running[0].transport().trust().current();
    doctored_copy_caught(&out, &dirs, &trust, checks)
}

/// Export every node's log into `out` and verify them all together; the
/// exported directories.
async fn export_and_verify(
    out: &Path,
    running: &[RunningNode],
    checks: &mut Checks,
) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for node in running {
        let target = out.join(node.config().name.as_str());
        let chain = std::fs::read_to_string(&node.config().tls.cert)?;
        let (summary, round) = node.export_witnessed(&chain, &target).await?;
        let round = round.context("a log with entries")?;
        println!(
            "   {} log: {} entries, root {}…, its final checkpoint cosigned by {} witnesses ({}){}",
            node.config().name,
            summary.size,
            &summary.root.to_hex()[..16],
            round.cosigned_by.len(),
            round.cosigned_by.join(", "),
            round
                .failures
                .iter()
                .map(|f| format!("\n      not cosigned: {f}"))
                .collect::<String>()
        );
        dirs.push(target);
    }
    let trust = running[0].transport().trust().current();
    let report = credex_audit::verify(&dirs, &trust);
    let sent: usize = report.logs.iter().map(|l| l.sent).sum();
    let received: usize = report.logs.iter().map(|l| l.received).sum();
    let messages: usize = report.logs.iter().map(|l| l.messages).sum();
    let rerun: usize = report.logs.iter().map(|l| l.egress_rerun).sum();
    let withheld: usize = report.logs.iter().map(|l| l.egress_withheld).sum();
    for l in &report.logs {
        println!(
            "   {}: verified in full — {} independent witnesses saw its latest size {} ({})",
            l.origin,
            l.witnesses_at_latest.len(),
            l.size,
            l.witnesses_at_latest.join(", ")
        );
    }
    checks.check(
        report.passed()
            && report
                .logs
                .iter()
                .all(|l| l.unanchored_entries == 0 && l.witnesses_at_latest.len() == 3),
        "all four logs verify: trees, signed checkpoints, witnesses' cosignatures, dual authorizations, policy re-run, each access and message on both sides, every message's egress decision re-run",
        &format!("{} entries; {received} accesses answered and {sent} asked, {messages} federation messages (recognition, lists, reports), cross-matched; {rerun} egress decisions re-run ({withheld} withheld fields in their records){}", report.entries,
            report.violations.iter().map(|v| format!("\n      VIOLATION {} {}: {}", v.log, v.rule, v.detail)).collect::<String>()),
    );
    if trust.suite() == credex_protocol::Suite::Sm2Sm3 {
        // Under sm2-sm3 each checkpoint also commits to an SM3 tree over
        // the same entries (decision 1100), which the auditor recomputed.
        let with_sm3 = dirs
            .iter()
            .filter(|d| {
                std::fs::read_to_string(d.join("checkpoint")).is_ok_and(|note| {
                    note.lines()
                        .any(|l| l.starts_with(credex_protocol::tlog::sm3::SM3_TREE_LINE))
                })
            })
            .count();
        checks.check(
            report.passed() && with_sm3 == dirs.len(),
            "every checkpoint carries the root of an SM3 tree over the same entries, signed by its Ed25519 and SM2 lines and recomputed by the auditor; C2SP tools read the SHA-256 tree as before",
            &format!("{with_sm3} of {} final checkpoints with a {} line", dirs.len(), credex_protocol::tlog::sm3::SM3_TREE_LINE),
        );
    }
    Ok(dirs)
}

/// A doctored copy of Guangdong's log: one byte of one entry changed.
fn doctored_copy_caught(
    out: &Path,
    dirs: &[PathBuf],
    trust: &credex_pki::TrustStore,
    checks: &mut Checks,
) -> Result<()> {
    let doctored = out.join("gz-1-doctored");
    copy_dir(&dirs[2], &doctored)?;
    let file = first_file(&doctored.join("tile/entries")).context("an entry bundle")?;
    let mut bytes = std::fs::read(&file)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, bytes)?;
    let mut tampered = dirs.to_vec();
    tampered[2] = doctored;
    let report = credex_audit::verify(&tampered, trust);
    checks.check(
        !report.passed(),
        "a copy of Guangdong's log with one byte changed: caught",
        &report
            .violations
            .first()
            .map(|v| format!("{} {}: {}", v.log, v.rule, v.detail))
            .unwrap_or_default(),
    );
    Ok(())
}

/// Copy the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)?.flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The first file under `dir`, in name order, depth first.
fn first_file(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .find_map(|p| if p.is_file() { Some(p) } else { first_file(&p) })
}
