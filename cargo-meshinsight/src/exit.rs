//! Exit codes of `cargo meshinsight` (docs/exit-codes.md).

/// Success, and no regression.
pub(crate) const OK: u8 = 0;
/// Bad command line (clap's code), or a flag value out of range.
pub(crate) const USAGE: u8 = 2;
/// `check` found a regression.
pub(crate) const REGRESSION: u8 = 100;
/// The tool could not run: bad input, a failing sidecar, an I/O error.
pub(crate) const COULD_NOT_RUN: u8 = 101;
/// A privilege or kernel feature that measuring needs is missing.
pub(crate) const MISSING_PRIVILEGE: u8 = 102;
/// Interrupted (Ctrl-C or SIGTERM), after the child processes were stopped: 128 + SIGINT.
pub(crate) const INTERRUPTED: u8 = 130;
