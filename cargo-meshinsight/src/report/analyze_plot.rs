//! The CDF plot (the paper's Fig. 12 and 13): latency overhead and CPU overhead per call
//! graph, one line per configuration, as SVG.

use plotters::prelude::*;

use crate::analyze::{Analysis, VariantReport};

/// The plot as SVG text.
pub(crate) fn svg(a: &Analysis) -> String {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (1100, 420)).into_drawing_area();
        root.fill(&WHITE).expect("drawing to a string");
        let (left, right) = root.split_horizontally(550);
        panel(
            &left,
            "latency overhead per call graph",
            "µs (axis ends at the largest p99)",
            a,
            |v| &v.latency_cdf,
            |v| v.latency_overhead_us.p99,
        );
        panel(
            &right,
            &format!("CPU overhead per call graph at {} rps", a.rate_rps),
            "cores (axis ends at the largest p99)",
            a,
            |v| &v.cpu_cdf,
            |v| v.cpu_overhead_cores.p99,
        );
        root.present().expect("drawing to a string");
    }
    text
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    a: &Analysis,
    points: fn(&VariantReport) -> &Vec<(f64, f64)>,
    p99: fn(&VariantReport) -> f64,
) {
    let xmax = a.variants.iter().map(p99).fold(0.0f64, f64::max).max(1e-9) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..xmax, 0f64..1f64)
        .expect("a chart on a string");
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("CDF")
        .draw()
        .expect("drawing to a string");
    for (i, v) in a.variants.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line: Vec<(f64, f64)> = points(v).iter().map(|&(x, q)| (x.min(xmax), q)).collect();
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .expect("drawing to a string")
            .label(v.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .expect("drawing to a string");
}
