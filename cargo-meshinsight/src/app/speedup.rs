//! `cargo meshinsight speedup`: a speedup profile measured from two profiles of the same
//! sidecar, with and without a change (the paper's what-if studies; docs/validation.md).

use std::path::PathBuf;

use super::error::Error;
use super::input::load_profile;
use super::output::Output;
use crate::exit;
use crate::predict::Speedup;
use crate::predict::whatif::speedup_between;

/// What `speedup` compares, and where it writes the result.
#[derive(Clone, Debug)]
pub(crate) struct SpeedupConfig {
    /// The profile without the change.
    pub(crate) base: PathBuf,
    /// The profile with the change.
    pub(crate) variant: PathBuf,
    /// Message size the relative changes are taken at, bytes.
    pub(crate) size: f64,
    /// The speedup's name; `None`: the variant file's name.
    pub(crate) name: Option<String>,
    /// Where the speedup profile (TOML) goes.
    pub(crate) output: PathBuf,
}

/// Turns the two profiles into a speedup profile, writes it and prints its changes.
pub(crate) fn run(config: &SpeedupConfig, out: &mut Output) -> Result<u8, Error> {
    if !(config.size.is_finite() && config.size > 0.0) {
        return Err(Error::InvalidSize { value: config.size });
    }
    let base = load_profile(&config.base)?;
    let variant = load_profile(&config.variant)?;
    if base.platform.id != variant.platform.id {
        out.warn(format!(
            "the profiles are of different platforms ({} and {}): the speedup mixes the change \
             with everything else that differs",
            base.platform.id, variant.platform.id
        ));
    }
    let name = config.name.clone().unwrap_or_else(|| {
        config
            .variant
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "measured change".into())
    });
    let speedup = speedup_between(&name, &base, &variant, config.size).map_err(|reason| {
        Error::NothingToCompare {
            base: config.base.clone(),
            variant: config.variant.clone(),
            reason,
        }
    })?;
    let text = toml::to_string(&speedup).map_err(Error::SpeedupToml)?;
    crate::project::fs::write_atomic(&config.output, text.as_bytes()).map_err(|e| {
        Error::Write {
            what: format!("the speedup profile to {}", config.output.display()),
            source: e.source,
        }
    })?;
    out.status(
        "Finished",
        format!(
            "speedup `{name}` ({} changes) written to {}",
            speedup.changes.len(),
            config.output.display()
        ),
    );
    out.write_result(&changes_table(&speedup), "the report")?;
    Ok(exit::OK)
}

/// The changes as a plain table: mode, component, latency and CPU change in %.
fn changes_table(speedup: &Speedup) -> String {
    let mut table = String::from("mode  component  latency %  CPU %\n");
    for c in &speedup.changes {
        let pct = |v: Option<f64>| v.map(|v| format!("{v:+.1}")).unwrap_or_else(|| "-".into());
        table.push_str(&format!(
            "{:5} {:10} {:>9} {:>6}\n",
            c.modes
                .as_ref()
                .and_then(|m| m.first())
                .map(|m| m.as_str())
                .unwrap_or("all"),
            c.component,
            pct(c.latency_percent),
            pct(c.cpu_percent)
        ));
    }
    table
}
