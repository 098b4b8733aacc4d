//! The tests that measure: they need root (the eBPF probe) or Envoy, and run one at a time
//! (`common::measuring`), since two measurements at once on a small machine would measure each
//! other. Every test here is named `privileged_*`, so one filter selects them or leaves them
//! out: `cargo test --workspace -- --skip privileged` is the unprivileged suite. They fail
//! (they never skip) when what they need is missing and `CI` is set.

#[path = "../common/mod.rs"]
mod common;

mod envoy;
mod gate;
mod probe;
mod probe_cli;
mod profile;
mod runner;
mod validate;
