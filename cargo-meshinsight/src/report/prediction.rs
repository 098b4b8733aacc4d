//! Rendering of predictions: a fixture table and a per-component table.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table, TableStyle};

use super::num::pct;
use super::{Format, Width, cores, fit, us, wrap};
use crate::model::{CostPart, CpuPrice};
use crate::predict::{Figures, Prediction};

/// Renders predictions in `format`, a table fitted to `width`; JSON is an array with one
/// object per fixture.
pub(crate) fn render(predictions: &[Prediction], format: Format, width: Width) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(predictions).expect("predictions serialize");
            s.push('\n');
            s
        }
        Format::Table => tables(predictions, UTF8_BORDERS_ONLY, Some(width)),
        Format::Markdown => tables(predictions, ASCII_MARKDOWN, None),
    }
}

fn new_table(preset: TableStyle, header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_style(preset).set_header(header);
    t
}

fn right_align(t: &mut Table, from: usize) {
    let n = t.column_count();
    for i in from..n {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The tables; terminal ones (`width` given) fitted to it, markdown ones (`None`) not.
fn tables(predictions: &[Prediction], preset: TableStyle, width: Option<Width>) -> String {
    let markdown = width.is_none();
    let speedup = predictions
        .iter()
        .find_map(|p| p.speedup.as_ref().map(|s| s.name.clone()));
    let mut header: Vec<String> = [
        "fixture",
        "calls",
        "base µs",
        "with mesh µs",
        "overhead µs",
        "overhead %",
        "CPU cores",
        "critical path",
    ]
    .map(String::from)
    .to_vec();
    if speedup.is_some() {
        header.extend(["after speedup µs", "after CPU cores"].map(String::from));
    }
    let mut main = new_table(preset, header);
    for p in predictions {
        let f = &p.figures;
        let mut row = vec![
            p.name.clone(),
            p.calls.to_string(),
            us(p.base_latency_us),
            us(f.predicted_latency_us),
            us(f.latency_overhead_us),
            pct(f.latency_overhead_pct),
            cores(f.cpu_overhead_cores),
            path_text(f, p.calls),
        ];
        if speedup.is_some() {
            match &p.speedup {
                Some(s) => {
                    row.push(us(s.figures.latency_overhead_us));
                    row.push(cores(s.figures.cpu_overhead_cores));
                }
                None => row.extend([String::new(), String::new()]),
            }
        }
        main.add_row(row);
    }
    right_align(&mut main, 1);
    if let Some(c) = main.column_mut(7) {
        c.set_cell_alignment(CellAlignment::Left);
    }

    // Parts that any fixture uses, in component order.
    let parts: Vec<CostPart> = CostPart::all()
        .filter(|part| {
            predictions
                .iter()
                .any(|p| p.figures.components.contains_key(&part.key()))
        })
        .collect();
    let mut header = vec!["fixture".to_string(), "".to_string()];
    header.extend(parts.iter().map(|p| p.key()));
    let mut by_part = new_table(preset, header);
    for p in predictions {
        for (label, pick) in [("latency µs", true), ("CPU cores", false)] {
            let mut row = vec![
                if pick { p.name.clone() } else { String::new() },
                label.to_string(),
            ];
            for part in &parts {
                row.push(match p.figures.components.get(&part.key()) {
                    Some(c) if pick => us(c.latency_us),
                    Some(c) => cores(c.cpu_cores),
                    None => "-".into(),
                });
            }
            by_part.add_row(row);
        }
    }
    right_align(&mut by_part, 2);
    if let Some(w) = width {
        fit(&mut main, w);
        fit(&mut by_part, w);
    }

    let mut out = String::new();
    let prose = |text: String| match width {
        Some(w) => wrap(&text, w),
        None => text,
    };
    let profile = predictions
        .first()
        .map(|p| p.profile.as_str())
        .unwrap_or("-");
    let price = match predictions.first().map(|p| p.cpu_price) {
        Some(CpuPrice::Unloaded) => ", CPU priced unloaded: one request at a time",
        _ => "",
    };
    if markdown {
        out.push_str(&format!(
            "**Predicted sidecar overhead** (profile `{profile}`{price})\n\n"
        ));
    } else {
        out.push_str(&prose(format!(
            "Predicted sidecar overhead (profile {profile}{price})\n"
        )));
    }
    out.push_str(&main.to_string());
    out.push_str("\n\n");
    if markdown {
        out.push_str("**By component** (latency: overhead on the predicted critical path)\n\n");
    } else {
        out.push_str(&prose(
            "By component (latency: overhead on the predicted critical path)\n".into(),
        ));
    }
    out.push_str(&by_part.to_string());
    out.push('\n');
    if let Some(name) = speedup {
        out.push_str(&prose(format!("\nSpeedup: {name}\n")));
    }
    out
}

fn path_text(f: &Figures, calls: usize) -> String {
    let mut text = if f.critical_path.len() <= 6 {
        f.critical_path.join(" → ")
    } else {
        format!(
            "{} → … → {} ({} of {calls} calls)",
            f.critical_path[0],
            f.critical_path[f.critical_path.len() - 1],
            f.critical_path.len()
        )
    };
    if f.critical_path_switched {
        text.push_str(" (switched)");
    }
    text
}
