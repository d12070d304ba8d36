//! The upward channel in a simulation (`--upward`): every province's
//! reporter (数据报送) sends its penalties to the national node while the
//! query workload runs, and after the workload the run waits until the
//! national node holds all of them (or `--upward-wait` passes). What the
//! report says about it: records due and received, batches, how long until
//! the national node held everything, and its intake per second over the
//! run, drawn as `upward.svg`.
//!
//! The mechanics (the sampler and the wait) are [`crate::sim`]'s; this
//! module owns the figures, their table and their plot.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

/// What the national node took in from the provinces' reporters.
#[derive(Debug, Clone, Serialize)]
pub struct UpwardReport {
    /// Records due upward: each province's synthetic records of the
    /// categories on the reporting list (a penalty per company, a tax
    /// rating for every fourth).
    pub due: u64,
    /// Records the national node held from the provinces at the end (its
    /// upward status).
    pub received: u64,
    /// Batches the national node applied.
    pub batches: u64,
    /// Seconds from the workload's start until the national node held
    /// every due record; `None` if it did not within the wait.
    pub drained_after_s: Option<f64>,
    /// Records held at the national node, sampled about once a second:
    /// (seconds since the workload's start, records).
    pub held_over_time: Vec<(f64, u64)>,
    /// The fastest intake between two samples, records/s.
    pub peak_per_s: f64,
    /// Mean intake while reporting ran: `received` over the seconds until
    /// the last record arrived.
    pub mean_per_s: f64,
}

impl UpwardReport {
    /// Whether every due record reached the national node.
    pub fn complete(&self) -> bool {
        self.received >= self.due
    }
}

/// The report's upward section.
pub fn render(s: &mut String, u: &UpwardReport) {
    let _ = writeln!(s, "\nupward reporting (数据报送) to national-1:");
    let _ = writeln!(
        s,
        "  {:<3} {} of {} due records held by the national node in {} batches{}",
        if u.complete() { "ok" } else { "NO" },
        u.received,
        u.due,
        u.batches,
        match u.drained_after_s {
            Some(t) => format!(", all within {t:.0} s of the workload's start"),
            None => " — NOT all within the wait".to_owned(),
        }
    );
    let _ = writeln!(
        s,
        "  intake: {:.0} records/s on average while reporting ran, {:.0}/s at the fastest (between two samples a second apart)",
        u.mean_per_s, u.peak_per_s
    );
}

/// Draw the national node's intake per second to `path`.
pub fn plot(u: &UpwardReport, regions: usize, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let per_s: Vec<(f64, f64)> = std::iter::once((0.0, 0))
        .chain(u.held_over_time.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| {
            let dt = (w[1].0 - w[0].0).max(1e-3);
            (
                (w[0].0 + w[1].0) / 2.0,
                w[1].1.saturating_sub(w[0].1) as f64 / dt,
            )
        })
        .collect();
    let n = u.held_over_time.last().map_or(1.0, |s| s.0.max(1.0));
    let top = per_s.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (1000, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "credex-sim: national node's upward intake, {} provinces reporting ({} of {} records)",
                regions - 1,
                u.received,
                u.due
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n, 0f64..top)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("seconds since the workload started")
        .y_desc("records taken in per second (durable)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(per_s, BLUE.stroke_width(2)))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
