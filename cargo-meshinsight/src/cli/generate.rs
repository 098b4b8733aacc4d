//! `cargo meshinsight generate`: synthetic Alibaba CallGraph CSV for tests and benchmarks.

use std::path::PathBuf;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::traces::generator::{GenConfig, Schema, generate};

/// Write synthetic Alibaba-format call-graph CSV (realistic shape and data problems).
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of call graphs
    #[arg(long, value_name = "N", default_value_t = 1000)]
    graphs: u64,
    /// Number of files to spread them over (by time; some traces span two files)
    #[arg(long, value_name = "N", default_value_t = 4)]
    files: usize,
    /// Random seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CSV schema
    #[arg(long, value_enum, default_value_t = Schema::V2021)]
    schema: Schema,
    /// Leave out the data problems of the real trace
    #[arg(long)]
    clean: bool,
    /// Output directory
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
}

pub(super) fn run(args: GenerateArgs, out: &mut Output) -> Result<u8, Error> {
    let config = GenConfig {
        graphs: args.graphs,
        files: args.files,
        seed: args.seed,
        schema: args.schema,
        problems: !args.clean,
    };
    let summary = generate(&config, &args.out).map_err(|source| Error::Write {
        what: format!("synthetic traces under {}", args.out.display()),
        source,
    })?;
    out.status(
        "Generated",
        format!(
            "{} call graphs, {} calls, {} rows in {} files under {}",
            args.graphs,
            summary.calls,
            summary.rows,
            summary.files.len(),
            args.out.display()
        ),
    );
    Ok(exit::OK)
}
