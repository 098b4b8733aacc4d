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
    /// The format version is not a whole number (`"1"`, `1.0`, `null`).
    #[error("`format_version` must be the number {expected}, found {found}")]
    VersionType {
        /// The value found, as JSON.
        found: String,
        /// The version this build reads.
        expected: u32,
    },
    /// The document is not a JSON object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// What was found (`an array`, `a number`, ...).
        found: &'static str,
    },
    /// The document does not fit the schema.
    #[error("at `{path}`: {}", crate::util::text::escape_controls(&error.to_string()))]
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
    let Some(object) = value.as_object() else {
        let found = match value {
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(VersionedError::NotAnObject { found });
    };
    match object.get("format_version").map(|v| (v, v.as_u64())) {
        Some((_, Some(v))) if v == u64::from(version) => {}
        Some((_, Some(found))) => {
            return Err(VersionedError::Version {
                found,
                expected: version,
            });
        }
        Some((v, None)) => {
            let mut found = v.to_string();
            if found.len() > 40 {
                let cut = (0..=37)
                    .rev()
                    .find(|&i| found.is_char_boundary(i))
                    .unwrap_or(0);
                found.truncate(cut);
                found.push_str("...");
            }
            return Err(VersionedError::VersionType {
                found,
                expected: version,
            });
        }
        None => return Err(VersionedError::NoVersion { expected: version }),
    }
    serde_path_to_error::deserialize(value).map_err(|e| VersionedError::Schema {
        path: crate::util::text::escape_controls(&e.path().to_string()).into_owned(),
        error: e.into_inner(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_of_the_wrong_type_is_not_called_missing() {
        let e = from_json::<serde_json::Value>(r#"{"format_version": "1"}"#, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"`format_version` must be the number 1, found "1""#
        );
        let e = from_json::<serde_json::Value>(r#"{"format_version": 1.5}"#, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`format_version` must be the number 1, found 1.5"
        );
        let e = from_json::<serde_json::Value>("{}", 1).unwrap_err();
        assert_eq!(e.to_string(), "missing `format_version` (expected 1)");
        let e = from_json::<serde_json::Value>("[1]", 1).unwrap_err();
        assert_eq!(e.to_string(), "expected a JSON object, found an array");
        let long = format!(r#"{{"format_version": "{}"}}"#, "x".repeat(100));
        let e = from_json::<serde_json::Value>(&long, 1)
            .unwrap_err()
            .to_string();
        assert!(e.len() < 100 && e.ends_with("..."), "{e}");
    }
}
