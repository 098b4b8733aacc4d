//! Measuring with progress: a profile or a paired measurement, with a bar (runs done, time
//! left) and status lines.

use super::error::Error;
use super::output::Output;
use super::progress;
use crate::harness::{Launch, Sidecar};
use crate::measure::paired::PairedProfiles;
use crate::measure::{MeasureConfig, MeasureError, Progress};
use crate::model::Profile;

/// [`crate::measure::measure`] with a progress bar (time left) and status lines on `out`.
pub(crate) fn measure_profile(
    cfg: &MeasureConfig,
    launch: &Launch,
    out: &mut Output,
) -> Result<Profile, Error> {
    let planned = cfg.planned_runs();
    out.status(
        "Profiling",
        format!(
            "{} ({} modes, {} filters, sizes {:?}, {} runs)",
            cfg.sidecar.name(),
            cfg.modes_in_order().len(),
            cfg.filters.len(),
            cfg.sizes,
            planned
        ),
    );
    let profile = measure_with_progress(cfg, launch, out)?;
    let elapsed = profile
        .settings
        .as_ref()
        .map(|s| s.elapsed_s)
        .unwrap_or(0.0);
    out.status(
        "Profiled",
        format!("{} in {elapsed:.0} s", profile.platform.id),
    );
    Ok(profile)
}

/// [`crate::measure::measure`] with progress only (the caller says what it measures).
pub(crate) fn measure_with_progress(
    cfg: &MeasureConfig,
    launch: &Launch,
    out: &mut Output,
) -> Result<Profile, Error> {
    with_bar(out, cfg.planned_runs(), |progress| {
        crate::measure::measure(cfg, launch, progress)
    })
}

/// [`crate::measure::paired::measure_paired`] with a progress bar and status lines on `out`.
pub(crate) fn measure_paired(
    cfg: &MeasureConfig,
    base: &Sidecar,
    head_first: bool,
    base_label: &str,
    head_label: &str,
    launch: &Launch,
    out: &mut Output,
) -> Result<PairedProfiles, Error> {
    let planned = cfg.planned_paired_runs();
    out.status(
        "Profiling",
        format!(
            "paired: base `{base_label}` and head `{head_label}` interleaved ({} modes, sizes {:?}, {planned} runs)",
            cfg.modes_in_order().len(),
            cfg.sizes,
        ),
    );
    let paired = with_bar(out, planned, |progress| {
        crate::measure::paired::measure_paired(cfg, base, head_first, launch, progress)
    })?;
    let elapsed = paired
        .head
        .settings
        .as_ref()
        .map(|s| s.elapsed_s)
        .unwrap_or(0.0);
    out.status(
        "Profiled",
        format!("{} points, base and head, in {elapsed:.0} s", paired.points),
    );
    Ok(paired)
}

/// Runs `measure` with a bar of `planned` runs that shows its phases.
fn with_bar<T>(
    out: &mut Output,
    planned: u64,
    measure: impl FnOnce(&mut dyn FnMut(Progress)) -> Result<T, MeasureError>,
) -> Result<T, Error> {
    let bar = progress::bar(
        out,
        "Measuring",
        Some(planned),
        progress::Unit::Count("runs"),
    );
    let result = measure(&mut |p| match p {
        Progress::Phase(what) => bar.set_message(what),
        Progress::Run => bar.inc(1),
    });
    bar.finish_and_clear();
    Ok(result?)
}
