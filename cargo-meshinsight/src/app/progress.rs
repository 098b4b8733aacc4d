//! Progress on standard error, one implementation for every long command: a bar (indicatif)
//! when standard error is a terminal; when it is not (a CI log, a file), a plain status line
//! every [`PLAIN_EVERY`] with what is done, what is left and the time left; nothing with
//! `--quiet`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{Output, SharedWriter, status_line};

/// How often a plain progress line is printed when standard error is not a terminal.
pub(crate) const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Steps with a name (`runs`): `12/40 runs`.
    Count(&'static str),
    /// A share of the work: the bar's length is a scale, only the percentage is shown.
    Percent,
}

/// Progress of one long task. Hidden, a terminal bar, or plain lines: see the module.
#[derive(Debug)]
pub(crate) struct Bar {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Hidden,
    Drawn(ProgressBar),
    Lines(Lines),
}

/// A bar with a cargo-style `prefix` (`Measuring`) counting `unit`s, of `len` steps (`None`:
/// set later with [`Bar::set_length`]).
pub(crate) fn bar(out: &Output, prefix: &'static str, len: Option<u64>, unit: Unit) -> Bar {
    if out.is_quiet() {
        Bar { kind: Kind::Hidden }
    } else if out.stderr_is_terminal() {
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        bar.set_style(style(unit, out.color()));
        bar.set_prefix(prefix);
        Bar {
            kind: Kind::Drawn(bar),
        }
    } else {
        plain(out, prefix, len, unit, PLAIN_EVERY)
    }
}

/// A bar that prints a plain line every `every` (the one standard error gets when it is not
/// a terminal).
pub(crate) fn plain(
    out: &Output,
    prefix: &'static str,
    len: Option<u64>,
    unit: Unit,
    every: Duration,
) -> Bar {
    let state = Arc::new(LineState {
        prefix,
        unit,
        color: out.color(),
        len: AtomicU64::new(len.unwrap_or(UNKNOWN)),
        pos: AtomicU64::new(0),
        message: Mutex::new(String::new()),
        started: Instant::now(),
        done: AtomicBool::new(false),
        out: Mutex::new(out.shared_err()),
    });
    let ticker = {
        let state = state.clone();
        std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || tick(&state, every))
            .ok()
    };
    Bar {
        kind: Kind::Lines(Lines {
            state,
            ticker: Mutex::new(ticker),
        }),
    }
}

fn style(unit: Unit, color: bool) -> ProgressStyle {
    let prefix = if color {
        "{prefix:>12.green.bold}"
    } else {
        "{prefix:>12}"
    };
    let rest = match unit {
        Unit::Count(u) => format!("{{pos}}/{{len}} {u}, {{eta}} left: {{msg}}"),
        Unit::Percent => "{percent:>3}% {msg}, {eta} left".to_string(),
    };
    ProgressStyle::with_template(&format!("{prefix} [{{bar:30}}] {rest}"))
        .expect("a valid template")
        .progress_chars("=> ")
}

impl Bar {
    /// Sets the number of steps.
    pub(crate) fn set_length(&self, len: u64) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Drawn(b) => b.set_length(len),
            Kind::Lines(l) => l.state.len.store(len, Ordering::Relaxed),
        }
    }

    /// Counts `n` more steps done.
    pub(crate) fn inc(&self, n: u64) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Drawn(b) => b.inc(n),
            Kind::Lines(l) => {
                l.state.pos.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Sets the steps done.
    pub(crate) fn set_position(&self, pos: u64) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Drawn(b) => b.set_position(pos),
            Kind::Lines(l) => l.state.pos.store(pos, Ordering::Relaxed),
        }
    }

    /// Says what is being done now.
    pub(crate) fn set_message(&self, message: impl Into<String>) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Drawn(b) => b.set_message(message.into()),
            Kind::Lines(l) => {
                *l.state.message.lock().unwrap_or_else(|e| e.into_inner()) = message.into();
            }
        }
    }

    /// Removes the bar (or stops the plain lines).
    pub(crate) fn finish_and_clear(&self) {
        match &self.kind {
            Kind::Hidden => {}
            Kind::Drawn(b) => b.finish_and_clear(),
            Kind::Lines(l) => l.stop(),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Kind::Lines(l) = &self.kind {
            l.stop();
        }
    }
}

/// `len` before it is known.
const UNKNOWN: u64 = u64::MAX;

/// The plain lines' state, shared with the thread that prints them.
#[derive(Debug)]
struct Lines {
    state: Arc<LineState>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Lines {
    /// Stops the printing thread and waits for it (at once: it is parked).
    fn stop(&self) {
        self.state.done.store(true, Ordering::Relaxed);
        let ticker = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = ticker {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

struct LineState {
    prefix: &'static str,
    unit: Unit,
    color: bool,
    len: AtomicU64,
    pos: AtomicU64,
    message: Mutex<String>,
    started: Instant,
    done: AtomicBool,
    out: Mutex<SharedWriter>,
}

impl std::fmt::Debug for LineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineState")
            .field("prefix", &self.prefix)
            .field("pos", &self.pos)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Prints a line every `every` until the bar is finished.
fn tick(state: &LineState, every: Duration) {
    let mut next = Instant::now() + every;
    loop {
        let now = Instant::now();
        if state.done.load(Ordering::Relaxed) {
            return;
        }
        if now >= next {
            let line = state.line(now);
            let mut out = state.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = out.write_all(line.as_bytes());
            next += every;
            continue;
        }
        std::thread::park_timeout(next - now);
    }
}

impl LineState {
    /// `   Measuring 12 of 40 runs done, about 1m 20s left: tcp 100 B`.
    fn line(&self, now: Instant) -> String {
        let pos = self.pos.load(Ordering::Relaxed);
        let len = self.len.load(Ordering::Relaxed);
        let elapsed = now.duration_since(self.started);
        let mut text = match (self.unit, len) {
            (Unit::Count(u), UNKNOWN) => format!("{pos} {u} done"),
            (Unit::Count(u), len) => format!("{pos} of {len} {u} done"),
            (Unit::Percent, UNKNOWN) => "started".to_string(),
            (Unit::Percent, len) => format!("{}% done", 100 * pos.min(len) / len.max(1)),
        };
        if len != UNKNOWN {
            text.push_str(&format!(", {}", time_left(elapsed, pos, len)));
        }
        let message = self.message.lock().unwrap_or_else(|e| e.into_inner());
        if !message.is_empty() {
            text.push_str(&format!(": {message}"));
        }
        status_line(self.color, self.prefix, &text)
    }
}

/// `about 1m 20s left`, from the pace so far; `time left unknown` before the first step.
fn time_left(elapsed: Duration, pos: u64, len: u64) -> String {
    if pos == 0 {
        return "time left unknown".into();
    }
    let left = elapsed.as_secs_f64() * len.saturating_sub(pos) as f64 / pos as f64;
    let secs = Duration::from_secs(left.round() as u64);
    format!("about {} left", humantime::format_duration(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_follows_the_pace_so_far() {
        let e = Duration::from_secs(30);
        assert_eq!(time_left(e, 10, 40), "about 1m 30s left");
        assert_eq!(time_left(e, 0, 40), "time left unknown");
        assert_eq!(time_left(e, 40, 40), "about 0s left");
    }

    #[test]
    fn without_a_terminal_a_plain_line_comes_every_interval() {
        let (out, captured) = Output::captured();
        let bar = plain(
            &out,
            "Measuring",
            Some(40),
            Unit::Count("runs"),
            Duration::from_millis(50),
        );
        bar.set_message("http 100 B");
        bar.inc(12);
        std::thread::sleep(Duration::from_millis(180));
        bar.finish_and_clear();
        let text = captured.stderr();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 2, "{text}");
        assert!(
            lines[0].starts_with("   Measuring 12 of 40 runs done, about ")
                && lines[0].ends_with(" left: http 100 B"),
            "{text}"
        );
        // Nothing more once finished.
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(captured.stderr(), text);
    }

    #[test]
    fn quiet_hides_it_and_a_percent_bar_says_percent() {
        let (mut out, captured) = Output::captured();
        out.set_quiet(true);
        let hidden = bar(&out, "Analyzing", Some(10), Unit::Percent);
        hidden.inc(5);
        hidden.finish_and_clear();
        assert!(captured.stderr().is_empty());
        out.set_quiet(false);
        let b = plain(
            &out,
            "Analyzing",
            Some(1000),
            Unit::Percent,
            Duration::from_millis(20),
        );
        b.set_position(500);
        std::thread::sleep(Duration::from_millis(60));
        drop(b);
        assert!(
            captured
                .stderr()
                .starts_with("   Analyzing 50% done, about "),
            "{}",
            captured.stderr()
        );
    }
}
