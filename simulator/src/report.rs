//! The simulation's report: a table for people, JSON for programs, and SVG
//! plots (latency distribution; throughput over time with the faults
//! marked).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::faults::Fault;
use crate::sim::QueryMix;

/// Time spent setting the federation up.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// Certificates, keys, configurations and policies, seconds.
    pub pki_s: f64,
    /// Starting every node, seconds.
    pub start_s: f64,
    /// Records imported in all nodes.
    pub records_imported: u64,
    /// Importing them, seconds.
    pub import_s: f64,
}

/// Latencies of answered queries (one `requester::send`: sign-free, since
/// queries are signed before the clock starts for each; verify, log).
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// Answered queries.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// (upper bound ms, count) per bucket, buckets growing by √2.
    pub histogram_ms: Vec<(f64, u64)>,
}

/// Histogram of sorted latencies (µs) in buckets growing by √2 from 0.125 ms.
pub fn histogram(sorted_us: &[u32]) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let mut upper_ms = 0.125_f64;
    let mut i = 0;
    while i < sorted_us.len() {
        let bound = upper_ms * 1e3;
        let start = i;
        while i < sorted_us.len() && f64::from(sorted_us[i]) <= bound {
            i += 1;
        }
        out.push((upper_ms, (i - start) as u64));
        upper_ms *= std::f64::consts::SQRT_2;
    }
    out
}

/// One fault, what it did and whether that was seen.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// The fault as scheduled.
    pub fault: Fault,
    /// Short label.
    pub label: String,
    /// When it took effect, s from the start (None: the run ended first).
    pub started_s: Option<f64>,
    /// When it ended, s.
    pub ended_s: Option<f64>,
    /// Queries involving its nodes sent during it that failed.
    pub failed_during: u64,
    /// … that were answered.
    pub answered_during: u64,
    /// Queries involving its nodes sent from 1 s after it ended, answered.
    pub answered_after: u64,
    /// … failed.
    pub failed_after: u64,
    /// Details.
    pub notes: Vec<String>,
    /// Whether its effect (and the recovery) was observed.
    pub observed: bool,
    /// What was observed, in words.
    pub verdict: String,
}

/// The per-region ingress quota every simulated node enforces (its
/// `[limits]` `peer_requests_per_second` and `peer_burst`, decision 0650):
/// tighter than the node's defaults (5,000/s, burst 10,000) so that the
/// malicious node's flood meets it, far above what one region sends another
/// in the workload (hundreds of queries/s spread over every pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeerQuota {
    /// Requests one region may send one node per second, sustained.
    pub requests_per_second: u32,
    /// Requests it may send at once after being idle.
    pub burst: u32,
}

impl Default for PeerQuota {
    fn default() -> Self {
        PeerQuota {
            requests_per_second: 100,
            burst: 200,
        }
    }
}

/// One flood by the malicious node: copies of one signed query (already
/// answered once, so every copy the target handles is a denied replay),
/// sent as fast as one connection carries them.
#[derive(Debug, Clone, Serialize)]
pub struct FloodReport {
    /// The node flooded.
    pub target: String,
    /// Copies sent.
    pub sent: u64,
    /// Copies the target handled (answered: denied as replays).
    pub answered: u64,
    /// Copies refused with `RateLimited` before anything was read or logged.
    pub throttled: u64,
    /// Copies that failed otherwise (connection lost, timeout).
    pub failed: u64,
    /// Why, per message (at most 100 characters each).
    pub failures: BTreeMap<String, u64>,
    /// Entries of the flooded query the target's log gained during the
    /// flood: at least `answered`, at most `sent - throttled` (no throttled
    /// copy logged; a copy handled whose answer was lost counts in
    /// `failed`).
    pub logged: u64,
    /// Queries of other regions the target logged during the flood: it
    /// kept serving them.
    pub others_logged: u64,
    /// How long the flood lasted, s.
    pub seconds: f64,
    /// Throttled copies seen, none of them logged, others served.
    pub ok: bool,
    /// Nothing throttled because nothing was due: the target handled no
    /// more copies than its quota lets through (burst plus rate × time),
    /// every handled copy logged, others served. The flood tested nothing;
    /// the verdict calls it inconclusive rather than failed.
    pub below_quota: bool,
}

/// The malicious node's operator tampering with its own log after the run,
/// before the export, and what the final audit said about it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TamperReport {
    /// The node.
    pub node: String,
    /// Its log's origin (how the auditor names it).
    pub origin: String,
    /// Log rewrite: the release entry deleted (its leaf index); every later
    /// entry was appended again and the tree rebuilt under the node's key.
    pub deleted_index: Option<u64>,
    /// Entries appended again after the deleted one.
    pub reappended: u64,
    /// Replayed entry: the leaf index of the verbatim copy appended.
    pub replayed_index: Option<u64>,
    /// The release entry it copies.
    pub copy_of: Option<u64>,
    /// What happened on the way (witnesses asked before and after).
    pub notes: Vec<String>,
    /// Violations the audit reported that catch each attack: attack →
    /// rule → count.
    pub caught: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// The rewrite was caught by a rule that convicts a rewritten history
    /// (`fork`, `log_not_anchored`, `pinned_checkpoint_mismatch`,
    /// `log_truncated`).
    pub rewrite_caught: bool,
    /// The copy was caught as `repeated_release` at its index.
    pub replay_caught: bool,
}

impl TamperReport {
    /// Every tampering done was caught.
    pub fn caught_all(&self) -> bool {
        (self.deleted_index.is_none() || self.rewrite_caught)
            && (self.replayed_index.is_none() || self.replay_caught)
            && (self.deleted_index.is_some() || self.replayed_index.is_some())
    }
}

/// The malicious peer's queries.
#[derive(Debug, Clone, Serialize)]
pub struct MaliciousReport {
    /// Sent and answered (or refused at the transport), per kind.
    pub attempts: BTreeMap<&'static str, u64>,
    /// Refused as they should be, per kind.
    pub refused: BTreeMap<&'static str, u64>,
    /// Not refused (a security failure), per kind.
    pub accepted: BTreeMap<&'static str, u64>,
    /// How the answers went, per kind: `outcome/reason` → count.
    pub reasons: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// Could not be sent (target down or partitioned).
    pub unreachable: u64,
    /// Its floods.
    pub floods: Vec<FloodReport>,
    /// Floods that could not start, by why (each was tried again).
    pub flood_not_started: BTreeMap<String, u64>,
    /// Its operator's tampering with its own log.
    pub tamper: Vec<TamperReport>,
}

/// The auditor's verdict over every node's exported log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    /// Logs verified.
    pub logs: usize,
    /// Entries verified.
    pub entries: u64,
    /// Violations the auditor reported.
    pub violations: usize,
    /// Of those, the auditor catching the malicious node's operator
    /// tampering with its log (expected: see [`TamperReport::caught`]).
    pub caught: usize,
    /// The others: each is a failure.
    pub unexplained: usize,
    /// The first 50 unexplained violations.
    pub listed: Vec<credex_audit::Violation>,
    /// The first 20 caught ones.
    pub caught_listed: Vec<credex_audit::Violation>,
    /// Releases whose answer never reached the requester (the requester
    /// logged the query as sent and no answer): cut by a fault on the way
    /// back, visible in both logs, not a violation.
    pub answers_lost: usize,
    /// Queries the requesters logged as about to be sent and never got a
    /// verified answer to (logged "no answer", or cut by the timeout).
    pub no_answer: u64,
    /// Seconds for export and audit.
    pub seconds: f64,
    /// Per log: its origin, its size, and how many independent witnesses
    /// saw that latest size (each honest node exports as of a checkpoint
    /// its peers have just cosigned).
    pub witnessed: Vec<(String, u64, usize)>,
    /// No unexplained violation, every tampering caught, and every node's
    /// log verified.
    pub passed: bool,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes in the federation.
    pub regions: usize,
    /// Their names.
    pub nodes: Vec<String>,
    /// Synthetic companies in all.
    pub subjects: u64,
    /// Queries kept in flight.
    pub concurrency: usize,
    /// The query mix.
    pub mix: QueryMix,
    /// Storage backend.
    pub storage: String,
    /// The per-region ingress quota of every node.
    pub peer_quota: PeerQuota,
    /// Seed.
    pub seed: u64,
    /// Setup.
    pub setup: SetupReport,
    /// Measured seconds.
    pub seconds: f64,
    /// Queries answered (any outcome).
    pub answered: u64,
    /// Answered per second.
    pub answered_per_s: f64,
    /// Count per outcome, failures included.
    pub outcomes: BTreeMap<String, u64>,
    /// Answers whose outcome differs from what the mix expects (kind → outcome).
    pub unexpected: BTreeMap<String, u64>,
    /// Answers that released an internal field (must be 0).
    pub internal_fields_leaked: u64,
    /// Latency of answered queries.
    pub latency: LatencySummary,
    /// Answered queries per second of the run (by the second they were sent).
    pub answered_per_second: Vec<u64>,
    /// Failed queries per second of the run.
    pub failed_per_second: Vec<u64>,
    /// The faults.
    pub faults: Vec<FaultReport>,
    /// The malicious peer.
    pub malicious: MaliciousReport,
    /// The final audit.
    pub audit: AuditResult,
    /// The upward channel (`--upward`).
    pub upward: Option<crate::upward::UpwardReport>,
    /// Audit passed, nothing leaked, no malicious query accepted, every
    /// fault observed, every reported record received (`--upward`).
    pub passed: bool,
}

/// The human table.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    render_run(&mut s, r);
    render_outcomes(&mut s, r);
    render_faults(&mut s, &r.faults);
    render_malicious(&mut s, &r.malicious, r.peer_quota);
    if let Some(u) = &r.upward {
        crate::upward::render(&mut s, u);
    }
    render_audit(&mut s, &r.audit);
    let _ = writeln!(
        s,
        "\nresult: {}",
        if r.passed { "PASSED" } else { "FAILED" }
    );
    s
}

/// The run's shape and setup, what it answered and how fast.
fn render_run(s: &mut String, r: &Report) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\ncredex-sim — {} nodes, {} companies, {}, {} in flight, seed {}",
        r.regions, r.subjects, r.storage, r.concurrency, r.seed
    );
    let _ = writeln!(
        s,
        "setup: PKI {:.1} s, start {:.1} s, {} records imported in {:.1} s; every node admits {} requests/s (burst {}) per peer region",
        r.setup.pki_s,
        r.setup.start_s,
        r.setup.records_imported,
        r.setup.import_s,
        r.peer_quota.requests_per_second,
        r.peer_quota.burst
    );
    let l = &r.latency;
    let _ = writeln!(
        s,
        "\n{:<28} {:>12}\n{:<28} {:>12.0}\n{:<28} {:>12.1}\n{:<28} {:>12}",
        "answered queries",
        r.answered,
        "answered per second",
        r.answered_per_s,
        "measured seconds",
        r.seconds,
        "internal fields leaked",
        r.internal_fields_leaked
    );
    let _ = writeln!(
        s,
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
    );
}

/// The outcomes counted, and those no query of their kind should have had.
fn render_outcomes(s: &mut String, r: &Report) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "\noutcomes:");
    for (k, v) in &r.outcomes {
        let _ = writeln!(s, "  {k:<40} {v:>10}");
    }
    if !r.unexpected.is_empty() {
        let _ = writeln!(s, "unexpected outcomes (kind → outcome):");
        for (k, v) in &r.unexpected {
            let _ = writeln!(s, "  {k:<40} {v:>10}");
        }
    }
}

/// Each fault: whether its effect was observed, when it ran, the verdict.
fn render_faults(s: &mut String, faults: &[FaultReport]) {
    use std::fmt::Write as _;
    if faults.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nfaults:");
    for f in faults {
        let when = match (f.started_s, f.ended_s) {
            (Some(a), Some(b)) => format!("{a:.1}–{b:.1} s"),
            (Some(a), None) => format!("from {a:.1} s"),
            _ => "did not start".to_owned(),
        };
        let _ = writeln!(
            s,
            "  {:<3} {:<30} {:<16} {}",
            if f.observed { "ok" } else { "NO" },
            f.label,
            when,
            f.verdict
        );
        for n in &f.notes {
            let _ = writeln!(s, "      {n}");
        }
    }
}

/// The final audit and the first violations it listed.
fn render_audit(s: &mut String, a: &AuditResult) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\naudit: {} logs, {} entries verified in {:.1} s (with export): {} violations, {} of them the malicious operator's tampering caught, {} unexplained — {}; {} queries ended with no answer (logged as sent, never answered), {} of them released by the responder before the answer was lost",
        a.logs,
        a.entries,
        a.seconds,
        a.violations,
        a.caught,
        a.unexplained,
        if a.passed { "PASSED" } else { "FAILED" },
        a.no_answer,
        a.answers_lost,
    );
    if !a.witnessed.is_empty() {
        let _ = writeln!(
            s,
            "  independent witnesses at each log's latest size: {}",
            a.witnessed
                .iter()
                .map(|(origin, size, n)| format!("{origin} {n} (size {size})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for v in a.listed.iter().take(10) {
        let _ = writeln!(s, "  {} #{:?} {}: {}", v.log, v.index, v.rule, v.detail);
    }
}

/// The malicious peer's section of the table: its queries, floods and the
/// tampering with its log, each with what refused or caught it.
fn render_malicious(s: &mut String, m: &MaliciousReport, quota: PeerQuota) {
    use std::fmt::Write as _;
    if m.attempts.is_empty() && m.unreachable == 0 && m.floods.is_empty() && m.tamper.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nmalicious peer:");
    for (k, v) in &m.attempts {
        let how = m
            .reasons
            .get(k)
            .map(|r| {
                r.iter()
                    .map(|(how, n)| format!("{how} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {k:<16} {v:>6} sent, {:>6} refused, {:>3} accepted  ({how})",
            m.refused.get(k).copied().unwrap_or(0),
            m.accepted.get(k).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(s, "  ({} could not be sent)", m.unreachable);
    for f in &m.floods {
        let _ = writeln!(
            s,
            "  {:<3} flood of {} over {:.1} s (quota {}/s, burst {}): {} sent, {} throttled (rate_limited), {} handled; \
             {} entries of it logged (no throttled copy logged); {} other regions' queries logged meanwhile",
            match (f.ok, f.below_quota) {
                (true, _) => "ok",
                (false, true) => "n/a",
                (false, false) => "NO",
            },
            f.target,
            f.seconds,
            quota.requests_per_second,
            quota.burst,
            f.sent,
            f.throttled,
            f.answered,
            f.logged,
            f.others_logged
        );
        if f.below_quota {
            let _ = writeln!(
                s,
                "      inconclusive: the target handled {:.0} copies/s, within its quota; no throttling was due",
                f.answered as f64 / f.seconds.max(f64::EPSILON)
            );
        }
        for (why, n) in &f.failures {
            let _ = writeln!(s, "      {n} failed: {why}");
        }
    }
    for (why, n) in &m.flood_not_started {
        let _ = writeln!(s, "  flood not started ×{n}: {why}");
    }
    for t in &m.tamper {
        let _ = writeln!(
            s,
            "  {:<3} operator of {} tampered with its log:",
            if t.caught_all() { "ok" } else { "NO" },
            t.node
        );
        if let Some(i) = t.deleted_index {
            let _ = writeln!(
                s,
                "      log rewrite: release entry {i} deleted, {} later entries appended again — {}",
                t.reappended,
                caught_by(t.caught.get("log rewrite"), t.rewrite_caught)
            );
        }
        if let (Some(i), Some(c)) = (t.replayed_index, t.copy_of) {
            let _ = writeln!(
                s,
                "      replayed entry: entry {c} copied verbatim to {i} — {}",
                caught_by(t.caught.get("replayed entry"), t.replay_caught)
            );
        }
        for n in &t.notes {
            let _ = writeln!(s, "      {n}");
        }
    }
}

fn caught_by(rules: Option<&BTreeMap<&'static str, u64>>, caught: bool) -> String {
    let list = rules
        .map(|r| {
            r.iter()
                .map(|(rule, n)| format!("{rule} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if caught {
        format!("caught by the audit: {list}")
    } else if list.is_empty() {
        "NOT caught".to_owned()
    } else {
        format!("NOT caught (only {list})")
    }
}

/// Write `report.json`, `latency.svg` and `throughput.svg` into `dir`;
/// returns the files written.
pub fn write_files(r: &Report, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context as _;
    let json = dir.join("report.json");
    std::fs::write(&json, serde_json::to_vec_pretty(r)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let latency = dir.join("latency.svg");
    plot_latency(r, &latency).with_context(|| format!("drawing {}", latency.display()))?;
    let throughput = dir.join("throughput.svg");
    plot_throughput(r, &throughput).with_context(|| format!("drawing {}", throughput.display()))?;
    let mut files = vec![json, latency, throughput];
    if let Some(u) = &r.upward {
        let path = dir.join("upward.svg");
        crate::upward::plot(u, r.regions, &path)
            .with_context(|| format!("drawing {}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}

fn plot_latency(r: &Report, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let h = &r.latency.histogram_ms;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let total = r.latency.count.max(1) as f64;
    let top = h
        .iter()
        .map(|(_, c)| *c as f64 * 100.0 / total)
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "credex-sim: latency of {} answered queries (p50 {:.1} ms, p99 {:.1} ms)",
                r.latency.count, r.latency.p50_ms, r.latency.p99_ms
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0u32..(h.len() as u32).max(1), 0f64..top * 1.1)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let labels: Vec<f64> = h.iter().map(|(ms, _)| *ms).collect();
    chart
        .configure_mesh()
        .x_desc("latency, ms (upper bound of each bucket; buckets grow by √2)")
        .y_desc("% of answered queries")
        .x_labels(labels.len().clamp(1, 16))
        .x_label_formatter(&|i| {
            labels
                .get(*i as usize)
                .map(|ms| {
                    if *ms < 10.0 {
                        format!("{ms:.2}")
                    } else {
                        format!("{ms:.0}")
                    }
                })
                .unwrap_or_default()
        })
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.mix(0.6).filled())
                .margin(1)
                .data(
                    h.iter()
                        .enumerate()
                        .map(|(i, (_, c))| (i as u32, *c as f64 * 100.0 / total)),
                ),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// The chart `plot_throughput` draws on: seconds × queries per second.
type ThroughputChart<'a, 'b> = plotters::chart::ChartContext<
    'a,
    plotters::backend::SVGBackend<'b>,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

fn plot_throughput(r: &Report, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1000, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let n = r.answered_per_second.len().max(1);
    let top = r
        .answered_per_second
        .iter()
        .chain(&r.failed_per_second)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "credex-sim: queries per second, {} nodes, {} in flight (faults shaded)",
                r.regions, r.concurrency
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..top * 1.15)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("seconds since the workload started")
        .y_desc("queries per second")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    shade_faults(&mut chart, &r.faults, n as f64, top * 1.15)?;
    draw_per_second(&mut chart, &r.answered_per_second, BLUE, 2, "answered")?;
    draw_per_second(
        &mut chart,
        &r.failed_per_second,
        RED,
        1,
        "failed (unreachable, cut)",
    )?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Each fault that started: a shaded band from its start to its end (or
/// the end of the run), a line at its start, a legend entry.
fn shade_faults(
    chart: &mut ThroughputChart<'_, '_>,
    faults: &[FaultReport],
    end: f64,
    height: f64,
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let palette = [RED, MAGENTA, CYAN, GREEN, BLACK];
    for (i, f) in faults.iter().enumerate() {
        let Some(a) = f.started_s else { continue };
        let b = f.ended_s.unwrap_or(end).max(a + 0.2);
        let color = palette[i % palette.len()];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, height)],
                color.mix(0.12).filled(),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(f.label.clone())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.3).filled())
            });
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(a, 0.0), (a, height)],
                color.stroke_width(1),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// One count per second as a line through the middle of each second,
/// with its legend entry.
fn draw_per_second(
    chart: &mut ThroughputChart<'_, '_>,
    per_second: &[u64],
    color: plotters::style::RGBColor,
    width: u32,
    label: &str,
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    chart
        .draw_series(LineSeries::new(
            per_second
                .iter()
                .enumerate()
                .map(|(s, v)| (s as f64 + 0.5, *v as f64)),
            color.stroke_width(width),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(label)
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(width))
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_grow_and_count_everything() {
        let v = [100u32, 125, 126, 1_000, 5_000];
        let h = histogram(&v);
        assert_eq!(h.iter().map(|(_, c)| c).sum::<u64>(), 5);
        assert_eq!(h[0], (0.125, 2));
        assert!(h.windows(2).all(|w| w[1].0 > w[0].0));
        assert!(h.last().unwrap().0 * 1e3 >= 5_000.0);
        assert!(histogram(&[]).is_empty());
    }
}
