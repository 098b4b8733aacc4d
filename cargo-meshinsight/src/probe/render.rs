//! The per-component table of `cargo meshinsight probe`.

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};

use super::report::{Components, ProbeComponent, ProbeReport};

/// A table per process and one for the total.
pub fn table(report: &ProbeReport) -> String {
    let mut text = String::new();
    for p in &report.processes {
        text.push_str(&format!("process {} ({}, {})\n", p.pid, p.comm, p.role));
        text.push_str(&components_table(&p.components).to_string());
        text.push('\n');
    }
    if report.softirq_daemon.values().any(|s| s.count > 0) {
        text.push_str("ksoftirqd (NET_RX not in a traced process's context)\n");
        text.push_str(&components_table(&report.softirq_daemon).to_string());
        text.push('\n');
    }
    text.push_str(&format!(
        "total over {:.3} s\n",
        report.duration_ns as f64 / 1e9
    ));
    text.push_str(&components_table(&report.total).to_string());
    text.push('\n');
    let d = &report.drops;
    text.push_str(&format!(
        "drops: {} lost events (stats {}, threads {}, targets {}); partial: {} syscalls, {} softirqs begun before the attach\n",
        d.lost(),
        d.stats_map_full,
        d.threads_map_full,
        d.targets_map_full,
        d.unmatched_syscalls,
        d.unmatched_softirqs
    ));
    text
}

fn components_table(components: &Components) -> Table {
    let total_cpu: u64 = components.values().map(|s| s.cpu_ns).sum();
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "component",
        "count",
        "bytes",
        "mean µs",
        "p50 µs",
        "p99 µs",
        "CPU µs/event",
        "CPU share",
    ]);
    for c in ProbeComponent::ALL {
        let Some(s) = components.get(&c) else {
            continue;
        };
        let share = if total_cpu == 0 {
            0.0
        } else {
            100.0 * s.cpu_ns as f64 / total_cpu as f64
        };
        let row = vec![
            Cell::new(c.as_str()),
            num(s.count.to_string()),
            num(s.bytes.to_string()),
            num(format!("{:.2}", s.mean_wall_us())),
            num(format!("{:.2}", s.p50_us)),
            num(format!("{:.2}", s.p99_us)),
            num(format!("{:.2}", s.mean_cpu_us())),
            num(format!("{share:.1} %")),
        ];
        table.add_row(row);
    }
    table
}

fn num(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}
