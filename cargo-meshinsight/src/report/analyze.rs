//! Rendering of an analysis: a table per metric, or JSON.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table};

use super::num::pct;
use super::{Format, Width, cores, fit, us, wrap};
use crate::analyze::stats::Summary;
use crate::analyze::{Analysis, VariantReport};

/// Renders `analysis` in `format`, terminal tables fitted to `width`.
pub(crate) fn render(analysis: &Analysis, format: Format, width: Width) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(analysis).expect("an analysis serializes");
            s.push('\n');
            s
        }
        Format::Table => tables(analysis, Some(width)),
        Format::Markdown => tables(analysis, None),
    }
}

/// The tables: for the terminal fitted to `width`, markdown without one.
fn tables(a: &Analysis, width: Option<Width>) -> String {
    let markdown = width.is_none();
    let summary = format!(
        "{} call graphs (calls per graph: median {}, max {}; latency without the mesh: median {} µs), \
         profile {}, {} bytes, {} requests/s per graph\n",
        a.graphs,
        a.calls_per_graph.p50,
        a.calls_per_graph.max,
        us(a.base_latency_us.p50),
        a.profile,
        a.size_bytes,
        a.rate_rps
    );
    let mut text = match width {
        Some(w) => wrap(&summary, w),
        None => summary,
    };
    type Pick = fn(&VariantReport) -> &Summary;
    type Fmt = fn(f64) -> String;
    let metrics: [(&str, Pick, Fmt); 3] = [
        ("latency overhead µs", |v| &v.latency_overhead_us, us),
        ("latency overhead %", |v| &v.latency_overhead_pct, pct),
        ("CPU overhead cores", |v| &v.cpu_overhead_cores, cores),
    ];
    for (title, pick, fmt) in metrics {
        let mut t = Table::new();
        t.load_style(if markdown {
            ASCII_MARKDOWN
        } else {
            UTF8_BORDERS_ONLY
        });
        t.set_header(
            [
                title, "count", "mean", "p25", "p50", "p75", "p90", "p99", "max",
            ]
            .map(String::from)
            .to_vec(),
        );

        for v in &a.variants {
            let s = pick(v);
            t.add_row(vec![
                v.label(),
                s.count.to_string(),
                fmt(s.mean),
                fmt(s.p25),
                fmt(s.p50),
                fmt(s.p75),
                fmt(s.p90),
                fmt(s.p99),
                fmt(s.max),
            ]);
        }
        for i in 1..t.column_count() {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        if let Some(w) = width {
            fit(&mut t, w);
        }
        text.push('\n');
        text.push_str(&t.to_string());
        text.push('\n');
    }
    if !a.problems.is_empty() {
        text.push_str("\nproblems in the traces:\n");
        for (k, v) in &a.problems.0 {
            text.push_str(&format!("  {k}: {v}\n"));
        }
    }
    text
}
