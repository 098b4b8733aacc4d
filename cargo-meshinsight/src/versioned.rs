//! Versioned JSON documents (profiles, baselines, reports): the `format_version` is checked
//! before the schema, so an older or newer file says so plainly, and a schema error names the
//! JSON path where it is.

use serde::de::DeserializeOwned;

/// Parses `text` as a document of format `version`; the error is a one-line message.
pub fn from_json<T: DeserializeOwned>(text: &str, version: u32) -> Result<T, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(version) => {}
        Some(v) => {
            return Err(format!(
                "format_version is {v}, this build reads version {version}"
            ));
        }
        None => return Err(format!("missing `format_version` (expected {version})")),
    }
    serde_path_to_error::deserialize(value).map_err(|e| format!("at `{}`: {}", e.path(), e.inner()))
}
