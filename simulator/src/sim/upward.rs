//! `--upward`: a sampler of what the national node holds from the
//! provinces, once a second from the workload's start, and the wait after
//! the workload until it holds every due record ([`crate::upward`] owns
//! the figures).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::context::Ctx;
use crate::upward::UpwardReport;

/// How often the national node's holdings are read.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The running sampler.
pub(super) struct Sampler {
    stop: CancellationToken,
    task: JoinHandle<Vec<(f64, u64)>>,
    due: u64,
    started: Instant,
    /// Set by the sampler when the national node first held every due record.
    drained: Arc<std::sync::OnceLock<f64>>,
}

/// What the national node holds from the provinces: (records, batches);
/// `None` while it is down.
async fn held(ctx: &Ctx) -> Option<(u64, u64)> {
    let national = ctx.slots.iter().find(|s| s.node.is_national())?;
    let live = national.live()?;
    let received = credex_node::upward::received(&live.storage).await.ok()?;
    Some(
        received
            .iter()
            .fold((0, 0), |(r, b), p| (r + p.records, b + p.batches)),
    )
}

/// The records the provinces must report: of each province's synthetic
/// records ([`crate::federation::import_subjects`]), those of categories on
/// the built-in reporting list the nodes run with.
pub(super) fn due(ctx: &Ctx) -> u64 {
    let list = credex_policies::ReportingList::builtin();
    let listed = |category: &str| u64::from(list.item(category).is_some());
    ctx.slots
        .iter()
        .filter(|s| !s.node.is_national())
        .map(|s| {
            let companies = u64::from(s.node.subjects);
            listed("admin_penalty") * companies
                + listed("tax_credit_rating")
                    * (companies / u64::from(crate::federation::TAX_RATING_EVERY))
        })
        .sum()
}

/// Start sampling now, `due` records being expected.
pub(super) fn start(ctx: &Arc<Ctx>, due: u64) -> Sampler {
    let stop = CancellationToken::new();
    let drained = Arc::new(std::sync::OnceLock::new());
    let started = Instant::now();
    let task = {
        let (ctx, stop, drained) = (Arc::clone(ctx), stop.clone(), Arc::clone(&drained));
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut last = (0, 0);
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            // A read slowed by the load delays the next sample; it does
            // not make a burst of them.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Some(now) = held(&ctx).await {
                    last = now;
                }
                samples.push((started.elapsed().as_secs_f64(), last.0));
                if last.0 >= due {
                    let _ = drained.set(started.elapsed().as_secs_f64());
                }
            }
            samples
        })
    };
    Sampler {
        stop,
        task,
        due,
        started,
        drained,
    }
}

impl Sampler {
    /// Wait until the national node holds every due record or `wait` has
    /// passed since now, then stop sampling and sum up.
    pub(super) async fn finish(self, ctx: &Ctx, wait: Duration) -> UpwardReport {
        let until = Instant::now() + wait;
        if self.drained.get().is_none() {
            eprintln!(
                "credex-sim: waiting up to {} s for the national node to hold all {} reported records…",
                wait.as_secs(),
                self.due
            );
        }
        while self.drained.get().is_none() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.stop.cancel();
        let samples = self.task.await.unwrap_or_default();
        let (received, batches) = match held(ctx).await {
            Some(now) => now,
            None => (samples.last().map_or(0, |s| s.1), 0),
        };
        // Between samples only: the first sample also holds what arrived
        // before the workload started.
        let peak_per_s = samples
            .windows(2)
            .map(|w| w[1].1.saturating_sub(w[0].1) as f64 / (w[1].0 - w[0].0).max(1e-3))
            .fold(0.0, f64::max);
        // Until the last record arrived: the first sample holding them all.
        let active_s = samples
            .iter()
            .find(|s| s.1 >= received)
            .map_or(self.started.elapsed().as_secs_f64(), |s| s.0);
        UpwardReport {
            due: self.due,
            received,
            batches,
            drained_after_s: self.drained.get().copied(),
            held_over_time: samples,
            peak_per_s,
            mean_per_s: received as f64 / active_s.max(1.0),
        }
    }
}
