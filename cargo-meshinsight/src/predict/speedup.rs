//! Speedup profiles: what-if changes to a profile's components (DESIGN §6), e.g. "IPC −30%"
//! or "Write costs 3 µs + 0.001 µs/byte". Format: docs/speedup-format.md.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{ComponentModel, FilterProfile, LinearModel, Profile};
use crate::vocab::{Component, Filter, Mode, VocabError};

/// A speedup file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpeedupError {
    /// The file is not a valid speedup profile.
    #[error("invalid speedup profile {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What and where.
        message: String,
    },
}

/// Replacement coefficients for a model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coefficients {
    /// Intercept, µs.
    pub base_us: f64,
    /// Slope, µs per byte.
    #[serde(default)]
    pub per_byte_us: f64,
}

/// One `[[change]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// `ipc`, `read`, `write`, `notify`, `parsing`, `other`, or `filter:NAME`.
    pub component: String,
    /// Modes it applies to; all modes of the profile when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<Vec<Mode>>,
    /// Scale latency and CPU by `1 + percent/100` (−30 means 30% cheaper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Scale latency only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_percent: Option<f64>,
    /// Scale CPU only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// Replace the latency model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Coefficients>,
    /// Replace the CPU model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Coefficients>,
}

/// A speedup profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Speedup {
    /// Its name, shown in reports.
    pub name: String,
    /// What it models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The changes, applied in order.
    #[serde(rename = "change")]
    pub changes: Vec<Change>,
}

/// What a change does to one model.
#[derive(Clone, Copy, Debug)]
enum Effect {
    Keep,
    Scale(f64),
    Replace(Coefficients),
}

impl Effect {
    fn apply(self, m: &mut LinearModel) {
        match self {
            Effect::Keep => {}
            Effect::Scale(f) => {
                m.base_us *= f;
                m.per_byte_us *= f;
                m.base_se_us = m.base_se_us.map(|v| v * f);
                m.per_byte_se_us = m.per_byte_se_us.map(|v| v * f);
                m.cov = m.cov.map(|v| v * f * f);
            }
            Effect::Replace(c) => *m = LinearModel::new(c.base_us, c.per_byte_us),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Component(Component),
    Filter(Filter),
}

impl Change {
    fn target(&self) -> Result<Target, String> {
        match self.component.strip_prefix("filter:") {
            Some(f) => f.parse().map(Target::Filter),
            None => self.component.parse().map(Target::Component),
        }
        .map_err(|e: VocabError| e.to_string())
    }

    fn effects(&self) -> Result<(Effect, Effect), String> {
        let pct = |name: &str, p: Option<f64>| -> Result<Option<f64>, String> {
            match p {
                Some(p) if !(p.is_finite() && p >= -100.0) => Err(format!(
                    "`{name}` must be a number of at least -100, found {p}"
                )),
                Some(p) => Ok(Some(1.0 + p / 100.0)),
                None => Ok(None),
            }
        };
        let both = pct("percent", self.percent)?;
        let lat = pct("latency_percent", self.latency_percent)?;
        let cpu = pct("cpu_percent", self.cpu_percent)?;
        let pick = |name: &str, scale: Option<f64>, replace: Option<Coefficients>| {
            let scale = match (both, scale) {
                (Some(_), Some(_)) => {
                    return Err(format!("both `percent` and `{name}_percent` are set"));
                }
                (a, b) => a.or(b),
            };
            if let Some(c) = replace
                && !(c.base_us.is_finite() && c.per_byte_us.is_finite())
            {
                return Err(format!("`{name}` coefficients must be finite numbers"));
            }
            match (scale, replace) {
                (Some(_), Some(_)) => Err(format!("`{name}` is both scaled and replaced")),
                (Some(f), None) => Ok(Effect::Scale(f)),
                (None, Some(c)) => Ok(Effect::Replace(c)),
                (None, None) => Ok(Effect::Keep),
            }
        };
        let effects = (
            pick("latency", lat, self.latency)?,
            pick("cpu", cpu, self.cpu)?,
        );
        if matches!(effects, (Effect::Keep, Effect::Keep)) {
            return Err("it changes nothing: set `percent`, `latency_percent`, `cpu_percent`, `latency` or `cpu`".into());
        }
        Ok(effects)
    }
}

impl Speedup {
    /// Parses and validates a speedup profile; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Speedup, SpeedupError> {
        let invalid = |message: String| SpeedupError::Invalid {
            path: origin.to_path_buf(),
            message,
        };
        let speedup: Speedup = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().trim().replace('\n', " ");
            invalid(match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            })
        })?;
        if speedup.changes.is_empty() {
            return Err(invalid("there are no `[[change]]` entries".into()));
        }
        for (i, c) in speedup.changes.iter().enumerate() {
            c.target()
                .and_then(|_| c.effects())
                .map_err(|e| invalid(format!("change #{} ({}): {e}", i + 1, c.component)))?;
        }
        Ok(speedup)
    }

    /// The profile with every change applied. A change that matches nothing in the profile
    /// is an error, so a typo does not pass as "no effect".
    pub fn apply(&self, profile: &Profile) -> Result<Profile, SpeedupError> {
        let mut out = profile.clone();
        for (i, change) in self.changes.iter().enumerate() {
            let invalid = |message: String| SpeedupError::Invalid {
                path: PathBuf::from(&self.name),
                message: format!("change #{} ({}): {message}", i + 1, change.component),
            };
            let target = change.target().map_err(&invalid)?;
            let (lat, cpu) = change.effects().map_err(&invalid)?;
            let mut matched = false;
            for (mode, mp) in out.modes.iter_mut() {
                if change.modes.as_ref().is_some_and(|ms| !ms.contains(mode)) {
                    continue;
                }
                match target {
                    Target::Component(c) => {
                        if let Some(m) = mp.components.get_mut(&c) {
                            lat.apply(&mut m.latency);
                            cpu.apply(&mut m.cpu);
                            if let Some(u) = m.cpu_unloaded.as_mut() {
                                cpu.apply(u);
                            }
                            matched = true;
                        }
                    }
                    Target::Filter(f) => {
                        if let Some(fp) = mp.filters.get_mut(&f) {
                            if matches!(lat, Effect::Replace(_))
                                || matches!(cpu, Effect::Replace(_))
                            {
                                // A replaced filter becomes one model, kept under `other`.
                                let mut total = ComponentModel::default();
                                for m in fp.components.values() {
                                    total.latency.base_us += m.latency.base_us;
                                    total.latency.per_byte_us += m.latency.per_byte_us;
                                    total.cpu.base_us += m.cpu.base_us;
                                    total.cpu.per_byte_us += m.cpu.per_byte_us;
                                }
                                lat.apply(&mut total.latency);
                                cpu.apply(&mut total.cpu);
                                *fp = FilterProfile {
                                    components: [(Component::Other, total)].into(),
                                };
                            } else {
                                for m in fp.components.values_mut() {
                                    lat.apply(&mut m.latency);
                                    cpu.apply(&mut m.cpu);
                                }
                            }
                            matched = true;
                        }
                    }
                }
            }
            if !matched {
                return Err(invalid(format!(
                    "matches nothing in profile `{}`",
                    profile.platform.id
                )));
            }
        }
        out.source = Some(format!(
            "{} with speedup `{}`",
            profile.source.as_deref().unwrap_or(&profile.platform.id),
            self.name
        ));
        Ok(out)
    }
}
