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

/// The malicious peer's queries.
#[derive(Debug, Clone, Serialize)]
pub struct MaliciousReport {
    /// Sent and answered (or refused at the transport), per kind.
    pub attempts: BTreeMap<&'static str, u64>,
    /// Refused as they should be, per kind.
    pub refused: BTreeMap<&'static str, u64>,
    /// Not refused (a security failure), per kind.
    pub accepted: BTreeMap<&'static str, u64>,
    /// Could not be sent (target down or partitioned).
    pub unreachable: u64,
}

/// The auditor's verdict over every node's exported log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    /// Logs verified.
    pub logs: usize,
    /// Entries verified.
    pub entries: u64,
    /// Violations the auditor reported: each is a failure.
    pub violations: usize,
    /// The first 50 violations.
    pub listed: Vec<credex_node::audit::Violation>,
    /// Releases whose answer never reached the requester (the requester
    /// logged the query as sent and no answer): cut by a fault on the way
    /// back, visible in both logs, not a violation.
    pub answers_lost: usize,
    /// Queries the requesters logged as about to be sent and never got a
    /// verified answer to (logged "no answer", or cut by the timeout).
    pub no_answer: u64,
    /// Seconds for export and audit.
    pub seconds: f64,
    /// No violation, and every node's log verified.
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
    /// Audit passed, nothing leaked, no malicious query accepted, every
    /// fault observed.
    pub passed: bool,
}

/// The human table.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\ncredex-sim — {} nodes, {} companies, {}, {} in flight, seed {}",
        r.regions, r.subjects, r.storage, r.concurrency, r.seed
    );
    let _ = writeln!(
        s,
        "setup: PKI {:.1} s, start {:.1} s, {} records imported in {:.1} s",
        r.setup.pki_s, r.setup.start_s, r.setup.records_imported, r.setup.import_s
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
    if !r.faults.is_empty() {
        let _ = writeln!(s, "\nfaults:");
        for f in &r.faults {
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
    let m = &r.malicious;
    if !m.attempts.is_empty() || m.unreachable > 0 {
        let _ = writeln!(s, "\nmalicious peer:");
        for (k, v) in &m.attempts {
            let _ = writeln!(
                s,
                "  {k:<10} {v:>6} sent, {:>6} refused, {:>3} accepted",
                m.refused.get(k).copied().unwrap_or(0),
                m.accepted.get(k).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(s, "  ({} could not be sent)", m.unreachable);
    }
    let a = &r.audit;
    let _ = writeln!(
        s,
        "\naudit: {} logs, {} entries verified in {:.1} s (with export): {} violations — {}; {} queries ended with no answer (logged as sent, never answered), {} of them released by the responder before the answer was lost",
        a.logs,
        a.entries,
        a.seconds,
        a.violations,
        if a.passed { "PASSED" } else { "FAILED" },
        a.no_answer,
        a.answers_lost,
    );
    for v in a.listed.iter().take(10) {
        let _ = writeln!(s, "  {} #{:?} {}: {}", v.log, v.index, v.rule, v.detail);
    }
    let _ = writeln!(
        s,
        "\nresult: {}",
        if r.passed { "PASSED" } else { "FAILED" }
    );
    s
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
    Ok(vec![json, latency, throughput])
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
    let palette = [RED, MAGENTA, CYAN, GREEN, BLACK];
    for (i, f) in r.faults.iter().enumerate() {
        let Some(a) = f.started_s else { continue };
        let b = f.ended_s.unwrap_or(n as f64).max(a + 0.2);
        let color = palette[i % palette.len()];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, top * 1.15)],
                color.mix(0.12).filled(),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(f.label.clone())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.3).filled())
            });
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(a, 0.0), (a, top * 1.15)],
                color.stroke_width(1),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .draw_series(LineSeries::new(
            r.answered_per_second
                .iter()
                .enumerate()
                .map(|(s, v)| (s as f64 + 0.5, *v as f64)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label("answered")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            r.failed_per_second
                .iter()
                .enumerate()
                .map(|(s, v)| (s as f64 + 0.5, *v as f64)),
            RED.stroke_width(1),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label("failed (unreachable, cut)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED.stroke_width(1)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
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
