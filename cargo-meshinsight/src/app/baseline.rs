//! `cargo meshinsight baseline update`: predict the fixtures under a profile, compute the
//! run-to-run spread with the file's git history, write `<baseline-dir>/<platform-id>.json`
//! atomically and optionally commit it.

use std::path::PathBuf;

use super::check::snapshot;
use super::error::Error;
use super::head_profile::ProfileSource;
use super::output::Output;
use crate::gate::Baseline;
use crate::gate::baseline;
use crate::model::Profile;
use crate::project::config::Settings;
use crate::project::fs::write_atomic;

/// What `baseline update` does.
#[derive(Clone, Debug, Default)]
pub(crate) struct UpdateConfig {
    /// The manifest of the project.
    pub(crate) manifest_path: Option<PathBuf>,
    /// The profile to record: a file, or measured now.
    pub(crate) profile: ProfileSource,
    /// Commit the file with git2.
    pub(crate) commit: bool,
}

/// What `baseline update` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Updated {
    /// The file written.
    pub(crate) path: PathBuf,
    /// Versions the spread was computed from.
    pub(crate) history_versions: usize,
    /// The commit made, when asked and the file changed.
    pub(crate) commit: Option<String>,
}

/// `baseline update`: predict, compute the spread with the file's history at `HEAD`, write
/// `<baseline-dir>/<platform-id>.json` atomically and optionally commit it.
pub(crate) fn update(config: &UpdateConfig, out: &mut Output) -> Result<Updated, Error> {
    let settings = Settings::load(config.manifest_path.as_deref())?;
    let profile = config.profile.obtain(&settings, out)?;
    update_profile(config, &settings, profile, out)
}

/// `baseline update` of a given profile, with the project's `settings`.
pub(crate) fn update_profile(
    config: &UpdateConfig,
    settings: &Settings,
    profile: Profile,
    out: &mut Output,
) -> Result<Updated, Error> {
    let id = profile.platform.id.clone();
    let head = snapshot(settings, profile)?;
    let file = settings.baseline_dir_abs().join(baseline::file_name(&id)?);
    let earlier = match baseline::open_repo(&settings.root, &file) {
        Ok((repo, rel)) => match repo.head().and_then(|h| h.peel_to_commit()) {
            Ok(c) => {
                let mut v = baseline::history(&repo, c.id(), &rel, settings.history_depth)?;
                v.reverse();
                v.into_iter().map(|(_, b)| b).collect()
            }
            Err(_) => Vec::new(),
        },
        Err(e) if config.commit => return Err(e.into()),
        Err(_) => {
            out.warn("not in a git repository: the baseline gets no history spread");
            Vec::new()
        }
    };
    let baseline = Baseline::new(head, &earlier);
    write_atomic(&file, baseline.to_json().as_bytes())?;
    out.status("Wrote", file.display());
    let commit = if config.commit {
        let msg = format!("meshinsight: update baseline for {id}");
        let c = baseline::commit_file(&settings.root, &file, &msg)?;
        match c {
            Some(c) => out.status("Committed", format!("{} {msg}", baseline::short(c))),
            None => out.status("Unchanged", "the committed baseline is identical"),
        }
        c.map(|c| c.to_string())
    } else {
        None
    };
    Ok(Updated {
        path: file,
        history_versions: baseline.history_versions,
        commit,
    })
}
