//! The profile: per mode and filter, per component, a latency and a CPU model of one
//! sidecar traversal on one platform, fitted from the runs the measuring loop recorded.
//! Pure data and arithmetic. Schema: docs/profile-format.md.
//!
//! [`runs`] are the raw measurements, [`screen`] drops disturbed run pairs, [`fit`] fits
//! lines, [`assemble`] turns runs into per-component models and checks the paper's
//! assumptions, [`split`] finds the size at which a message takes more reads and writes.

pub mod assemble;
pub(crate) mod fit;
pub mod runs;
pub(crate) mod screen;
pub mod settings;
pub mod split;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::versioned::VersionedError;
use crate::vocab::{Component, Filter, Mode, SidecarConfig};

/// The version of the profile file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The largest intercept (and its standard error) accepted, µs: one second per traversal.
pub const MAX_BASE_US: f64 = 1e6;
/// The largest slope (and its standard error) accepted, µs per byte: a millisecond per byte.
pub const MAX_PER_BYTE_US: f64 = 1e3;

/// The paper's figures (SoCC '23, Tables 2 and 3), embedded as the default profile. The
/// package's copy (`assets/`, a symbolic link in the repository) keeps the crate whole.
pub(crate) const PAPER_PROFILE_JSON: &str = include_str!("../../assets/socc23-envoy-1.21.json");

/// Where the embedded paper profile lives in the repository.
pub const PAPER_PROFILE_PATH: &str = "fixtures/profiles/socc23-envoy-1.21.json";

/// A profile file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file is not a profile document of this format.
    #[error("invalid profile {path}: {reason}")]
    Unreadable {
        /// The file (or `<embedded ...>`).
        path: PathBuf,
        /// What is wrong, and where.
        reason: VersionedError,
    },
    /// The document breaks a rule the schema cannot express.
    #[error("invalid profile {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: ProfileInvalid,
    },
    /// The profile has no figures for a configuration that is asked of it.
    #[error("profile {path} has no {what}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: Unsupported,
    },
}

/// A rule of the profile format that a document breaks, at a JSON path
/// (`modes.http.components.ipc.latency.r2 must lie in [0, 1], found 1.5`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{at} {problem}")]
pub struct ProfileInvalid {
    /// Where, as a JSON path.
    pub at: String,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong at a place of a profile document.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    /// A required text or table is empty.
    #[error("is empty")]
    Empty,
    /// The document has no mode.
    #[error("is empty: a profile needs at least one of tcp, http, grpc")]
    NoModes,
    /// A mode lacks a component every profile of the mode has.
    #[error("lacks `{0}`")]
    Lacks(Component),
    /// A number is infinite or NaN.
    #[error("is not a finite number")]
    NotFinite,
    /// A standard error is negative.
    #[error("is negative ({})", crate::util::shown(*.0))]
    Negative(f64),
    /// An R² outside [0, 1].
    #[error("must lie in [0, 1], found {0}")]
    R2OutOfRange(f64),
    /// A fit of no points.
    #[error("is 0")]
    NoPoints,
    /// A number beyond the range the format accepts.
    #[error("must lie in [-{max:e}, {max:e}], found {}", crate::util::shown(*value))]
    OutOfRange {
        /// The number.
        value: f64,
        /// The largest magnitude accepted.
        max: f64,
    },
    /// A number below its lower bound.
    #[error("must be at least {min}, found {}", crate::util::shown(*value))]
    TooSmall {
        /// The number.
        value: f64,
        /// The smallest value accepted.
        min: f64,
    },
    /// A configuration whose traversal costs less than nothing: a sidecar cannot make a
    /// call faster. A component may be negative (noise around zero), their total may not.
    #[error(
        "makes one traversal cost {value:.2} µs of {quantity} at {bytes} bytes: the components of \
         a configuration may not add up to less than zero"
    )]
    NegativeTotal {
        /// `latency` or `CPU`.
        quantity: &'static str,
        /// The total.
        value: f64,
        /// The message size.
        bytes: f64,
    },
    /// Filters under tcp.
    #[error("has filters, but filters apply to http and grpc only")]
    FiltersOnTcp,
}

impl ProfileInvalid {
    fn new(at: impl Into<String>, problem: Problem) -> Self {
        ProfileInvalid {
            at: at.into(),
            problem,
        }
    }
}

/// A sidecar configuration a profile cannot price: the mode or a filter has no figures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The mode is not in the profile.
    #[error("mode {0}")]
    Mode(Mode),
    /// The filter is not in the profile for that mode.
    #[error("filter {filter} for mode {mode}")]
    Filter {
        /// The filter.
        filter: Filter,
        /// The mode it was asked for.
        mode: Mode,
    },
}

/// A profile could not be fitted again from its runs.
#[derive(Debug, thiserror::Error)]
pub enum RefitError {
    /// The profile keeps no runs.
    #[error("it has no runs to fit (only a measured profile keeps them)")]
    NoRuns,
    /// The fit gave a profile that breaks a rule of the format.
    #[error("{0}")]
    Invalid(ProfileInvalid),
}

/// A linear model `base_us + per_byte_us * s`, with its fit statistics when it was fitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearModel {
    /// Intercept, in microseconds.
    pub base_us: f64,
    /// Slope, in microseconds per byte.
    pub per_byte_us: f64,
    /// Standard error of the intercept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_se_us: Option<f64>,
    /// Standard error of the slope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_byte_se_us: Option<f64>,
    /// Covariance of intercept and slope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cov: Option<f64>,
    /// Coefficient of determination of the fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Number of points the fit used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}

impl LinearModel {
    /// A model with no fit statistics.
    pub fn new(base_us: f64, per_byte_us: f64) -> Self {
        LinearModel {
            base_us,
            per_byte_us,
            ..LinearModel::default()
        }
    }

    /// The model's value at message size `s` bytes.
    pub fn at(&self, s: f64) -> f64 {
        self.base_us + self.per_byte_us * s
    }

    /// Standard error of the model's value at size `s`, when the fit statistics are known.
    pub fn se_at(&self, s: f64) -> Option<f64> {
        let a = self.base_se_us?;
        let b = self.per_byte_se_us.unwrap_or(0.0);
        let cov = self.cov.unwrap_or(0.0);
        Some((a * a + s * s * b * b + 2.0 * s * cov).max(0.0).sqrt())
    }

    fn validate(&self, at: &str) -> Result<(), ProfileInvalid> {
        let bounded = |name: &str, v: f64, max: f64| {
            if !v.is_finite() {
                Err(ProfileInvalid::new(
                    format!("{at}.{name}"),
                    Problem::NotFinite,
                ))
            } else if v.abs() > max {
                Err(ProfileInvalid::new(
                    format!("{at}.{name}"),
                    Problem::OutOfRange { value: v, max },
                ))
            } else {
                Ok(())
            }
        };
        bounded("base_us", self.base_us, MAX_BASE_US)?;
        bounded("per_byte_us", self.per_byte_us, MAX_PER_BYTE_US)?;
        for (name, v, max) in [
            ("base_se_us", self.base_se_us, MAX_BASE_US),
            ("per_byte_se_us", self.per_byte_se_us, MAX_PER_BYTE_US),
        ] {
            if let Some(v) = v {
                bounded(name, v, max)?;
                if v < 0.0 {
                    return Err(ProfileInvalid::new(
                        format!("{at}.{name}"),
                        Problem::Negative(v),
                    ));
                }
            }
        }
        if let Some(cov) = self.cov {
            bounded("cov", cov, MAX_BASE_US * MAX_PER_BYTE_US)?;
        }
        if let Some(r2) = self.r2 {
            // A fit through few points can have an R² slightly outside [0, 1] from rounding.
            if !(r2.is_finite() && (-1e-9..=1.0 + 1e-9).contains(&r2)) {
                return Err(ProfileInvalid::new(
                    format!("{at}.r2"),
                    Problem::R2OutOfRange(r2),
                ));
            }
        }
        if self.n == Some(0) {
            return Err(ProfileInvalid::new(format!("{at}.n"), Problem::NoPoints));
        }
        Ok(())
    }
}

/// The latency and CPU models of one component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentModel {
    /// Latency added to one request + response, in µs, as a function of size.
    pub latency: LinearModel,
    /// CPU time per request + response, in µs, as a function of size, under load (the
    /// open-loop runs; the closed-loop runs when there are none).
    pub cpu: LinearModel,
    /// CPU time per request + response with one request in flight (the closed-loop runs): what
    /// a sidecar that sleeps between messages pays for each. Absent when `cpu` already comes
    /// from the closed-loop runs, and in profiles measured before it was fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_unloaded: Option<LinearModel>,
}

impl ComponentModel {
    /// The CPU model `price` asks for (`cpu` when the profile has no unloaded fit).
    pub fn cpu_at_price(&self, price: CpuPrice) -> &LinearModel {
        match (price, &self.cpu_unloaded) {
            (CpuPrice::Unloaded, Some(m)) => m,
            _ => &self.cpu,
        }
    }
}

/// Which CPU model prices a sidecar traversal.
///
/// Per-request CPU depends on the load (the paper's A3): under load a sidecar handles several
/// messages per wake-up; with one request at a time every message wakes it. The profile fits
/// both (docs/prediction.md, "CPU price").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CpuPrice {
    /// The open-loop runs' per-request CPU (the paper's model).
    #[default]
    Loaded,
    /// The closed-loop runs' per-request CPU: one request in flight, as in a closed-loop
    /// deployment (`validate`) or a lightly loaded service.
    Unloaded,
}

impl CpuPrice {
    /// `loaded` or `unloaded`.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuPrice::Loaded => "loaded",
            CpuPrice::Unloaded => "unloaded",
        }
    }
}

/// Per component models (a component left out costs nothing).
pub type Components = BTreeMap<Component, ComponentModel>;

/// The extra cost of one filter on top of its mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterProfile {
    /// Per component difference with and without the filter.
    pub components: Components,
}

/// The models of one mode, and of the filters measured on top of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeProfile {
    /// Per component models of one sidecar traversal.
    pub components: Components,
    /// Filters measured on top of this mode.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<Filter, FilterProfile>,
    /// Where a message of this mode starts to take more reads and writes, found in the runs
    /// when the profile was fitted ([`split`]). Absent when the runs show no split or recorded
    /// no event counts, and in hand-written profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<split::Split>,
}

impl ModeProfile {
    /// [`Profile::validate`] of the mode `mode`.
    fn validate(&self, mode: Mode) -> Result<(), ProfileInvalid> {
        for c in Component::ALL {
            let required = c != Component::Parsing || mode != Mode::Tcp;
            if required && !self.components.contains_key(&c) {
                return Err(ProfileInvalid::new(
                    format!("modes.{mode}.components"),
                    Problem::Lacks(c),
                ));
            }
        }
        for (c, m) in &self.components {
            let at = format!("modes.{mode}.components.{c}");
            m.latency.validate(&format!("{at}.latency"))?;
            m.cpu.validate(&format!("{at}.cpu"))?;
            if let Some(u) = &m.cpu_unloaded {
                u.validate(&format!("{at}.cpu_unloaded"))?;
            }
        }
        if mode == Mode::Tcp && !self.filters.is_empty() {
            return Err(ProfileInvalid::new("modes.tcp", Problem::FiltersOnTcp));
        }
        if let Some(split) = &self.split {
            split.validate(&format!("modes.{mode}.split"))?;
        }
        for (f, fp) in &self.filters {
            if fp.components.is_empty() {
                return Err(ProfileInvalid::new(
                    format!("modes.{mode}.filters.{f}.components"),
                    Problem::Empty,
                ));
            }
            for (c, m) in &fp.components {
                let at = format!("modes.{mode}.filters.{f}.components.{c}");
                m.latency.validate(&format!("{at}.latency"))?;
                m.cpu.validate(&format!("{at}.cpu"))?;
            }
        }
        Ok(())
    }
}

/// The sidecar build a profile was measured with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarInfo {
    /// `envoy`, `builtin`, or the user's command.
    pub name: String,
    /// The version the sidecar reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// SHA-256 of the sidecar binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
}

/// What a profile is valid for: hardware, kernel, sidecar build, tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// A short identifier, used for baseline file names and by ECG services' `platform`.
    pub id: String,
    /// CPU model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// Kernel release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The sidecar under test.
    pub sidecar: SidecarInfo,
    /// Version of the tool that measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// How it was measured (e.g. `tracepoint` probe set, or `paper`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_set: Option<String>,
}

/// A profile document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Where the figures come from, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Remarks a reader should know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the profile is valid for.
    pub platform: Platform,
    /// Per mode models.
    pub modes: BTreeMap<Mode, ModeProfile>,
    /// How a measured profile was measured (absent in hand-written files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<settings::Settings>,
    /// The checks of the paper's assumptions, the residual and the noise (measured profiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<assemble::Checks>,
    /// The raw runs the models were fitted from (measured profiles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<runs::Run>,
}

/// Number of slots in a [`CostVector`]: the six components, then the five filters.
pub const COST_SLOTS: usize = Component::ALL.len() + Filter::ALL.len();

/// A cost part: a component of the base mode, or a whole filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CostPart {
    /// A component of the mode.
    Component(Component),
    /// A filter (all of its components).
    Filter(Filter),
}

impl CostPart {
    /// All parts in slot order.
    pub fn all() -> impl Iterator<Item = CostPart> {
        Component::ALL
            .into_iter()
            .map(CostPart::Component)
            .chain(Filter::ALL.into_iter().map(CostPart::Filter))
    }

    /// The slot index in a [`CostVector`].
    pub fn slot(self) -> usize {
        match self {
            CostPart::Component(c) => c as usize,
            CostPart::Filter(f) => Component::ALL.len() + f as usize,
        }
    }

    /// `ipc`, ..., `filter:lua`.
    pub fn key(self) -> String {
        match self {
            CostPart::Component(c) => c.as_str().to_string(),
            CostPart::Filter(f) => format!("filter:{f}"),
        }
    }
}

/// Latency and CPU (µs per request) per [`CostPart`], as fixed arrays for speed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CostVector {
    /// Latency per part, µs.
    pub latency_us: [f64; COST_SLOTS],
    /// CPU per part, µs per request.
    pub cpu_us: [f64; COST_SLOTS],
}

impl CostVector {
    /// Total latency, µs.
    pub fn latency_total(&self) -> f64 {
        self.latency_us.iter().sum()
    }
    /// Total CPU, µs per request.
    pub fn cpu_total(&self) -> f64 {
        self.cpu_us.iter().sum()
    }
    /// Adds `other` in place.
    pub fn add(&mut self, other: &CostVector) {
        for i in 0..COST_SLOTS {
            self.latency_us[i] += other.latency_us[i];
            self.cpu_us[i] += other.cpu_us[i];
        }
    }
}

impl Profile {
    /// Parses and validates a profile document; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Profile, ProfileError> {
        let mut profile: Profile =
            crate::versioned::from_json(text, FORMAT_VERSION).map_err(|reason| {
                ProfileError::Unreadable {
                    path: origin.to_path_buf(),
                    reason,
                }
            })?;
        profile.validate().map_err(|reason| ProfileError::Invalid {
            path: origin.to_path_buf(),
            reason,
        })?;
        profile.find_unstored_splits();
        Ok(profile)
    }

    /// A profile fitted before the split was stored with its mode has runs but no split: finds
    /// it in the runs now, once, as the fit does.
    pub(crate) fn find_unstored_splits(&mut self) {
        if self.modes.values().all(|mp| mp.split.is_none()) {
            self.detect_splits();
        }
    }

    /// Finds each mode's split in the profile's runs ([`split::detect`]); a profile without
    /// runs has none.
    pub(crate) fn detect_splits(&mut self) {
        for (mode, mp) in &mut self.modes {
            // Runs edited by hand can make a split no measurement would: leave it out.
            mp.split = split::detect(&self.runs, &SidecarConfig::plain(*mode))
                .filter(|s| s.validate("split").is_ok());
        }
    }

    /// The embedded paper profile.
    pub fn paper() -> Profile {
        Profile::from_json(PAPER_PROFILE_JSON, Path::new(PAPER_PROFILE_PATH))
            .expect("the embedded paper profile is valid (checked by a test)")
    }

    /// Checks what serde cannot: finite numbers, required components, filters only on http/grpc.
    pub fn validate(&self) -> Result<(), ProfileInvalid> {
        if self.platform.id.trim().is_empty() {
            return Err(ProfileInvalid::new("platform.id", Problem::Empty));
        }
        if self.modes.is_empty() {
            return Err(ProfileInvalid::new("`modes`", Problem::NoModes));
        }
        for (mode, mp) in &self.modes {
            mp.validate(*mode)?;
        }
        self.check_totals()
    }

    /// Every configuration of every mode (the mode with any set of its filters) costs at
    /// least nothing per traversal, in latency and in CPU, at any size: the costs are linear
    /// in the size up to the largest measured one and then linear or held, so the ends of
    /// those pieces are checked.
    fn check_totals(&self) -> Result<(), ProfileInvalid> {
        let mut sizes = vec![0.0, crate::ecg::MAX_BYTES as f64];
        if let Some(max) = self.settings.as_ref().and_then(|st| st.sizes.iter().max()) {
            sizes.push(*max as f64);
        }
        for (mode, mp) in &self.modes {
            let filters: Vec<Filter> = mp.filters.keys().copied().collect();
            for subset in 0u32..(1 << filters.len()) {
                let chosen: Vec<Filter> = (0..filters.len())
                    .filter(|i| subset & (1 << i) != 0)
                    .map(|i| filters[i])
                    .collect();
                let at = if chosen.is_empty() {
                    format!("modes.{mode}")
                } else {
                    let names: Vec<String> = chosen.iter().map(|f| f.to_string()).collect();
                    format!("modes.{mode} with {}", names.join(" and "))
                };
                let config = SidecarConfig {
                    mode: *mode,
                    filters: chosen,
                };
                for &bytes in &sizes {
                    for price in [CpuPrice::Loaded, CpuPrice::Unloaded] {
                        let cost = self.traversal_cost_priced(&config, bytes, price);
                        for (quantity, value) in
                            [("latency", cost.latency_total()), ("CPU", cost.cpu_total())]
                        {
                            // A rounding error's worth below zero is zero.
                            if value < -1e-9 {
                                return Err(ProfileInvalid::new(
                                    at.clone(),
                                    Problem::NegativeTotal {
                                        quantity,
                                        value,
                                        bytes,
                                    },
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the profile can price `config`; the error says what is missing.
    pub fn supports(&self, config: &SidecarConfig) -> Result<(), Unsupported> {
        let mp = self
            .modes
            .get(&config.mode)
            .ok_or(Unsupported::Mode(config.mode))?;
        for f in &config.filters {
            if !mp.filters.contains_key(f) {
                return Err(Unsupported::Filter {
                    filter: *f,
                    mode: config.mode,
                });
            }
        }
        Ok(())
    }

    /// The cost of one sidecar traversal (request + response) with `config` at size `s`.
    ///
    /// Call [`Profile::supports`] first; an unsupported part costs nothing here.
    ///
    /// Beyond the largest size the profile measured, a model whose slope is negative is held
    /// at its value there: more bytes never cost less, and a negative slope fitted over
    /// 100–4000 B is noise that extrapolation would turn into a large negative cost
    /// (docs/prediction.md). Positive slopes are extrapolated.
    pub fn traversal_cost(&self, config: &SidecarConfig, s: f64) -> CostVector {
        self.traversal_cost_priced(config, s, CpuPrice::Loaded)
    }

    /// [`Profile::traversal_cost`] with CPU priced by `price`.
    pub fn traversal_cost_priced(
        &self,
        config: &SidecarConfig,
        s: f64,
        price: CpuPrice,
    ) -> CostVector {
        let mut v = CostVector::default();
        let Some(mp) = self.modes.get(&config.mode) else {
            return v;
        };
        let largest = self
            .settings
            .as_ref()
            .and_then(|st| st.sizes.iter().max())
            .map(|&b| b as f64);
        let at = |m: &LinearModel| match largest {
            Some(max) if s > max && m.per_byte_us < 0.0 => m.at(max),
            _ => m.at(s),
        };
        for (c, m) in &mp.components {
            let slot = CostPart::Component(*c).slot();
            v.latency_us[slot] += at(&m.latency);
            v.cpu_us[slot] += at(m.cpu_at_price(price));
        }
        for f in &config.filters {
            if let Some(fp) = mp.filters.get(f) {
                let slot = CostPart::Filter(*f).slot();
                for m in fp.components.values() {
                    v.latency_us[slot] += at(&m.latency);
                    v.cpu_us[slot] += at(&m.cpu);
                }
            }
        }
        v
    }

    /// The profile fitted again from its own runs with this version's fits and checks (the
    /// measurements, platform and settings are kept). Errors when it has no runs (the paper
    /// profile, or one written by hand).
    pub fn refit(&self) -> Result<Profile, RefitError> {
        if self.runs.is_empty() {
            return Err(RefitError::NoRuns);
        }
        let (modes, mut checks) = assemble::assemble(&self.runs);
        checks.warnings.extend(
            self.settings
                .as_ref()
                .and_then(|s| s.machine_load)
                .and_then(|l| l.warning()),
        );
        let refit = Profile {
            modes,
            checks: Some(checks),
            source: Some(format!(
                "{}; refitted by cargo-meshinsight {}",
                self.source.as_deref().unwrap_or("measured"),
                env!("CARGO_PKG_VERSION")
            )),
            ..self.clone()
        };
        refit.validate().map_err(RefitError::Invalid)?;
        Ok(refit)
    }

    /// The profile as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a profile serializes")
    }
}

#[cfg(test)]
mod tests;
