//! Rendering of the gate's verdict: a terminal table fitted to the width, JSON, and markdown
//! (the PR comment and the GitHub step summary). The terminal and markdown reports show the
//! same content: the headline, what was compared, the primary metrics that moved, the
//! components that moved (derived from the same metrics as the headline), the work counters
//! that moved, the minimum detectable effects, the coarse comparison with the last merged
//! baseline, and everything else (collapsed in markdown).

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::Format;
use crate::gate::compare::CoefficientChange;
use crate::gate::decision::Decision;
use crate::gate::paired::{Rounds, Stopped};
use crate::gate::snapshot::Unit;
use crate::gate::verdict::{Coarse, CounterLine, Moved};
use crate::gate::{MetricResult, MetricVerdict, Outcome, Verdict};

/// Renders `verdict` in `format`; a table is fitted to `width` columns when given (else to
/// the terminal, when standard output is one).
pub(crate) fn render(verdict: &Verdict, format: Format, width: Option<u16>) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(verdict).expect("a verdict serializes");
            s.push('\n');
            s
        }
        Format::Table => table_text(verdict, width),
        Format::Markdown => markdown(verdict, None),
    }
}

/// A number with three significant digits, without exponent (`0.00311`, `12.3`, `1234`).
fn sig(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "-"
        } else if v > 0.0 {
            "∞"
        } else {
            "−∞"
        }
        .into();
    }
    let decimals = |x: f64| (2 - x.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let d = decimals(v);
    // Rounding up may add a digit (9.996 → 10.00): one decimal fewer then.
    let rounded: f64 = format!("{v:.d$}").parse().unwrap_or(v);
    let d = decimals(rounded).min(d);
    format!("{v:.d$}")
}

/// A value with its unit.
fn value(v: Option<f64>, unit: Unit) -> String {
    match v {
        None => "-".into(),
        Some(v) => format!("{} {unit}", sig(v)),
    }
}

/// A value in a column whose unit the row names.
fn bare(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), sig)
}

/// A change with its sign (`+1.23`, `−0.5`, `0`), and its unit when given.
fn signed(v: Option<f64>, unit: Option<Unit>) -> String {
    match v {
        None => "-".into(),
        Some(0.0) => "0".into(),
        Some(d) => {
            let s = match unit {
                Some(u) => value(Some(d.abs()), u),
                None => sig(d.abs()),
            };
            if d < 0.0 {
                format!("−{s}")
            } else {
                format!("+{s}")
            }
        }
    }
}

/// A metric's key with its unit, for the first column of a table.
fn key_unit(key: &str, unit: Unit) -> String {
    format!("{key} ({unit})")
}

fn pct(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(p) if p.is_infinite() => if p > 0.0 { "+∞" } else { "−∞" }.into(),
        // Rounds to zero without a sign.
        Some(p) if p.abs() < 0.05 => "0.0%".into(),
        Some(p) if p < 0.0 => format!("−{:.1}%", -p),
        Some(p) => format!("+{p:.1}%"),
    }
}

fn p_text(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 1e-4 => "<0.0001".into(),
        Some(p) => format!("{p:.4}"),
    }
}

fn mde_text(m: &MetricResult, unit: bool) -> String {
    match &m.mde {
        Some(mde) if unit => format!("{} ({:.1}%)", value(Some(mde.value), m.unit), mde.pct),
        Some(mde) => format!("{} ({:.1}%)", sig(mde.value), mde.pct),
        None => "-".into(),
    }
}

/// The verdict code, and when the check measured twice and this metric was flagged, what the
/// first measurement said (`unconfirmed (first: regression +8.3%)`).
fn verdict_text(m: &MetricResult) -> String {
    match &m.first {
        Some(f) if f.verdict != m.verdict || m.verdict == MetricVerdict::Unconfirmed => format!(
            "{} (first: {} {})",
            m.verdict.code(),
            f.verdict.code(),
            pct(f.change_pct)
        ),
        Some(_) => format!("{} (twice)", m.verdict.code()),
        None => m.verdict.code().to_string(),
    }
}

fn decision_text(d: Option<Decision>) -> &'static str {
    match d {
        Some(Decision::Regression) => "above",
        Some(Decision::NoRegression) => "below",
        Some(Decision::Undecided) => "open",
        None => "-",
    }
}

/// A table of rows of cells; the columns in `right` are right-aligned.
struct Rows {
    header: Vec<&'static str>,
    right: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Rows {
    /// A terminal table fitted to `width` (the terminal's when `None`).
    fn terminal(&self, width: Option<u16>) -> String {
        let mut t = Table::new();
        t.load_style(UTF8_BORDERS_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(self.header.clone());
        if let Some(w) = width {
            t.set_width(w);
        }
        for r in &self.rows {
            t.add_row(r.clone());
        }
        for &i in &self.right {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        t.to_string()
    }

    /// A markdown table with the alignment in its separator row.
    fn markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|");
        let mut out = format!("| {} |\n|", self.header.join(" | "));
        for i in 0..self.header.len() {
            out.push_str(if self.right.contains(&i) {
                "--:|"
            } else {
                ":--|"
            });
        }
        out.push('\n');
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

/// The primary metrics that moved: a regression, an improvement, beyond the threshold but
/// not significant, or flagged by one of two measurements.
fn moved_metrics(v: &Verdict) -> Vec<&MetricResult> {
    v.metrics
        .iter()
        .filter(|m| {
            matches!(
                m.verdict,
                MetricVerdict::Regression
                    | MetricVerdict::Improvement
                    | MetricVerdict::NotSignificant
                    | MetricVerdict::Unconfirmed
            )
        })
        .collect()
}

fn moved_rows(rows: &[&MetricResult]) -> Rows {
    Rows {
        header: vec![
            "metric", "base", "head", "delta", "change", "p (adj.)", "verdict",
        ],
        right: vec![1, 2, 3, 4, 5],
        rows: rows
            .iter()
            .map(|m| {
                vec![
                    key_unit(&m.key, m.unit),
                    bare(m.base),
                    bare(m.head),
                    signed(m.delta, None),
                    pct(m.change_pct),
                    p_text(m.p_adjusted),
                    verdict_text(m),
                ]
            })
            .collect(),
    }
}

/// Every primary metric; `compact` (a narrow terminal) leaves out head, delta and the
/// standard error, which the change, the base and the MDE stand for.
fn all_rows(v: &Verdict, compact: bool) -> Rows {
    let adaptive = v.paired.is_some();
    let mut header = if compact {
        vec!["metric", "base", "change", "p (adj.)", "MDE", "verdict"]
    } else {
        vec![
            "metric", "base", "head", "delta", "change", "± se", "p (adj.)", "MDE", "verdict",
        ]
    };
    let right: Vec<usize> = (1..header.len() - 1).collect();
    if adaptive {
        header.push("interval");
    }
    Rows {
        header,
        right,
        rows: v
            .metrics
            .iter()
            .map(|m| {
                let mut row = if compact {
                    vec![
                        key_unit(&m.key, m.unit),
                        bare(m.base),
                        pct(m.change_pct),
                        p_text(m.p_adjusted),
                        mde_text(m, false),
                        verdict_text(m),
                    ]
                } else {
                    vec![
                        key_unit(&m.key, m.unit),
                        bare(m.base),
                        bare(m.head),
                        signed(m.delta, None),
                        pct(m.change_pct),
                        bare(m.se),
                        p_text(m.p_adjusted),
                        mde_text(m, false),
                        verdict_text(m),
                    ]
                };
                if adaptive {
                    row.push(decision_text(m.decision).into());
                }
                row
            })
            .collect(),
    }
}

/// Below this width the terminal's table of every primary metric is the compact one.
const COMPACT_BELOW: u16 = 120;

fn component_rows(moved: &[Moved<'_>]) -> Rows {
    let mut rows = Vec::new();
    for m in moved {
        for (metric, a) in &m.metrics {
            rows.push(vec![
                m.part.to_string(),
                metric.key.clone(),
                signed(Some(a.delta), Some(metric.unit)),
                value(a.se, metric.unit),
                format!("{:.0}%", a.share_pct),
            ]);
        }
    }
    Rows {
        header: vec!["component", "in", "delta", "± se", "share"],
        right: vec![2, 3, 4],
        rows,
    }
}

fn counter_rows(counters: &[&CounterLine]) -> Rows {
    Rows {
        header: vec![
            "counter",
            "component",
            "base",
            "head",
            "delta",
            "tolerance",
            "verdict",
        ],
        right: vec![2, 3, 4, 5],
        rows: counters
            .iter()
            .map(|c| {
                vec![
                    c.key.clone(),
                    c.component.clone(),
                    sig(c.base),
                    sig(c.head),
                    signed(Some(c.delta), None),
                    sig(c.tolerance),
                    c.verdict.code().to_string(),
                ]
            })
            .collect(),
    }
}

fn coefficient_rows(rows: &[&CoefficientChange]) -> Rows {
    Rows {
        header: vec![
            "coefficient",
            "base",
            "head",
            "delta",
            "of its mode",
            "± se",
            "p",
        ],
        right: vec![1, 2, 3, 4, 5, 6],
        rows: rows
            .iter()
            .map(|c| {
                vec![
                    key_unit(&c.key, c.unit),
                    bare(c.base),
                    bare(c.head),
                    signed(c.delta, None),
                    pct(c.change_pct),
                    bare(c.se),
                    p_text(c.p),
                ]
            })
            .collect(),
    }
}

fn headline(v: &Verdict) -> String {
    if v.verdict == Outcome::NoBaseline {
        return v.summary.clone();
    }
    let mark = match v.verdict {
        Outcome::Regression => "regression",
        Outcome::Improvement => "improvement",
        Outcome::Pass => "pass",
        Outcome::NoBaseline => "no baseline",
    };
    let paired = if v.paired.is_some() { "paired " } else { "" };
    format!("{paired}{mark}: {}", v.summary)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// Which commits were compared, how, and (markdown) the link to the run.
fn compared_line(v: &Verdict, markdown: bool) -> String {
    let code = |s: &str| {
        if markdown {
            format!("`{s}`")
        } else {
            s.to_string()
        }
    };
    let mut parts = Vec::new();
    if let Some(h) = &v.provenance.head_commit {
        parts.push(format!("head {}", code(short(h))));
    }
    let how = match (&v.paired, &v.baseline) {
        (Some(p), _) => format!(
            "base {}: {} against {}, measured interleaved",
            v.provenance
                .base_commit
                .as_deref()
                .map_or_else(|| "(preset)".to_string(), |c| code(short(c))),
            code(&p.base),
            code(&p.head)
        ),
        (None, Some(b)) => format!(
            "baseline {} ({} version{} of history)",
            code(&b.origin),
            b.history_versions,
            if b.history_versions == 1 { "" } else { "s" }
        ),
        (None, None) => "no baseline".into(),
    };
    parts.push(how);
    if let Some(url) = &v.provenance.run_url {
        parts.push(if markdown {
            format!("[CI run]({url})")
        } else {
            format!("run {url}")
        });
    }
    parts.join(" · ")
}

fn rounds_text(r: &Rounds) -> String {
    let how = match r.stopped {
        Stopped::Decided => format!("decided after {} round{}", r.rounds, plural(r.rounds)),
        Stopped::Regression => format!(
            "a regression decided after {} round{}",
            r.rounds,
            plural(r.rounds)
        ),
        Stopped::Budget => format!(
            "time budget of {} spent after {} round{}",
            duration(r.budget_s),
            r.rounds,
            plural(r.rounds)
        ),
    };
    format!(
        "{how} ({} replicates, {:.0} s of measurement)",
        r.replicates, r.elapsed_s
    )
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn duration(s: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
}

/// How the paired measurement went: rounds, why it stopped, undecided metrics, confirmation.
fn measurement_line(v: &Verdict) -> Option<String> {
    let p = v.paired.as_ref()?;
    let mut s = rounds_text(&p.rounds);
    let undecided: Vec<&str> = v.undecided().map(|m| m.key.as_str()).collect();
    if p.rounds.stopped == Stopped::Budget {
        s.push_str(&format!(
            ": {} metric{} undecided ({})",
            undecided.len(),
            plural(undecided.len() as u32),
            undecided.join(", ")
        ));
    }
    if let Some(c) = &p.confirmation {
        s.push_str(&format!(
            "; measured again to confirm: {}, the figures are that measurement's",
            rounds_text(c)
        ));
    }
    Some(s)
}

fn settings_line(v: &Verdict) -> String {
    let correction = match v.settings.correction {
        crate::gate::Correction::Holm => "Holm",
        crate::gate::Correction::Bh => "Benjamini–Hochberg",
    };
    let tested = v.metrics.iter().filter(|m| m.p.is_some()).count();
    format!(
        "threshold {}%, α {} ({correction} over {tested} primary metrics)",
        v.settings.threshold_pct, v.settings.alpha
    )
}

/// "this check could see ≥ X (Y %)" over the family: the smallest and largest.
fn mde_line(v: &Verdict) -> Option<String> {
    let with: Vec<&MetricResult> = v.metrics.iter().filter(|m| m.mde.is_some()).collect();
    let pct = |m: &&MetricResult| m.mde.map_or(f64::NAN, |d| d.pct);
    let lo = with.iter().min_by(|a, b| pct(a).total_cmp(&pct(b)))?;
    let hi = with.iter().max_by(|a, b| pct(a).total_cmp(&pct(b)))?;
    Some(format!(
        "this check could see ≥ {} of {} up to ≥ {} of {} (80 % power; every metric's below)",
        mde_text(lo, true),
        lo.key,
        mde_text(hi, true),
        hi.key
    ))
}

fn coarse_text(c: &Coarse) -> String {
    let mut s = match &c.origin {
        Some(o) => format!(
            "against {o} ({} version{} of history), threshold {}%: ",
            c.history_versions,
            plural(c.history_versions as u32),
            c.threshold_pct
        ),
        None => String::new(),
    };
    if let Some(n) = &c.note {
        s.push_str(n);
        if c.origin.is_some() {
            s.push_str("; ");
        }
    }
    if c.origin.is_some() {
        if c.metrics.is_empty() {
            s.push_str("nothing moved that far");
        } else {
            s.push_str(&format!("{} metric(s) moved", c.metrics.len()));
        }
    }
    s
}

fn moved_counters(v: &Verdict) -> Vec<&CounterLine> {
    v.counters
        .iter()
        .filter(|c| c.verdict != MetricVerdict::Unchanged)
        .collect()
}

const COARSE_TITLE: &str =
    "Against the last merged baseline (coarse, informational: it never changes the exit code)";

/// `text` broken at spaces into lines of at most `width` characters (a longer word stays
/// whole), each ending in a newline.
fn wrap(text: &str, width: Option<u16>) -> String {
    let Some(width) = width.map(usize::from).filter(|w| *w >= 20) else {
        return format!("{text}\n");
    };
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn table_text(v: &Verdict, width: Option<u16>) -> String {
    let mut out = wrap(&format!("Gate: {}", headline(v)), width);
    out.push_str(&wrap(&compared_line(v, false), width));
    if let Some(m) = measurement_line(v) {
        out.push_str(&wrap(&m, width));
    }
    out.push_str(&wrap(
        &format!("platform {}; {}", v.platform.id, settings_line(v)),
        width,
    ));
    if v.metrics.is_empty() {
        return out;
    }
    let section = |out: &mut String, title: &str, body: String| {
        out.push_str(&format!("\n{title}\n{body}\n"));
    };
    let moved = moved_metrics(v);
    if moved.is_empty() {
        out.push_str("\nPrimary metrics that moved: none beyond the threshold\n");
    } else {
        section(
            &mut out,
            "Primary metrics that moved",
            moved_rows(&moved).terminal(width),
        );
    }
    let components = v.moved();
    if components.is_empty() {
        out.push_str("Components that moved: none\n");
    } else {
        section(
            &mut out,
            "Components that moved",
            component_rows(&components).terminal(width),
        );
    }
    let counters = moved_counters(v);
    if !counters.is_empty() {
        section(
            &mut out,
            "Work counters that moved",
            counter_rows(&counters).terminal(width),
        );
    }
    if let Some(line) = mde_line(v) {
        out.push_str(&wrap(&format!("Minimum detectable effect: {line}"), width));
    }
    if let Some(c) = &v.coarse {
        out.push('\n');
        out.push_str(&wrap(COARSE_TITLE, width));
        out.push_str(&wrap(&coarse_text(c), width));
        if !c.metrics.is_empty() {
            let rows: Vec<&MetricResult> = c.metrics.iter().collect();
            out.push_str(&format!("{}\n", moved_rows(&rows).terminal(width)));
        }
    }
    let compact = width.is_some_and(|w| w < COMPACT_BELOW);
    section(
        &mut out,
        "All primary metrics",
        all_rows(v, compact).terminal(width),
    );
    let beyond: Vec<&CoefficientChange> = v
        .coefficients
        .iter()
        .filter(|c| {
            c.change_pct
                .is_some_and(|p| p.abs() > v.settings.threshold_pct)
        })
        .collect();
    if !beyond.is_empty() {
        section(
            &mut out,
            "Coefficients that changed beyond the threshold (attribution only)",
            coefficient_rows(&beyond).terminal(width),
        );
    }
    let hidden = v.coefficients.len() - beyond.len();
    if hidden > 0 {
        out.push_str(&wrap(
            &format!(
                "{hidden} coefficient(s) within the threshold not shown (--format json has them)"
            ),
            width,
        ));
    }
    for n in &v.notes {
        out.push_str(&wrap(&format!("note: {n}"), width));
    }
    out
}

/// GitHub refuses comment bodies over 65,536 characters; the details tables are left out of
/// a report that would come near it.
pub(crate) const MAX_MARKDOWN_BYTES: usize = 60_000;

/// The markdown report; with `marker`, the hidden marker of the PR comment goes first.
pub(crate) fn markdown(v: &Verdict, marker: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(m) = marker {
        out.push_str(m);
        out.push('\n');
    }
    let icon = match v.verdict {
        Outcome::Regression => "❌",
        Outcome::Improvement | Outcome::Pass => "✅",
        Outcome::NoBaseline => "⚠️",
    };
    out.push_str(&format!(
        "### {icon} cargo-meshinsight: {}\n\n",
        headline(v)
    ));
    out.push_str(&format!("{}\n", compared_line(v, true)));
    if let Some(m) = measurement_line(v) {
        out.push_str(&format!("\n{}{}.\n", m[..1].to_uppercase(), &m[1..]));
    }
    out.push('\n');
    if !v.metrics.is_empty() {
        markdown_body(v, &mut out);
    }
    out.push_str(&format!(
        "Platform `{}`{}{}. Threshold {}.\n",
        v.platform.id,
        v.platform
            .cpu_model
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
        v.platform
            .kernel
            .as_deref()
            .map(|k| format!(", kernel {k}"))
            .unwrap_or_default(),
        settings_line(v).trim_start_matches("threshold ")
    ));
    if !v.metrics.is_empty() {
        markdown_details(v, &mut out);
    }
    out
}

/// The visible part: what moved, the minimum detectable effect, the coarse comparison.
fn markdown_body(v: &Verdict, out: &mut String) {
    let moved = moved_metrics(v);
    if moved.is_empty() {
        out.push_str("**Primary metrics that moved:** none beyond the threshold.\n\n");
    } else {
        let table = moved_rows(&moved).markdown();
        if table.len() <= MAX_MARKDOWN_BYTES / 3 {
            out.push_str(&format!("**Primary metrics that moved:**\n\n{table}\n"));
        } else {
            out.push_str(&format!(
                "**Primary metrics that moved:** {} (too many to list: see the JSON report).\n\n",
                moved.len()
            ));
        }
    }
    let components = v.moved();
    if components.is_empty() {
        out.push_str("**Components that moved:** none.\n\n");
    } else {
        let table = component_rows(&components).markdown();
        if table.len() <= MAX_MARKDOWN_BYTES / 4 {
            out.push_str(&format!("**Components that moved:**\n\n{table}\n"));
        } else {
            let names: Vec<&str> = components.iter().map(|m| m.part).collect();
            out.push_str(&format!(
                "**Components that moved:** {}.\n\n",
                names.join(", ")
            ));
        }
    }
    let counters = moved_counters(v);
    if !counters.is_empty() {
        out.push_str(&format!(
            "**Work counters that moved:**\n\n{}\n",
            counter_rows(&counters).markdown()
        ));
    }
    if let Some(line) = mde_line(v) {
        out.push_str(&format!("**Minimum detectable effect:** {line}.\n\n"));
    }
    if let Some(c) = &v.coarse {
        out.push_str(&format!("**{COARSE_TITLE}:** {}.\n\n", coarse_text(c)));
        if !c.metrics.is_empty() {
            let rows: Vec<&MetricResult> = c.metrics.iter().collect();
            out.push_str(&format!("{}\n", moved_rows(&rows).markdown()));
        }
    }
}

/// The collapsed part: every primary metric, every coefficient, the notes.
fn markdown_details(v: &Verdict, out: &mut String) {
    out.push_str(&format!(
        "\n<details><summary>All {} primary metrics and {} coefficients</summary>\n\n",
        v.metrics.len(),
        v.coefficients.len()
    ));
    let primary = all_rows(v, false).markdown();
    let coefficients: Vec<&CoefficientChange> = v.coefficients.iter().collect();
    let coefficients = coefficient_rows(&coefficients).markdown();
    let notes: String = v.notes.iter().map(|n| format!("Note: {n}\n\n")).collect();
    let too_long = "is too long for a comment: see the JSON report (`check --report FILE`) or \
                    `check --format table`.";
    if out.len() + primary.len() + notes.len() <= MAX_MARKDOWN_BYTES {
        out.push_str(&format!("{primary}\n"));
    } else {
        out.push_str(&format!("The table of every primary metric {too_long}\n\n"));
    }
    if out.len() + coefficients.len() + notes.len() <= MAX_MARKDOWN_BYTES {
        out.push_str(&format!(
            "Coefficients (attribution only):\n\n{coefficients}\n"
        ));
    } else {
        out.push_str(&format!("The table of every coefficient {too_long}\n\n"));
    }
    out.push_str(&notes);
    out.push_str("</details>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::paired::PairedInfo;
    use crate::gate::verdict::Provenance;
    use crate::gate::{Snapshot, judge_paired};
    use crate::model::Profile;
    use crate::test_support::{ecgs, fitted, scaled};
    use crate::vocab::{Component, Mode};

    /// A paired check of the test fixtures whose head does 5 µs of extra work per message
    /// (`other` +10 µs per traversal), judged on four replicates, with its provenance, a
    /// confirmation and the coarse comparison.
    fn sample() -> Verdict {
        let jitter = |k: f64, extra: f64| {
            let mut p: Profile = fitted(0.01);
            p.platform.id = "builtin-test-box-2c-linux-6.18".into();
            for mode in [Mode::Tcp, Mode::Http, Mode::Grpc] {
                let mp = p.modes.get_mut(&mode).unwrap();
                let ipc = mp.components.get_mut(&Component::Ipc).unwrap();
                ipc.latency.base_us *= 1.0 + k;
                ipc.cpu.base_us *= 1.0 - k;
                mp.components
                    .get_mut(&Component::Other)
                    .unwrap()
                    .latency
                    .base_us += extra;
            }
            Snapshot::values_only(p, &ecgs()).unwrap()
        };
        let pairs: Vec<(Snapshot, Snapshot)> =
            [(0.02, -0.01), (-0.03, 0.02), (0.01, 0.03), (0.0, -0.02)]
                .iter()
                .map(|&(b, h)| (jitter(h, 10.0), jitter(b, 0.0)))
                .collect();
        let rounds = Rounds {
            rounds: 2,
            replicates: 4,
            stopped: Stopped::Decided,
            budget_s: 180.0,
            elapsed_s: 41.3,
        };
        let info = PairedInfo {
            base: "builtin".into(),
            head: "builtin --extra-work-us 5".into(),
            base_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            points: 272,
            test: "paired t".into(),
            rounds: rounds.clone(),
            confirmation: Some(Rounds {
                stopped: Stopped::Regression,
                elapsed_s: 40.2,
                ..rounds
            }),
        };
        let settings = crate::test_support::compare_settings();
        let platform = pairs[0].0.profile.platform.clone();
        let mut v = judge_paired(platform, &pairs, 3, info, &settings);
        v.provenance = Provenance {
            head_commit: Some("fedcba9876543210fedcba9876543210fedcba98".into()),
            base_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            run_url: Some("https://github.com/octo/proxy/actions/runs/42".into()),
        };
        let head =
            crate::test_support::snap(scaled(fitted(0.001), Mode::Http, Component::Parsing, 2.0));
        let stored = crate::gate::Loaded {
            history: Vec::new(),
            baseline: crate::gate::Baseline::new(crate::test_support::snap(fitted(0.001)), &[]),
            origin: "baselines/builtin-test-box-2c-linux-6.18.json at 0123456 (merge base with origin/main)".into(),
            commit: None,
        };
        v.coarse = Some(crate::gate::verdict::coarse(&head, &stored, &settings));
        v
    }

    #[test]
    fn three_significant_digits_without_exponent() {
        let cases = [
            (0.0, "0"),
            (1234.4, "1234"),
            (123.44, "123"),
            (12.345, "12.3"),
            (1.2345, "1.23"),
            (0.0031149, "0.00311"),
            (9.9996, "10.0"),
            (-0.5, "-0.500"),
        ];
        for (v, want) in cases {
            assert_eq!(sig(v), want, "{v}");
        }
    }

    #[test]
    fn the_verdict_table_fits_80_columns() {
        let text = render(&sample(), Format::Table, Some(80));
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_verdict_table_at_160_columns() {
        let text = render(&sample(), Format::Table, Some(160));
        assert!(text.lines().all(|l| l.chars().count() <= 160), "{text}");
        insta::assert_snapshot!(text);
    }

    /// The comment: headline, commits and run link, the moved metrics with the components
    /// that moved (the headline's "mostly" among them), the minimum detectable effects, the
    /// coarse comparison, everything else collapsed; numbers right-aligned.
    #[test]
    fn the_verdict_markdown() {
        let v = sample();
        let md = markdown(&v, Some("<!-- marker -->"));
        assert!(md.contains("mostly other"), "{md}");
        assert!(md.contains("| other | "), "{md}");
        assert!(md.contains("[CI run](https://github.com/octo/proxy/actions/runs/42)"));
        assert!(
            md.contains("head `fedcba9`") && md.contains("base `0123456`"),
            "{md}"
        );
        assert!(md.contains("--:|"), "{md}");
        assert!(md.contains("<details>"), "{md}");
        insta::assert_snapshot!(md);
    }
}
