//! Speedup profiles: what-if changes to a profile's components, e.g. "IPC −30%"
//! or "Write costs 3 µs + 0.001 µs/byte". Format: docs/speedup-format.md.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{
    ComponentModel, FilterProfile, LinearModel, MAX_BASE_US, MAX_PER_BYTE_US, Profile,
    ProfileInvalid,
};
use crate::util::shown;
use crate::vocab::{Component, Filter, Mode, VocabError};

/// A speedup file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpeedupError {
    /// The text is not TOML of the speedup schema.
    #[error("invalid speedup profile {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, after the line it found it on.
        message: String,
    },
    /// The file has no changes.
    #[error("invalid speedup profile {path}: there are no `[[change]]` entries")]
    NoChanges {
        /// The file.
        path: PathBuf,
    },
    /// The profile after the speedup breaks a rule of the profile format (a cost that adds up
    /// to less than zero).
    #[error("speedup `{name}` cannot apply to profile `{profile}`: after it, {reason}")]
    Result {
        /// The speedup's name.
        name: String,
        /// The profile's platform id.
        profile: String,
        /// What the result breaks.
        reason: ProfileInvalid,
    },
    /// A change cannot be applied.
    #[error("invalid speedup profile {path}: change #{number} ({component}): {reason}")]
    Change {
        /// The file (when applied: the speedup's name).
        path: PathBuf,
        /// The change's place, counting from 1.
        number: usize,
        /// Its `component`.
        component: String,
        /// What is wrong with it.
        reason: ChangeInvalid,
    },
}

/// What is wrong with one `[[change]]`.
#[derive(Debug, thiserror::Error)]
pub enum ChangeInvalid {
    /// `component` names no component or filter.
    #[error("{0}")]
    Target(VocabError),
    /// A percentage outside [−100, [`MAX_PERCENT`]].
    #[error("`{name}` must be a number from -100 to {MAX_PERCENT}, found {}", shown(*value))]
    Percent {
        /// The key.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// `percent` and a `*_percent` of the same model.
    #[error("both `percent` and `{model}_percent` are set")]
    PercentTwice {
        /// `latency` or `cpu`.
        model: &'static str,
    },
    /// Replacement coefficients that are not numbers, or beyond what a profile accepts.
    #[error(
        "`{model}` coefficients must be numbers with |base_us| <= {MAX_BASE_US:e} and \
         |per_byte_us| <= {MAX_PER_BYTE_US:e}"
    )]
    NotFinite {
        /// `latency` or `cpu`.
        model: &'static str,
    },
    /// A model both scaled and replaced.
    #[error("`{model}` is both scaled and replaced")]
    ScaledAndReplaced {
        /// `latency` or `cpu`.
        model: &'static str,
    },
    /// A change without an effect.
    #[error(
        "it changes nothing: set `percent`, `latency_percent`, `cpu_percent`, `latency` or `cpu`"
    )]
    NoEffect,
    /// A change that matches no model of the profile it is applied to.
    #[error("matches nothing in profile `{profile}`")]
    MatchesNothing {
        /// The profile's platform id.
        profile: String,
    },
}

/// The largest percentage a change takes: a component at most 10,001 times as costly (the
/// scaled profile must still keep its coefficients in range, which is checked after).
pub const MAX_PERCENT: f64 = 1e6;

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
    fn target(&self) -> Result<Target, ChangeInvalid> {
        match self.component.strip_prefix("filter:") {
            Some(f) => f.parse().map(Target::Filter),
            None => self.component.parse().map(Target::Component),
        }
        .map_err(ChangeInvalid::Target)
    }

    fn effects(&self) -> Result<(Effect, Effect), ChangeInvalid> {
        let pct = |name: &'static str, p: Option<f64>| match p {
            Some(value) if !(value.is_finite() && (-100.0..=MAX_PERCENT).contains(&value)) => {
                Err(ChangeInvalid::Percent { name, value })
            }
            Some(p) => Ok(Some(1.0 + p / 100.0)),
            None => Ok(None),
        };
        let both = pct("percent", self.percent)?;
        let lat = pct("latency_percent", self.latency_percent)?;
        let cpu = pct("cpu_percent", self.cpu_percent)?;
        let pick = |model: &'static str, scale: Option<f64>, replace: Option<Coefficients>| {
            let scale = match (both, scale) {
                (Some(_), Some(_)) => return Err(ChangeInvalid::PercentTwice { model }),
                (a, b) => a.or(b),
            };
            if let Some(c) = replace
                && !(c.base_us.is_finite()
                    && c.per_byte_us.is_finite()
                    && c.base_us.abs() <= MAX_BASE_US
                    && c.per_byte_us.abs() <= MAX_PER_BYTE_US)
            {
                return Err(ChangeInvalid::NotFinite { model });
            }
            match (scale, replace) {
                (Some(_), Some(_)) => Err(ChangeInvalid::ScaledAndReplaced { model }),
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
            return Err(ChangeInvalid::NoEffect);
        }
        Ok(effects)
    }
}

impl Speedup {
    /// Parses and validates a speedup profile; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Speedup, SpeedupError> {
        let speedup: Speedup = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().trim().replace('\n', " ");
            SpeedupError::Syntax {
                path: origin.to_path_buf(),
                message: match line {
                    Some(l) => format!("line {l}: {msg}"),
                    None => msg,
                },
            }
        })?;
        if speedup.changes.is_empty() {
            return Err(SpeedupError::NoChanges {
                path: origin.to_path_buf(),
            });
        }
        for (i, c) in speedup.changes.iter().enumerate() {
            c.target()
                .and_then(|_| c.effects())
                .map_err(|reason| SpeedupError::Change {
                    path: origin.to_path_buf(),
                    number: i + 1,
                    component: c.component.clone(),
                    reason,
                })?;
        }
        Ok(speedup)
    }

    /// The profile with every change applied. A change that matches nothing in the profile
    /// is an error, so a typo does not pass as "no effect".
    pub fn apply(&self, profile: &Profile) -> Result<Profile, SpeedupError> {
        let mut out = profile.clone();
        for (i, change) in self.changes.iter().enumerate() {
            let invalid = |reason| SpeedupError::Change {
                path: PathBuf::from(&self.name),
                number: i + 1,
                component: change.component.clone(),
                reason,
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
                return Err(invalid(ChangeInvalid::MatchesNothing {
                    profile: profile.platform.id.clone(),
                }));
            }
        }
        out.source = Some(format!(
            "{} with speedup `{}`",
            profile.source.as_deref().unwrap_or(&profile.platform.id),
            self.name
        ));
        // Scaled within its bounds a coefficient can still leave them (x101), and a replaced
        // one can make a configuration cost less than nothing: the result must be a profile.
        out.validate().map_err(|reason| SpeedupError::Result {
            name: self.name.clone(),
            profile: profile.platform.id.clone(),
            reason,
        })?;
        Ok(out)
    }
}
