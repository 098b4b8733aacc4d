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
mod generate;
mod import;
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
use crate::app::output::Output;
use crate::app::signals::{self, OnSignal};
use crate::exit;

pub(crate) mod probe;
mod probe_overhead;
mod probe_workload;

/// Cargo's view: `cargo meshinsight ARGS`.
#[derive(Debug, Parser)]
#[command(bin_name = "cargo", styles = clap::builder::styling::Styles::styled())]
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
    #[command(subcommand)]
    command: Command,
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
}

/// Parses `argv` (either form) and runs the command; returns the exit code.
pub(crate) fn run<I, T>(argv: I, out: &mut Output) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
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
            let text = if out.color() {
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
    }
}
