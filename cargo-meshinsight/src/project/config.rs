//! The gate's configuration: `[workspace.metadata.meshinsight]` and
//! `[package.metadata.meshinsight]` of the project, read with `cargo metadata`
//! (docs/gate.md). The package table overrides the workspace table key by key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::gate::Correction;
use crate::vocab::{Filter, Mode};

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// `cargo metadata` failed.
    #[error("failed to read the cargo metadata of {manifest}: {message}")]
    Metadata {
        /// The manifest asked for (or `Cargo.toml` of the current directory).
        manifest: PathBuf,
        /// Cargo's own message, first line.
        message: String,
    },
    /// A `metadata.meshinsight` table is malformed.
    #[error("invalid [{table}] in {manifest}: {reason}")]
    Invalid {
        /// The manifest holding the table.
        manifest: PathBuf,
        /// `workspace.metadata.meshinsight` or `package.metadata.meshinsight`.
        table: &'static str,
        /// What is wrong, and at which key.
        reason: ConfigInvalid,
    },
    /// A fixture glob matches no file.
    #[error("fixture pattern `{pattern}` of {manifest} matches no file")]
    NoFixtures {
        /// The manifest holding the pattern.
        manifest: PathBuf,
        /// The glob, relative to the workspace root.
        pattern: String,
    },
}

/// What is wrong in a `metadata.meshinsight` table; one line, naming the key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigInvalid {
    /// The table does not fit the schema as a whole.
    #[error("{0}")]
    Table(serde_json::Error),
    /// A key does not fit the schema.
    #[error("at `{key}`: {error}")]
    Key {
        /// The key's path in the table.
        key: String,
        /// What serde found there.
        error: serde_json::Error,
    },
    /// `sidecar` names no sidecar.
    #[error("at `sidecar`: {0}")]
    Sidecar(SidecarInvalid),
    /// `sidecar = { bin = ... }` names no binary target of the workspace.
    #[error("at `sidecar`: no binary target `{name}` in the workspace (binaries: {bins})")]
    NoBin {
        /// The target named.
        name: String,
        /// The workspace's binary targets, comma-separated, or `none`.
        bins: String,
    },
    /// A negative or infinite threshold.
    #[error("at `threshold-pct`: must be a percentage >= 0, found {0}")]
    Threshold(f64),
    /// An α outside (0, 1).
    #[error("at `alpha`: must lie strictly between 0 and 1, found {0}")]
    Alpha(f64),
    /// `base-sidecar` is not a sidecar spec.
    #[error("at `base-sidecar`: {0}")]
    BaseSidecar(crate::harness::sidecar::SpecError),
    /// `time-budget` is not a duration.
    #[error("at `time-budget`: `{value}` is not a duration like \"3m\" or \"90s\" ({error})")]
    TimeBudget {
        /// The value.
        value: String,
        /// What humantime found wrong.
        error: humantime::DurationError,
    },
    /// `fixtures = []`.
    #[error("at `fixtures`: the list is empty")]
    NoFixturePatterns,
    /// A fixture glob that is not a pattern.
    #[error("at `fixtures`: bad pattern `{pattern}`: {error}")]
    BadPattern {
        /// The glob.
        pattern: String,
        /// What glob found wrong with it.
        error: glob::PatternError,
    },
}

/// What is wrong with a `sidecar` key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SidecarInvalid {
    /// A name that is neither `builtin` nor `envoy`.
    #[error(
        "unknown sidecar `{0}` (expected \"builtin\", \"envoy\", {{ command = \"...\" }} or {{ bin = \"...\" }})"
    )]
    Unknown(String),
    /// `args` beside `command`.
    #[error("`args` goes with `bin`; put a command's arguments in `command`")]
    ArgsWithCommand,
    /// A bin's `args` without the listen placeholder.
    #[error("`args` of bin `{name}` has no {{listen}} placeholder")]
    NoListen {
        /// The binary target.
        name: String,
    },
    /// Neither or both of `command` and `bin`.
    #[error("sidecar table needs exactly one of `command` and `bin`")]
    NotOne,
}

/// Which sidecar the gate measures (used by the profiler; recorded in reports).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Sidecar {
    /// The project's own reference proxy.
    Builtin,
    /// Real Envoy, configuration generated per mode and filter set.
    Envoy,
    /// A command template with `{listen}`, `{upstream}`, `{mode}` placeholders.
    Command(String),
    /// A binary target of the workspace, built with cargo (`cargo build --release --bin`)
    /// and run with `args` (a template with the `command` placeholders).
    Bin {
        /// The binary target's name.
        name: String,
        /// Its arguments; `None`: [`DEFAULT_BIN_ARGS`].
        args: Option<String>,
    },
}

/// The arguments a `bin` sidecar gets without an `args` key: the `__sidecar` convention of the
/// builtin sidecar.
pub(crate) const DEFAULT_BIN_ARGS: &str = "--listen {listen} --upstream {upstream} --mode {mode}";

/// The resolved gate settings of a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    /// The workspace root; relative paths below are resolved against it.
    pub(crate) root: PathBuf,
    /// The manifest whose tables were read (named in errors).
    pub(crate) manifest: PathBuf,
    /// The sidecar under test.
    pub(crate) sidecar: Sidecar,
    /// Modes to profile (empty: every mode the fixtures use).
    pub(crate) modes: Vec<Mode>,
    /// Filters to profile.
    pub(crate) filters: Vec<Filter>,
    /// Fixture globs, relative to the root.
    pub(crate) fixtures: Vec<String>,
    /// Directory of `<platform-id>.json` baselines, relative to the root.
    pub(crate) baseline_dir: PathBuf,
    /// Practical threshold: relative change in percent that counts as a change.
    pub(crate) threshold_pct: f64,
    /// Significance level after the multiple-testing correction.
    pub(crate) alpha: f64,
    /// The multiple-testing correction.
    pub(crate) correction: Correction,
    /// The branch baselines are kept on; `check` compares against its merge base.
    pub(crate) target_branch: String,
    /// How many earlier versions of the baseline file to read for the run-to-run spread.
    pub(crate) history_depth: usize,
    /// Profiler settings (`sizes`, `rates`, `repeat`, `requests`) for a check that profiles.
    pub(crate) profile: Option<serde_json::Value>,
    /// The base of the paired check, instead of the sidecar configured at the merge base.
    pub(crate) base_sidecar: Option<crate::harness::Sidecar>,
    /// How long a paired check may measure before it judges what it has.
    pub(crate) time_budget: Option<std::time::Duration>,
}

/// Defaults of the settings.
pub(crate) mod defaults {
    /// Relative change that counts, percent.
    pub(crate) const THRESHOLD_PCT: f64 = 5.0;
    /// Significance level.
    pub(crate) const ALPHA: f64 = 0.05;
    /// Baseline directory.
    pub(crate) const BASELINE_DIR: &str = "baselines";
    /// Fixture glob.
    pub(crate) const FIXTURES: &str = "fixtures/ecg/*.toml";
    /// Target branch.
    pub(crate) const TARGET_BRANCH: &str = "main";
    /// Baseline history versions read.
    pub(crate) const HISTORY_DEPTH: usize = 20;
}

/// One `metadata.meshinsight` table as written; every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Table {
    sidecar: Option<SidecarToml>,
    modes: Option<Vec<Mode>>,
    filters: Option<Vec<Filter>>,
    fixtures: Option<Vec<String>>,
    baseline_dir: Option<PathBuf>,
    threshold_pct: Option<f64>,
    alpha: Option<f64>,
    correction: Option<Correction>,
    target_branch: Option<String>,
    history_depth: Option<usize>,
    profile: Option<serde_json::Value>,
    base_sidecar: Option<String>,
    time_budget: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum SidecarToml {
    Name(String),
    Table {
        command: Option<String>,
        bin: Option<String>,
        args: Option<String>,
    },
}

impl SidecarToml {
    fn resolve(self) -> Result<Sidecar, SidecarInvalid> {
        match self {
            SidecarToml::Name(n) if n == "builtin" => Ok(Sidecar::Builtin),
            SidecarToml::Name(n) if n == "envoy" => Ok(Sidecar::Envoy),
            SidecarToml::Name(n) => Err(SidecarInvalid::Unknown(n)),
            SidecarToml::Table {
                command: Some(c),
                bin: None,
                args: None,
            } => Ok(Sidecar::Command(c)),
            SidecarToml::Table {
                command: Some(_),
                args: Some(_),
                ..
            } => Err(SidecarInvalid::ArgsWithCommand),
            SidecarToml::Table {
                command: None,
                bin: Some(name),
                args,
            } => {
                if let Some(a) = &args
                    && !a.contains("{listen}")
                {
                    return Err(SidecarInvalid::NoListen { name });
                }
                Ok(Sidecar::Bin { name, args })
            }
            SidecarToml::Table { .. } => Err(SidecarInvalid::NotOne),
        }
    }
}

impl Table {
    fn parse(value: &serde_json::Value) -> Result<Option<Table>, ConfigInvalid> {
        match value.get("meshinsight") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
                let key = e.path().to_string();
                let error = e.into_inner();
                match key.as_str() {
                    "." => ConfigInvalid::Table(error),
                    _ => ConfigInvalid::Key { key, error },
                }
            }),
        }
    }

    /// Keys of `over` replace those of `self`.
    fn overlay(self, over: Table) -> Table {
        Table {
            sidecar: over.sidecar.or(self.sidecar),
            modes: over.modes.or(self.modes),
            filters: over.filters.or(self.filters),
            fixtures: over.fixtures.or(self.fixtures),
            baseline_dir: over.baseline_dir.or(self.baseline_dir),
            threshold_pct: over.threshold_pct.or(self.threshold_pct),
            alpha: over.alpha.or(self.alpha),
            correction: over.correction.or(self.correction),
            target_branch: over.target_branch.or(self.target_branch),
            history_depth: over.history_depth.or(self.history_depth),
            profile: over.profile.or(self.profile),
            base_sidecar: over.base_sidecar.or(self.base_sidecar),
            time_budget: over.time_budget.or(self.time_budget),
        }
    }
}

impl Settings {
    /// Reads the settings of the project of `manifest_path` (or of the current directory).
    pub(crate) fn load(manifest_path: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut cmd = cargo_metadata::MetadataCommand::new();
        cmd.no_deps();
        if let Some(p) = manifest_path {
            cmd.manifest_path(p);
        }
        let shown = manifest_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
        let meta = cmd.exec().map_err(|e| ConfigError::Metadata {
            manifest: shown,
            message: metadata_message(&e),
        })?;
        let root = meta.workspace_root.clone().into_std_path_buf();
        let ws_manifest = root.join("Cargo.toml");
        let ws = Table::parse(&meta.workspace_metadata).map_err(|reason| ConfigError::Invalid {
            manifest: ws_manifest.clone(),
            table: "workspace.metadata.meshinsight",
            reason,
        })?;
        let mut manifest = ws_manifest;
        let mut table = ws.unwrap_or_default();
        if let Some(pkg) = meta.root_package() {
            let pkg_manifest = pkg.manifest_path.clone().into_std_path_buf();
            let parsed = Table::parse(&pkg.metadata).map_err(|reason| ConfigError::Invalid {
                manifest: pkg_manifest.clone(),
                table: "package.metadata.meshinsight",
                reason,
            })?;
            if let Some(t) = parsed {
                table = table.overlay(t);
                manifest = pkg_manifest;
            }
        }
        let settings = Settings::from_table(root, manifest, table)?;
        if let Sidecar::Bin { name, .. } = &settings.sidecar {
            let bins: Vec<&str> = meta
                .workspace_packages()
                .iter()
                .flat_map(|p| p.targets.iter())
                .filter(|t| t.is_bin())
                .map(|t| t.name.as_str())
                .collect();
            if !bins.contains(&name.as_str()) {
                return Err(ConfigError::Invalid {
                    manifest: settings.manifest.clone(),
                    table: "metadata.meshinsight",
                    reason: ConfigInvalid::NoBin {
                        name: name.clone(),
                        bins: if bins.is_empty() {
                            "none".to_string()
                        } else {
                            bins.join(", ")
                        },
                    },
                });
            }
        }
        Ok(settings)
    }

    fn from_table(root: PathBuf, manifest: PathBuf, t: Table) -> Result<Settings, ConfigError> {
        let invalid = |reason| ConfigError::Invalid {
            manifest: manifest.clone(),
            table: "metadata.meshinsight",
            reason,
        };
        let sidecar = match t.sidecar {
            Some(s) => s
                .resolve()
                .map_err(|e| invalid(ConfigInvalid::Sidecar(e)))?,
            None => Sidecar::Builtin,
        };
        let threshold_pct = t.threshold_pct.unwrap_or(defaults::THRESHOLD_PCT);
        if !(threshold_pct.is_finite() && threshold_pct >= 0.0) {
            return Err(invalid(ConfigInvalid::Threshold(threshold_pct)));
        }
        let alpha = t.alpha.unwrap_or(defaults::ALPHA);
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(invalid(ConfigInvalid::Alpha(alpha)));
        }
        let history_depth = t.history_depth.unwrap_or(defaults::HISTORY_DEPTH);
        let fixtures = t
            .fixtures
            .unwrap_or_else(|| vec![defaults::FIXTURES.to_string()]);
        if fixtures.is_empty() {
            return Err(invalid(ConfigInvalid::NoFixturePatterns));
        }
        let base_sidecar = t
            .base_sidecar
            .map(|spec| spec.parse())
            .transpose()
            .map_err(|e| invalid(ConfigInvalid::BaseSidecar(e)))?;
        let time_budget = t
            .time_budget
            .map(|value| {
                humantime::parse_duration(&value)
                    .map_err(|error| invalid(ConfigInvalid::TimeBudget { value, error }))
            })
            .transpose()?;
        Ok(Settings {
            sidecar,
            modes: t.modes.unwrap_or_default(),
            filters: t.filters.unwrap_or_default(),
            fixtures,
            baseline_dir: t
                .baseline_dir
                .unwrap_or_else(|| PathBuf::from(defaults::BASELINE_DIR)),
            threshold_pct,
            alpha,
            correction: t.correction.unwrap_or_default(),
            target_branch: t
                .target_branch
                .unwrap_or_else(|| defaults::TARGET_BRANCH.to_string()),
            history_depth,
            profile: t.profile,
            base_sidecar,
            time_budget,
            root,
            manifest,
        })
    }

    /// Settings with every default, for a project at `root`.
    #[cfg(test)]
    pub(crate) fn with_defaults(root: &Path) -> Settings {
        Settings::from_table(
            root.to_path_buf(),
            root.join("Cargo.toml"),
            Table::default(),
        )
        .expect("the defaults are valid")
    }

    /// The fixture files the globs select, sorted and deduplicated.
    pub(crate) fn fixture_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut out = Vec::new();
        for pattern in &self.fixtures {
            let full = format!(
                "{}/{}",
                glob::Pattern::escape(&self.root.to_string_lossy()),
                pattern
            );
            let paths = glob::glob(&full).map_err(|error| ConfigError::Invalid {
                manifest: self.manifest.clone(),
                table: "metadata.meshinsight",
                reason: ConfigInvalid::BadPattern {
                    pattern: pattern.clone(),
                    error,
                },
            })?;
            let before = out.len();
            out.extend(paths.filter_map(Result::ok).filter(|p| p.is_file()));
            if out.len() == before {
                return Err(ConfigError::NoFixtures {
                    manifest: self.manifest.clone(),
                    pattern: pattern.clone(),
                });
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The baseline directory, absolute.
    pub(crate) fn baseline_dir_abs(&self) -> PathBuf {
        self.root.join(&self.baseline_dir)
    }
}

fn metadata_message(e: &cargo_metadata::Error) -> String {
    let text = match e {
        cargo_metadata::Error::CargoMetadata { stderr } => stderr.clone(),
        other => other.to_string(),
    };
    text.lines()
        .map(|l| l.trim().trim_start_matches("error: "))
        .find(|l| !l.is_empty())
        .unwrap_or("cargo metadata failed")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(ws: &str, pkg: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            format!(
                "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\npath = \"lib.rs\"\n\n[workspace]\n\n[workspace.metadata.meshinsight]\n{ws}\n\n[package.metadata.meshinsight]\n{pkg}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("lib.rs"), "").unwrap();
        dir
    }

    #[test]
    fn package_table_overrides_workspace_table_key_by_key() {
        let dir = project(
            "threshold-pct = 7.5\nmodes = [\"http\"]\nsidecar = \"envoy\"",
            "threshold-pct = 2.0\ncorrection = \"bh\"",
        );
        let s = Settings::load(Some(&dir.path().join("Cargo.toml"))).unwrap();
        assert_eq!(s.threshold_pct, 2.0);
        assert_eq!(s.correction, Correction::Bh);
        assert_eq!(s.modes, vec![Mode::Http]);
        assert_eq!(s.sidecar, Sidecar::Envoy);
        assert_eq!(s.alpha, defaults::ALPHA);
        assert_eq!(s.baseline_dir, PathBuf::from("baselines"));
        assert_eq!(
            s.root.canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn a_malformed_table_names_the_manifest_and_the_key() {
        let dir = project("threshold-pct = \"five\"", "");
        let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("workspace.metadata.meshinsight"), "{e}");
        assert!(e.contains("Cargo.toml"), "{e}");
        assert!(e.contains("threshold-pct"), "{e}");
        assert!(!e.contains('\n'), "{e}");

        let dir = project("", "thresold-pct = 5.0");
        let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("package.metadata.meshinsight"), "{e}");
        assert!(e.contains("thresold-pct"), "{e}");

        let dir = project("alpha = 1.5", "");
        let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("alpha"), "{e}");
    }

    #[test]
    fn sidecar_forms_and_fixture_globs_resolve() {
        let dir = project(
            "sidecar = { bin = \"my-proxy\" }\nfixtures = [\"f/*.toml\"]",
            "",
        );
        let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no binary target `my-proxy` in the workspace (binaries: none)"),
            "{e}"
        );
        std::fs::write(dir.path().join("main.rs"), "fn main() {}").unwrap();
        let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            manifest.replace(
                "[workspace]\n",
                "[[bin]]\nname = \"my-proxy\"\npath = \"main.rs\"\n\n[workspace]\n",
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("f")).unwrap();
        std::fs::write(dir.path().join("f/b.toml"), "").unwrap();
        std::fs::write(dir.path().join("f/a.toml"), "").unwrap();
        let s = Settings::load(Some(&dir.path().join("Cargo.toml"))).unwrap();
        assert_eq!(
            s.sidecar,
            Sidecar::Bin {
                name: "my-proxy".into(),
                args: None
            }
        );
        let names: Vec<_> = s
            .fixture_paths()
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);

        let dir = project("fixtures = [\"none/*.toml\"]", "");
        let s = Settings::load(Some(&dir.path().join("Cargo.toml"))).unwrap();
        let e = s.fixture_paths().unwrap_err().to_string();
        assert!(
            e.contains("none/*.toml") && e.contains("matches no file"),
            "{e}"
        );

        let dir = project("sidecar = \"nginx\"", "");
        let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown sidecar `nginx`"), "{e}");
    }

    #[test]
    fn a_missing_manifest_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("failed to read the cargo metadata of"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
