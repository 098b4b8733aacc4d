//! Extended call graphs: the fixture format, its validation, and the resolved
//! graph that prediction walks. Format: docs/ecg-format.md.

mod resolve;
pub mod synthetic;

pub use resolve::EcgInvalid;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::vocab::{Filter, Mode, SidecarConfig};

/// The largest message size accepted, in bytes (1 GiB): anything larger is a typo.
pub const MAX_BYTES: u64 = 1 << 30;
/// The largest rate accepted, in requests per second.
pub const MAX_RATE: f64 = 1e9;
/// The largest duration, and start time magnitude, accepted, in µs (10^13 µs, about 115
/// days). A float keeps a thousandth of a microsecond up to there; beyond, the microseconds
/// a sidecar adds would be rounded away (a 1e308 µs call plus 165 µs is 1e308 µs).
pub const MAX_TIME_US: f64 = 1e13;
/// Overlaps under this fraction of the parent's duration count as "before" (CRISP).
pub const CLOCK_TOLERANCE: f64 = 0.01;

/// An ECG file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EcgError {
    /// The text is not TOML (or JSON) of the fixture schema.
    #[error("invalid ECG fixture {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, after the line it found it on.
        message: String,
    },
    /// The document breaks a rule of the format.
    #[error("invalid ECG fixture {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the call, service or key.
        reason: EcgInvalid,
    },
}

/// `[defaults]`: what calls and services take when they say nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Sidecar mode of services that do not set one.
    #[serde(default = "Defaults::default_mode")]
    pub mode: Mode,
    /// Filters of services that do not set any.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Request size of calls that do not set one, bytes.
    #[serde(default = "Defaults::default_bytes")]
    pub request_bytes: u64,
    /// Response size of calls that do not set one, bytes.
    #[serde(default = "Defaults::default_bytes")]
    pub response_bytes: u64,
    /// Rate of calls that do not set one, requests per second.
    #[serde(default = "Defaults::default_rate")]
    pub rate: f64,
    /// Platform (profile id) of services that do not set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

impl Defaults {
    fn default_mode() -> Mode {
        Mode::Http
    }
    fn default_bytes() -> u64 {
        100
    }
    fn default_rate() -> f64 {
        1000.0
    }
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            mode: Defaults::default_mode(),
            filters: Vec::new(),
            request_bytes: Defaults::default_bytes(),
            response_bytes: Defaults::default_bytes(),
            rate: Defaults::default_rate(),
            platform: None,
        }
    }
}

/// `[services.NAME]`: a service's sidecar, when it differs from the defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Sidecar mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Sidecar filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<Filter>>,
    /// Platform (profile id) the service runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `false` for a service outside the mesh (no sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<bool>,
}

/// `[[calls]]`: one invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// Unique id within the file.
    pub id: String,
    /// The calling call's id; absent for the entry call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The callee service.
    pub to: String,
    /// What the callee does (an operation or endpoint name), for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Request size, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
    /// Response size, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u64>,
    /// Requests per second along this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Start time without the mesh, µs (any origin).
    pub start_us: f64,
    /// Duration without the mesh, µs, as the caller sees it.
    pub duration_us: f64,
    /// Sibling calls this one was invoked after; inferred from the timestamps when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
}

/// An ECG file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcgDoc {
    /// The fixture's name, used in reports and baselines.
    pub name: String,
    /// What the call graph is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where its shape and numbers come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// Defaults for services and calls.
    #[serde(default)]
    pub defaults: Defaults,
    /// Per-service overrides; a service not listed takes the defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, ServiceSpec>,
    /// The calls, in any order.
    pub calls: Vec<CallSpec>,
}

/// A service of a resolved ECG.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// Its sidecar, or `None` outside the mesh.
    pub sidecar: Option<SidecarConfig>,
    /// The platform (profile id) it runs on, if set.
    pub platform: Option<String>,
}

/// A call of a resolved ECG; indices point into [`Ecg::calls`] and [`Ecg::services`].
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Its id.
    pub id: String,
    /// The parent call, `None` for the entry call.
    pub parent: Option<usize>,
    /// The caller service (the parent's callee), `None` for the entry call.
    pub from: Option<usize>,
    /// The callee service.
    pub to: usize,
    /// Operation name, if given.
    pub operation: Option<String>,
    /// Request size, bytes.
    pub request_bytes: u64,
    /// Response size, bytes.
    pub response_bytes: u64,
    /// Requests per second.
    pub rate: f64,
    /// Start without the mesh, µs.
    pub start_us: f64,
    /// Duration without the mesh, µs.
    pub duration_us: f64,
    /// Explicit predecessors among the siblings, if given.
    pub after: Option<Vec<usize>>,
}

impl Call {
    /// Original end time, µs.
    pub fn end_us(&self) -> f64 {
        self.start_us + self.duration_us
    }
    /// The size one sidecar traversal is priced at: the mean of request and response.
    pub fn traversal_bytes(&self) -> f64 {
        (self.request_bytes as f64 + self.response_bytes as f64) / 2.0
    }
}

/// A validated call graph, ready for prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Ecg {
    /// The fixture's name.
    pub name: String,
    /// The file it was read from.
    pub origin: PathBuf,
    /// Services, in name order.
    pub services: Vec<Service>,
    /// Calls, in file order.
    pub calls: Vec<Call>,
    /// The entry call.
    pub root: usize,
    /// Children of each call, sorted by start time (ties keep file order).
    pub children: Vec<Vec<usize>>,
}

/// The modes and the filters the sidecars of `ecgs` use, sorted, each once (what a profile
/// must have to predict them).
pub(crate) fn sidecar_needs(ecgs: &[Ecg]) -> (Vec<Mode>, Vec<Filter>) {
    let (mut modes, mut filters) = (Vec::new(), Vec::new());
    for ecg in ecgs {
        for config in ecg.services.iter().filter_map(|s| s.sidecar.as_ref()) {
            modes.push(config.mode);
            filters.extend(config.filters.iter().copied());
        }
    }
    modes.sort();
    modes.dedup();
    filters.sort();
    filters.dedup();
    (modes, filters)
}

impl Ecg {
    /// Parses and validates a fixture's text (TOML, or JSON when `origin` ends in `.json`);
    /// `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Ecg, EcgError> {
        Ecg::resolve(EcgDoc::parse(text, origin)?, origin)
    }

    /// Validates a parsed document; `origin` names it in errors.
    pub fn resolve(doc: EcgDoc, origin: &Path) -> Result<Ecg, EcgError> {
        resolve::resolve(doc, origin).map_err(|reason| EcgError::Invalid {
            path: origin.to_path_buf(),
            reason,
        })
    }

    /// The service a call goes to.
    pub fn callee(&self, call: usize) -> &Service {
        &self.services[self.calls[call].to]
    }

    /// Whether sibling `a` counts as a predecessor of call `k` when `k` has no explicit
    /// `after` (docs/prediction.md): `a` started strictly before `k`, and ended before `k` started,
    /// where an overlap under [`CLOCK_TOLERANCE`] of the parent's duration still counts as
    /// "before" (CRISP's clock tolerance). Siblings that start together are never each
    /// other's predecessors.
    ///
    /// The one statement of the rule: the timeline's sweep ([`crate::predict::rebuild`]) and
    /// the deployed services of `validate` both ask it.
    pub fn precedes(&self, a: usize, k: usize) -> bool {
        let (ca, ck) = (&self.calls[a], &self.calls[k]);
        let tolerance = ck
            .parent
            .map_or(0.0, |p| CLOCK_TOLERANCE * self.calls[p].duration_us);
        ca.start_us < ck.start_us && ca.end_us() <= ck.start_us + tolerance
    }

    /// The most sidecar traversals one request makes down a single line of calls, root to
    /// leaf: a call from u to d goes through u's outbound and d's inbound sidecar (the pricing
    /// rule of `predict`; the entry call has no caller, a `sidecar = false` service none).
    pub fn sidecars_in_series(&self) -> usize {
        let has = |s: usize| usize::from(self.services[s].sidecar.is_some());
        let own = |k: usize| self.calls[k].from.map_or(0, has) + has(self.calls[k].to);
        (0..self.calls.len())
            .map(|k| {
                let (mut n, mut at) = (own(k), self.calls[k].parent);
                while let Some(p) = at {
                    n += own(p);
                    at = self.calls[p].parent;
                }
                n
            })
            .max()
            .unwrap_or(0)
    }

    /// The predecessors of call `k` among its siblings, in start order: its `after` list when
    /// given, else every sibling that [`Ecg::precedes`] it.
    pub fn predecessors(&self, k: usize) -> Vec<usize> {
        let siblings = self.calls[k]
            .parent
            .map_or(&[][..], |p| &self.children[p][..]);
        match &self.calls[k].after {
            Some(after) => siblings
                .iter()
                .copied()
                .filter(|s| after.contains(s))
                .collect(),
            None => siblings
                .iter()
                .copied()
                .filter(|&s| self.precedes(s, k))
                .collect(),
        }
    }
}

impl EcgDoc {
    /// Parses TOML, or JSON when `origin` ends in `.json`; errors name the line.
    pub fn parse(text: &str, origin: &Path) -> Result<EcgDoc, EcgError> {
        let invalid = |message: String| EcgError::Syntax {
            path: origin.to_path_buf(),
            message,
        };
        if origin.extension().is_some_and(|e| e == "json") {
            let de = &mut serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let inner = e.inner();
                let at = format!("at `{}`: {}", e.path(), strip_position(&inner.to_string()));
                invalid(format!(
                    "line {}: {}",
                    inner.line(),
                    crate::util::text::escape_controls(&at)
                ))
            })
        } else {
            toml::from_str(text).map_err(|e| {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                let message = e.message().trim().replace('\n', " ");
                invalid(match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                })
            })
        }
    }

    /// The document as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an ECG document serializes to TOML")
    }
}

/// serde_json appends " at line L column C"; the message already says the line.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests;
