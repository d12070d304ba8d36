//! The intake over time, drawn as SVG with plotters: records acknowledged
//! per second, in [`super::TIMELINE_STEP`] steps, with the run's mean.

use std::path::Path;

use super::{IntakeReport, TIMELINE_STEP};
use crate::bench::BenchError;

/// Draw `r`'s timeline to `path`.
pub fn plot_intake(r: &IntakeReport, path: &Path) -> Result<(), BenchError> {
    draw(r, path).map_err(|reason| BenchError::Json {
        path: path.to_owned(),
        reason,
    })
}

fn draw(r: &IntakeReport, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let step = TIMELINE_STEP.as_secs_f64();
    let width = (r.timeline.len() as f64 * step).max(step);
    let top = r.timeline.iter().copied().fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (1000, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "credex bench intake: {} provinces → national node ({}), {:.0} records/s",
                r.provinces, r.engine, r.records_per_s
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..width, 0f64..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("seconds since the first batch was sent")
        .y_desc("records acknowledged per second (durable)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            r.timeline
                .iter()
                .enumerate()
                .map(|(i, v)| ((i as f64 + 0.5) * step, *v)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label(format!("per {} ms", TIMELINE_STEP.as_millis()))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            [(0.0, r.records_per_s), (width, r.records_per_s)],
            RED.stroke_width(1),
        ))
        .map_err(|e| err(&e))?
        .label("mean over the run")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
