//! Rendering of the gate's verdict: a terminal table, JSON, and markdown (the PR comment and
//! the GitHub step summary).

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table, TableStyle};

use super::Format;
use crate::gate::snapshot::Unit;
use crate::gate::{MetricId, MetricResult, MetricVerdict, Outcome, Verdict};

/// Renders `verdict` in `format`.
pub(crate) fn render(verdict: &Verdict, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(verdict).expect("a verdict serializes");
            s.push('\n');
            s
        }
        Format::Table => table_text(verdict),
        Format::Markdown => markdown(verdict, None),
    }
}

fn value(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "-".into(),
        (Some(v), Unit::Cores) => super::cores(v),
        (Some(v), Unit::UsPerByte) => format!("{v:.5}"),
        (Some(v), Unit::Us) => super::us(v),
    }
}

fn signed(v: Option<f64>, unit: Unit) -> String {
    match v {
        None => "-".into(),
        Some(0.0) => "0".into(),
        Some(d) => {
            let s = value(Some(d.abs()), unit);
            if d < 0.0 {
                format!("−{s}")
            } else {
                format!("+{s}")
            }
        }
    }
}

fn pct(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(p) if p.is_infinite() => if p > 0.0 { "+∞" } else { "−∞" }.into(),
        // Rounds to zero without a sign.
        Some(p) if p.abs() < 0.05 => "0.0%".into(),
        Some(p) => format!("{p:+.1}%"),
    }
}

fn p_text(m: &MetricResult) -> String {
    match m.p_adjusted {
        None => "-".into(),
        Some(p) if p < 1e-4 => "<0.0001".into(),
        Some(p) => format!("{p:.4}"),
    }
}

fn moved_text(m: &MetricResult) -> String {
    match &m.attribution {
        Some(a) => format!(
            "{} {} ({:.0}%)",
            a.part,
            signed(Some(a.delta), m.unit),
            a.share_pct
        ),
        None => String::new(),
    }
}

fn metric_table(rows: &[&MetricResult], preset: TableStyle, with_moved: bool) -> Table {
    let mut t = Table::new();
    let mut header = vec![
        "metric",
        "unit",
        "base",
        "head",
        "delta",
        "of overhead",
        "± se",
        "p (adj.)",
        "verdict",
    ];
    if with_moved {
        header.push("moved most");
    }
    t.load_style(preset).set_header(header);
    for m in rows {
        let mut row = vec![
            m.id.label(),
            m.unit.to_string(),
            value(m.base, m.unit),
            value(m.head, m.unit),
            signed(m.delta, m.unit),
            pct(m.change_pct),
            value(m.se, m.unit),
            p_text(m),
            verdict_text(m),
        ];
        if with_moved {
            row.push(moved_text(m));
        }
        t.add_row(row);
    }
    for i in 2..8 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

fn headline(v: &Verdict) -> String {
    if v.verdict == Outcome::NoBaseline {
        return v.summary.clone();
    }
    let mark = match v.verdict {
        Outcome::Regression => "regression",
        Outcome::Improvement => "improvement",
        Outcome::Pass => "pass",
        Outcome::NoBaseline => "no baseline",
    };
    let paired = if v.paired.is_some() { "paired " } else { "" };
    format!("{paired}{mark}: {}", v.summary)
}

/// The "paired" marker: what was measured against what, and how it was judged.
fn paired_line(p: &crate::gate::PairedInfo) -> String {
    format!(
        "PAIRED: base `{}`{} vs head `{}`, measured interleaved, {} matched points; {}",
        p.base,
        p.base_commit
            .as_deref()
            .map(|c| format!(" (at {})", &c[..c.len().min(7)]))
            .unwrap_or_default(),
        p.head,
        p.points,
        p.test
    )
}

fn settings_line(v: &Verdict) -> String {
    let correction = match v.settings.correction {
        crate::gate::Correction::Holm => "Holm",
        crate::gate::Correction::Bh => "Benjamini–Hochberg",
    };
    format!(
        "threshold {}%, α {} ({correction})",
        v.settings.threshold_pct, v.settings.alpha
    )
}

fn table_text(v: &Verdict) -> String {
    let mut out = String::new();
    out.push_str(&format!("Gate: {}\n", headline(v)));
    out.push_str(&format!("platform {}", v.platform.id));
    if let Some(p) = &v.paired {
        out.push_str(&format!("; {}", paired_line(p)));
    } else if let Some(b) = &v.baseline {
        out.push_str(&format!(
            "; baseline {} ({} version{} of history)",
            b.origin,
            b.history_versions,
            if b.history_versions == 1 { "" } else { "s" }
        ));
    }
    out.push_str(&format!("; {}\n", settings_line(v)));
    if v.metrics.is_empty() {
        return out;
    }
    let fixtures: Vec<&MetricResult> = v.fixtures().collect();
    out.push_str("\nFixtures\n");
    out.push_str(&metric_table(&fixtures, UTF8_BORDERS_ONLY, true).to_string());
    out.push('\n');
    let coefs: Vec<&MetricResult> = v
        .metrics
        .iter()
        .filter(|m| {
            matches!(m.id, MetricId::Coefficient { .. }) && m.verdict != MetricVerdict::Unchanged
        })
        .collect();
    if !coefs.is_empty() {
        out.push_str("\nProfile coefficients that changed beyond the threshold\n");
        out.push_str(&metric_table(&coefs, UTF8_BORDERS_ONLY, false).to_string());
        out.push('\n');
    }
    for n in &v.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

fn fixture_table(rows: &[&MetricResult]) -> String {
    let mut t = Table::new();
    t.load_style(ASCII_MARKDOWN).set_header(vec![
        "fixture",
        "metric",
        "base",
        "head",
        "delta",
        "change",
        "verdict",
        "moved most",
    ]);
    for m in rows {
        let MetricId::Fixture { fixture, quantity } = &m.id else {
            continue;
        };
        t.add_row(vec![
            fixture.clone(),
            format!("{} ({})", quantity.as_str(), m.unit),
            value(m.base, m.unit),
            value(m.head, m.unit),
            signed(m.delta, m.unit),
            pct(m.change_pct),
            format!("`{}`", verdict_text(m)),
            moved_text(m),
        ]);
    }
    t.to_string()
}

/// The verdict code, and when the check measured twice and this metric was flagged, what the
/// first measurement said (`unconfirmed (first: regression +8.3%)`).
fn verdict_text(m: &MetricResult) -> String {
    match &m.first {
        Some(f) if f.verdict != m.verdict || m.verdict == MetricVerdict::Unconfirmed => format!(
            "{} (first: {} {})",
            m.verdict.code(),
            f.verdict.code(),
            pct(f.change_pct)
        ),
        Some(_) => format!("{} (twice)", m.verdict.code()),
        None => m.verdict.code().to_string(),
    }
}

/// GitHub refuses comment bodies over 65,536 characters; the details table is left out of
/// a report that would come near it.
pub(crate) const MAX_MARKDOWN_BYTES: usize = 60_000;

/// The markdown report; with `marker`, the hidden marker of the PR comment goes first.
pub(crate) fn markdown(v: &Verdict, marker: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(m) = marker {
        out.push_str(m);
        out.push('\n');
    }
    let icon = match v.verdict {
        Outcome::Regression => "❌",
        Outcome::Improvement => "✅",
        Outcome::Pass => "✅",
        Outcome::NoBaseline => "⚠️",
    };
    out.push_str(&format!(
        "### {icon} cargo-meshinsight: {}\n\n",
        headline(v)
    ));
    if !v.metrics.is_empty() {
        let all: Vec<&MetricResult> = v.fixtures().collect();
        let mut table = fixture_table(&all);
        if table.len() > MAX_MARKDOWN_BYTES / 2 {
            // Too many fixtures for a comment: keep the ones that moved.
            let moved: Vec<&MetricResult> = all
                .iter()
                .copied()
                .filter(|m| m.verdict != MetricVerdict::Unchanged)
                .collect();
            table = fixture_table(&moved);
            if table.len() > MAX_MARKDOWN_BYTES / 2 {
                table = String::from("(too many to list: see the JSON report)");
            }
            table.push_str(&format!(
                "\n\n{} fixture metric(s) within the threshold are not shown.",
                all.len() - moved.len()
            ));
        }
        out.push_str(&table);
        out.push_str("\n\n");
        let moved: Vec<&MetricResult> = v.moved().collect();
        if moved.is_empty() {
            out.push_str("**Components that moved:** none.\n\n");
        } else {
            out.push_str("**Components that moved:**\n\n");
            for m in moved {
                let of = match &m.id {
                    MetricId::Coefficient { mode, .. } => format!(" of the {mode} overhead"),
                    MetricId::Fixture { .. } => String::new(),
                };
                out.push_str(&format!(
                    "- `{}`: {} → {} {} ({}{of}, `{}`)\n",
                    m.id.label(),
                    value(m.base, m.unit),
                    value(m.head, m.unit),
                    m.unit,
                    pct(m.change_pct),
                    m.verdict.code()
                ));
            }
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "Platform `{}`{}{}. Baseline: {}. Threshold {}.\n",
        v.platform.id,
        v.platform
            .cpu_model
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
        v.platform
            .kernel
            .as_deref()
            .map(|k| format!(", kernel {k}"))
            .unwrap_or_default(),
        match (&v.paired, &v.baseline) {
            (Some(p), _) => paired_line(p),
            (None, Some(b)) => format!(
                "`{}`, {} version(s) of history",
                b.origin, b.history_versions
            ),
            (None, None) => "none".into(),
        },
        settings_line(v).trim_start_matches("threshold ")
    ));
    if !v.metrics.is_empty() {
        out.push_str("\n<details><summary>All metrics</summary>\n\n");
        let all: Vec<&MetricResult> = v.metrics.iter().collect();
        let table = metric_table(&all, ASCII_MARKDOWN, true).to_string();
        if out.len() + table.len() <= MAX_MARKDOWN_BYTES {
            out.push_str(&table);
        } else {
            out.push_str(
                "The table of every metric is too long for a comment: see the JSON report \
                 (`check --report FILE`) or `check --format table`.",
            );
        }
        out.push_str("\n\n");
        for n in &v.notes {
            out.push_str(&format!("Note: {n}\n\n"));
        }
        out.push_str("</details>\n");
    }
    out
}
