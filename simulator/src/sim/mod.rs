//! The simulation: start the federation's nodes in this process on
//! loopback, drive a query workload from every node to every other, apply
//! the fault schedule, then export every log and run the auditor over all
//! of them.
//!
//! The run reads as its phases: `setup` before the clock
//! (federation, nodes, imports, relays, connections), `measure` on the
//! clock (workers, faults, witnesses), `finish` after it (restart, tamper,
//! export and audit, report). What the phases share is in `context`; the
//! workload's queries in `workload`; the faults' effects in
//! `fault_schedule`.

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::faults::Fault;
use crate::report::{PeerQuota, Report};

pub(crate) mod context;
mod fault_schedule;
mod finish;
mod measure;
mod setup;
mod upward;
pub(crate) mod workload;

pub use workload::{QueryMix, Rng};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The federation's crypto suite (`ed25519-sha256`, `sm2-sm3`).
    pub suite: credex_protocol::Suite,
    /// Nodes: the national node and `regions - 1` provinces (3–32).
    pub regions: usize,
    /// Synthetic companies in total, spread over the provinces.
    pub subjects: u64,
    /// Measured seconds of workload.
    pub seconds: f64,
    /// Queries kept in flight.
    pub concurrency: usize,
    /// The query mix.
    pub mix: QueryMix,
    /// The fault schedule.
    pub faults: Vec<Fault>,
    /// All nodes on this PostgreSQL server (one schema each) instead of a
    /// SQLite file each.
    pub postgres: Option<String>,
    /// Where the report, plots and exported logs go.
    pub out: PathBuf,
    /// Keep the federation (certificates, configurations, databases) here
    /// instead of a temporary directory.
    pub keep: Option<PathBuf>,
    /// Seed of the workload's choices.
    pub seed: u64,
    /// A query without a verified answer after this long counts as failed
    /// (the requester gives up; the exchange may still have been logged by
    /// the responder, which the final audit then reports).
    pub request_timeout: Duration,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// The per-region ingress quota every node enforces (`[limits]`).
    pub peer_quota: PeerQuota,
    /// Provinces report their records upward while the workload runs
    /// ([`crate::upward`]); after it the run waits this long at most for
    /// the national node to hold them all. `None`: no reporting.
    pub upward: Option<Duration>,
}

/// Run a simulation and return its report (the audit's verdict included).
pub async fn run(opts: &SimOptions) -> anyhow::Result<Report> {
    setup::check_options(opts)?;
    // `_tmp` holds a temporary federation directory until the run ends.
    let (dir, _tmp) = setup::work_dir(opts)?;
    let shutdown = CancellationToken::new();
    let (ctx, setup) = setup::federation(opts, &dir, &shutdown).await?;
    let ctx = setup::connect_pairs(ctx, opts).await?;

    let due = upward::due(&ctx);
    let sampler = opts.upward.map(|_| upward::start(&ctx, due));
    let (stats, seconds) = measure::workload(&ctx, opts, &shutdown).await?;
    let upward = match (sampler, opts.upward) {
        (Some(sampler), Some(wait)) => Some(sampler.finish(&ctx, wait).await),
        _ => None,
    };

    let mut tamper = finish::restart_and_tamper(&ctx).await?;
    let audit = finish::export_and_audit(&ctx, opts, &mut tamper).await?;
    finish::stop_all(&ctx).await;
    let measured = finish::Measured {
        stats,
        seconds,
        setup,
        tamper,
        audit,
        upward,
    };
    Ok(finish::report(&ctx, opts, measured))
}
