//! `cargo meshinsight generate`: synthetic Alibaba CallGraph CSV files for tests and
//! benchmarks, streamed to disk (they can be far larger than memory).
//!
//! The files are written into a staging directory inside the output directory and moved into
//! place together once all are complete, with the files of an earlier, larger set removed:
//! an interrupted or failed run (Ctrl-C, a full disk) leaves the earlier set as it was.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::error::Error;
use super::output::Output;
use super::signals;
use crate::exit;
use crate::project::fs::{Staging, WriteError};
use crate::traces::generator::{self, GenConfig, GenSummary};

/// What to generate, and where.
#[derive(Clone, Debug)]
pub(crate) struct GenerateConfig {
    /// The traces.
    pub(crate) traces: GenConfig,
    /// The directory the files go to (created when missing).
    pub(crate) dir: PathBuf,
}

/// Writes the files and says what was generated.
pub(crate) fn run(config: &GenerateConfig, out: &mut Output) -> Result<u8, Error> {
    let (files, summary) = write_files(config)?;
    out.status(
        "Generated",
        format!(
            "{} call graphs, {} calls, {} rows in {} files under {}",
            config.traces.graphs,
            summary.calls,
            summary.rows,
            files.len(),
            config.dir.display()
        ),
    );
    Ok(exit::OK)
}

/// Writes `alibaba-N.csv` into a staging directory, then moves them into the directory and
/// removes the `alibaba-N.csv` of an earlier run that this one has no file for.
fn write_files(config: &GenerateConfig) -> Result<(Vec<PathBuf>, GenSummary), Error> {
    let mut staging = Staging::new(&config.dir)?;
    let count = config.traces.file_count();
    let mut outs = Vec::with_capacity(count);
    for f in 0..count {
        let file = staging.create(&generator::file_name(f))?;
        outs.push(BufWriter::with_capacity(1 << 20, file));
    }
    let summary = generator::write(&config.traces, &mut outs).map_err(|source| Error::Write {
        what: format!("synthetic traces under {}", config.dir.display()),
        source,
    })?;
    for (f, w) in outs.into_iter().enumerate() {
        w.into_inner().map_err(|e| WriteError {
            path: config.dir.join(generator::file_name(f)),
            source: e.into_error(),
        })?;
    }
    let stale = stale_files(&config.dir, count);
    let files = signals::uninterruptible(|| staging.commit(&stale))?;
    Ok((files, summary))
}

/// The generated files of an earlier run in `dir` numbered `count` or above.
fn stale_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            generator::file_number(&name).is_some_and(|n| n >= count)
        })
        .map(|e| e.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::traces::generator::Schema;

    fn config(dir: &Path, graphs: u64, files: usize) -> GenerateConfig {
        GenerateConfig {
            traces: GenConfig {
                graphs,
                files,
                seed: 1,
                schema: Schema::V2021,
                problems: true,
            },
            dir: dir.to_path_buf(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_smaller_set_replaces_a_larger_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t");
        write_files(&config(&out, 200, 4)).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        assert_eq!(names(&out).len(), 5);
        let (files, _) = write_files(&config(&out, 100, 2)).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(names(&out), ["alibaba-0.csv", "alibaba-1.csv", "notes.txt"]);
    }

    #[test]
    fn a_failed_run_leaves_the_earlier_set() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t");
        write_files(&config(&out, 200, 2)).unwrap();
        let before: Vec<Vec<u8>> = names(&out)
            .iter()
            .map(|n| std::fs::read(out.join(n)).unwrap())
            .collect();
        // A writer that fails part-way, as a full disk does.
        let mut staging = Staging::new(&out).unwrap();
        let mut f = staging.create("alibaba-0.csv").unwrap();
        f.write_all(b"half a ro").unwrap();
        drop(staging);
        let after: Vec<Vec<u8>> = names(&out)
            .iter()
            .map(|n| std::fs::read(out.join(n)).unwrap())
            .collect();
        assert_eq!(before, after);
        assert_eq!(names(&out), ["alibaba-0.csv", "alibaba-1.csv"]);
    }
}
