//! Where the gate's head profile comes from: a profile file, or a measurement made now with
//! the profiler, configured by the project's `[*.metadata.meshinsight]` table.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::{Settings, Sidecar as ConfigSidecar};
use crate::ecg::Ecg;
use crate::error::Error;
use crate::harness::{Launch, Sidecar, install_interrupt_cleanup};
use crate::output::Output;
use crate::profile::Profile;
use crate::profile::measure::{MeasureConfig, measure_reporting};
use crate::vocab::Mode;

/// The head profile of `check` (and the profile `baseline update` records).
#[derive(Clone, Debug, PartialEq)]
pub enum ProfileSource {
    /// A profile file, e.g. written by `cargo meshinsight profile`.
    File(PathBuf),
    /// Profile the configured sidecar now (root); `quick` for `profile --quick` settings.
    Measure {
        /// The `--quick` settings of `profile`.
        quick: bool,
    },
}

impl Default for ProfileSource {
    /// What `check` does without `--profile`: measure now with the full settings.
    fn default() -> Self {
        ProfileSource::Measure { quick: false }
    }
}

impl ProfileSource {
    /// Loads or measures the profile.
    pub fn obtain(&self, settings: &Settings, out: &mut Output) -> Result<Profile, Error> {
        match self {
            ProfileSource::File(path) => Ok(Profile::load(path)?),
            ProfileSource::Measure { quick } => {
                let cfg = measure_config(settings, *quick)?;
                install_interrupt_cleanup();
                let launch = Launch::current()?;
                measure_reporting(&cfg, &launch, out)
            }
        }
    }
}

fn invalid(settings: &Settings, message: String) -> Error {
    Error::Other {
        message: format!(
            "cannot profile for the gate ({}): {message}",
            settings.manifest.display()
        ),
        hint: Some("the `metadata.meshinsight` keys are described in docs/gate.md".into()),
    }
}

/// The profiler's settings for a project: its sidecar, the modes its fixtures use (or the
/// configured ones), its filters, and `profile = { sizes, rates, repeat, requests }`.
pub fn measure_config(settings: &Settings, quick: bool) -> Result<MeasureConfig, Error> {
    let sidecar = match &settings.sidecar {
        ConfigSidecar::Builtin => Sidecar::parse("builtin"),
        ConfigSidecar::Envoy => Sidecar::parse("envoy"),
        ConfigSidecar::Command(template) => Sidecar::Command {
            template: template.clone(),
        },
        ConfigSidecar::Bin(name) => {
            return Err(invalid(
                settings,
                format!(
                    "a `bin` sidecar (`{name}`) is not measured in place yet; build it and give \
                     `sidecar = {{ command = \"target/release/{name} ... {{listen}} {{upstream}} {{mode}}\" }}`, \
                     or pass --profile"
                ),
            ));
        }
    };
    let mut cfg = if quick {
        MeasureConfig::quick(sidecar)
    } else {
        MeasureConfig::full(sidecar)
    };
    cfg.modes = if settings.modes.is_empty() {
        fixture_modes(settings)?
    } else {
        settings.modes.clone()
    };
    cfg.filters = settings.filters.clone();
    if let Some(table) = &settings.profile {
        let obj = table
            .as_object()
            .ok_or_else(|| invalid(settings, "`profile` must be a table".into()))?;
        for (key, value) in obj {
            let bad = |what: &str| invalid(settings, format!("`profile.{key}` must be {what}"));
            match key.as_str() {
                "sizes" => {
                    cfg.sizes = serde_json::from_value(value.clone())
                        .map_err(|_| bad("a list of byte counts"))?
                }
                "rates" => {
                    let pct: Vec<f64> = serde_json::from_value(value.clone())
                        .map_err(|_| bad("a list of percentages"))?;
                    cfg.rate_fractions = pct.iter().map(|p| p / 100.0).collect();
                }
                "repeat" => {
                    cfg.repeat =
                        serde_json::from_value(value.clone()).map_err(|_| bad("a count"))?
                }
                "requests" => {
                    cfg.requests =
                        serde_json::from_value(value.clone()).map_err(|_| bad("a count"))?
                }
                other => {
                    return Err(invalid(
                        settings,
                        format!(
                            "unknown key `profile.{other}` (expected sizes, rates, repeat, requests)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(cfg)
}

/// The modes the project's fixtures use.
fn fixture_modes(settings: &Settings) -> Result<Vec<Mode>, Error> {
    let mut modes = BTreeSet::new();
    for path in settings.fixture_paths()? {
        let ecg = Ecg::load(&path)?;
        modes.extend(
            ecg.services
                .iter()
                .filter_map(|s| s.sidecar.as_ref().map(|c| c.mode)),
        );
    }
    Ok(modes.into_iter().collect())
}
