//! The per-component table of `cargo meshinsight probe`.

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};

use super::num::{pct, us};
use super::{Width, fit, wrap};
use crate::probe::overhead::OverheadReport;
use crate::probe::report::{Components, EventCounts, ProbeComponent, ProbeReport};

/// At most this many per-process tables.
pub(crate) const MAX_PROCESS_TABLES: usize = 8;

/// A table per process (the busiest [`MAX_PROCESS_TABLES`]) and one for the total, fitted to
/// `width`.
pub(crate) fn table(report: &ProbeReport, width: Width) -> String {
    let mut text = String::new();
    // The busiest processes first; a target that forks many short children would
    // otherwise print a table for each.
    let mut processes: Vec<_> = report.processes.iter().collect();
    processes.sort_by_key(|p| std::cmp::Reverse(p.cpu_ns()));
    for p in processes.iter().take(MAX_PROCESS_TABLES) {
        text.push_str(&format!("process {} ({}, {})\n", p.pid, p.comm, p.role));
        text.push_str(&components_table(&p.components, width).to_string());
        text.push('\n');
        text.push_str(&wrap(&events_line(&p.events), width));
    }
    if processes.len() > MAX_PROCESS_TABLES {
        text.push_str(&format!(
            "... and {} more processes with less CPU time (all are in the total; each in --format json)\n",
            processes.len() - MAX_PROCESS_TABLES
        ));
    }
    if report.softirq_daemon.values().any(|s| s.count > 0) {
        text.push_str("ksoftirqd (NET_RX not in a traced process's context)\n");
        let ipc_only: Components = report
            .softirq_daemon
            .iter()
            .filter(|(c, _)| **c == ProbeComponent::Ipc)
            .map(|(c, s)| (*c, s.clone()))
            .collect();
        text.push_str(&components_table(&ipc_only, width).to_string());
        text.push('\n');
    }
    text.push_str(&format!(
        "total over {:.3} s\n",
        report.duration_ns as f64 / 1e9
    ));
    text.push_str(&components_table(&report.total, width).to_string());
    text.push('\n');
    text.push_str(&wrap(&events_line(&report.events_total), width));
    let d = &report.drops;
    text.push_str(&wrap(&format!(
        "drops: {} lost events (stats {}, threads {}, targets {}, exited threads' events {}); partial: {} syscalls, {} softirqs begun before the attach, {} nested events skipped\n",
        d.lost(),
        d.stats_map_full,
        d.threads_map_full,
        d.targets_map_full,
        d.retired_map_full,
        d.unmatched_syscalls,
        d.unmatched_softirqs,
        d.nested_events
    ), width));
    text
}

/// The scheduler and softirq events under a components table, in one line.
fn events_line(e: &EventCounts) -> String {
    format!(
        "events: {} wake-ups, {} voluntary switches, {} preemptions; softirq runs: {} net, {} other\n",
        e.wakeups, e.switches, e.preemptions, e.net_softirqs, e.other_softirqs
    )
}

fn components_table(components: &Components, width: Width) -> Table {
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
            num(us(s.mean_wall_us())),
            num(us(s.p50_us)),
            num(us(s.p99_us)),
            num(us(s.mean_cpu_us())),
            num(format!("{} %", pct(share))),
        ];
        table.add_row(row);
    }
    fit(&mut table, width);
    table
}

fn num(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

/// The probe's own cost on a loopback round trip (`__probe-overhead`), in lines.
pub(crate) fn overhead(report: &OverheadReport) -> String {
    format!(
        "probe set:                {}{}\nround trip without probe: {:.2} µs (median of {} blocks)\nround trip with probe:    {:.2} µs\nadded by the probe:       {:.2} µs per round trip (median of paired differences; IQR {:.2} .. {:.2} µs)\nCPU per round trip:       {:.2} µs without the probe, {:+.2} µs with it (IQR {:.2} .. {:.2} µs)",
        report.probe_set,
        report
            .fallback_reason
            .as_deref()
            .map(|r| format!(" (raw tracepoints unavailable: {r})"))
            .unwrap_or_default(),
        report.median_without_ns / 1e3,
        report.repetitions,
        report.median_with_ns / 1e3,
        report.median_added_ns / 1e3,
        report.added_p25_ns / 1e3,
        report.added_p75_ns / 1e3,
        report.median_cpu_without_ns / 1e3,
        report.median_cpu_added_ns / 1e3,
        report.cpu_added_p25_ns / 1e3,
        report.cpu_added_p75_ns / 1e3,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::abi::ProbeStats;
    use crate::probe::report::{RawSnapshot, Role};

    #[test]
    fn table_snapshot() {
        let mut raw = RawSnapshot {
            duration_ns: 2_000_000_000,
            ..Default::default()
        };
        let stats = |count: u64, bytes: u64, wall: u64, cpu: u64, bucket: usize| {
            let mut s = ProbeStats {
                count,
                bytes,
                wall_ns: wall,
                cpu_ns: cpu,
                ..Default::default()
            };
            s.hist[bucket] = count;
            s
        };
        raw.stats
            .insert((42, 0), stats(2000, 2_000_000, 4_000_000, 3_900_000, 12));
        raw.stats
            .insert((42, 1), stats(2000, 2_000_000, 6_000_000, 5_800_000, 12));
        raw.stats
            .insert((42, 2), stats(4000, 1_500_000, 7_000_000, 7_000_000, 11));
        raw.stats
            .insert((42, 3), stats(2000, 0, 3_000_000, 2_000_000, 10));
        raw.stats
            .insert((42, 4), stats(4001, 0, 90_000_000, 90_000_000, 15));
        raw.stats
            .insert((42, 5), stats(4003, 0, 1_000_000, 1_000_000, 8));
        raw.stats.insert((0, 2), stats(3, 0, 9_000, 9_000, 12));
        raw.events.insert(
            42,
            crate::probe::abi::ProbeEvents {
                wakeups: 2001,
                switches: 1998,
                preemptions: 7,
                net_softirqs: 2000,
                other_softirqs: 3,
            },
        );
        raw.roles.insert(42, Role::Sidecar);
        raw.comms.insert(42, "envoy".to_string());
        raw.counters[3] = 1;
        let report = ProbeReport::from_raw(&raw);
        for w in [80u16, 160] {
            let text = table(&report, Width(w));
            assert!(
                text.lines().all(|l| l.chars().count() <= w as usize),
                "{text}"
            );
            insta::assert_snapshot!(format!("table_{w}"), text);
        }
        insta::assert_json_snapshot!("report_json", report);
    }
}
