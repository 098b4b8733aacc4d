//! The validation plot: predicted against measured latency overhead per case (with the
//! y = x line and the tolerance band), and the error of each case, as SVG.

use plotters::prelude::*;

use crate::validate::ValidateReport;

/// The plot as SVG text.
pub(crate) fn svg(r: &ValidateReport) -> String {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (1100, 440)).into_drawing_area();
        root.fill(&WHITE).expect("drawing to a string");
        let (left, right) = root.split_horizontally(520);
        scatter(&left, r);
        errors(&right, r);
        root.present().expect("drawing to a string");
    }
    text
}

fn scatter(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, r: &ValidateReport) {
    let max = r
        .cases
        .iter()
        .flat_map(|c| [c.measured_us, c.predicted_us])
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "latency overhead: predicted vs measured",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..max, 0f64..max)
        .expect("a chart on a string");
    chart
        .configure_mesh()
        .x_desc("measured µs")
        .y_desc("predicted µs")
        .draw()
        .expect("drawing to a string");
    let tol = r.tolerance_pct / 100.0;
    for (factor, style) in [
        (1.0, BLACK.stroke_width(1)),
        (1.0 + tol, BLACK.mix(0.3).stroke_width(1)),
        (1.0 - tol, BLACK.mix(0.3).stroke_width(1)),
    ] {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (max, max * factor)],
                style,
            ))
            .expect("drawing to a string");
    }
    for (i, c) in r.cases.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(std::iter::once(Circle::new(
                (c.measured_us, c.predicted_us),
                5,
                color.filled(),
            )))
            .expect("drawing to a string")
            .label(&c.name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .expect("drawing to a string");
}

fn errors(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, r: &ValidateReport) {
    let n = r.cases.len().max(1);
    let lim = r
        .cases
        .iter()
        .map(|c| c.error_pct.abs())
        .filter(|v| v.is_finite())
        .fold(r.tolerance_pct, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("error per case (band: ±{:.0}%)", r.tolerance_pct),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..n as f64, -lim..lim)
        .expect("a chart on a string");
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("(predicted − measured) / measured, %")
        .draw()
        .expect("drawing to a string");
    for y in [r.tolerance_pct, -r.tolerance_pct, 0.0] {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, y), (n as f64, y)],
                BLACK.mix(if y == 0.0 { 1.0 } else { 0.3 }).stroke_width(1),
            ))
            .expect("drawing to a string");
    }
    for (i, c) in r.cases.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let e = if c.error_pct.is_finite() {
            c.error_pct.clamp(-lim, lim)
        } else {
            0.0
        };
        let x = i as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, e)],
                color.filled(),
            )))
            .expect("drawing to a string");
        chart
            .draw_series(std::iter::once(Text::new(
                c.name.clone(),
                (x + 0.15, if e >= 0.0 { -lim * 0.08 } else { lim * 0.05 }),
                ("sans-serif", 11),
            )))
            .expect("drawing to a string");
    }
}
