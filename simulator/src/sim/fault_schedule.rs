//! Playing the fault schedule against the running federation — kill and
//! restart a node, partition a pair through its relay, revoke a node's
//! certificate, let a node turn malicious — and judging afterwards whether
//! each fault was seen to take effect.
//!
//! Owns: [`run_fault`] and [`judge`]. Does not own parsing the schedule
//! ([`crate::faults`]) nor the malicious node's behaviour
//! ([`crate::malicious`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use credex_kit::relay::{Link, UdpRelay};
use tokio_util::sync::CancellationToken;

use super::context::{Ctx, FaultState, start_node, stop_node};
use super::workload::Rng;
use crate::faults::FaultKind;
use crate::malicious::MaliciousCounts;
use crate::report::FaultReport;

/// Wait for fault `i`'s time, apply it, and (where it has a duration) undo
/// it; returns early on `shutdown`.
pub(super) async fn run_fault(
    ctx: Arc<Ctx>,
    i: usize,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let f = &ctx.faults[i];
    let at = ctx.start + f.fault.at;
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = tokio::time::sleep_until(at.into()) => {}
    }
    let until = at + f.fault.duration;
    match &f.fault.kind {
        FaultKind::Kill { .. } => kill(&ctx, f, until, &shutdown).await?,
        FaultKind::Partition { .. } => partition(&ctx, f, until, &shutdown).await,
        FaultKind::Revoke { .. } => revoke(&ctx, f).await?,
        FaultKind::Malicious { .. } => {
            started(&ctx, f);
            crate::malicious::run(
                Arc::clone(&ctx),
                f.nodes[0],
                until,
                Rng::new(f.fault.at.as_nanos() as u64),
            )
            .await;
            ended(&ctx, f);
        }
    }
    Ok(())
}

/// Record that `f` took effect now.
fn started(ctx: &Ctx, f: &FaultState) {
    *f.started_s.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.elapsed_s());
}

/// Record that `f` ended now.
fn ended(ctx: &Ctx, f: &FaultState) {
    *f.ended_s.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.elapsed_s());
}

/// Stop the node until `until` (or shutdown), then start it again.
async fn kill(
    ctx: &Ctx,
    f: &FaultState,
    until: Instant,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let k = f.nodes[0];
    started(ctx, f);
    stop_node(ctx, k).await;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep_until(until.into()) => {}
    }
    start_node(&ctx.slots[k]).await?;
    ended(ctx, f);
    Ok(())
}

/// Drop every datagram between the two nodes, both ways, until `until` (or
/// shutdown).
async fn partition(ctx: &Ctx, f: &FaultState, until: Instant, shutdown: &CancellationToken) {
    let (a, b) = (f.nodes[0], f.nodes[1]);
    let relays: Vec<&UdpRelay> = [(a, b), (b, a)]
        .iter()
        .filter_map(|p| ctx.relays.get(p))
        .collect();
    started(ctx, f);
    for r in &relays {
        r.set(Link::Partitioned);
    }
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep_until(until.into()) => {}
    }
    for r in &relays {
        r.set(Link::Open);
    }
    ended(ctx, f);
    let dropped: u64 = relays.iter().map(|r| r.dropped()).sum();
    f.notes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("relay dropped {dropped} datagrams"));
}

/// Revoke the node's certificate at its region CA and make every node
/// reload its CRLs; the fault starts once all have.
async fn revoke(ctx: &Ctx, f: &FaultState) -> Result<(), String> {
    let k = f.nodes[0];
    let node = &ctx.slots[k].node;
    let ca = ctx.fed.ca(node.region);
    let revoked = tokio::task::block_in_place(|| ca.revoke(&node.cert))
        .map_err(|e| format!("revoking {}: {e}", node.name))?;
    let mut closed = 0;
    for slot in &ctx.slots {
        let guard = slot.running.lock().await;
        if let Some(n) = guard.as_ref() {
            closed += n
                .reload_crls()
                .await
                .map_err(|e| format!("{}: reloading CRLs: {e}", slot.node.name))?;
        }
    }
    ctx.slots[k].revoked.store(true, Ordering::SeqCst);
    ctx.evict_node(k);
    started(ctx, f);
    f.notes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!(
            "revoked {} (serial {}); CRL reload closed {closed} live connections",
            revoked.subject,
            hex_serial(&revoked.serial)
        ));
    Ok(())
}

/// Whether the fault was seen to take effect (and, where it ends, that the
/// federation recovered), in words.
pub(super) fn judge(
    mut r: FaultReport,
    f: &FaultState,
    ctx: &Ctx,
    m: &MaliciousCounts,
    tamper: &[crate::report::TamperReport],
) -> FaultReport {
    let (observed, verdict) = match &f.fault.kind {
        FaultKind::Kill { .. } => (
            r.failed_during > 0 && r.answered_after > 0,
            format!(
                "{} queries involving the node failed while it was down; {} answered after the restart",
                r.failed_during, r.answered_after
            ),
        ),
        FaultKind::Partition { .. } => {
            let dropped: u64 = [(f.nodes[0], f.nodes[1]), (f.nodes[1], f.nodes[0])]
                .iter()
                .filter_map(|p| ctx.relays.get(p))
                .map(|r| r.dropped())
                .sum();
            (
                dropped > 0 && r.answered_after > 0,
                format!(
                    "the relay dropped {dropped} datagrams; {} queries between the two were sent during the window \
                     ({} answered once it healed, {} failed); {} answered after",
                    r.failed_during + r.answered_during,
                    r.answered_during,
                    r.failed_during,
                    r.answered_after
                ),
            )
        }
        FaultKind::Revoke { .. } => (
            r.started_s.is_some() && r.failed_during > 0 && r.answered_during == 0,
            format!(
                "{} queries to or from the revoked node were refused after the CRL reload; {} were answered",
                r.failed_during, r.answered_during
            ),
        ),
        FaultKind::Malicious { .. } => {
            let attempts: u64 = m.attempts.values().sum();
            let refused: u64 = m.refused.values().sum();
            let floods_ok = !m.floods.is_empty() && m.floods.iter().all(|f| f.ok || f.below_quota);
            let inconclusive = m.floods.iter().filter(|f| f.below_quota).count();
            let throttled: u64 = m.floods.iter().map(|f| f.throttled).sum();
            let caught = !tamper.is_empty() && tamper.iter().all(|t| t.caught_all());
            (
                attempts > 0 && refused == attempts && floods_ok && caught,
                format!(
                    "{refused} of {attempts} malicious queries refused (over-asked fields withheld; forgeries, replays and \
                     consents of the wrong authority or attached late denied); flood: {throttled} requests throttled, \
                     none logged{}{}; log tampering {}",
                    if floods_ok {
                        ""
                    } else {
                        " — NOT as expected"
                    },
                    match inconclusive {
                        0 => String::new(),
                        n => format!(
                            " ({n} of {} floods inconclusive: the target was slower than its quota)",
                            m.floods.len()
                        ),
                    },
                    if caught {
                        "caught by the audit"
                    } else {
                        "NOT caught"
                    }
                ),
            )
        }
    };
    r.observed = observed;
    r.verdict = verdict;
    r
}

/// A certificate serial as lowercase hex.
fn hex_serial(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}
