//! Opening the files users name (models, experiments, traces, empirical data) safely.
//!
//! Reading a FIFO blocks until someone writes to it, and `/dev/zero` never ends, so
//! a path that is not a regular file is refused before it is opened, and a file too
//! large to be a hand-written input is refused before it is read into memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest input file read (TOML or CSV), in bytes: far beyond any real model or trace.
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// Opens `path` for reading if it is a regular file of at most [`MAX_INPUT_BYTES`].
pub fn open_regular(path: &Path) -> io::Result<File> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {kind}"),
        ));
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "it is {} bytes, more than the {MAX_INPUT_BYTES} an input file may have",
                metadata.len()
            ),
        ));
    }
    File::open(path)
}

/// Reads the regular file at `path` as UTF-8 text (see [`open_regular`]).
pub fn read_regular(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open_regular(path)?
        .take(MAX_INPUT_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}
