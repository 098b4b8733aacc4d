//! `cargo meshinsight generate`: synthetic Alibaba CallGraph CSV for tests and benchmarks.

use std::path::PathBuf;

use super::values;
use crate::app::error::Error;
use crate::app::generate::{self, GenerateConfig};
use crate::app::output::Output;
use crate::traces::generator::{GenConfig, Schema};

/// Write synthetic Alibaba-format call-graph CSV (realistic shape and data problems).
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Number of call graphs
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = values::count)]
    graphs: u64,
    /// Number of files to spread them over, 1 to 256 (by time; some traces span two files)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = values::files)]
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
    /// Directory the CSV files are written to
    #[arg(short, long, value_name = "DIR", alias = "out")]
    output: PathBuf,
}

impl From<&GenerateArgs> for GenerateConfig {
    fn from(a: &GenerateArgs) -> Self {
        GenerateConfig {
            traces: GenConfig {
                graphs: a.graphs,
                files: a.files,
                seed: a.seed,
                schema: a.schema,
                problems: !a.clean,
            },
            dir: a.output.clone(),
        }
    }
}

pub(super) fn run(args: GenerateArgs, out: &mut Output) -> Result<u8, Error> {
    generate::run(&GenerateConfig::from(&args), out)
}
