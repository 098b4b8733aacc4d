//! Every renderer: results for people (terminal tables, markdown, SVG plots) and machines
//! (JSON). Pure functions from a stage's output to text.

pub(crate) mod analyze;
pub(crate) mod analyze_plot;
pub(crate) mod bench;
pub(crate) mod critical_path;
pub(crate) mod prediction;
pub(crate) mod probe;
pub(crate) mod profile;
pub(crate) mod validate;
pub(crate) mod validate_plot;
pub(crate) mod verdict;

/// How a result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Format {
    /// A table for the terminal.
    #[default]
    Table,
    /// JSON for programs.
    Json,
    /// A markdown table (PR comments, step summaries).
    Markdown,
}

/// Formats µs with a precision that suits the magnitude.
pub(crate) fn us(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Formats cores.
pub(crate) fn cores(v: f64) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.01 || v == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}
