//! The application layer: one module per command. The only layer that reads and writes the
//! project's files, prints (through [`output::Output`]), installs the signal handler and
//! returns the top-level [`error::Error`]; it measures, fits, predicts and compares through
//! the stages below it.

pub(crate) mod analyze;
pub(crate) mod baseline;
pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod comment;
pub(crate) mod critical_path;
pub(crate) mod doctor;
pub(crate) mod error;
pub(crate) mod generate;
pub(crate) mod head_profile;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod input;
pub(crate) mod internal;
pub(crate) mod launch;
pub mod libtest;
pub(crate) mod measuring;
pub(crate) mod output;
pub(crate) mod paired_base;
pub(crate) mod predict;
pub(crate) mod probe;
pub(crate) mod profile;
pub(crate) mod progress;
pub(crate) mod signals;
pub(crate) mod speedup;
pub(crate) mod validate;
