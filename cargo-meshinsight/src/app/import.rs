//! `cargo meshinsight import`: traces turned into ECG fixtures, one file per trace.

use std::path::PathBuf;

use super::error::Error;
use super::output::Output;
use crate::ecg::{Defaults, Ecg, EcgDoc};
use crate::exit;
use crate::project::fs::write_atomic;
use crate::traces::{Graph, TraceFormat, load_graphs};

/// What to import, and where.
#[derive(Clone, Debug)]
pub(crate) struct ImportConfig {
    /// The format of every file.
    pub(crate) format: TraceFormat,
    /// The trace files.
    pub(crate) files: Vec<PathBuf>,
    /// The directory the fixtures are written to.
    pub(crate) dir: PathBuf,
    /// The fixtures' `[defaults]`.
    pub(crate) defaults: Defaults,
    /// Write at most this many traces (in trace id order).
    pub(crate) limit: Option<usize>,
}

/// Fixtures checked and ready to be written.
struct Fixtures {
    /// Each fixture's file and document.
    docs: Vec<(PathBuf, EcgDoc)>,
    /// Calls in all of them.
    calls: usize,
    /// Calls whose size comes from the defaults.
    defaulted: usize,
}

/// Reads the traces and writes one fixture per trace; nothing is written unless every
/// fixture is valid.
pub(crate) fn run(config: &ImportConfig, out: &mut Output) -> Result<u8, Error> {
    let (graphs, problems) = load_graphs(Some(config.format), &config.files)?;
    std::fs::create_dir_all(&config.dir).map_err(|source| Error::Write {
        what: format!("the directory {}", config.dir.display()),
        source,
    })?;
    let take = config.limit.unwrap_or(usize::MAX);
    let fixtures = fixtures(config, graphs.iter().take(take))?;
    for (path, doc) in &fixtures.docs {
        write_atomic(path, doc.to_toml().as_bytes())?;
    }
    let written = fixtures.docs.len();
    if !problems.is_empty() {
        out.warn(format!("problems in the traces: {}", problems.summary()));
    }
    let (calls, defaulted) = (fixtures.calls, fixtures.defaulted);
    if defaulted > 0 {
        out.warn(format!(
            "{defaulted} of {calls} calls have no size in the trace and take the defaults \
             ({} request, {} response bytes; set them with --request-bytes/--response-bytes)",
            config.defaults.request_bytes, config.defaults.response_bytes
        ));
    }
    out.status(
        "Imported",
        format!(
            "{written} trace{} ({calls} calls) into {}{}",
            if written == 1 { "" } else { "s" },
            config.dir.display(),
            if graphs.len() > written {
                format!(" ({} more left out by --limit)", graphs.len() - written)
            } else {
                String::new()
            }
        ),
    );
    Ok(exit::OK)
}

/// The fixture of each graph, each checked as `predict` will read it.
fn fixtures<'g>(
    config: &ImportConfig,
    graphs: impl Iterator<Item = &'g Graph>,
) -> Result<Fixtures, Error> {
    let provenance = provenance(config.format, &config.files);
    let mut fixtures = Fixtures {
        docs: Vec::new(),
        calls: 0,
        defaulted: 0,
    };
    for g in graphs {
        let doc = g.to_ecg_doc(&config.defaults, &provenance);
        let path = config.dir.join(file_name(&g.trace_id));
        Ecg::resolve(doc.clone(), &path)?;
        fixtures.calls += g.calls.len();
        fixtures.defaulted += g.defaulted_sizes();
        fixtures.docs.push((path, doc));
    }
    Ok(fixtures)
}

/// Where the fixtures came from: the format, and the file when there is one.
fn provenance(format: TraceFormat, files: &[PathBuf]) -> String {
    format!(
        "imported by cargo-meshinsight from {} trace{}",
        format.as_str(),
        match files {
            [one] => format!(" {}", one.display()),
            _ => "s".to_string(),
        }
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_safe_characters_only() {
        assert_eq!(file_name("a1-b_2"), "a1-b_2.toml");
        assert_eq!(file_name("../x y"), "___x_y.toml");
        assert_eq!(file_name(&"z".repeat(300)).len(), 100 + ".toml".len());
    }

    #[test]
    fn provenance_names_a_single_file() {
        let one = provenance(TraceFormat::Jaeger, &[PathBuf::from("t.json")]);
        assert_eq!(
            one,
            "imported by cargo-meshinsight from jaeger trace t.json"
        );
        let two = provenance(TraceFormat::Otlp, &[PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(two, "imported by cargo-meshinsight from otlp traces");
    }
}
