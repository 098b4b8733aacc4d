//! The paired test's inputs: a paired check measures base and head interleaved in one run
//! ([`crate::measure`]) and judges the per-point differences. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::snapshot::Snapshot;
use crate::model::{LinearModel, Profile};

/// How a paired check was made (in the verdict: the "paired" marker of every report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PairedInfo {
    /// The base sidecar.
    pub(crate) base: String,
    /// The head sidecar.
    pub(crate) head: String,
    /// The commit the base was built or configured from, when it came from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_commit: Option<String>,
    /// Matched points (mode, size, repetition, load) measured on both sides.
    pub(crate) points: usize,
    /// The test, in words.
    pub(crate) test: String,
}

/// `head` with the standard errors, covariances and point counts of `difference`: its
/// fixture predictions then carry the errors of head − base.
pub(crate) fn with_difference_errors(head: &Profile, difference: &Profile) -> Profile {
    let mut out = head.clone();
    for (mode, mp) in out.modes.iter_mut() {
        let Some(dmp) = difference.modes.get(mode) else {
            continue;
        };
        let filters = mp.filters.iter_mut().map(|(f, fp)| {
            let from = dmp.filters.get(f).map(|d| &d.components);
            (&mut fp.components, from)
        });
        for (components, from) in
            std::iter::once((&mut mp.components, Some(&dmp.components))).chain(filters)
        {
            for (component, cm) in components.iter_mut() {
                let d = from.and_then(|f| f.get(component));
                for (model, dm) in [
                    (&mut cm.latency, d.map(|d| &d.latency)),
                    (&mut cm.cpu, d.map(|d| &d.cpu)),
                ] {
                    copy_errors(model, dm);
                }
            }
        }
    }
    out
}

fn copy_errors(model: &mut LinearModel, from: Option<&LinearModel>) {
    let from = from.copied().unwrap_or_default();
    model.base_se_us = from.base_se_us;
    model.per_byte_se_us = from.per_byte_se_us;
    model.cov = from.cov;
    model.n = from.n;
}

/// The uncertainty of one metric's head − base in a paired run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DifferenceError {
    /// The standard error of head − base, when known.
    pub(crate) se: Option<f64>,
    /// The degrees of freedom of its t test (points − 2; for a fixture, the fewest among the
    /// models; 0 when unknown, which is never significant).
    pub(crate) df: f64,
}

/// Per metric key of `errors` (a snapshot of [`with_difference_errors`]): the error of
/// head − base, the snapshot's own ([`super::snapshot::Metric`]).
pub(crate) fn difference_errors(errors: &Snapshot) -> BTreeMap<String, DifferenceError> {
    errors
        .metrics()
        .into_iter()
        .map(|(key, metric)| {
            let error = DifferenceError {
                se: metric.se,
                df: metric.df.unwrap_or(0.0),
            };
            (key, error)
        })
        .collect()
}
