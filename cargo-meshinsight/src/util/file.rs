//! Reading an input file whole, bounded.

use std::io::Read;
use std::path::Path;

/// Why [`read_bounded`] refused a file; the caller names the file in its own error.
#[derive(Debug)]
pub(crate) enum ReadRefused {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// Not a regular file (a FIFO would block, a device would not end).
    NotAFile,
    /// Larger than the limit.
    TooLarge,
}

/// The text of the regular file `path`, refused when larger than `max` bytes (checked
/// before reading and again on what was read, in case the file grew).
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<String, ReadRefused> {
    let meta = std::fs::metadata(path).map_err(ReadRefused::Io)?;
    if !meta.is_file() {
        return Err(ReadRefused::NotAFile);
    }
    if meta.len() > max {
        return Err(ReadRefused::TooLarge);
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max.saturating_add(1)).read_to_string(&mut text))
        .map_err(ReadRefused::Io)?;
    if text.len() as u64 > max {
        return Err(ReadRefused::TooLarge);
    }
    Ok(text)
}
