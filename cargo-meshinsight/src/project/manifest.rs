//! The project's manifest as `init` sees it: the workspace's binary targets (through cargo
//! metadata), and the `metadata.meshinsight` table written into `Cargo.toml` with toml_edit,
//! so that the rest of the file (comments, order, layout) stays as it was.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use super::config::{ConfigError, Sidecar, defaults, metadata_message};

/// The manifest could not be edited.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    /// The manifest is not TOML.
    #[error("failed to parse {path}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// What toml_edit found.
        #[source]
        source: toml_edit::TomlError,
    },
    /// A key on the way to the table holds something else than a table.
    #[error("`{key}` in {path} is not a table")]
    NotATable {
        /// The manifest.
        path: PathBuf,
        /// The dotted key.
        key: String,
    },
    /// Neither `[workspace]` nor `[package]`.
    #[error("{path} has neither [workspace] nor [package]")]
    NoTable {
        /// The manifest.
        path: PathBuf,
    },
}

/// What `init` needs to know of the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Project {
    /// The workspace root.
    pub(crate) root: PathBuf,
    /// Its `Cargo.toml`.
    pub(crate) manifest: PathBuf,
    /// The binary targets of the workspace's members, sorted.
    pub(crate) bins: Vec<String>,
}

impl Project {
    /// Reads the project of `manifest_path` (or of the current directory) with cargo metadata.
    pub(crate) fn load(manifest_path: Option<&Path>) -> Result<Project, ConfigError> {
        let mut cmd = cargo_metadata::MetadataCommand::new();
        cmd.no_deps();
        if let Some(p) = manifest_path {
            cmd.manifest_path(p);
        }
        let meta = cmd.exec().map_err(|e| ConfigError::Metadata {
            manifest: manifest_path.map_or_else(|| PathBuf::from("Cargo.toml"), Path::to_path_buf),
            message: metadata_message(&e),
        })?;
        let root = meta.workspace_root.clone().into_std_path_buf();
        let mut bins: Vec<String> = meta
            .workspace_packages()
            .iter()
            .flat_map(|p| p.targets.iter())
            .filter(|t| t.is_bin())
            .map(|t| t.name.clone())
            .collect();
        bins.sort();
        bins.dedup();
        Ok(Project {
            manifest: root.join("Cargo.toml"),
            root,
            bins,
        })
    }
}

/// Where the table goes: `[workspace.metadata.meshinsight]` in a workspace's manifest, else
/// `[package.metadata.meshinsight]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableAt {
    /// `[workspace.metadata.meshinsight]`.
    Workspace,
    /// `[package.metadata.meshinsight]`.
    Package,
}

impl TableAt {
    /// The dotted name of the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TableAt::Workspace => "workspace.metadata.meshinsight",
            TableAt::Package => "package.metadata.meshinsight",
        }
    }

    fn top(self) -> &'static str {
        match self {
            TableAt::Workspace => "workspace",
            TableAt::Package => "package",
        }
    }
}

/// A key of the table as `init` left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyOutcome {
    /// The key was missing and is written.
    Added,
    /// The key already holds this value.
    Same,
    /// The key holds another value, which is kept (the user's choice).
    Kept(String),
    /// The key held another value and is replaced (`--force`).
    Replaced(String),
}

/// The edited manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableEdit {
    /// Where the table is.
    pub(crate) at: TableAt,
    /// The new text (the old one when nothing changed).
    pub(crate) text: String,
    /// What happened to each key `init` writes, in order.
    pub(crate) keys: Vec<(&'static str, KeyOutcome)>,
}

impl TableEdit {
    /// Whether the text changed.
    pub(crate) fn changed(&self) -> bool {
        self.keys
            .iter()
            .any(|(_, o)| matches!(o, KeyOutcome::Added | KeyOutcome::Replaced(_)))
    }
}

/// The comment above a new table.
const TABLE_COMMENT: &str = "\n# What the cargo-meshinsight gate measures and predicts (written by \
`cargo meshinsight init`;\n# the keys are in docs/gate.md of https://github.com/meshinsight/cargo-meshinsight).\n";

/// The value `init` writes for `sidecar`.
pub(crate) fn sidecar_value(sidecar: &Sidecar) -> Value {
    match sidecar {
        Sidecar::Builtin => Value::from("builtin"),
        Sidecar::Envoy { .. } => Value::from("envoy"),
        Sidecar::Command(c) => {
            let mut t = toml_edit::InlineTable::new();
            t.insert("command", Value::from(c.as_str()));
            Value::InlineTable(t)
        }
        Sidecar::Bin { name, args } => {
            let mut t = toml_edit::InlineTable::new();
            t.insert("bin", Value::from(name.as_str()));
            if let Some(a) = args {
                t.insert("args", Value::from(a.as_str()));
            }
            Value::InlineTable(t)
        }
    }
}

/// The comment above the `sidecar` key.
fn sidecar_comment(sidecar: &Sidecar) -> String {
    match sidecar {
        Sidecar::Bin { name, args: None } => format!(
            "# The binary target `{name}`, built with cargo and started as\n# `{name} {}`\n# (add `args = \"...\"` with those placeholders if it takes other flags).\n",
            super::config::DEFAULT_BIN_ARGS
        ),
        Sidecar::Envoy { .. } => {
            "# Envoy from PATH, its configuration generated per mode and filter.\n".to_string()
        }
        _ => "# The sidecar under test: \"builtin\", \"envoy\", { bin = \"...\" } or { command = \"...\" }.\n"
            .to_string(),
    }
}

/// Writes `sidecar` and `fixtures` into the `metadata.meshinsight` table of the manifest
/// `text` (at `path`, for errors). A key that exists with another value is kept unless
/// `force`; other keys of the table are never touched.
pub(crate) fn set_table(
    text: &str,
    path: &Path,
    sidecar: &Sidecar,
    force: bool,
) -> Result<TableEdit, ManifestError> {
    let mut doc: DocumentMut = text.parse().map_err(|source| ManifestError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let at = if doc.contains_key("workspace") {
        TableAt::Workspace
    } else if doc.contains_key("package") {
        TableAt::Package
    } else {
        return Err(ManifestError::NoTable {
            path: path.to_path_buf(),
        });
    };
    let not_a_table = |key: &str| ManifestError::NotATable {
        path: path.to_path_buf(),
        key: key.to_string(),
    };
    let top = doc[at.top()]
        .as_table_mut()
        .ok_or_else(|| not_a_table(at.top()))?;
    let metadata = top.entry("metadata").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let metadata = metadata
        .as_table_mut()
        .ok_or_else(|| not_a_table(&format!("{}.metadata", at.top())))?;
    let new_table = !metadata.contains_key("meshinsight");
    let table = metadata.entry("meshinsight").or_insert_with(|| {
        let mut t = Table::new();
        t.decor_mut().set_prefix(TABLE_COMMENT);
        Item::Table(t)
    });
    let table = table
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(at.name()))?;
    let mut fixtures = toml_edit::Array::new();
    fixtures.push(defaults::FIXTURES);
    let wanted = [
        ("sidecar", sidecar_value(sidecar), sidecar_comment(sidecar)),
        (
            "fixtures",
            Value::Array(fixtures),
            "# The call graphs the gate predicts (docs/ecg-format.md).\n".to_string(),
        ),
    ];
    let mut keys = Vec::new();
    for (key, value, comment) in wanted {
        let outcome = match table.get(key) {
            None => KeyOutcome::Added,
            Some(old) if same_value(old, &value) => KeyOutcome::Same,
            Some(old) if force => KeyOutcome::Replaced(value_text(old)),
            Some(old) => KeyOutcome::Kept(value_text(old)),
        };
        if matches!(outcome, KeyOutcome::Added | KeyOutcome::Replaced(_)) {
            table.insert(key, Item::Value(value));
            if new_table && let Some(mut k) = table.key_mut(key) {
                k.leaf_decor_mut().set_prefix(comment);
            }
        }
        keys.push((key, outcome));
    }
    let edit = TableEdit {
        at,
        text: String::new(),
        keys,
    };
    let text = if edit.changed() {
        doc.to_string()
    } else {
        text.to_string()
    };
    Ok(TableEdit { text, ..edit })
}

/// Whether an item holds `value`, whatever the layout and comments.
fn same_value(item: &Item, value: &Value) -> bool {
    let semantic = |i: &Item| {
        let mut doc = DocumentMut::new();
        doc.insert("v", i.clone());
        toml::from_str::<toml::Table>(&doc.to_string())
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    semantic(item).is_some() && semantic(item) == semantic(&Item::Value(value.clone()))
}

/// An item's value as written, without its comments.
fn value_text(item: &Item) -> String {
    match item.as_value() {
        Some(v) => {
            let mut v = v.clone();
            v.decor_mut().clear();
            v.to_string()
        }
        None => item.to_string().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(name: &str) -> Sidecar {
        Sidecar::Bin {
            name: name.to_string(),
            args: None,
        }
    }

    const WORKSPACE: &str = "# my workspace\n[workspace]\nmembers = [\"relay\"]   # the proxy\n\n[profile.release]\ndebug = 1\n";

    #[test]
    fn a_new_table_joins_its_parent_and_every_other_line_stays() {
        let e = set_table(WORKSPACE, Path::new("Cargo.toml"), &bin("relay"), false).unwrap();
        assert_eq!(e.at, TableAt::Workspace);
        assert!(e.changed());
        assert_eq!(
            e.text,
            r#"# my workspace
[workspace]
members = ["relay"]   # the proxy

# What the cargo-meshinsight gate measures and predicts (written by `cargo meshinsight init`;
# the keys are in docs/gate.md of https://github.com/meshinsight/cargo-meshinsight).
[workspace.metadata.meshinsight]
# The binary target `relay`, built with cargo and started as
# `relay --listen {listen} --upstream {upstream} --mode {mode}`
# (add `args = "..."` with those placeholders if it takes other flags).
sidecar = { bin = "relay" }
# The call graphs the gate predicts (docs/ecg-format.md).
fixtures = ["fixtures/ecg/*.toml"]

[profile.release]
debug = 1
"#
        );
        let parsed: toml::Table = toml::from_str(&e.text).unwrap();
        assert_eq!(
            parsed["workspace"]["metadata"]["meshinsight"]["sidecar"]["bin"].as_str(),
            Some("relay")
        );
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let first = set_table(WORKSPACE, Path::new("Cargo.toml"), &bin("relay"), false).unwrap();
        let second = set_table(&first.text, Path::new("Cargo.toml"), &bin("relay"), false).unwrap();
        assert!(!second.changed());
        assert_eq!(second.text, first.text);
        assert_eq!(
            second.keys,
            [
                ("sidecar", KeyOutcome::Same),
                ("fixtures", KeyOutcome::Same)
            ]
        );
    }

    #[test]
    fn the_users_values_are_kept_unless_forced_and_other_keys_never_touched() {
        let text = "[package]\nname = \"p\"\n\n[package.metadata.meshinsight]\nsidecar = \"envoy\" # ours\nthreshold-pct = 3\n";
        let kept = set_table(text, Path::new("Cargo.toml"), &bin("relay"), false).unwrap();
        assert_eq!(kept.at, TableAt::Package);
        assert_eq!(
            kept.keys,
            [
                ("sidecar", KeyOutcome::Kept("\"envoy\"".into())),
                ("fixtures", KeyOutcome::Added)
            ]
        );
        assert!(
            kept.text
                .contains("sidecar = \"envoy\" # ours\nthreshold-pct = 3\n")
        );
        let forced = set_table(text, Path::new("Cargo.toml"), &bin("relay"), true).unwrap();
        assert_eq!(forced.keys[0].1, KeyOutcome::Replaced("\"envoy\"".into()));
        assert!(forced.text.contains("sidecar = { bin = \"relay\" }"));
        assert!(forced.text.contains("threshold-pct = 3"));
    }

    #[test]
    fn a_manifest_that_is_neither_is_one_clear_error() {
        let e = set_table(
            "[dependencies]\n",
            Path::new("x/Cargo.toml"),
            &Sidecar::Builtin,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x/Cargo.toml has neither [workspace] nor [package]"
        );
        let e = set_table(
            "[package\n",
            Path::new("Cargo.toml"),
            &Sidecar::Builtin,
            false,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "failed to parse Cargo.toml");
    }
}
