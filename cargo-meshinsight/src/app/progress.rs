//! Progress bars on standard error: one set-up for every long command (hidden with
//! `--quiet`; indicatif hides a bar itself when standard error is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::Output;

/// A bar with a cargo-style green `prefix`, `len` steps (`None`: set later) and `template`
/// for what follows the bar (indicatif's keys: `{pos}`, `{len}`, `{eta}`, `{msg}`, ...).
pub(crate) fn bar(
    out: &Output,
    prefix: &'static str,
    len: Option<u64>,
    template: &str,
) -> ProgressBar {
    let bar = if out.is_quiet() {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix:>12.green.bold}} [{{bar:30}}] {template}"
        ))
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}
