//! A level's latency over its measured phase: per [`STEP`] of send time,
//! how many queries were sent and their median, p99 and maximum latency.
//! It tells a tail made of stalls (a few steps where every query waits)
//! from a tail spread over the whole run (decision 1250). Drawn as SVG by
//! [`plot_timelines`] (`credex bench query --svg FILE`).
//!
//! Owns: [`TimelineStep`], [`timeline`], [`plot_timelines`]. Does not own
//! the measurement ([`super::phase`]).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::BenchError;
use super::query::LevelResult;
use super::svg::{Line, draw_lines};

/// The width of one [`TimelineStep`].
pub const STEP: Duration = Duration::from_millis(100);

/// The queries sent within one [`STEP`] of a measured phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineStep {
    /// Where the step starts, seconds since the phase began.
    pub from_s: f64,
    /// Queries sent in the step (0: the figures below are 0 too).
    pub queries: u64,
    /// Their median latency, ms (nearest rank).
    pub p50_ms: f64,
    /// Their 99th percentile, ms (nearest rank).
    pub p99_ms: f64,
    /// Their slowest, ms.
    pub max_ms: f64,
}

/// The steps of a phase from its `samples`, each (sent, latency) in
/// nanoseconds, sent counted from the phase's start. Every step from the
/// first to the last sample's is present, empty ones included: a stall
/// shows as steps with few or no queries sent.
pub fn timeline(samples: &[(u64, u64)]) -> Vec<TimelineStep> {
    let step_ns = STEP.as_nanos() as u64;
    let Some(last) = samples.iter().map(|&(sent, _)| sent / step_ns).max() else {
        return Vec::new();
    };
    // `last` is at most the phase's length over STEP: a few hundred steps.
    let mut steps: Vec<Vec<u64>> = vec![Vec::new(); last as usize + 1];
    for &(sent, latency) in samples {
        if let Some(step) = steps.get_mut((sent / step_ns) as usize) {
            step.push(latency);
        }
    }
    steps
        .into_iter()
        .enumerate()
        .map(|(i, mut latencies)| {
            latencies.sort_unstable();
            let n = latencies.len();
            let pct = |p: f64| {
                let rank = ((p * n as f64).ceil() as usize).clamp(1, n.max(1));
                latencies.get(rank - 1).map_or(0.0, |&ns| ns as f64 / 1e6)
            };
            TimelineStep {
                from_s: i as f64 * STEP.as_secs_f64(),
                queries: n as u64,
                p50_ms: pct(0.5),
                p99_ms: pct(0.99),
                max_ms: pct(1.0),
            }
        })
        .collect()
}

/// Draw each level's timeline (median and maximum per step) to `path`.
pub fn plot_timelines(levels: &[LevelResult], path: &Path) -> Result<(), BenchError> {
    draw(levels, path).map_err(|reason| BenchError::Json {
        path: path.to_owned(),
        reason,
    })
}

/// One figure of a step, drawn as a line.
type Figure = fn(&TimelineStep) -> f64;

fn draw(levels: &[LevelResult], path: &Path) -> Result<(), String> {
    use plotters::style::{Color, Palette, Palette99};
    let step = STEP.as_secs_f64();
    let steps = || levels.iter().flat_map(|l| &l.timeline);
    let width = steps().map(|s| s.from_s + step).fold(step, f64::max);
    let top = steps().map(|s| s.max_ms).fold(1.0, f64::max) * 1.1;
    // Each level's median (thick) and slowest (thin), in the level's colour.
    let figures: [(&str, Figure, u32); 2] =
        [("median", |s| s.p50_ms, 2), ("slowest", |s| s.max_ms, 1)];
    let mut lines = Vec::new();
    for (i, level) in levels.iter().enumerate() {
        for (name, figure, stroke) in figures {
            lines.push(Line {
                label: format!("{} in flight: {name}", level.concurrency),
                points: (level.timeline.iter())
                    .filter(|s| s.queries > 0)
                    .map(|s| (s.from_s + step / 2.0, figure(s)))
                    .collect(),
                color: Palette99::pick(i).to_rgba(),
                width: stroke,
            });
        }
    }
    let x = format!(
        "seconds since the phase began (queries by send time, per {} ms)",
        STEP.as_millis()
    );
    draw_lines(
        path,
        "credex bench query: latency over the measured phase",
        (&x, width),
        ("latency, ms", top),
        &lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn queries_fall_in_their_send_step_and_a_stall_shows() {
        // Step 0: latencies 1..=100 ms; step 1: nothing sent (a stall);
        // step 2: one query that waited 900 ms.
        let mut samples: Vec<(u64, u64)> = (1..=100).map(|i| (i * 990_000, i * MS)).collect();
        samples.push((250 * MS, 900 * MS));
        let steps = timeline(&samples);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].queries, 100);
        assert_eq!(
            (steps[0].p50_ms, steps[0].p99_ms, steps[0].max_ms),
            (50.0, 99.0, 100.0)
        );
        assert_eq!(steps[1].queries, 0);
        assert_eq!((steps[1].p50_ms, steps[1].max_ms), (0.0, 0.0));
        assert_eq!(steps[2].queries, 1);
        assert_eq!(steps[2].from_s, 0.2);
        assert_eq!((steps[2].p50_ms, steps[2].max_ms), (900.0, 900.0));
        assert!(timeline(&[]).is_empty());
    }
}
