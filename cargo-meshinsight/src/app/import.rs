//! `cargo meshinsight import`: traces turned into ECG fixtures, one file per trace.
//!
//! A trace id that is not usable as a file name as it is (characters other than letters,
//! digits, `-` and `_`, or longer than 100 characters) is written under its cleaned name with
//! a short hash of the id, so that two ids never share a file. The fixtures are written into a
//! staging directory and moved into place together once all are written.

use std::collections::HashSet;
use std::path::PathBuf;

use super::error::Error;
use super::input::max_input_bytes;
use super::output::Output;
use super::signals;
use crate::ecg::{Defaults, Ecg, EcgDoc, EcgError};
use crate::exit;
use crate::project::fs::Staging;
use crate::traces::{Graph, TraceFormat, load_graphs};
use crate::util::hash::sha256_hex;

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
    /// Each fixture's file name and document.
    docs: Vec<(String, EcgDoc)>,
    /// Calls in all of them.
    calls: usize,
    /// Calls whose size comes from the defaults.
    defaulted: usize,
    /// Trace ids written under a name with a hash suffix, with that name.
    renamed: Vec<(String, String)>,
}

/// Reads the traces and writes one fixture per trace; nothing is written unless every
/// fixture is valid.
pub(crate) fn run(config: &ImportConfig, out: &mut Output) -> Result<u8, Error> {
    let (graphs, problems) = load_graphs(Some(config.format), &config.files, max_input_bytes()?)?;
    if graphs.is_empty() {
        return Err(Error::NoUsableGraphs);
    }
    let take = config.limit.unwrap_or(usize::MAX);
    let fixtures = fixtures(config, graphs.iter().take(take))?;
    let mut staging = Staging::new(&config.dir)?;
    for (name, doc) in &fixtures.docs {
        staging.write(name, doc.to_toml().as_bytes())?;
    }
    signals::uninterruptible(|| staging.commit(&[]))?;
    let written = fixtures.docs.len();
    if !problems.is_empty() {
        out.warn(format!("problems in the traces: {}", problems.summary()));
    }
    if let Some((id, name)) = fixtures.renamed.first() {
        out.warn(format!(
            "{} trace id{} not usable as a file name as {}: written with a hash suffix \
             (e.g. `{id}` as {name})",
            fixtures.renamed.len(),
            if fixtures.renamed.len() == 1 {
                " is"
            } else {
                "s are"
            },
            if fixtures.renamed.len() == 1 {
                "it is"
            } else {
                "they are"
            },
        ));
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

/// The fixture of each graph, each checked as `predict` will read it, under a file name of
/// its own.
fn fixtures<'g>(
    config: &ImportConfig,
    graphs: impl Iterator<Item = &'g Graph>,
) -> Result<Fixtures, Error> {
    let provenance = provenance(config.format, &config.files);
    let mut fixtures = Fixtures {
        docs: Vec::new(),
        calls: 0,
        defaulted: 0,
        renamed: Vec::new(),
    };
    let mut taken = HashSet::new();
    for g in graphs {
        let doc = g.to_ecg_doc(&config.defaults, &provenance);
        Ecg::resolve(doc.clone(), std::path::Path::new(&g.trace_id))
            .map_err(|e| trace_graph_error(e, g, &config.files))?;
        let (name, renamed) = file_name(&g.trace_id, &taken);
        taken.insert(name.clone());
        if renamed {
            fixtures.renamed.push((g.trace_id.clone(), name.clone()));
        }
        fixtures.calls += g.calls.len();
        fixtures.defaulted += g.defaulted_sizes();
        fixtures.docs.push((name, doc));
    }
    Ok(fixtures)
}

/// The error for a trace whose graph is not a valid ECG, naming the trace and its files.
pub(crate) fn trace_graph_error(e: EcgError, g: &Graph, files: &[PathBuf]) -> Error {
    let origin = match files {
        [one] => one.display().to_string(),
        more => format!("{} trace files", more.len()),
    };
    match e {
        EcgError::Invalid { reason, .. } => Error::TraceGraph {
            trace: g.trace_id.clone(),
            origin,
            reason: reason.to_string(),
        },
        EcgError::Syntax { message, .. } => Error::TraceGraph {
            trace: g.trace_id.clone(),
            origin,
            reason: message,
        },
    }
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

/// The longest file name kept from a trace id, before `.toml`.
const MAX_NAME: usize = 100;

/// A file name for a trace id: the id itself when it has only letters, digits, `-` and `_`
/// and at most [`MAX_NAME`] of them; otherwise the id cleaned (other characters as `_`,
/// cut to [`MAX_NAME`]) with 8 hex digits of its hash, more when that name is `taken`.
/// Returns the name and whether it differs from the id.
fn file_name(trace_id: &str, taken: &HashSet<String>) -> (String, bool) {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let exact =
        !trace_id.is_empty() && trace_id.chars().count() <= MAX_NAME && trace_id.chars().all(safe);
    let candidate = format!("{trace_id}.toml");
    if exact && !taken.contains(&candidate) {
        return (candidate, false);
    }
    let cleaned: String = trace_id
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .take(MAX_NAME)
        .collect();
    let hash = sha256_hex(trace_id.as_bytes());
    // 8 hex digits; more in the unlikely case that the name is taken.
    (8..=hash.len())
        .step_by(8)
        .map(|n| format!("{cleaned}-{}.toml", &hash[..n]))
        .find(|name| !taken.contains(name))
        .map(|name| (name, true))
        .unwrap_or_else(|| (format!("{cleaned}-{hash}-{}.toml", taken.len()), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(id: &str) -> String {
        file_name(id, &HashSet::new()).0
    }

    #[test]
    fn file_names_keep_safe_ids_and_hash_the_others() {
        assert_eq!(name("a1-b_2"), "a1-b_2.toml");
        let n = name("../x y");
        assert!(n.starts_with("___x_y-") && n.ends_with(".toml"), "{n}");
        assert_eq!(n.len(), "___x_y-".len() + 8 + ".toml".len());
        let long = name(&"z".repeat(300));
        assert_eq!(long.len(), 100 + 1 + 8 + ".toml".len());
    }

    #[test]
    fn ids_that_clean_to_one_name_get_names_of_their_own() {
        let mut taken = HashSet::new();
        let ids = [
            "a/b".to_string(),
            "a:b".to_string(),
            "a_b".to_string(),
            format!("{}1", "x".repeat(100)),
            format!("{}2", "x".repeat(100)),
        ];
        let mut renamed = 0;
        for id in &ids {
            let (n, r) = file_name(id, &taken);
            renamed += usize::from(r);
            assert!(taken.insert(n.clone()), "{id}: {n} twice");
        }
        assert_eq!(taken.len(), 5);
        assert_eq!(renamed, 4, "only `a_b` keeps its name");
        // An id that is a safe name but already taken gets a suffix too.
        let mut taken = HashSet::from(["a_b.toml".to_string()]);
        let (n, r) = file_name("a_b", &taken);
        assert!(r && n != "a_b.toml");
        taken.insert(n);
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
