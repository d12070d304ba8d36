//! The intake over time, drawn as SVG with plotters: records acknowledged
//! per second, in [`super::TIMELINE_STEP`] steps, with the run's mean.

use std::path::Path;

use super::{IntakeReport, TIMELINE_STEP};
use crate::bench::BenchError;
use crate::bench::svg::{Line, draw_lines};

/// Draw `r`'s timeline to `path`.
pub fn plot_intake(r: &IntakeReport, path: &Path) -> Result<(), BenchError> {
    draw(r, path).map_err(|reason| BenchError::Json {
        path: path.to_owned(),
        reason,
    })
}

fn draw(r: &IntakeReport, path: &Path) -> Result<(), String> {
    use plotters::style::{BLUE, Color, RED};
    let step = TIMELINE_STEP.as_secs_f64();
    let width = (r.timeline.len() as f64 * step).max(step);
    let top = r.timeline.iter().copied().fold(1.0, f64::max) * 1.15;
    let lines = [
        Line {
            label: format!("per {} ms", TIMELINE_STEP.as_millis()),
            points: (r.timeline.iter().enumerate())
                .map(|(i, v)| ((i as f64 + 0.5) * step, *v))
                .collect(),
            color: BLUE.to_rgba(),
            width: 2,
        },
        Line {
            label: "mean over the run".to_owned(),
            points: vec![(0.0, r.records_per_s), (width, r.records_per_s)],
            color: RED.to_rgba(),
            width: 1,
        },
    ];
    draw_lines(
        path,
        &format!(
            "credex bench intake: {} provinces → national node ({}), {:.0} records/s",
            r.provinces, r.engine, r.records_per_s
        ),
        ("seconds since the first batch was sent", width),
        ("records acknowledged per second (durable)", top),
        &lines,
    )
}
