//! Rendering of critical paths: a table per trace (with a column for the path with the mesh
//! when there is one), or JSON.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table};

use super::{Format, Width, fit, us, wrap};
use crate::analyze::critical_path::TraceReport;
use crate::traces::crisp::PathStep;

/// Renders `reports` in `format`, tables fitted to `width`.
pub(crate) fn render(reports: &[TraceReport], format: Format, width: Width) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(reports).expect("reports serialize");
            s.push('\n');
            s
        }
        Format::Table => tables(reports, Some(width)),
        Format::Markdown => tables(reports, None),
    }
}

/// The tables: for the terminal fitted to `width`, markdown without one.
fn tables(reports: &[TraceReport], width: Option<Width>) -> String {
    let mut text = String::new();
    for r in reports {
        let mut title = format!("trace {}", r.trace_id);
        if let Some(m) = &r.with_mesh {
            title.push_str(&format!(
                " (with the mesh: {} on profile {}, +{} µs)",
                m.config,
                m.profile,
                us(m.overhead_us)
            ));
        }
        title.push('\n');
        if !r.problems.is_empty() {
            title.push_str(&format!("  {}\n", r.problems.summary()));
        }
        text.push_str(&match width {
            Some(w) => wrap(&title, w),
            None => title,
        });
        let mut t = table(r, width.is_none());
        if let Some(w) = width {
            fit(&mut t, w);
        }
        text.push_str(&t.to_string());
        text.push_str("\n\n");
    }
    text
}

/// The steps of one trace's path, the path with the mesh beside it; calls on only one of the
/// two paths say `off path` in the other column.
fn table(r: &TraceReport, markdown: bool) -> Table {
    let mut t = Table::new();
    t.load_style(if markdown {
        ASCII_MARKDOWN
    } else {
        UTF8_BORDERS_ONLY
    });
    let mut header = vec!["call", "service", "operation", "exclusive µs"];
    if r.with_mesh.is_some() {
        header.push("with mesh µs");
    }
    t.set_header(header);
    // Looked up by id: a path of 50,000 calls must not take 50,000² comparisons.
    let mesh_steps: std::collections::HashMap<&str, &PathStep> = r
        .with_mesh
        .as_ref()
        .map(|m| m.path.path.iter().map(|s| (s.id.as_str(), s)).collect())
        .unwrap_or_default();
    let base_ids: std::collections::HashSet<&str> =
        r.path.path.iter().map(|s| s.id.as_str()).collect();
    let mesh_of = |id: &str| mesh_steps.get(id).copied();
    for s in &r.path.path {
        let mut row = vec![
            s.id.clone(),
            s.service.clone(),
            s.operation.clone(),
            us(s.exclusive_us),
        ];
        if r.with_mesh.is_some() {
            row.push(mesh_of(&s.id).map_or("off path".into(), |m| us(m.exclusive_us)));
        }
        t.add_row(row);
    }
    if let Some(m) = &r.with_mesh {
        for s in &m.path.path {
            if !base_ids.contains(s.id.as_str()) {
                t.add_row(vec![
                    s.id.clone(),
                    s.service.clone(),
                    s.operation.clone(),
                    "off path".into(),
                    us(s.exclusive_us),
                ]);
            }
        }
    }
    let mut total = vec![
        "total".to_string(),
        String::new(),
        String::new(),
        us(r.path.total_us),
    ];
    if let Some(m) = &r.with_mesh {
        total.push(us(m.path.total_us));
    }
    t.add_row(total);
    for i in 3..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::critical_path::{MeshPath, PathReport};
    use crate::traces::Problems;

    fn step(id: &str, service: &str, exclusive_us: f64) -> PathStep {
        PathStep {
            id: id.into(),
            service: service.into(),
            operation: format!("op-{id}"),
            exclusive_us,
        }
    }

    fn report() -> TraceReport {
        let mut problems = Problems::default();
        problems.add(
            "orphan spans: parent not in the trace (left off, with their subtrees)",
            1,
        );
        TraceReport {
            trace_id: "a1".into(),
            path: PathReport {
                total_us: 1000.0,
                path: vec![step("s0", "frontend", 25.0), step("c1", "auth", 975.0)],
            },
            with_mesh: Some(MeshPath {
                config: "tcp".into(),
                profile: "paper".into(),
                overhead_us: 123.4,
                path: PathReport {
                    total_us: 1123.4,
                    path: vec![step("s0", "frontend", 60.0), step("c2", "cart", 1063.4)],
                },
            }),
            problems,
        }
    }

    #[test]
    fn tables_put_the_path_with_the_mesh_beside_crisps() {
        let mut plain = report();
        plain.with_mesh = None;
        plain.problems = Problems::default();
        let text = format!(
            "{}{}",
            render(&[report()], Format::Table, Width::DEFAULT),
            render(&[plain], Format::Markdown, Width::DEFAULT)
        );
        insta::assert_snapshot!(text);
    }
}
