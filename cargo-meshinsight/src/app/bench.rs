//! `cargo meshinsight bench`: the black-box overhead of a sidecar, with progress.

use super::error::Error;
use super::output::Output;
use super::progress::{self, Bar, Unit};
use crate::exit;
use crate::harness::bench::{BenchConfig, BenchProgress, run_bench};
use crate::report::Format;

/// Runs the benchmark and prints its result as a table or as JSON.
pub(crate) fn run(cfg: &BenchConfig, format: Format, out: &mut Output) -> Result<u8, Error> {
    let launch = super::launch::launch(None, out)?;
    let what = format!("{} ({}, {} B)", cfg.sidecar.name(), cfg.config, cfg.size);
    out.status("Starting", &what);
    let bar = progress::bar(out, "Measuring", None, Unit::Count("runs"));
    let result = run_bench(&launch, cfg, &mut |p| show(&bar, p));
    bar.finish_and_clear();
    let result = result?;
    out.status("Finished", format!("{what}, {} repetitions", result.repeat));
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&result).expect("results serialize"),
        Format::Table | Format::Markdown => crate::report::bench::table(&result, out.width()),
    };
    writeln!(out.out(), "{text}").map_err(|source| Error::Write {
        what: "the result".into(),
        source,
    })?;
    Ok(exit::OK)
}

/// Shows the benchmark's progress on `bar`.
fn show(bar: &Bar, p: BenchProgress) {
    match p {
        BenchProgress::Started {
            runs,
            sidecar_version,
        } => {
            bar.set_length(runs as u64);
            if let Some(v) = sidecar_version {
                bar.set_message(format!("version {v}"));
            }
        }
        BenchProgress::RunDone {
            with_sidecar,
            p50_us,
        } => {
            bar.set_message(format!(
                "last: {} p50 {} µs",
                if with_sidecar { "sidecar" } else { "baseline" },
                crate::report::num::us(p50_us)
            ));
            bar.inc(1);
        }
    }
}
