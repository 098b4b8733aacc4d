//! `check --junit FILE`: the verdict as JUnit XML (report::junit), written atomically.

use std::path::Path;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::gate::Verdict;

/// Writes `verdict` as JUnit XML to `path` and says so.
pub(crate) fn write(verdict: &Verdict, path: &Path, out: &mut Output) -> Result<(), Error> {
    let xml = crate::report::junit::render(verdict);
    crate::project::fs::write_atomic(path, xml.as_bytes())?;
    out.status("Wrote", format!("{} (JUnit XML)", path.display()));
    Ok(())
}
