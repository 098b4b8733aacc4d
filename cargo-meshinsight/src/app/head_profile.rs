//! Where the gate's head profile comes from: a profile file, or a measurement made now with
//! the profiler, configured by the project's `[*.metadata.meshinsight]` table; and the
//! configured sidecar made ready to run (a `bin` target built with cargo first).

use std::path::{Path, PathBuf};

use super::error::{Error, ProfileTableInvalid};
use super::input::{load_ecg, load_profile};
use super::measuring::measure_profile;
use super::output::Output;
use crate::harness::sidecar::envoy;
use crate::harness::{Launch, Sidecar};
use crate::measure::MeasureConfig;
use crate::model::Profile;
use crate::project::build::{BuildOutput, build_bin, shell_quote};
use crate::project::config::{DEFAULT_BIN_ARGS, EnvoyBinary, Settings, Sidecar as ConfigSidecar};
use crate::util::hash::{sha256_file, slug};

/// The gate's measurement settings (docs/gate.md, "Measurement settings"): what `check`,
/// `baseline update` and `profile --project` measure unless the project configures `profile =
/// {...}`. Closed loop only: one request in flight gives both latency and CPU per request,
/// without a maximum-rate search; two sizes determine each model's intercept and slope.
pub(crate) mod gate_settings {
    /// Message sizes, bytes.
    pub(crate) const SIZES: [u64; 2] = [100, 4000];
    /// Requests per size and repeat ...
    pub(crate) const REQUESTS: u64 = 500;
    /// ... in closed-loop blocks of this many, each block a run pair of its own.
    pub(crate) const BLOCK_REQUESTS: u64 = 250;
    /// Repeats of one round of a paired check: each is a replicate.
    pub(crate) const ROUND_REPEAT: u32 = 2;
    /// Repeats of one unpaired measurement (`check --unpaired`, `baseline update`): about
    /// as many replicates as an adaptive paired check measures when it decides early.
    pub(crate) const UNPAIRED_REPEAT: u32 = 6;
}

/// The head profile of `check` (and the profile `baseline update` records).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ProfileSource {
    /// A profile file, e.g. written by `cargo meshinsight profile`.
    File(PathBuf),
    /// Profile the configured sidecar now (root) with the gate's settings.
    Measure {
        /// `--quick`: accepted for compatibility; the gate's settings are quick already.
        quick: bool,
        /// Measure this sidecar instead of the configured one (`--sidecar`).
        sidecar: Option<Sidecar>,
    },
}

impl Default for ProfileSource {
    /// What `check` does without `--profile`: measure now with the gate's settings.
    fn default() -> Self {
        ProfileSource::Measure {
            quick: false,
            sidecar: None,
        }
    }
}

impl ProfileSource {
    /// Loads or measures the profile.
    pub(crate) fn obtain(&self, settings: &Settings, out: &mut Output) -> Result<Profile, Error> {
        match self {
            ProfileSource::File(path) => load_profile(path),
            ProfileSource::Measure { quick, sidecar } => {
                if *quick {
                    out.status(
                        "Note",
                        "--quick changes nothing: the gate measures with its own short settings",
                    );
                }
                let launch = super::launch::launch(settings.user.as_deref(), out)?;
                let resolved = match sidecar {
                    Some(sidecar) => Resolved::preset(sidecar.clone()),
                    None => {
                        resolve_sidecar(&settings.sidecar, &settings.manifest, None, &launch, out)?
                    }
                };
                let cfg = measure_config(
                    settings,
                    resolved.sidecar.clone(),
                    gate_settings::UNPAIRED_REPEAT,
                )?;
                let mut profile = measure_profile(&cfg, &launch, out)?;
                resolved.relabel(&mut profile);
                Ok(profile)
            }
        }
    }
}

fn invalid(settings: &Settings, reason: ProfileTableInvalid) -> Error {
    Error::ProfileSettings {
        manifest: settings.manifest.clone(),
        reason,
    }
}

/// A `bin` sidecar's target, built.
#[derive(Clone, Debug)]
pub(crate) struct BuiltBin {
    /// The binary target's name.
    pub(crate) name: String,
    /// Its executable.
    pub(crate) path: PathBuf,
}

/// A sidecar ready to run, and for a `bin` sidecar the binary it was built into.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// What the harness starts.
    pub(crate) sidecar: Sidecar,
    /// The `bin` target and its executable, for a `bin` sidecar.
    pub(crate) bin: Option<BuiltBin>,
    /// The `args` of a `bin` sidecar, when configured.
    pub(crate) args: Option<String>,
}

impl Resolved {
    /// A preset or command: nothing to build.
    pub(crate) fn preset(sidecar: Sidecar) -> Resolved {
        Resolved {
            sidecar,
            bin: None,
            args: None,
        }
    }

    /// How reports name it: `builtin`, `bin my-proxy`, or the command.
    pub(crate) fn label(&self) -> String {
        match (&self.bin, &self.sidecar) {
            (Some(BuiltBin { name, .. }), _) => match &self.args {
                Some(args) => format!("bin {name} {args}"),
                None => format!("bin {name}"),
            },
            (None, s) => s.to_string(),
        }
    }

    /// A `bin` sidecar runs as a command; its profile is named after the target (platform id
    /// `<name>-<cpu>-<cores>c-linux-<kernel>`) and records the binary's hash.
    pub(crate) fn relabel(&self, profile: &mut Profile) {
        let Some(BuiltBin { name, path }) = &self.bin else {
            return;
        };
        let platform = &mut profile.platform;
        if let Some(rest) = platform.id.strip_prefix("command-") {
            platform.id = format!("{}-{rest}", slug(name));
        }
        platform.sidecar.name = format!("bin {name}");
        platform.sidecar.binary_sha256 = sha256_file(path);
    }
}

/// The configured sidecar, ready to run: a `bin` target is built first with cargo in the
/// project of `manifest` (into `target_dir` when given), as the user `launch` runs its
/// children as; an Envoy release is found on `PATH`.
pub(crate) fn resolve_sidecar(
    configured: &ConfigSidecar,
    manifest: &Path,
    target_dir: Option<&Path>,
    launch: &Launch,
    out: &mut Output,
) -> Result<Resolved, Error> {
    Ok(match configured {
        ConfigSidecar::Builtin => Resolved::preset(Sidecar::builtin()),
        ConfigSidecar::Envoy { binary, templates } => {
            let path = match binary {
                None => None,
                Some(EnvoyBinary::Path(path)) => Some(path.clone()),
                Some(EnvoyBinary::Release(release)) => {
                    let path = envoy::release(launch, release)?;
                    out.status("Found", format!("Envoy {release}: {}", path.display()));
                    Some(path)
                }
            };
            Resolved::preset(Sidecar::Envoy {
                path,
                concurrency: 1,
                templates: templates.clone(),
            })
        }
        ConfigSidecar::Command(template) => Resolved::preset(Sidecar::Command {
            template: template.clone(),
        }),
        ConfigSidecar::Bin { name, args } => {
            out.status(
                "Building",
                format!("sidecar `{name}` (cargo build --release --bin {name})"),
            );
            let (color, quiet) = (out.color(), out.is_quiet());
            let err = out.err();
            let mut line = |l: &str| {
                if !quiet {
                    let _ = writeln!(err, "{l}");
                }
            };
            let path = build_bin(
                manifest,
                name,
                target_dir,
                launch,
                BuildOutput {
                    color,
                    line: &mut line,
                },
            )?;
            out.status("Built", path.display());
            let template = format!(
                "exec {} {}",
                shell_quote(&path.to_string_lossy()),
                args.as_deref().unwrap_or(DEFAULT_BIN_ARGS)
            );
            Resolved {
                sidecar: Sidecar::Command { template },
                bin: Some(BuiltBin {
                    name: name.clone(),
                    path,
                }),
                args: args.clone(),
            }
        }
    })
}

/// The profiler's settings for a project's gate: `sidecar`, the modes its fixtures use (or the
/// configured ones), its filters, the [`gate_settings`] with `repeat` repeats, and over them
/// `profile = { sizes, rates, repeat, requests }`.
pub(crate) fn measure_config(
    settings: &Settings,
    sidecar: Sidecar,
    repeat: u32,
) -> Result<MeasureConfig, Error> {
    let mut cfg = MeasureConfig {
        sizes: gate_settings::SIZES.to_vec(),
        rate_fractions: Vec::new(),
        repeat,
        requests: gate_settings::REQUESTS,
        block_requests: gate_settings::BLOCK_REQUESTS,
        ..MeasureConfig::full(sidecar)
    };
    // What the fixtures use, for the keys not configured (filters: profiled on their mode).
    let (used_modes, used_filters) = if settings.modes.is_empty() || settings.filters.is_empty() {
        let ecgs = settings
            .fixture_paths()?
            .iter()
            .map(|p| load_ecg(p))
            .collect::<Result<Vec<_>, _>>()?;
        crate::ecg::sidecar_needs(&ecgs)
    } else {
        Default::default()
    };
    cfg.modes = if settings.modes.is_empty() {
        used_modes
    } else {
        settings.modes.clone()
    };
    cfg.filters = if settings.filters.is_empty() {
        used_filters
    } else {
        settings.filters.clone()
    };
    // A bootstrap template is measured as it is: the fixtures' filters are its own business.
    if settings.filters.is_empty()
        && cfg
            .filter_mode()
            .is_some_and(|m| cfg.sidecar.template(m).is_some())
    {
        cfg.filters.clear();
    }
    cfg.cpus.clone_from(&settings.cpus);
    if let Some(table) = &settings.profile {
        let obj = table
            .as_object()
            .ok_or_else(|| invalid(settings, ProfileTableInvalid::NotATable))?;
        for (key, value) in obj {
            let bad = |expected: &'static str| {
                invalid(
                    settings,
                    ProfileTableInvalid::BadValue {
                        key: key.clone(),
                        expected,
                    },
                )
            };
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
                        ProfileTableInvalid::UnknownKey {
                            key: other.to_string(),
                        },
                    ));
                }
            }
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template's mode measures no generated filter, though the fixtures configure some;
    /// the configured CPUs go to the measurement.
    #[test]
    fn a_template_drops_the_fixtures_filters_and_the_cpus_are_kept() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut settings = Settings::with_defaults(&root);
        settings.fixtures = vec!["fixtures/ecg/mixed-modes.toml".into()];
        settings.cpus = Some("0".parse().unwrap());
        let builtin =
            measure_config(&settings, Sidecar::builtin(), gate_settings::ROUND_REPEAT).unwrap();
        assert!(!builtin.filters.is_empty(), "mixed-modes.toml has filters");
        assert_eq!(builtin.cpus, settings.cpus);
        let template: Sidecar = "envoy --config mesh.yaml".parse().unwrap();
        let cfg = measure_config(&settings, template, gate_settings::ROUND_REPEAT).unwrap();
        assert!(cfg.filters.is_empty(), "{:?}", cfg.filters);
        cfg.validate().unwrap();
    }
}
