//! The gate's configuration: `[workspace.metadata.meshinsight]` and
//! `[package.metadata.meshinsight]` of the project, read with `cargo metadata`
//! (docs/gate.md). The table of the package `--manifest-path` names (else the package of the
//! nearest `Cargo.toml` above the current directory) overrides the workspace table key by key.
//! Cargo writes `nan` and `inf` as null in its metadata: a null anywhere in a table is an error,
//! never a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::gate::Correction;
use crate::harness::CpuList;
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
    /// A key holds null: `nan` or `inf` in the manifest (cargo's metadata writes them as null).
    #[error("at `{key}`: not a finite number (`nan`, `inf` and null are not allowed)")]
    NotFinite {
        /// The key's path in the table.
        key: String,
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
        "unknown sidecar `{0}` (expected \"builtin\", \"envoy\", {{ command = \"...\" }}, {{ bin = \"...\" }}, {{ envoy = \"PATH or RELEASE\" }} or {{ envoy-config = \"FILE\" }})"
    )]
    Unknown(String),
    /// `envoy = ...` that is neither a path nor a release number.
    #[error(
        "`envoy = \"{0}\"` is neither a path to an Envoy binary (it has a `/`) nor a release number such as \"1.36.2\""
    )]
    EnvoyBinary(String),
    /// `args` beside `command`.
    #[error("`args` goes with `bin`; put a command's arguments in `command`")]
    ArgsWithCommand,
    /// A bin's `args` without the listen placeholder.
    #[error("`args` of bin `{name}` has no {{listen}} placeholder")]
    NoListen {
        /// The binary target.
        name: String,
    },
    /// Neither or several of `command`, `bin` and Envoy's keys.
    #[error(
        "sidecar table needs exactly one of `command`, `bin`, and `envoy` and/or `envoy-config`"
    )]
    NotOne,
}

/// Which sidecar the gate measures (used by the profiler; recorded in reports).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Sidecar {
    /// The project's own reference proxy.
    Builtin,
    /// Real Envoy: the configuration generated per mode and filter set, or the project's
    /// bootstrap templates for the modes that have one.
    Envoy {
        /// Which Envoy binary (`None`: `envoy` on `PATH`).
        binary: Option<EnvoyBinary>,
        /// Bootstrap templates by mode, absolute paths.
        templates: BTreeMap<Mode, PathBuf>,
    },
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

impl Sidecar {
    /// Envoy from `PATH` with the generated configuration (`sidecar = "envoy"`).
    pub(crate) fn envoy() -> Sidecar {
        Sidecar::Envoy {
            binary: None,
            templates: BTreeMap::new(),
        }
    }
}

/// The Envoy binary `envoy = "..."` names: a path (it has a `/`; relative to the workspace
/// root), or a release number, found as `envoy-<release>` on `PATH`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum EnvoyBinary {
    /// The binary itself, absolute.
    Path(PathBuf),
    /// A release such as `1.36.2`.
    Release(String),
}

impl EnvoyBinary {
    fn parse(value: &str, root: &Path) -> Result<EnvoyBinary, SidecarInvalid> {
        if value.contains('/') {
            return Ok(EnvoyBinary::Path(root.join(value)));
        }
        let release = !value.is_empty()
            && value.split('.').count() >= 2
            && value
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if release {
            Ok(EnvoyBinary::Release(value.to_string()))
        } else {
            Err(SidecarInvalid::EnvoyBinary(value.to_string()))
        }
    }
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
    /// The CPUs to measure on (`cpus = "2-7"`); `None`: the allowed set.
    pub(crate) cpus: Option<CpuList>,
    /// The user the tool's child processes run as when it runs as root (`user = "runner"`);
    /// `None`: the user sudo names, if any.
    pub(crate) user: Option<String>,
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
    cpus: Option<CpuList>,
    user: Option<String>,
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
        envoy: Option<String>,
        #[serde(rename = "envoy-config")]
        envoy_config: Option<TemplatesToml>,
    },
}

/// `envoy-config = "FILE"` (for http and grpc) or `envoy-config = { http = "FILE", ... }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum TemplatesToml {
    One(PathBuf),
    ByMode(BTreeMap<Mode, PathBuf>),
}

impl TemplatesToml {
    /// The templates by mode, absolute: one file serves http and grpc (an HTTP
    /// configuration; tcp, the reference for Parsing, keeps the generated `tcp_proxy`).
    fn by_mode(self, root: &Path) -> BTreeMap<Mode, PathBuf> {
        match self {
            TemplatesToml::One(file) => [Mode::Http, Mode::Grpc]
                .into_iter()
                .map(|m| (m, root.join(&file)))
                .collect(),
            TemplatesToml::ByMode(map) => map
                .into_iter()
                .map(|(m, file)| (m, root.join(file)))
                .collect(),
        }
    }
}

impl SidecarToml {
    fn resolve(self, root: &Path) -> Result<Sidecar, SidecarInvalid> {
        match self {
            SidecarToml::Name(n) if n == "builtin" => Ok(Sidecar::Builtin),
            SidecarToml::Name(n) if n == "envoy" => Ok(Sidecar::envoy()),
            SidecarToml::Name(n) => Err(SidecarInvalid::Unknown(n)),
            SidecarToml::Table {
                command: None,
                bin: None,
                args: None,
                envoy,
                envoy_config,
            } if envoy.is_some() || envoy_config.is_some() => Ok(Sidecar::Envoy {
                binary: envoy.map(|e| EnvoyBinary::parse(&e, root)).transpose()?,
                templates: envoy_config.map(|t| t.by_mode(root)).unwrap_or_default(),
            }),
            SidecarToml::Table { envoy: Some(_), .. }
            | SidecarToml::Table {
                envoy_config: Some(_),
                ..
            } => Err(SidecarInvalid::NotOne),
            SidecarToml::Table {
                command: Some(c),
                bin: None,
                args: None,
                ..
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
                ..
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
            None => Ok(None),
            Some(v) if v.is_null() => Err(ConfigInvalid::NotFinite {
                key: "meshinsight".into(),
            }),
            Some(v) => {
                if let Some(key) = first_null(v, String::new()) {
                    return Err(ConfigInvalid::NotFinite { key });
                }
                serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
                    let key = e.path().to_string();
                    let error = e.into_inner();
                    match key.as_str() {
                        "." => ConfigInvalid::Table(error),
                        _ => ConfigInvalid::Key { key, error },
                    }
                })
            }
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
            cpus: over.cpus.or(self.cpus),
            user: over.user.or(self.user),
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
        let user = super::build::invoking_user();
        let meta =
            super::build::metadata(&cmd, user.as_ref()).map_err(|e| ConfigError::Metadata {
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
        if let Some(pkg) = selected_package(&meta, manifest_path) {
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
                .resolve(&root)
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
            cpus: t.cpus,
            user: t.user,
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

/// The path of the first null in `v` (`profile.sizes[1]`), `path` being `v`'s own.
fn first_null(v: &serde_json::Value, path: String) -> Option<String> {
    match v {
        serde_json::Value::Null => Some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| first_null(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            let key = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            first_null(item, key)
        }),
        _ => None,
    }
}

/// The package whose table overrides the workspace's: the one whose manifest is
/// `manifest_path`, or without it the one of the nearest `Cargo.toml` at or above the current
/// directory (the manifest cargo itself picks). `None` for a virtual manifest.
fn selected_package<'a>(
    meta: &'a cargo_metadata::Metadata,
    manifest_path: Option<&Path>,
) -> Option<&'a cargo_metadata::Package> {
    let manifest = match manifest_path {
        Some(p) => p.to_path_buf(),
        None => {
            let cwd = std::env::current_dir().ok()?;
            cwd.ancestors()
                .map(|d| d.join("Cargo.toml"))
                .find(|m| m.is_file())?
        }
    };
    let wanted = manifest.canonicalize().ok()?;
    meta.workspace_packages().into_iter().find(|p| {
        p.manifest_path
            .as_std_path()
            .canonicalize()
            .is_ok_and(|m| m == wanted)
    })
}

pub(crate) fn metadata_message(e: &cargo_metadata::Error) -> String {
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
        assert_eq!(s.sidecar, Sidecar::envoy());
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
    fn non_finite_values_are_errors_naming_the_key_and_the_manifest() {
        for (ws, pkg, key, table) in [
            ("threshold-pct = nan", "", "threshold-pct", "workspace"),
            ("alpha = inf", "", "alpha", "workspace"),
            ("", "threshold-pct = -inf", "threshold-pct", "package"),
            (
                "profile = { sizes = [100, nan] }",
                "",
                "profile.sizes[1]",
                "workspace",
            ),
        ] {
            let dir = project(ws, pkg);
            let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("at `{key}`: not a finite number")),
                "{ws} {pkg}: {e}"
            );
            assert!(
                e.contains(&format!("[{table}.metadata.meshinsight]")),
                "{e}"
            );
            assert!(e.contains("Cargo.toml") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn envoy_binaries_templates_cpus_and_user_resolve() {
        let dir = project(
            "sidecar = { envoy = \"1.36.2\", envoy-config = \"mesh/envoy.yaml\" }\ncpus = \"2-7\"\nuser = \"runner\"",
            "",
        );
        let s = Settings::load(Some(&dir.path().join("Cargo.toml"))).unwrap();
        let Sidecar::Envoy { binary, templates } = &s.sidecar else {
            panic!("{:?}", s.sidecar)
        };
        assert_eq!(binary, &Some(EnvoyBinary::Release("1.36.2".into())));
        let http = &templates[&Mode::Http];
        assert!(
            http.is_absolute() && http.ends_with("mesh/envoy.yaml"),
            "{http:?}"
        );
        assert_eq!(templates.get(&Mode::Grpc), Some(http));
        assert_eq!(templates.get(&Mode::Tcp), None);
        assert_eq!(s.cpus, Some("2-7".parse().unwrap()));
        assert_eq!(s.user.as_deref(), Some("runner"));

        let dir = project(
            "sidecar = { envoy = \"tools/envoy\", envoy-config = { tcp = \"t.yaml\" } }",
            "",
        );
        let s = Settings::load(Some(&dir.path().join("Cargo.toml"))).unwrap();
        let Sidecar::Envoy { binary, templates } = &s.sidecar else {
            panic!("{:?}", s.sidecar)
        };
        let Some(EnvoyBinary::Path(p)) = binary else {
            panic!("{binary:?}")
        };
        assert!(p.is_absolute() && p.ends_with("tools/envoy"), "{p:?}");
        assert_eq!(templates.keys().collect::<Vec<_>>(), [&Mode::Tcp]);

        for (table, expected) in [
            (
                "sidecar = { envoy = \"latest\" }",
                "neither a path to an Envoy binary",
            ),
            (
                "sidecar = { envoy = \"1.40.0\", bin = \"x\" }",
                "exactly one of",
            ),
            ("cpus = \"7-2\"", "the range `7-2` ends before it starts"),
        ] {
            let dir = project(table, "");
            let e = Settings::load(Some(&dir.path().join("Cargo.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{table}: {e}");
        }
    }

    #[test]
    fn a_null_in_the_metadata_json_is_an_error_not_the_default() {
        let v = serde_json::json!({ "meshinsight": { "threshold-pct": null, "alpha": 0.1 } });
        let e = Table::parse(&v).unwrap_err();
        assert!(
            matches!(&e, ConfigInvalid::NotFinite { key } if key == "threshold-pct"),
            "{e:?}"
        );
        let v = serde_json::json!({ "meshinsight": null });
        assert!(Table::parse(&v).is_err());
        let v = serde_json::json!({ "other-tool": null });
        assert!(Table::parse(&v).unwrap().is_none());
    }

    /// A virtual workspace with members `a` (own table, `a_table`) and `b` (none).
    fn workspace(a_table: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n\n\
             [workspace.metadata.meshinsight]\nthreshold-pct = 7.5\nmodes = [\"http\"]\n",
        )
        .unwrap();
        for (name, table) in [("a", a_table), ("b", "")] {
            std::fs::create_dir(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("lib.rs"), "").unwrap();
            let table = match table {
                "" => String::new(),
                t => format!("\n[package.metadata.meshinsight]\n{t}\n"),
            };
            std::fs::write(
                root.join(name).join("Cargo.toml"),
                format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\npath = \"lib.rs\"\n{table}"
                ),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn the_member_named_by_the_manifest_path_overrides_the_workspace_table() {
        let dir = workspace("threshold-pct = 2.0\ncorrection = \"bh\"");
        let a = Settings::load(Some(&dir.path().join("a/Cargo.toml"))).unwrap();
        assert_eq!(a.threshold_pct, 2.0);
        assert_eq!(a.correction, Correction::Bh);
        assert_eq!(a.modes, vec![Mode::Http], "kept from the workspace table");
        assert!(a.manifest.ends_with("a/Cargo.toml"), "{:?}", a.manifest);
        assert_eq!(
            a.root.canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );

        for manifest in ["b/Cargo.toml", "Cargo.toml"] {
            let s = Settings::load(Some(&dir.path().join(manifest))).unwrap();
            assert_eq!(s.threshold_pct, 7.5, "{manifest}");
            assert_eq!(s.correction, Correction::Holm, "{manifest}");
        }

        let dir = workspace("thresold-pct = 2.0");
        let e = Settings::load(Some(&dir.path().join("a/Cargo.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[package.metadata.meshinsight]"), "{e}");
        assert!(
            e.contains("a/Cargo.toml") && e.contains("thresold-pct"),
            "{e}"
        );
        // The member's table is read only when that member is named.
        assert!(Settings::load(Some(&dir.path().join("b/Cargo.toml"))).is_ok());
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
