//! `cargo meshinsight import`.

use std::path::{Path, PathBuf};

use crate::app::error::Error;
use crate::app::output::Output;
use crate::ecg::{Defaults, Ecg};
use crate::exit;
use crate::project::fs::write_atomic;
use crate::traces::{TraceFormat, load_graphs};
use crate::vocab::{Filter, Mode};

/// Turn traces into ECG fixtures, one file per trace.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The trace format
    #[arg(value_enum)]
    format: TraceFormat,
    /// Trace files
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Directory the fixtures are written to
    #[arg(long, short, value_name = "DIR", default_value = "fixtures/ecg")]
    out: PathBuf,
    /// Sidecar mode of every service (the fixtures' [defaults])
    #[arg(long, default_value = "http")]
    mode: Mode,
    /// Sidecar filters of every service
    #[arg(long, value_delimiter = ',')]
    filters: Vec<Filter>,
    /// Request size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    request_bytes: u64,
    /// Response size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    response_bytes: u64,
    /// Rate of every call, requests per second
    #[arg(long, value_name = "RPS", default_value_t = 1000.0)]
    rate: f64,
    /// Write at most this many traces (in trace id order)
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

/// A file name from a trace id: letters, digits, `-` and `_` kept, the rest `_`.
fn file_name(trace_id: &str) -> String {
    let s: String = trace_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{s}.toml")
}

pub(super) fn run(args: ImportArgs, out: &mut Output) -> Result<u8, Error> {
    let (graphs, problems) = load_graphs(Some(args.format), &args.files)?;
    let defaults = Defaults {
        mode: args.mode,
        filters: args.filters.clone(),
        request_bytes: args.request_bytes,
        response_bytes: args.response_bytes,
        rate: args.rate,
        platform: None,
    };
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Write {
        what: format!("the directory {}", args.out.display()),
        source,
    })?;
    let provenance = format!(
        "imported by cargo-meshinsight from {} trace{}",
        args.format.as_str(),
        if args.files.len() == 1 {
            format!(" {}", args.files[0].display())
        } else {
            "s".to_string()
        }
    );
    let take = args.limit.unwrap_or(usize::MAX);
    let (mut written, mut calls, mut defaulted) = (0usize, 0usize, 0usize);
    // Check every fixture before writing any, so a bad one leaves nothing behind.
    let mut docs = Vec::new();
    for g in graphs.iter().take(take) {
        let doc = g.to_ecg_doc(&defaults, &provenance);
        let path = args.out.join(file_name(&g.trace_id));
        Ecg::resolve(doc.clone(), &path)?;
        calls += g.calls.len();
        defaulted += g.defaulted_sizes();
        docs.push((path, doc));
    }
    for (path, doc) in &docs {
        write_atomic(path, doc.to_toml().as_bytes())?;
        written += 1;
    }
    if !problems.is_empty() {
        out.warn(format!("problems in the traces: {}", problems.summary()));
    }
    if defaulted > 0 {
        out.warn(format!(
            "{defaulted} of {calls} calls have no size in the trace and take the defaults \
             ({} request, {} response bytes; set them with --request-bytes/--response-bytes)",
            args.request_bytes, args.response_bytes
        ));
    }
    out.status(
        "Imported",
        format!(
            "{written} trace{} ({calls} calls) into {}{}",
            if written == 1 { "" } else { "s" },
            display_dir(&args.out),
            if graphs.len() > written {
                format!(" ({} more left out by --limit)", graphs.len() - written)
            } else {
                String::new()
            }
        ),
    );
    Ok(exit::OK)
}

fn display_dir(p: &Path) -> String {
    p.display().to_string()
}
