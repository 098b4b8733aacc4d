//! Versioned JSON documents (profiles, baselines, reports): the `format_version` is checked
//! before the schema, so an older or newer file says so plainly, and a schema error names the
//! JSON path where it is.

use serde::de::DeserializeOwned;

/// A versioned document could not be parsed. Each message is one line, shown after the
/// document's name.
#[derive(Debug, thiserror::Error)]
pub enum VersionedError {
    /// The text is not JSON.
    #[error("{0}")]
    Syntax(serde_json::Error),
    /// The document is of another format version.
    #[error("format_version is {found}, this build reads version {expected}")]
    Version {
        /// The version the document says.
        found: u64,
        /// The version this build reads.
        expected: u32,
    },
    /// The document says no format version.
    #[error("missing `format_version` (expected {expected})")]
    NoVersion {
        /// The version this build reads.
        expected: u32,
    },
    /// The document does not fit the schema.
    #[error("at `{path}`: {error}")]
    Schema {
        /// The JSON path of the offending value.
        path: String,
        /// What serde found there.
        error: serde_json::Error,
    },
}

/// Parses `text` as a document of format `version`.
pub(crate) fn from_json<T: DeserializeOwned>(
    text: &str,
    version: u32,
) -> Result<T, VersionedError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(VersionedError::Syntax)?;
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(version) => {}
        Some(found) => {
            return Err(VersionedError::Version {
                found,
                expected: version,
            });
        }
        None => return Err(VersionedError::NoVersion { expected: version }),
    }
    serde_path_to_error::deserialize(value).map_err(|e| VersionedError::Schema {
        path: e.path().to_string(),
        error: e.into_inner(),
    })
}
