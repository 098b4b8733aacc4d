//! The validation report: a table of predicted against measured overhead per case, as text,
//! markdown or JSON.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table, TableStyle};

use super::{Format, us};
use crate::validate::{ValidateReport, mean};

/// Renders a report.
pub(crate) fn render(report: &ValidateReport, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).expect("a report serializes") + "\n",
        Format::Table => table(report, UTF8_BORDERS_ONLY),
        Format::Markdown => table(report, ASCII_MARKDOWN),
    }
}

fn table(report: &ValidateReport, preset: TableStyle) -> String {
    let mut t = Table::new();
    t.load_style(preset).set_header(vec![
        "case",
        "calls",
        "without µs",
        "with µs",
        "measured µs",
        "range µs",
        "predicted µs",
        "error %",
        "CPU meas. µs",
        "in sidecars µs",
        "CPU pred. µs",
        "CPU error %",
        "vs sidecars %",
        "verdict",
    ]);
    for c in &report.cases {
        t.add_row(vec![
            c.name.clone(),
            c.calls.to_string(),
            us(mean(c.without.iter().map(|s| s.mean_us))),
            us(mean(c.with.iter().map(|s| s.mean_us))),
            us(c.measured_us),
            format!(
                "{}..{}",
                us(c.measured_range_us.0),
                us(c.measured_range_us.1)
            ),
            us(c.predicted_us),
            format!("{:+.1}", c.error_pct),
            us(c.measured_cpu_us),
            us(c.measured_sidecar_cpu_us),
            us(c.predicted_cpu_us),
            format!("{:+.1}", c.cpu_error_pct),
            format!("{:+.1}", c.sidecar_cpu_error_pct),
            if c.pass { "ok" } else { "MISS" }.to_string(),
        ]);
    }
    for i in 1..13 {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut s = t.to_string();
    s.push('\n');
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}%"));
    s.push_str(&format!(
        "sidecar {}, profile {} (CPU priced {}), load average {}, tolerance ±{:.0}%: median |error| {}, max |error| {}\n",
        report.sidecar,
        report.profile,
        report.cpu_price.as_str(),
        report.load_average.map_or("-".to_string(), |l| format!("{l:.2}")),
        report.tolerance_pct,
        f(report.median_abs_error_pct),
        f(report.max_abs_error_pct),
    ));
    s
}
