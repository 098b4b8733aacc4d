//! `cargo meshinsight predict`.

use std::path::PathBuf;

use crate::error::{Error, exit};
use crate::output::Output;
use crate::predict::{self, PredictConfig};
use crate::report::{Format, prediction};

/// Predict the end-to-end overhead of the mesh for call graphs (ECG fixtures).
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// ECG fixture files (TOML or JSON) or directories of them [default: fixtures/ecg]
    #[arg(long = "ecg", value_name = "FILE", num_args = 1..)]
    ecg: Vec<PathBuf>,
    /// Profile JSON; repeat to give services on other platforms their own [default: the paper's]
    #[arg(long, value_name = "FILE")]
    profile: Vec<PathBuf>,
    /// A speedup profile (TOML): report the figures before and after it
    #[arg(long, value_name = "FILE")]
    speedup: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl From<&PredictArgs> for PredictConfig {
    fn from(a: &PredictArgs) -> Self {
        PredictConfig {
            ecg: a.ecg.clone(),
            profiles: a.profile.clone(),
            speedup: a.speedup.clone(),
        }
    }
}

pub(super) fn run(args: PredictArgs, out: &mut Output) -> Result<u8, Error> {
    let predictions = predict::run(&PredictConfig::from(&args), out)?;
    let text = prediction::render(&predictions, args.format);
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the prediction".into(),
            source,
        })?;
    Ok(exit::OK)
}
