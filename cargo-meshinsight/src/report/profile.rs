//! Rendering of a profile: the paper's Table 2 (components × modes) and Table 3 (filters),
//! the fits with their standard errors, and the checks of the assumptions.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table, TableStyle};

use super::num::{pct, sig3, signed_pct};
use super::{Width, cores, fit, us, wrap};
use crate::model::assemble::{Checks, Linearity, PER_BYTE_R2};
use crate::model::settings::Settings;
use crate::model::{ComponentModel, LinearModel, Profile};
use crate::vocab::{Component, Mode, SidecarConfig};

fn table(style: TableStyle, header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_style(style).set_header(header);
    t
}

fn right(t: &mut Table, from: usize) {
    for i in from..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn pm(v: f64, se: Option<f64>, fmt: fn(f64) -> String) -> String {
    match se {
        Some(se) => format!("{} ± {}", fmt(v), fmt(se)),
        None => fmt(v),
    }
}

fn per_byte(v: f64) -> String {
    sig3(v)
}

fn model_text(m: &LinearModel) -> [String; 3] {
    [
        pm(m.base_us, m.base_se_us, us),
        pm(m.per_byte_us, m.per_byte_se_us, per_byte),
        m.r2.map(|r| format!("{r:.3}"))
            .unwrap_or_else(|| "-".into()),
    ]
}

/// Renders the profile's tables at message size `size` and rate `rate` (requests/s): for the
/// terminal, fitted to `width`; as markdown without one.
pub(crate) fn render(profile: &Profile, size: f64, rate: f64, width: Option<Width>) -> String {
    let mut doc = Doc {
        style: if width.is_none() {
            ASCII_MARKDOWN
        } else {
            UTF8_BORDERS_ONLY
        },
        width,
        out: String::new(),
    };
    if let Some(settings) = &profile.settings {
        doc.prose(&settings_line(settings));
    }
    doc.heading(&format!(
        "Components at {size:.0} B (latency µs per round trip through one sidecar; vCPU at {rate:.0} requests/s); share in %"
    ));
    let modes: Vec<Mode> = profile.modes.keys().copied().collect();
    let components = components_table(&doc, profile, size, rate);
    doc.push_table(components);
    doc.prose(&cpu_prices(profile, &modes, size));
    if let Some(filters) = filters_table(&doc, profile, size, rate) {
        doc.heading(&format!("Filters at {size:.0} B (on top of their mode)"));
        doc.push_table(filters);
    }
    if let Some(fits) = fits_table(&doc, profile) {
        doc.heading("Fits: base µs ± standard error, per byte µs ± standard error, R²");
        doc.push_table(fits);
    }
    if let Some(checks) = &profile.checks {
        doc.heading(
            "A1 additivity: client-measured overhead vs the sum of components (closed loop)",
        );
        let additivity = additivity_table(&doc, checks);
        doc.push_table(additivity);
        doc.prose(&assumption_lines(checks));
        doc.prose(&split_lines(profile));
        doc.prose(&outliers_line(checks));
        for w in &checks.warnings {
            doc.prose(&format!("warning: {w}\n"));
        }
    }
    doc.out
}

/// The text being rendered: for the terminal (fitted to `width`) or markdown (no width).
struct Doc {
    style: TableStyle,
    width: Option<Width>,
    out: String,
}

impl Doc {
    fn heading(&mut self, text: &str) {
        match self.width {
            None => self.out.push_str(&format!("\n**{text}**\n\n")),
            Some(w) => self.out.push_str(&wrap(&format!("\n{text}\n"), w)),
        }
    }

    /// Lines of prose, wrapped to the width.
    fn prose(&mut self, text: &str) {
        match self.width {
            None => self.out.push_str(text),
            Some(w) => self.out.push_str(&wrap(text, w)),
        }
    }

    fn table(&self, header: &[&str]) -> Table {
        table(self.style, header.iter().map(|h| h.to_string()).collect())
    }

    /// Appends `t`, fitted to the width.
    fn push_table(&mut self, mut t: Table) {
        if let Some(w) = self.width {
            fit(&mut t, w);
        }
        self.out.push_str(&t.to_string());
        self.out.push('\n');
    }
}

/// How the profile was measured, and how busy the machine was meanwhile.
fn settings_line(settings: &Settings) -> String {
    format!(
        "measured in {:.0} s, {}{}, {} repeats of {} requests per latency point{}{}\n",
        settings.elapsed_s,
        if settings.pinned {
            "pinned"
        } else {
            "not pinned"
        },
        settings
            .chain
            .map(|n| format!(", {n} sidecars in series (costs per sidecar)"))
            .unwrap_or_default(),
        settings.repeat,
        settings.requests,
        settings
            .block_requests
            .map(|b| format!(" in blocks of {b}"))
            .unwrap_or_default(),
        settings
            .machine_load
            .map(|l| format!(
                "; the rest of the machine used {}% of its CPUs, {}% stolen{}",
                pct(l.other_cpu_pct),
                pct(l.steal_pct),
                if l.is_busy() { " (BUSY)" } else { "" }
            ))
            .unwrap_or_default()
    )
}

/// Latency and CPU of a set of component models at one size, µs.
#[derive(Clone, Copy, Default)]
struct Cost {
    latency_us: f64,
    cpu_us: f64,
}

impl Cost {
    fn of(m: &ComponentModel, size: f64) -> Cost {
        Cost {
            latency_us: m.latency.at(size),
            cpu_us: m.cpu.at(size),
        }
    }

    fn total<'a>(models: impl IntoIterator<Item = &'a ComponentModel>, size: f64) -> Cost {
        models.into_iter().fold(Cost::default(), |t, m| {
            let c = Cost::of(m, size);
            Cost {
                latency_us: t.latency_us + c.latency_us,
                cpu_us: t.cpu_us + c.cpu_us,
            }
        })
    }
}

/// The paper's Table 2: components × modes, each with its share of the mode's total.
fn components_table(doc: &Doc, profile: &Profile, size: f64, rate: f64) -> Table {
    let mut header = vec!["component".to_string()];
    for m in profile.modes.keys() {
        header.push(format!("{m} µs"));
        header.push(format!("{m} vCPU"));
    }
    let mut t = table(doc.style, header);
    let totals: Vec<Cost> = profile
        .modes
        .values()
        .map(|mp| Cost::total(mp.components.values(), size))
        .collect();
    for comp in Component::ALL {
        let mut row = vec![comp.title().to_string()];
        for (mp, total) in profile.modes.values().zip(&totals) {
            match mp.components.get(&comp) {
                Some(x) => {
                    let c = Cost::of(x, size);
                    row.push(format!(
                        "{} ({}%)",
                        us(c.latency_us),
                        pct(share(c.latency_us, total.latency_us))
                    ));
                    row.push(format!(
                        "{} ({}%)",
                        cores(rate * c.cpu_us / 1e6),
                        pct(share(c.cpu_us, total.cpu_us))
                    ));
                }
                None => row.extend(["-".to_string(), "-".to_string()]),
            }
        }
        t.add_row(row);
    }
    let mut row = vec!["Total".to_string()];
    for total in &totals {
        row.push(us(total.latency_us));
        row.push(cores(rate * total.cpu_us / 1e6));
    }
    t.add_row(row);
    right(&mut t, 1);
    t
}

/// The paper's Table 3: each filter's cost on top of its mode; `None` without filters.
fn filters_table(doc: &Doc, profile: &Profile, size: f64, rate: f64) -> Option<Table> {
    let mut t = doc.table(&["filter", "mode", "latency µs", "vCPU"]);
    let mut any = false;
    for (m, mp) in &profile.modes {
        for (f, fp) in &mp.filters {
            let c = Cost::total(fp.components.values(), size);
            t.add_row(vec![
                f.to_string(),
                m.to_string(),
                us(c.latency_us),
                cores(rate * c.cpu_us / 1e6),
            ]);
            any = true;
        }
    }
    right(&mut t, 2);
    any.then_some(t)
}

/// Every fitted model with its standard errors; `None` for a profile without fits.
fn fits_table(doc: &Doc, profile: &Profile) -> Option<Table> {
    let fitted = profile
        .modes
        .values()
        .flat_map(|mp| mp.components.values())
        .any(|x| x.latency.n.is_some());
    if !fitted {
        return None;
    }
    let mut t = doc.table(&[
        "mode",
        "component",
        "latency base",
        "latency /B",
        "R²",
        "CPU base",
        "CPU /B",
        "R²",
        "n",
    ]);
    for (m, mp) in &profile.modes {
        let rows = mp
            .components
            .iter()
            .map(|(c, x)| (m.to_string(), c.to_string(), x))
            .chain(mp.filters.iter().flat_map(|(f, fp)| {
                fp.components
                    .iter()
                    .map(move |(c, x)| (format!("{m}+{f}"), c.to_string(), x))
            }));
        for (mode, comp, x) in rows {
            let [lb, lp, lr] = model_text(&x.latency);
            let [cb, cp, cr] = model_text(&x.cpu);
            let n = format!("{}/{}", x.latency.n.unwrap_or(0), x.cpu.n.unwrap_or(0));
            t.add_row(vec![mode, comp, lb, lp, lr, cb, cp, cr, n]);
        }
    }
    right(&mut t, 2);
    Some(t)
}

/// A1 per configuration and size: what the client saw against the sum of the components.
fn additivity_table(doc: &Doc, checks: &Checks) -> Table {
    let mut t = doc.table(&[
        "config",
        "size B",
        "client µs",
        "± sd",
        "components µs",
        "residual µs",
        "residual %",
    ]);
    for a in &checks.additivity {
        t.add_row(vec![
            a.config.clone(),
            a.size.to_string(),
            us(a.black_box_us),
            a.black_box_sd_us.map(us).unwrap_or_else(|| "-".into()),
            us(a.explained_us),
            us(a.residual_us),
            pct(a.residual_pct),
        ]);
    }
    right(&mut t, 1);
    t
}

/// The verdicts on the paper's assumptions: the A1 residual, filters combined, A2 and A3.
fn assumption_lines(checks: &Checks) -> String {
    let mut out = String::new();
    if let Some(m) = checks.median_abs_residual_pct {
        out.push_str(&format!(
            "median |unexplained residual|: {}% of the measured overhead ({})\n",
            pct(m),
            if m <= 20.0 {
                "within 20%"
            } else {
                "OVER 20%: the components do not explain the overhead"
            }
        ));
    }
    for f in &checks.filter_additivity {
        out.push_str(&format!(
            "filters combined ({}) at {} B: {} µs vs sum of singles {} µs ({}%)\n",
            f.config,
            f.size,
            us(f.combined_us),
            us(f.sum_of_singles_us),
            signed_pct(f.difference_pct)
        ));
    }
    let lin = &checks.linearity;
    let failing: Vec<String> = lin
        .iter()
        .filter(|l| l.lack_of_fit.as_ref().is_some_and(|c| !c.holds))
        .map(|l| format!("{} {} {}", l.config, l.component, l.metric))
        .collect();
    out.push_str(&format!(
        "A2 linearity in size: {} of {} fits pass the lack-of-fit test at 1%{}\n",
        lin.len() - failing.len(),
        lin.len(),
        if failing.is_empty() {
            String::new()
        } else {
            format!(" (failing: {})", failing.join(", "))
        }
    ));
    out.push_str(&copy_fits_line(checks));
    for r in &checks.rate {
        out.push_str(&format!(
            "A3 CPU per request vs rate, {}: {}% across the measured rates (p = {}): {}\n",
            r.mode,
            signed_pct(r.change_over_range_pct),
            r.check
                .as_ref()
                .map(|c| format!("{:.3}", c.p_value))
                .unwrap_or_else(|| "-".into()),
            match &r.check {
                Some(c) if c.holds => "proportional to rate",
                Some(_) => "per-request CPU depends on rate",
                None => "not tested",
            }
        ));
    }
    out
}

/// Per mode, the split stored in the profile, or that the runs' event counts show none.
fn split_lines(profile: &Profile) -> String {
    let mut out = String::new();
    let has_events = profile.runs.iter().any(|r| !r.events.is_empty());
    for (mode, mp) in &profile.modes {
        match &mp.split {
            Some(split) => out.push_str(&format!(
                "split, {mode}: a message takes one more read and write per {:.0} B (about {} µs each); predictions add it beyond the profiled sizes\n",
                split.split_bytes,
                us(split.latency_per_event_us)
            )),
            None if has_events => {
                let plain = SidecarConfig::plain(*mode);
                let largest = profile
                    .runs
                    .iter()
                    .filter(|r| r.config == plain)
                    .map(|r| r.size)
                    .max()
                    .unwrap_or(0);
                out.push_str(&format!(
                    "split, {mode}: none up to {largest} B (reads and writes per request do not grow with size)\n"
                ));
            }
            None => {}
        }
    }
    out
}

/// The run pairs screened out of the fits, in one line; empty when there are none.
fn outliers_line(checks: &Checks) -> String {
    if checks.outliers.is_empty() {
        return String::new();
    }
    let list: Vec<String> = checks
        .outliers
        .iter()
        .map(|o| {
            format!(
                "{} {} {} B #{} ({} {} µs, expected {})",
                o.config,
                o.load,
                o.size,
                o.repeat,
                o.statistic,
                us(o.value_us),
                us(o.expected_us)
            )
        })
        .collect();
    format!(
        "outliers left out of the fits: {} run pairs: {}\n",
        list.len(),
        list.join("; ")
    )
}

fn share(part: f64, total: f64) -> f64 {
    if total.abs() > 0.0 {
        100.0 * part / total
    } else {
        0.0
    }
}

/// One line comparing the two CPU prices per mode (docs/prediction.md, "CPU price"), when the
/// profile fitted the closed-loop CPU.
fn cpu_prices(profile: &Profile, modes: &[Mode], size: f64) -> String {
    let parts: Vec<String> = modes
        .iter()
        .filter_map(|m| {
            let components = &profile.modes[m].components;
            let unloaded: Option<f64> = components
                .values()
                .map(|x| x.cpu_unloaded.map(|u| u.at(size)))
                .sum();
            let loaded: f64 = components.values().map(|x| x.cpu.at(size)).sum();
            unloaded.map(|u| format!("{m} {} / {} µs", us(loaded), us(u)))
        })
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    format!(
        "CPU per request at {size:.0} B, under load / one request in flight (`predict --cpu-price`): {}\n",
        parts.join(", ")
    )
}

/// A2 of the per-byte read and write costs: how many of their fits have size means on the line
/// ([`PER_BYTE_R2`]), and what to do when they do not.
fn copy_fits_line(checks: &Checks) -> String {
    let fits: Vec<&Linearity> = checks.copy_fits().collect();
    if fits.is_empty() {
        return String::new();
    }
    let judged: Vec<(&Linearity, f64)> = fits
        .iter()
        .filter_map(|l| l.r2_sizes.map(|r| (*l, r)))
        .collect();
    if judged.is_empty() {
        return "A2 per-byte read and write costs (one request in flight): not tested (needs three sizes)\n".to_string();
    }
    let lowest = judged.iter().map(|j| j.1).fold(f64::INFINITY, f64::min);
    let runs: Vec<f64> = fits.iter().filter_map(|l| l.r2).collect();
    let (lo, hi) = runs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
            (a.min(*r), b.max(*r))
        });
    let below: Vec<String> = judged
        .iter()
        .filter(|j| j.1 <= PER_BYTE_R2)
        .map(|(l, r)| format!("{} {} {r:.2}", l.config, l.component))
        .collect();
    let mut line = format!(
        "A2 per-byte read and write costs (one request in flight): R² of the size means over {PER_BYTE_R2} in {} of {} fits (lowest {lowest:.2}; R² of the runs {lo:.2}–{hi:.2})",
        judged.len() - below.len(),
        judged.len(),
    );
    if !below.is_empty() {
        line.push_str(&format!(
            "; not measured: {}. At these sizes the copy cost is within the run-to-run noise; \
             profile larger messages to measure it (e.g. --sizes 100,30000,60000)",
            below.join(", ")
        ));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assemble::Metric;

    fn fit(config: &str, component: Component, r2_sizes: Option<f64>) -> Linearity {
        Linearity {
            config: config.into(),
            component,
            metric: Metric::Latency,
            r2: Some(0.4),
            r2_sizes,
            lack_of_fit: None,
        }
    }

    #[test]
    fn copy_fits_line_names_the_fits_below_the_bar_and_what_to_do() {
        let mut checks = Checks {
            linearity: vec![
                fit("tcp", Component::Read, Some(0.97)),
                fit("tcp", Component::Write, Some(0.35)),
                fit("tcp", Component::Notify, Some(0.1)),
                fit("http+lua", Component::Read, Some(0.1)),
                Linearity {
                    metric: Metric::Cpu,
                    ..fit("tcp", Component::Read, Some(0.1))
                },
            ],
            ..Checks::default()
        };
        let line = copy_fits_line(&checks);
        assert!(
            line.starts_with("A2 per-byte read and write costs (one request in flight): R² of the size means over 0.8 in 1 of 2 fits (lowest 0.35; R² of the runs 0.40–0.40); not measured: tcp write 0.35."),
            "{line}"
        );
        assert!(line.contains("--sizes 100,30000,60000"), "{line}");
        checks.linearity[1].r2_sizes = Some(0.9);
        assert!(!copy_fits_line(&checks).contains("not measured"));
        for l in &mut checks.linearity {
            l.r2_sizes = None;
        }
        assert_eq!(
            copy_fits_line(&checks),
            "A2 per-byte read and write costs (one request in flight): not tested (needs three sizes)\n"
        );
    }
}
