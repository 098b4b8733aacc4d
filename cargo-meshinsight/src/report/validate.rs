//! The validation report: predicted against measured overhead per case (a latency table and a
//! CPU table), as text, markdown or JSON.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table, TableStyle};

use super::num::{pct, signed_pct};
use super::{Format, Width, fit, us, wrap};
use crate::validate::{CaseResult, ValidateReport, mean};

/// Renders a report; terminal tables fitted to `width`.
pub(crate) fn render(report: &ValidateReport, format: Format, width: Width) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(report).expect("a report serializes") + "\n",
        Format::Table => tables(report, UTF8_BORDERS_ONLY, Some(width)),
        Format::Markdown => tables(report, ASCII_MARKDOWN, None),
    }
}

/// A table of `rows` under `header`, numbers right-aligned from column 1 on.
fn table(
    preset: TableStyle,
    width: Option<Width>,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Table {
    let mut t = Table::new();
    t.load_style(preset).set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    for i in 1..header.len() {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    if let Some(w) = width {
        fit(&mut t, w);
    }
    t
}

fn latency_row(c: &CaseResult) -> Vec<String> {
    vec![
        c.name.clone(),
        us(mean(c.without.iter().map(|s| s.mean_us))),
        us(mean(c.with.iter().map(|s| s.mean_us))),
        us(c.measured_us),
        format!(
            "{}..{}",
            us(c.measured_range_us.0),
            us(c.measured_range_us.1)
        ),
        us(c.predicted_us),
        signed_pct(c.error_pct),
        if c.pass { "ok" } else { "MISS" }.to_string(),
    ]
}

fn cpu_row(c: &CaseResult) -> Vec<String> {
    vec![
        c.name.clone(),
        c.calls.to_string(),
        us(c.measured_cpu_us),
        us(c.measured_sidecar_cpu_us),
        us(c.predicted_cpu_us),
        signed_pct(c.cpu_error_pct),
        signed_pct(c.sidecar_cpu_error_pct),
    ]
}

fn tables(report: &ValidateReport, preset: TableStyle, width: Option<Width>) -> String {
    let markdown = width.is_none();
    let latency = table(
        preset,
        width,
        &[
            "case",
            "without µs",
            "with µs",
            "measured µs",
            "range µs",
            "predicted µs",
            "error %",
            "verdict",
        ],
        report.cases.iter().map(latency_row),
    );
    let cpu = table(
        preset,
        width,
        &[
            "case",
            "calls",
            "CPU measured µs",
            "in sidecars µs",
            "CPU predicted µs",
            "CPU error %",
            "vs sidecars %",
        ],
        report.cases.iter().map(cpu_row),
    );
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{}%", pct(v)));
    let summary = format!(
        "sidecar {}, profile {} (CPU priced {}), load average {}, tolerance ±{}%: median |error| {}, max |error| {}\n",
        report.sidecar,
        report.profile,
        report.cpu_price.as_str(),
        report
            .load_average
            .map_or("-".to_string(), |l| format!("{l:.2}")),
        pct(report.tolerance_pct),
        f(report.median_abs_error_pct),
        f(report.max_abs_error_pct),
    );
    let heading = |text: &str| {
        if markdown {
            format!("**{text}**\n\n")
        } else {
            format!("{text}\n")
        }
    };
    let mut s = heading("Latency overhead of the mesh per request, measured and predicted");
    s.push_str(&latency.to_string());
    s.push_str("\n\n");
    s.push_str(&heading("CPU per request, measured and predicted"));
    s.push_str(&cpu.to_string());
    s.push_str("\n\n");
    s.push_str(&match width {
        Some(w) => wrap(&summary, w),
        None => summary,
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CpuPrice;
    use crate::validate::Sample;

    fn case(name: &str, measured: f64, predicted: f64) -> CaseResult {
        let sample = |mean_us: f64, cpu_us: f64| Sample {
            mean_us,
            p50_us: mean_us - 10.0,
            cpu_us,
            sidecar_cpu_us: cpu_us / 2.0,
        };
        let error_pct = 100.0 * (predicted - measured) / measured;
        CaseResult {
            name: name.into(),
            file: format!("fixtures/validate/{name}.toml"),
            calls: 4,
            sidecars: 8,
            profile_chain: 4,
            without: vec![sample(1000.0, 50.0)],
            with: vec![sample(1000.0 + measured, 150.0)],
            measured_us: measured,
            measured_range_us: (measured * 0.9, measured * 1.1),
            predicted_us: predicted,
            error_pct,
            measured_cpu_us: 100.0,
            measured_sidecar_cpu_us: 80.4,
            predicted_cpu_us: 90.25,
            cpu_error_pct: -9.75,
            sidecar_cpu_error_pct: 12.26,
            pass: error_pct.abs() <= 25.0,
        }
    }

    #[test]
    fn tables_fit_80_and_160_columns() {
        let report = ValidateReport {
            format_version: crate::validate::FORMAT_VERSION,
            sidecar: "builtin".into(),
            profile: "vm-2cpu-builtin-quick".into(),
            load_average: Some(0.52),
            tolerance_pct: 25.0,
            cpu_price: CpuPrice::Unloaded,
            median_abs_error_pct: Some(10.4),
            max_abs_error_pct: Some(31.0),
            cases: vec![
                case("chain-4hop", 412.5, 455.0),
                case("fanout-parallel", 238.0, 312.0),
                case("bookinfo-reviews", 1250.0, 1191.0),
            ],
        };
        for w in [80u16, 160] {
            let text = render(&report, Format::Table, Width(w));
            assert!(
                text.lines().all(|l| l.chars().count() <= w as usize),
                "{text}"
            );
            insta::assert_snapshot!(format!("validate_table_{w}"), text);
        }
        insta::assert_snapshot!(
            "validate_markdown",
            render(&report, Format::Markdown, Width::DEFAULT)
        );
    }
}
