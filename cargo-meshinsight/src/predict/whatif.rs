//! What-if studies (as the paper's Fig. 13 and 14): a measured change of the sidecar turned
//! into a speedup profile. Two profiles of the same sidecar on the same machine, one with the
//! change (the builtin sidecar with a Unix-domain-socket upstream, or with MSG_ZEROCOPY
//! writes) and one without, give per mode and component the relative change of latency and
//! CPU at a reference size; [`Speedup::apply`] then carries it to any profile and `analyze`
//! to a whole trace.

use super::speedup::{Change, Speedup};
use crate::model::{LinearModel, Profile};

/// Two profiles have no mode with a component measurable in both.
#[derive(Debug, thiserror::Error)]
#[error(
    "the profiles share no mode with a measurable component (base modes: {base_modes}; variant modes: {variant_modes})"
)]
pub(crate) struct NothingShared {
    /// The base profile's modes, comma-separated.
    pub base_modes: String,
    /// The variant profile's modes, comma-separated.
    pub variant_modes: String,
}

/// A component whose base cost at the reference size is this close to zero (µs) has no
/// meaningful relative change (noise around zero) and is left unchanged.
pub(crate) const MIN_BASE_US: f64 = 0.5;

/// The change from `base` to `variant`, per mode and component, as percentages at `size`
/// bytes. Components the two profiles do not share, or whose base is under [`MIN_BASE_US`],
/// are left out (and listed in the description).
pub(crate) fn speedup_between(
    name: &str,
    base: &Profile,
    variant: &Profile,
    size: f64,
) -> Result<Speedup, NothingShared> {
    let mut changes = Vec::new();
    let mut left_out = Vec::new();
    for (mode, b) in &base.modes {
        let Some(v) = variant.modes.get(mode) else {
            continue;
        };
        for (component, bm) in &b.components {
            let Some(vm) = v.components.get(component) else {
                left_out.push(format!("{mode} {component} (not in the variant)"));
                continue;
            };
            let pct = |b: &LinearModel, v: &LinearModel| -> Option<f64> {
                let (b, v) = (b.at(size), v.at(size));
                (b >= MIN_BASE_US && v.is_finite()).then(|| (100.0 * (v / b - 1.0)).max(-100.0))
            };
            let (lat, cpu) = (pct(&bm.latency, &vm.latency), pct(&bm.cpu, &vm.cpu));
            if lat.is_none() || cpu.is_none() {
                left_out.push(format!("{mode} {component} (base under {MIN_BASE_US} µs)"));
            }
            if lat.is_none() && cpu.is_none() {
                continue;
            }
            changes.push(Change {
                component: component.to_string(),
                modes: Some(vec![*mode]),
                percent: None,
                latency_percent: lat,
                cpu_percent: cpu,
                latency: None,
                cpu: None,
            });
        }
    }
    if changes.is_empty() {
        let modes = |p: &Profile| {
            p.modes
                .keys()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(NothingShared {
            base_modes: modes(base),
            variant_modes: modes(variant),
        });
    }
    let mut description = format!(
        "Measured: the change from profile `{}` to profile `{}` at {size:.0} B, per mode and \
         component, as relative latency and CPU changes.",
        base.platform.id, variant.platform.id
    );
    for (what, p) in [("base", base), ("variant", variant)] {
        if !p.notes.is_empty() {
            let notes: Vec<&str> = p.notes.iter().map(|n| n.trim_end_matches('.')).collect();
            description.push_str(&format!(" The {what}: {}.", notes.join("; ")));
        }
    }
    if !left_out.is_empty() {
        description.push_str(&format!(" Left unchanged: {}.", left_out.join(", ")));
    }
    Ok(Speedup {
        name: name.to_string(),
        description: Some(description),
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Component, Mode, SidecarConfig};

    fn scaled(p: &Profile, component: Component, factor: f64) -> Profile {
        let mut out = p.clone();
        for mp in out.modes.values_mut() {
            if let Some(m) = mp.components.get_mut(&component) {
                m.latency.base_us *= factor;
                m.latency.per_byte_us *= factor;
                m.cpu.base_us *= factor;
                m.cpu.per_byte_us *= factor;
            }
        }
        out
    }

    #[test]
    fn a_measured_change_carries_over_as_percentages() {
        let base = Profile::paper();
        let variant = scaled(&base, Component::Ipc, 0.6);
        let s = speedup_between("uds", &base, &variant, 100.0).unwrap();
        let ipc: Vec<&Change> = s.changes.iter().filter(|c| c.component == "ipc").collect();
        assert_eq!(ipc.len(), base.modes.len());
        for c in &ipc {
            assert!((c.latency_percent.unwrap() + 40.0).abs() < 1e-9, "{c:?}");
            assert!((c.cpu_percent.unwrap() + 40.0).abs() < 1e-9, "{c:?}");
        }
        let read = s.changes.iter().find(|c| c.component == "read").unwrap();
        assert!(read.latency_percent.unwrap().abs() < 1e-9);
        // Applied to the base profile, it gives the variant back.
        let applied = s.apply(&base).unwrap();
        let config = SidecarConfig::new(Mode::Http, vec![]).unwrap();
        let (a, v) = (
            applied.traversal_cost(&config, 100.0),
            variant.traversal_cost(&config, 100.0),
        );
        for i in 0..a.latency_us.len() {
            assert!((a.latency_us[i] - v.latency_us[i]).abs() < 1e-9);
        }
        // It round-trips through its TOML form.
        let text = toml::to_string(&s).unwrap();
        let back = Speedup::parse(&text, std::path::Path::new("x.toml")).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn nothing_in_common_is_an_error() {
        let base = Profile::paper();
        let mut other = base.clone();
        other.modes.clear();
        let e = speedup_between("x", &base, &other, 100.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("share no mode"), "{e}");
    }
}
