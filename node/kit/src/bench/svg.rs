//! The drawing every `credex bench` figure shares: lines on axes that start
//! at zero, with a caption, the axes' descriptions and a legend, as SVG.
//!
//! Owns: [`Line`], [`draw_lines`]. Does not own what is drawn (the
//! benchmarks' `plot` functions).

use std::path::Path;

use plotters::prelude::*;

/// One line of a figure.
pub(crate) struct Line {
    /// Its legend entry.
    pub label: String,
    /// (x, y) points, in order.
    pub points: Vec<(f64, f64)>,
    /// Its colour.
    pub color: RGBAColor,
    /// Its stroke width, pixels.
    pub width: u32,
}

/// Draw `lines` on axes from 0 to `x.1` and 0 to `y.1` (described by `x.0`
/// and `y.0`) under `caption`, as an SVG at `path`.
pub(crate) fn draw_lines(
    path: &Path,
    caption: &str,
    x: (&str, f64),
    y: (&str, f64),
    lines: &[Line],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1000, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x.1, 0f64..y.1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(x.0)
        .y_desc(y.0)
        .draw()
        .map_err(|e| err(&e))?;
    for line in lines {
        let style = line.color.stroke_width(line.width);
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))
            .map_err(|e| err(&e))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
