//! The phases after the clock stops: restart the nodes a fault left down,
//! let the malicious nodes' operators tamper with their own logs, export
//! every log and run the auditor over all of them, stop the nodes, and put
//! the report together with its verdicts.
//!
//! Owns: the final audit ([`AuditResult`]) and the [`Report`]'s assembly
//! and pass/fail rule. Does not own how the report is rendered or plotted
//! ([`crate::report`]).

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;

use super::SimOptions;
use super::context::{Ctx, start_node};
use super::fault_schedule::judge;
use super::workload::WorkerStats;
use crate::faults::FaultKind;
use crate::report::{
    AuditResult, FaultReport, LatencySummary, MaliciousReport, Report, SetupReport, TamperReport,
};

/// Restart every node that is down so its log can be exported; then the
/// operators of the malicious nodes rewrite and replay entries of their
/// logs, for the final audit to catch.
pub(super) async fn restart_and_tamper(ctx: &Ctx) -> anyhow::Result<Vec<TamperReport>> {
    for slot in &ctx.slots {
        if slot.live().is_none() {
            start_node(slot).await.map_err(anyhow::Error::msg)?;
        }
    }
    let mut tamper = Vec::new();
    for f in &ctx.faults {
        let started = f.started_s.lock().is_ok_and(|s| s.is_some());
        if let FaultKind::Malicious { .. } = f.fault.kind
            && started
        {
            eprintln!(
                "credex-sim: the operator of {} rewrites and replays entries of its log…",
                ctx.slots[f.nodes[0]].node.name
            );
            tamper.push(crate::malicious::tamper_with_log(ctx, f.nodes[0]).await);
        }
    }
    ctx.conns.lock().unwrap_or_else(|p| p.into_inner()).clear();
    Ok(tamper)
}

/// Export every node's log into `opts.out/logs` and verify them all; the
/// violations the tampering explains are counted as caught.
pub(super) async fn export_and_audit(
    ctx: &Ctx,
    opts: &SimOptions,
    tamper: &mut [TamperReport],
) -> anyhow::Result<AuditResult> {
    eprintln!(
        "credex-sim: exporting {} logs and auditing…",
        ctx.slots.len()
    );
    let t3 = std::time::Instant::now();
    let logs_dir = opts.out.join("logs");
    let _ = std::fs::remove_dir_all(&logs_dir);
    let mut dirs = Vec::new();
    for (at, slot) in ctx.slots.iter().enumerate() {
        let guard = slot.running.lock().await;
        let Some(n) = guard.as_ref() else { continue };
        let chain = std::fs::read_to_string(&slot.node.cert)
            .with_context(|| format!("reading {}", slot.node.cert.display()))?;
        let out = logs_dir.join(slot.node.name.as_str());
        // Under `sm2-sm3` the export also carries the SM2 signing chain
        // of each checkpoint's second line.
        let chains = credex_node::export::NodeChains {
            tls: &chain,
            signing: n.signing_chain_pem(),
        };
        // An honest node exports as of a checkpoint its peers have just
        // cosigned, so the audit finds its log vouched for in full. A
        // tampering operator publishes its rewritten log signed now, as
        // the edited database says: its node would refuse to store a
        // second checkpoint at a size it already published (its log ended
        // at that size before the rewrite: one entry deleted, one copied).
        let tampered = tamper.iter().any(|t| t.node == slot.node.name.as_str());
        let head = if tampered {
            None
        } else {
            witnessed_head(ctx, at, n).await
        };
        match head {
            Some(head) => {
                credex_node::export::export_at_chains(n.storage(), n.log_key(), chains, &out, &head)
                    .await
            }
            None if tampered => {
                credex_node::export::danger::export_unchecked_chains(
                    n.storage(),
                    n.log_key(),
                    chains,
                    &out,
                )
                .await
            }
            None => {
                credex_node::export::export_chains(n.storage(), n.log_key(), chains, &out).await
            }
        }
        .with_context(|| format!("exporting the log of {}", slot.node.name))?;
        dirs.push(out);
    }
    let root_pem = std::fs::read_to_string(ctx.fed.root().cert_path())
        .context("reading the federation root")?;
    let trust = credex_pki::TrustStore::from_pem(&root_pem, &[])
        .context("the federation root does not load")?;
    let audit = tokio::task::block_in_place(|| credex_audit::verify(&dirs, &trust));
    let audit_s = t3.elapsed().as_secs_f64();
    let mut no_answer = 0;
    for slot in &ctx.slots {
        if let Some(n) = slot.running.lock().await.as_ref() {
            no_answer += count_no_answers(n.storage()).await?;
        }
    }
    let (caught, unexplained) = crate::malicious::classify(&audit.violations, tamper);
    Ok(AuditResult {
        logs: dirs.len(),
        entries: audit.entries,
        violations: audit.violations.len(),
        caught: caught.len(),
        unexplained: unexplained.len(),
        listed: unexplained.into_iter().take(50).collect(),
        caught_listed: caught.into_iter().take(20).collect(),
        answers_lost: audit.answers_lost.len(),
        no_answer,
        seconds: audit_s,
        witnessed: audit
            .logs
            .iter()
            .map(|l| (l.origin.clone(), l.size, l.witnesses_at_latest.len()))
            .collect(),
        passed: false,
    })
}

/// A checkpoint of node `at`'s whole log, cosigned now by every live,
/// unrevoked peer the simulation reaches: what its export ends on.
async fn witnessed_head(
    ctx: &Ctx,
    at: usize,
    node: &credex_node::service::RunningNode,
) -> Option<credex_node::log::SignedHead> {
    let live = ctx.slots[at].live()?;
    let size = node.storage().tree_head().size;
    let head = node
        .checkpoints()
        .covering(size.checked_sub(1)?)
        .await
        .ok()?;
    for (peer, slot) in ctx.slots.iter().enumerate() {
        if peer == at || slot.live().is_none() || slot.revoked.load(Ordering::Relaxed) {
            continue;
        }
        let name = &slot.node.name;
        match ctx.connection(at, peer, &live).await {
            Ok(conn) => {
                let cosigned = credex_node::log::cosign_head(
                    node.storage(),
                    node.log_key(),
                    node.checkpoints(),
                    &conn,
                    &head,
                    0,
                );
                match tokio::time::timeout(std::time::Duration::from_secs(5), cosigned).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        eprintln!("credex-sim: {name} did not cosign the final checkpoint: {e}")
                    }
                    Err(_) => eprintln!(
                        "credex-sim: {name} did not cosign the final checkpoint within 5 s"
                    ),
                }
            }
            Err(
                super::context::Failure::Unreachable(why) | super::context::Failure::Failed(why),
            ) => {
                eprintln!("credex-sim: {name} not reached for the final checkpoint: {why}")
            }
            Err(super::context::Failure::RequesterDown) => {}
        }
    }
    Some(head)
}

/// How many queries `storage`'s node logged as about to be sent and never
/// logged an answer for: those it logged "no answer" for, and those a
/// timeout cancelled before it could (decision 0620).
async fn count_no_answers(storage: &credex_node::storage::Storage) -> anyhow::Result<u64> {
    use credex_journal::kind;
    let len = storage.journal_len().await?;
    let (mut at, mut intents, mut answered) = (0, 0u64, 0u64);
    while at < len {
        let page = storage.journal_range(at, 4096).await?;
        if page.is_empty() {
            break;
        }
        at += page.len() as u64;
        for r in &page {
            match r.kind {
                kind::QUERY_INTENT => intents += 1,
                kind::QUERY_SENT => answered += 1,
                _ => {}
            }
        }
    }
    Ok(intents.saturating_sub(answered))
}

/// Shut every node down.
pub(super) async fn stop_all(ctx: &Ctx) {
    for slot in &ctx.slots {
        let node = slot.running.lock().await.take();
        if let Some(n) = node {
            n.shutdown().await;
        }
    }
}

/// What the measured run produced, for the report.
pub(super) struct Measured {
    /// The workers' merged statistics.
    pub(super) stats: WorkerStats,
    /// Seconds measured.
    pub(super) seconds: f64,
    /// The setup phases' timings.
    pub(super) setup: SetupReport,
    /// The tampering done to the malicious nodes' logs.
    pub(super) tamper: Vec<TamperReport>,
    /// The final audit.
    pub(super) audit: AuditResult,
    /// The upward channel, if the provinces reported.
    pub(super) upward: Option<crate::upward::UpwardReport>,
}

/// The report of the run, each fault judged, and whether it passed: the
/// audit explained every violation over every node's log, nothing
/// internal leaked, no malicious query was accepted, and every fault was
/// seen to take effect.
pub(super) fn report(ctx: &Ctx, opts: &SimOptions, measured: Measured) -> Report {
    let Measured {
        stats,
        seconds: measured_s,
        setup,
        tamper,
        audit,
        upward,
    } = measured;
    let answered = stats.latencies_us.len() as u64;
    let per_s = |v: &[AtomicU64]| -> Vec<u64> {
        v.iter()
            // Whole seconds only: a last partial second would read as a drop.
            .take(measured_s.floor() as usize)
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    };
    let faults = fault_reports(ctx, &tamper);
    let malicious = malicious_report(ctx, tamper);
    let mut report = Report {
        regions: opts.regions,
        nodes: ctx.slots.iter().map(|s| s.node.name.to_string()).collect(),
        subjects: opts.subjects,
        concurrency: opts.concurrency,
        mix: opts.mix,
        peer_quota: opts.peer_quota,
        storage: if opts.postgres.is_some() {
            "PostgreSQL, one schema per node".into()
        } else {
            "SQLite, one file per node".into()
        },
        seed: opts.seed,
        setup,
        seconds: measured_s,
        answered,
        answered_per_s: answered as f64 / measured_s.max(1e-9),
        outcomes: stats.outcomes,
        unexpected: stats.unexpected,
        internal_fields_leaked: ctx.leaks.load(Ordering::Relaxed),
        latency: latency_summary(stats.latencies_us),
        answered_per_second: per_s(&ctx.ok_per_s),
        failed_per_second: per_s(&ctx.failed_per_s),
        faults,
        malicious,
        audit,
        upward,
        passed: false,
    };
    report.audit.passed = report.audit.unexplained == 0
        && report.audit.logs == report.nodes.len()
        && report.malicious.tamper.iter().all(|t| t.caught_all());
    report.passed = report.audit.passed
        && report.internal_fields_leaked == 0
        && report.malicious.accepted.values().all(|&v| v == 0)
        && report.faults.iter().all(|f| f.observed)
        && report.upward.as_ref().is_none_or(|u| u.complete());
    report
}

/// Each fault's counters and notes, judged.
fn fault_reports(ctx: &Ctx, tamper: &[TamperReport]) -> Vec<FaultReport> {
    let m = ctx.malicious.lock().unwrap_or_else(|p| p.into_inner());
    ctx.faults
        .iter()
        .map(|f| {
            let r = FaultReport {
                fault: f.fault.clone(),
                label: f.fault.label(),
                started_s: *f.started_s.lock().unwrap_or_else(|p| p.into_inner()),
                ended_s: *f.ended_s.lock().unwrap_or_else(|p| p.into_inner()),
                failed_during: f.watch.failed_during.load(Ordering::Relaxed),
                answered_during: f.watch.answered_during.load(Ordering::Relaxed),
                answered_after: f.watch.answered_after.load(Ordering::Relaxed),
                failed_after: f.watch.failed_after.load(Ordering::Relaxed),
                notes: f.notes.lock().map(|n| n.clone()).unwrap_or_default(),
                observed: false,
                verdict: String::new(),
            };
            judge(r, f, ctx, &m, tamper)
        })
        .collect()
}

/// What the malicious nodes tried and what became of it.
fn malicious_report(ctx: &Ctx, tamper: Vec<TamperReport>) -> MaliciousReport {
    let m = ctx.malicious.lock().unwrap_or_else(|p| p.into_inner());
    MaliciousReport {
        attempts: m.attempts.clone(),
        refused: m.refused.clone(),
        accepted: m.accepted.clone(),
        reasons: m.reasons.clone(),
        unreachable: m.unreachable,
        floods: m.floods.clone(),
        flood_not_started: m.flood_not_started.clone(),
        tamper,
    }
}

/// Percentiles and a histogram of the answered queries' latencies (µs).
fn latency_summary(mut v: Vec<u32>) -> LatencySummary {
    v.sort_unstable();
    let pct = |p: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        f64::from(v[rank - 1]) / 1e3
    };
    LatencySummary {
        count: v.len() as u64,
        p50_ms: pct(0.5),
        p90_ms: pct(0.9),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: pct(1.0),
        histogram_ms: crate::report::histogram(&v),
    }
}
