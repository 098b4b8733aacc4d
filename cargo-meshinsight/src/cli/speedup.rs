//! `cargo meshinsight speedup`: a speedup profile measured from two profiles of the same
//! sidecar, with and without a change (the paper's what-if studies; docs/validation.md).

use std::path::PathBuf;

use super::profile::write_atomically;
use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::predict::whatif::speedup_between;

/// Turn two measured profiles (without and with a change) into a speedup profile.
#[derive(Debug, clap::Args)]
pub struct SpeedupArgs {
    /// The profile without the change (e.g. `profile --sidecar builtin`)
    #[arg(long, value_name = "FILE")]
    base: PathBuf,
    /// The profile with the change (e.g. `profile --sidecar builtin --upstream uds`)
    #[arg(long, value_name = "FILE")]
    variant: PathBuf,
    /// Message size the relative changes are taken at, bytes
    #[arg(long, default_value_t = 100.0)]
    size: f64,
    /// The speedup's name in reports [default: the variant file's name]
    #[arg(long)]
    name: Option<String>,
    /// Where to write the speedup profile (TOML, for `predict`/`analyze --speedup`)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

pub(crate) fn run(args: SpeedupArgs, out: &mut Output) -> Result<u8, Error> {
    if !(args.size.is_finite() && args.size > 0.0) {
        return Err(Error::Other {
            message: format!(
                "--size must be a positive number of bytes, not {}",
                args.size
            ),
            hint: None,
        });
    }
    let base = crate::app::input::load_profile(&args.base)?;
    let variant = crate::app::input::load_profile(&args.variant)?;
    if base.platform.id != variant.platform.id {
        out.warn(format!(
            "the profiles are of different platforms ({} and {}): the speedup mixes the change \
             with everything else that differs",
            base.platform.id, variant.platform.id
        ));
    }
    let name = args.name.clone().unwrap_or_else(|| {
        args.variant
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "measured change".into())
    });
    let speedup =
        speedup_between(&name, &base, &variant, args.size).map_err(|message| Error::Other {
            message: format!(
                "cannot compare {} with {}: {message}",
                args.base.display(),
                args.variant.display()
            ),
            hint: Some("profile the same modes with and without the change".into()),
        })?;
    let text = toml::to_string(&speedup).map_err(|e| Error::Other {
        message: format!("cannot write the speedup profile: {e}"),
        hint: None,
    })?;
    write_atomically(&args.output, &text, "the speedup profile")?;
    out.status(
        "Finished",
        format!(
            "speedup `{name}` ({} changes) written to {}",
            speedup.changes.len(),
            args.output.display()
        ),
    );
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
    out.out()
        .write_all(table.as_bytes())
        .map_err(|source| Error::Write {
            what: "the report".into(),
            source,
        })?;
    Ok(exit::OK)
}
