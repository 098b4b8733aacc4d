//! The command line: clap types, converted into plain configuration for the library.
//!
//! Works as `cargo meshinsight ...` (cargo passes `meshinsight` as the first argument) and
//! as `cargo-meshinsight ...` called directly. Each subcommand lives in its own file.

mod analyze;
mod baseline;
mod bench;
mod check;
mod comment;
mod critical_path;
mod doctor;
mod duration;
mod generate;
mod import;
mod init;
mod internal;
mod predict;
mod profile;
mod profile_source;
mod service;
mod speedup;
mod validate;
mod values;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::app::error::Error;
use crate::app::output::{ColorChoice, Output};
use crate::app::signals::{self, OnSignal};
use crate::exit;

pub(crate) mod probe;
mod probe_overhead;
mod probe_workload;

/// Cargo's view: `cargo meshinsight ARGS`. Named `cargo` so that the subcommand's display
/// name (in `--version`) is `cargo-meshinsight`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::styling::Styles::styled())]
enum Cargo {
    /// What a service-mesh sidecar costs, component by component.
    Meshinsight(Args),
}

/// What a service-mesh sidecar costs, component by component.
#[derive(Debug, Parser)]
#[command(name = "cargo-meshinsight", version, about, long_about = None)]
pub(crate) struct Args {
    /// Print no status lines.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Colour status lines, errors and help: auto (NO_COLOR, CLICOLOR_FORCE, TERM=dumb,
    /// CARGO_TERM_COLOR and whether it is a terminal decide), always, never
    #[arg(long, value_name = "WHEN", global = true, default_value_t = ColorArg::Auto, value_enum)]
    color: ColorArg,
    #[command(subcommand)]
    command: Command,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for ColorChoice {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        }
    }
}

/// The `--color` of `argv` before clap has parsed it, so that clap's own errors and help
/// are coloured as asked: the last `--color WHEN` or `--color=WHEN` before `--`.
fn color_in(argv: &[OsString]) -> ColorChoice {
    let mut choice = ColorChoice::Auto;
    let mut args = argv.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        let value = match arg.as_ref() {
            "--" => break,
            "--color" => args.next().map(|v| v.into_owned()),
            a => a.strip_prefix("--color=").map(str::to_string),
        };
        choice = match value.as_deref() {
            Some("always") => ColorChoice::Always,
            Some("never") => ColorChoice::Never,
            Some("auto") => ColorChoice::Auto,
            _ => choice,
        };
    }
    choice
}

#[derive(Debug, Subcommand)]
enum Command {
    Predict(predict::PredictArgs),
    Profile(profile::ProfileArgs),
    Check(check::CheckArgs),
    Baseline(baseline::BaselineArgs),
    Comment(comment::CommentCmdArgs),
    /// Attach the eBPF probe to running processes and print what each component costs.
    Probe(probe::Args),
    #[command(name = "__probe-workload", hide = true)]
    ProbeWorkload(probe_workload::Args),
    #[command(name = "__probe-overhead", hide = true)]
    ProbeOverhead(probe_overhead::Args),
    /// Measure the echo round trip without and with a sidecar, and the overhead.
    Bench(bench::BenchArgs),
    /// The harness's echo application (internal).
    #[command(name = "__echo", hide = true)]
    Echo(internal::EchoArgs),
    /// The built-in reference sidecar (internal).
    #[command(name = "__sidecar", hide = true)]
    Sidecar(internal::SidecarArgs),
    Analyze(analyze::AnalyzeArgs),
    Generate(generate::GenerateArgs),
    Speedup(speedup::SpeedupArgs),
    Import(import::ImportArgs),
    CriticalPath(critical_path::CriticalPathArgs),
    Validate(validate::ValidateArgs),
    /// A service of a deployed topology (internal).
    #[command(name = "__service", hide = true)]
    Service(service::ServiceArgs),
    Init(init::InitArgs),
    Doctor(doctor::DoctorArgs),
}

/// Parses `argv` (either form) and runs the command; returns the exit code.
pub(crate) fn run<I, T>(argv: I, out: &mut Output) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    out.set_color(color_in(&argv));
    let parsed = if argv.get(1).is_some_and(|a| a == "meshinsight") {
        Cargo::try_parse_from(&argv).map(|Cargo::Meshinsight(args)| args)
    } else {
        Args::try_parse_from(&argv)
    };
    let args = match parsed {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let color = if e.use_stderr() {
                out.color()
            } else {
                out.color_stdout()
            };
            let text = if color {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            if e.use_stderr() {
                let _ = out.err().write_all(text.as_bytes());
            } else {
                let _ = out.out().write_all(text.as_bytes());
            }
            return code;
        }
    };
    out.set_quiet(args.quiet);
    out.set_color(args.color.into());
    match dispatch(args.command, out) {
        Ok(code) => code,
        Err(e) => {
            out.error(&e, e.hint().as_deref());
            e.exit_code()
        }
    }
}

fn dispatch(command: Command, out: &mut Output) -> Result<u8, Error> {
    // The commands a user runs stop their child processes and remove their temporary files
    // on Ctrl-C; `probe` stops measuring and reports instead. The hidden helper processes
    // are stopped by the command that started them.
    match command {
        Command::Echo(_) | Command::Sidecar(_) | Command::Service(_) => {}
        Command::ProbeWorkload(_) | Command::ProbeOverhead(_) => {}
        Command::Probe(_) => signals::install(OnSignal::Stop),
        _ => signals::install(OnSignal::Exit),
    }
    match command {
        Command::Predict(args) => predict::run(args, out),
        Command::Profile(args) => profile::run(args, out),
        Command::Check(args) => check::run(args, out),
        Command::Baseline(args) => baseline::run(args, out),
        Command::Comment(args) => comment::run(args, out),
        Command::Probe(args) => probe::run(args, out),
        Command::ProbeWorkload(args) => probe_workload::run(args, out),
        Command::ProbeOverhead(args) => probe_overhead::run(args, out),
        Command::Bench(args) => bench::run(args, out),
        Command::Echo(args) => internal::echo(args, out),
        Command::Sidecar(args) => internal::sidecar(args, out),
        Command::Analyze(args) => analyze::run(args, out),
        Command::Generate(args) => generate::run(args, out),
        Command::Speedup(args) => speedup::run(args, out),
        Command::Import(args) => import::run(args, out),
        Command::CriticalPath(args) => critical_path::run(args, out),
        Command::Validate(args) => validate::run(args, out),
        Command::Service(args) => service::run(args, out),
        Command::Init(args) => init::run(args, out),
        Command::Doctor(args) => doctor::run(args, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn color_is_found_before_clap_parses() {
        let c = |a: &[&str]| color_in(&argv(a));
        assert_eq!(c(&["x", "predict"]), ColorChoice::Auto);
        assert_eq!(c(&["x", "--color", "never", "predict"]), ColorChoice::Never);
        assert_eq!(c(&["x", "predict", "--color=always"]), ColorChoice::Always);
        assert_eq!(
            c(&["x", "--color=never", "predict", "--color", "always"]),
            ColorChoice::Always
        );
        assert_eq!(
            c(&["x", "predict", "--", "--color=always"]),
            ColorChoice::Auto
        );
        assert_eq!(c(&["x", "--color", "purple"]), ColorChoice::Auto);
    }
}
