//! How a command starts its child processes: this binary for the hidden subcommands, and the
//! user the children run as. Only the probe needs root: run as root through sudo, or with a
//! configured `user`, the echo applications, sidecars, services and builds run as that user.

use super::error::Error;
use super::output::Output;
use crate::harness::{HarnessError, Launch, RunAs};

/// The launch of this process's children; `configured` is the project's `user` key. Says on
/// `out` whom the children run as when that is not this process's user.
pub(crate) fn launch(configured: Option<&str>, out: &mut Output) -> Result<Launch, Error> {
    let user = RunAs::from_environment(configured).map_err(HarnessError::from)?;
    if let Some(user) = &user {
        let why = match configured {
            Some(_) => "`user` of the project's configuration",
            None => "the user sudo names in SUDO_UID",
        };
        out.status(
            "Dropping",
            format!(
                "root for the processes this command starts: they run as `{}` (uid {}, {why}); only the probe keeps root",
                user.name, user.uid
            ),
        );
    }
    Ok(Launch::current()?.run_as(user))
}
