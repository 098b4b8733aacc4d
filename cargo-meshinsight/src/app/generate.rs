//! `cargo meshinsight generate`: synthetic Alibaba CallGraph CSV files for tests and
//! benchmarks, streamed to disk (they can be far larger than memory).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use super::error::Error;
use super::output::Output;
use crate::exit;
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
    let (files, summary) = write_files(config).map_err(|source| Error::Write {
        what: format!("synthetic traces under {}", config.dir.display()),
        source,
    })?;
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

/// Creates the files `alibaba-N.csv` in the directory and writes the traces into them.
fn write_files(config: &GenerateConfig) -> std::io::Result<(Vec<PathBuf>, GenSummary)> {
    std::fs::create_dir_all(&config.dir)?;
    let paths: Vec<PathBuf> = (0..config.traces.file_count())
        .map(|f| config.dir.join(generator::file_name(f)))
        .collect();
    let mut outs = paths
        .iter()
        .map(|p| File::create(p).map(|f| BufWriter::with_capacity(1 << 20, f)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let summary = generator::write(&config.traces, &mut outs)?;
    Ok((paths, summary))
}
