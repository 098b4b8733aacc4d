//! What the application layer needs of the user's project: its configuration
//! (`[*.metadata.meshinsight]`, read with cargo_metadata), cargo builds of a `bin` sidecar, the
//! export of a base tree from git, the GitHub client, atomic files, and the manifest edits of `init`.

pub(crate) mod build;
pub(crate) mod config;
#[cfg(test)]
mod config_props;
pub(crate) mod export;
pub(crate) mod fs;
pub(crate) mod github;
pub(crate) mod manifest;
