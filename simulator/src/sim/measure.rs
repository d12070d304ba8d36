//! The measured run: the fault schedule, the witnesses and the workers all
//! start on the clock, a progress bar shows answers per second and active
//! faults, and when the workers stop at the deadline, pending faults are
//! cancelled and everything is joined.
//!
//! Owns: the tasks of the measured run and their order of shutdown. Does
//! not own what a worker or a fault does ([`super::workload`],
//! [`super::fault_schedule`]) nor what happens after ([`super::finish`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::SimOptions;
use super::context::Ctx;
use super::fault_schedule::run_fault;
use super::workload::{Rng, WorkerStats, worker};

/// Run the workload and the fault schedule until the deadline; the
/// workers' merged statistics and the measured seconds. Cancels `shutdown`
/// once the workers are done, and waits for the faults and witnesses.
pub(super) async fn workload(
    ctx: &Arc<Ctx>,
    opts: &SimOptions,
    shutdown: &CancellationToken,
) -> anyhow::Result<(WorkerStats, f64)> {
    eprintln!(
        "credex-sim: {} queries in flight for {} s, {} fault(s)…",
        opts.concurrency,
        opts.seconds,
        opts.faults.len()
    );
    let bar = progress_bar(opts);
    let mut fault_tasks = tokio::task::JoinSet::new();
    for i in 0..ctx.faults.len() {
        let (ctx, stop) = (Arc::clone(ctx), shutdown.clone());
        fault_tasks.spawn(async move { run_fault(ctx, i, stop).await });
    }
    let witnessing = {
        let (ctx, stop) = (Arc::clone(ctx), shutdown.clone());
        tokio::spawn(async move { witness_while_running(&ctx, &stop).await })
    };
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..opts.concurrency {
        let ctx = Arc::clone(ctx);
        let rng = Rng::new(opts.seed.wrapping_mul(1_000_003).wrapping_add(w as u64));
        workers.spawn(worker(ctx, rng));
    }
    tokio::spawn(show_progress(Arc::clone(ctx), bar.clone()));
    let mut stats = WorkerStats::default();
    while let Some(w) = workers.join_next().await {
        let w = w.context("a workload task panicked")?;
        stats.latencies_us.extend(w.latencies_us);
        for (k, v) in w.outcomes {
            *stats.outcomes.entry(k).or_default() += v;
        }
        for (k, v) in w.unexpected {
            *stats.unexpected.entry(k).or_default() += v;
        }
    }
    let measured_s = ctx.elapsed_s();
    bar.finish_and_clear();
    // Faults still pending (scheduled beyond the end) stop now.
    shutdown.cancel();
    while let Some(r) = fault_tasks.join_next().await {
        r.context("a fault task panicked")?
            .map_err(anyhow::Error::msg)?;
    }
    witnessing.await.context("the witnessing task panicked")?;
    Ok((stats, measured_s))
}

/// A progress bar of tenths of the run's seconds, hidden without
/// `--progress`.
fn progress_bar(opts: &SimOptions) -> indicatif::ProgressBar {
    let bar = if opts.progress {
        indicatif::ProgressBar::new((opts.seconds * 10.0) as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Until the deadline: advance `bar` every tenth of a second and, every
/// second, show the answers so far, the last second's rate and the active
/// faults.
async fn show_progress(ctx: Arc<Ctx>, bar: indicatif::ProgressBar) {
    let mut last = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n = 0u64;
    while Instant::now() < ctx.deadline {
        tick.tick().await;
        n += 1;
        bar.set_position(n);
        if n.is_multiple_of(10) {
            let now = ctx.answered.load(Ordering::Relaxed);
            let active: Vec<String> = ctx
                .faults
                .iter()
                .filter(|f| {
                    f.started_s.lock().is_ok_and(|s| s.is_some())
                        && f.ended_s.lock().is_ok_and(|e| e.is_none())
                })
                .map(|f| f.fault.label())
                .collect();
            bar.set_message(format!(
                "{} answered, {} q/s{}",
                now,
                now - last,
                if active.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", active.join(", "))
                }
            ));
            last = now;
        }
    }
}

/// Peers witness each other's logs as nodes do in production
/// (`dial_peers_in_background`): every second, each node asks the peers it
/// holds a connection to to cosign its newest checkpoint. What anchors each
/// log for the final audit. Failures (a node down, partitioned or revoked)
/// are the faults' business: the next round tries again.
async fn witness_while_running(ctx: &Ctx, stop: &CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Each connection is looked up just before use and dropped after:
        // a round holding every connection would keep a killed node's
        // endpoint, and so its UDP port, alive until the round ends, and
        // its restart on that port would fail.
        for (from, to) in ctx.open_pairs() {
            let guard = ctx.slots[from].running.lock().await;
            if let (Some(node), Some(conn)) = (guard.as_ref(), ctx.open_connection(from, to)) {
                // Bounded, so a kill fault waiting for the lock is not held up.
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    node.request_cosignature(&conn, 0),
                )
                .await;
            }
        }
    }
}
