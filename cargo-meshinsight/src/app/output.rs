//! The one writer all user output goes through, so that tests can capture it.
//!
//! Standard output carries the result (a table, JSON, markdown); standard error carries
//! cargo-style status lines, progress, warnings and errors. Whether they are coloured is
//! decided once, by [`use_color`] (docs/cli.md has the precedence); how wide terminal text may
//! be, by [`width_from`].

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};

use crate::report::Width;

/// Where results and status lines go.
pub struct Output {
    stdout: Box<dyn Write + Send>,
    stderr: SharedWriter,
    color: bool,
    color_stdout: bool,
    stderr_is_terminal: bool,
    width: Width,
    quiet: bool,
    /// Writes to the process's streams (not a capture).
    is_std: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("color", &self.color)
            .field("width", &self.width)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

/// The text an [`Output::captured`] writer collected.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    /// Everything written to standard output so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("capture lock")).into_owned()
    }
    /// Everything written to standard error so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("capture lock")).into_owned()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Standard error, shared with the threads that print progress lines
/// ([`super::progress`]); each `write` holds the lock, so lines do not interleave.
#[derive(Clone)]
pub(crate) struct SharedWriter(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// `--color`: whether status lines, errors, progress and help are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum ColorChoice {
    /// As the environment and the terminal say ([`use_color`]).
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Whether to colour a stream, first rule that applies wins:
/// 1. `--color always|never`;
/// 2. `CARGO_TERM_COLOR=always|never` (cargo's own setting, which `cargo meshinsight` users
///    set for every cargo command);
/// 3. `NO_COLOR` set and not empty: never;
/// 4. `CLICOLOR_FORCE` set, not empty and not `0`: always;
/// 5. `CLICOLOR=0`: never;
/// 6. `TERM=dumb`: never;
/// 7. colour when the stream is a terminal.
///
/// `env` reads a variable (`std::env::var` outside tests).
pub(crate) fn use_color(
    choice: ColorChoice,
    env: impl Fn(&str) -> Option<String>,
    is_terminal: bool,
) -> bool {
    match choice {
        ColorChoice::Always => return true,
        ColorChoice::Never => return false,
        ColorChoice::Auto => {}
    }
    match env("CARGO_TERM_COLOR").as_deref() {
        Some("always") => return true,
        Some("never") => return false,
        _ => {}
    }
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if env("CLICOLOR").as_deref() == Some("0") || env("TERM").as_deref() == Some("dumb") {
        return false;
    }
    is_terminal
}

/// How wide terminal text may be: `COLUMNS` when it is set to a number (whether or not
/// standard output is a terminal), else the terminal's width, else [`Width::DEFAULT`].
pub(crate) fn width_from(columns: Option<String>, terminal: Option<u16>) -> Width {
    columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0)
        .or(terminal)
        .map_or(Width::DEFAULT, Width::new)
}

/// Standard output when the process started with it closed (`>&-`). Rust's runtime puts
/// /dev/null on a closed standard descriptor before `main`, so everything written would vanish
/// behind exit code 0; this writer fails instead.
struct ClosedStdout;

impl Write for ClosedStdout {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "standard output is closed",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether descriptor 1 was open when the process started, recorded by [`RECORD_STDOUT`].
static STDOUT_WAS_OPEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

extern "C" fn record_stdout() {
    // SAFETY: fcntl(F_GETFD) only reads the descriptor's flags.
    let open = unsafe { libc::fcntl(1, libc::F_GETFD) } != -1;
    STDOUT_WAS_OPEN.store(open, std::sync::atomic::Ordering::Relaxed);
}

/// Run by the C runtime before `main`, hence before Rust's runtime reopens a closed
/// descriptor 1 on /dev/null (after which `>&-` cannot be told from `>/dev/null`).
#[used]
#[unsafe(link_section = ".init_array")]
static RECORD_STDOUT: extern "C" fn() = record_stdout;

/// Whether the process started with an open standard output.
fn stdout_is_open() -> bool {
    // Referenced, so that the linker keeps the constructor with this code.
    std::hint::black_box(RECORD_STDOUT);
    STDOUT_WAS_OPEN.load(std::sync::atomic::Ordering::Relaxed)
}

const STATUS: Style = AnsiColor::Green.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default().bold();

impl Output {
    /// The process's standard output and standard error, coloured as the environment says.
    pub fn std() -> Self {
        let terminal = terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| w.0);
        let stderr_is_terminal = io::stderr().is_terminal();
        let mut out = Output {
            stdout: if stdout_is_open() {
                Box::new(io::stdout())
            } else {
                Box::new(ClosedStdout)
            },
            stderr: SharedWriter(Arc::new(Mutex::new(Box::new(io::stderr())))),
            color: false,
            color_stdout: false,
            stderr_is_terminal,
            width: width_from(std::env::var("COLUMNS").ok(), terminal),
            quiet: false,
            is_std: true,
        };
        out.set_color(ColorChoice::Auto);
        out
    }

    /// A writer that keeps everything in memory, for tests: no colour, not a terminal,
    /// [`Width::DEFAULT`] wide.
    pub fn captured() -> (Self, Captured) {
        let cap = Captured::default();
        let out = Output {
            stdout: Box::new(SharedBuf(cap.stdout.clone())),
            stderr: SharedWriter(Arc::new(Mutex::new(Box::new(SharedBuf(
                cap.stderr.clone(),
            ))))),
            color: false,
            color_stdout: false,
            stderr_is_terminal: false,
            width: Width::DEFAULT,
            quiet: false,
            is_std: false,
        };
        (out, cap)
    }

    /// Colours the process's streams as `choice` and the environment say ([`use_color`]);
    /// a captured writer stays plain.
    pub(crate) fn set_color(&mut self, choice: ColorChoice) {
        if !self.is_std {
            return;
        }
        let env = |k: &str| std::env::var(k).ok();
        self.color = use_color(choice, env, self.stderr_is_terminal);
        self.color_stdout = use_color(choice, env, io::stdout().is_terminal());
    }

    /// Suppress status lines (results, warnings and errors are still written).
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// Whether status lines (and progress) are suppressed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether status lines on standard error are coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether help on standard output is coloured.
    pub(crate) fn color_stdout(&self) -> bool {
        self.color_stdout
    }

    /// Whether standard error is a terminal (progress draws a bar there, else plain lines).
    pub(crate) fn stderr_is_terminal(&self) -> bool {
        self.stderr_is_terminal
    }

    /// How wide terminal text (tables, wrapped prose) may be.
    pub(crate) fn width(&self) -> Width {
        self.width
    }

    /// The result stream.
    pub fn out(&mut self) -> &mut dyn Write {
        &mut *self.stdout
    }

    /// The diagnostics stream (progress draws here too).
    pub fn err(&mut self) -> &mut dyn Write {
        &mut self.stderr
    }

    /// A handle on the diagnostics stream that another thread can write to.
    pub(crate) fn shared_err(&self) -> SharedWriter {
        self.stderr.clone()
    }

    /// Writes a result to standard output; `what` names it in the error.
    pub(crate) fn write_result(
        &mut self,
        text: &str,
        what: &str,
    ) -> Result<(), super::error::Error> {
        self.stdout
            .write_all(text.as_bytes())
            .and_then(|()| self.stdout.flush())
            .map_err(|source| super::error::Error::Write {
                what: what.to_string(),
                source,
            })
    }

    /// A cargo-style status line: a right-aligned green verb and a message.
    pub fn status(&mut self, verb: &str, message: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        let line = status_line(self.color, verb, &message.to_string());
        let _ = self.stderr.write_all(line.as_bytes());
    }

    /// A warning line.
    pub fn warn(&mut self, message: impl std::fmt::Display) {
        let tag = self.styled(WARNING, "warning");
        let _ = writeln!(self.stderr, "{tag}: {message}");
    }

    /// An error with its cause chain and an optional hint.
    pub fn error(&mut self, error: &(dyn std::error::Error + 'static), hint: Option<&str>) {
        let tag = self.styled(ERROR, "error");
        let _ = writeln!(self.stderr, "{tag}: {error}");
        for cause in super::error::causes(error) {
            let _ = writeln!(self.stderr, "  caused by: {cause}");
        }
        if let Some(hint) = hint {
            let tag = self.styled(HINT, "hint");
            let _ = writeln!(self.stderr, "{tag}: {hint}");
        }
    }

    fn styled(&self, style: Style, text: &str) -> String {
        styled(self.color, style, text)
    }
}

/// `text` in `style` when `color`.
fn styled(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// A status line with its newline: the verb right-aligned in 12 columns, then the message
/// (shared with the plain progress lines, which look the same).
pub(crate) fn status_line(color: bool, verb: &str, message: &str) -> String {
    format!(
        "{} {message}\n",
        styled(color, STATUS, &format!("{verb:>12}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_flag_beats_every_variable() {
        let all = [
            ("CARGO_TERM_COLOR", "always"),
            ("NO_COLOR", "1"),
            ("CLICOLOR_FORCE", "1"),
            ("TERM", "dumb"),
        ];
        assert!(!use_color(ColorChoice::Never, env(&all), true));
        assert!(use_color(
            ColorChoice::Always,
            env(&[("NO_COLOR", "1")]),
            false
        ));
    }

    #[test]
    fn cargo_term_color_beats_the_generic_variables() {
        let auto = ColorChoice::Auto;
        let vars = [("CARGO_TERM_COLOR", "always"), ("NO_COLOR", "1")];
        assert!(use_color(auto, env(&vars), false));
        let vars = [("CARGO_TERM_COLOR", "never"), ("CLICOLOR_FORCE", "1")];
        assert!(!use_color(auto, env(&vars), true));
        // `auto` (or anything else) leaves it to the rules below.
        let vars = [("CARGO_TERM_COLOR", "auto"), ("NO_COLOR", "1")];
        assert!(!use_color(auto, env(&vars), true));
    }

    #[test]
    fn no_color_beats_clicolor_force_which_beats_term_and_the_terminal() {
        let auto = ColorChoice::Auto;
        let vars = [("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")];
        assert!(!use_color(auto, env(&vars), true));
        // An empty NO_COLOR does not count (no-color.org).
        let vars = [("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")];
        assert!(use_color(auto, env(&vars), false));
        let vars = [("CLICOLOR_FORCE", "1"), ("TERM", "dumb")];
        assert!(use_color(auto, env(&vars), false));
        let vars = [("CLICOLOR_FORCE", "0")];
        assert!(!use_color(auto, env(&vars), false));
        assert!(!use_color(auto, env(&[("TERM", "dumb")]), true));
        assert!(!use_color(auto, env(&[("CLICOLOR", "0")]), true));
        assert!(use_color(auto, env(&[("TERM", "xterm-256color")]), true));
        assert!(!use_color(auto, env(&[]), false));
    }

    #[test]
    fn width_comes_from_columns_then_the_terminal_then_the_default() {
        assert_eq!(width_from(Some("80".into()), Some(200)), Width(80));
        assert_eq!(width_from(None, Some(120)), Width(120));
        assert_eq!(width_from(None, None), Width::DEFAULT);
        assert_eq!(width_from(Some("wide".into()), None), Width::DEFAULT);
        assert_eq!(width_from(Some("0".into()), Some(90)), Width(90));
        // Too narrow for any table: raised to the minimum.
        assert_eq!(width_from(Some("10".into()), None), Width::MIN);
    }
}
