//! The result of `cargo meshinsight bench`: a table of the percentiles without and with the
//! sidecar, and the overhead with its confidence interval.

use comfy_table::{CellAlignment, Table};

use super::num::us;
use super::{Width, fit, wrap};
use crate::harness::bench::BenchResult;
use crate::vocab::SidecarConfig;

/// The result as a table plus a line on the overhead's confidence interval, fitted to
/// `width`.
pub(crate) fn table(r: &BenchResult, width: Width) -> String {
    let mut table = Table::new();
    table.set_header(vec!["latency (µs)", "baseline", "with sidecar", "overhead"]);
    let rows = [
        (
            "p50",
            r.baseline_p50_us,
            r.sidecar_p50_us,
            r.overhead_p50_us,
        ),
        (
            "p90",
            r.baseline_p90_us,
            r.sidecar_p90_us,
            r.overhead_p90_us,
        ),
        (
            "p99",
            r.baseline_p99_us,
            r.sidecar_p99_us,
            r.overhead_p99_us,
        ),
        (
            "mean",
            r.baseline_mean_us,
            r.sidecar_mean_us,
            r.overhead_mean_us,
        ),
    ];
    for (name, b, s, o) in rows {
        table.add_row(vec![name.to_string(), us(b), us(s), us(o)]);
    }
    for i in 1..4 {
        if let Some(c) = table.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    fit(&mut table, width);
    let config = SidecarConfig {
        mode: r.mode,
        filters: r.filters.clone(),
    };
    let version = r
        .sidecar_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let ci = match r.overhead_ci95_us {
        Some(ci) => format!("± {} µs (95% CI over {} repetitions)", us(ci), r.repeat),
        None => "(one repetition: no confidence interval)".to_string(),
    };
    let title = format!(
        "{}{version}, {config}, {} B, {}:",
        r.sidecar,
        r.size,
        match r.rate {
            Some(rate) => format!("open loop at {rate} req/s"),
            None => "closed loop".to_string(),
        },
    );
    let last = format!("overhead p50: {} µs {ci}", us(r.overhead_p50_us));
    format!("{}\n{table}\n{}", wrap(&title, width), wrap(&last, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Upstream;
    use crate::vocab::Mode;

    #[test]
    fn the_table_shows_percentiles_and_the_interval() {
        let r = BenchResult {
            format_version: 1,
            sidecar: "builtin".into(),
            sidecar_version: None,
            mode: Mode::Http,
            filters: vec![],
            upstream: Upstream::Tcp,
            size: 100,
            rate: None,
            repeat: 3,
            requests_per_run: 2000,
            baseline_p50_us: 20.0,
            baseline_p90_us: 25.0,
            baseline_p99_us: 40.0,
            baseline_mean_us: 21.0,
            sidecar_p50_us: 60.0,
            sidecar_p90_us: 70.0,
            sidecar_p99_us: 95.0,
            sidecar_mean_us: 62.0,
            overhead_p50_us: 40.0,
            overhead_ci95_us: Some(2.5),
            overhead_p50_stdev_us: Some(1.0),
            overhead_p90_us: 45.0,
            overhead_p99_us: 55.0,
            overhead_mean_us: 41.0,
            overhead_mean_ci95_us: Some(3.0),
            repetitions: vec![],
        };
        for w in [80, 160] {
            let text = table(&r, Width(w));
            assert!(
                text.lines().all(|l| l.chars().count() <= w as usize),
                "{text}"
            );
            insta::assert_snapshot!(format!("bench_table_{w}"), text);
        }
        let narrow = table(&r, Width::MIN);
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
    }
}
