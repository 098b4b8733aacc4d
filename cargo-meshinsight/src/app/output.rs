//! The one writer all user output goes through, so that tests can capture it.
//!
//! Standard output carries the result (a table, JSON, markdown); standard error carries
//! cargo-style status lines, warnings and errors. Colour follows `NO_COLOR` and whether
//! standard error is a terminal.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};

/// Where results and status lines go.
pub struct Output {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
    color: bool,
    quiet: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("color", &self.color)
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
    /// The process's standard output and standard error.
    pub fn std() -> Self {
        let color =
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stderr().is_terminal();
        let stdout: Box<dyn Write + Send> = if stdout_is_open() {
            Box::new(io::stdout())
        } else {
            Box::new(ClosedStdout)
        };
        Output {
            stdout,
            stderr: Box::new(io::stderr()),
            color,
            quiet: false,
        }
    }

    /// A writer that keeps everything in memory, for tests.
    pub fn captured() -> (Self, Captured) {
        let cap = Captured::default();
        let out = Output {
            stdout: Box::new(SharedBuf(cap.stdout.clone())),
            stderr: Box::new(SharedBuf(cap.stderr.clone())),
            color: false,
            quiet: false,
        };
        (out, cap)
    }

    /// Suppress status lines (results, warnings and errors are still written).
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// Whether status lines (and progress bars) are suppressed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether status lines are coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// The result stream.
    pub fn out(&mut self) -> &mut dyn Write {
        &mut *self.stdout
    }

    /// The diagnostics stream (progress bars draw here too).
    pub fn err(&mut self) -> &mut dyn Write {
        &mut *self.stderr
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
        let line = self.styled(STATUS, &format!("{verb:>12}"));
        let _ = writeln!(self.stderr, "{line} {message}");
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
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }
}
