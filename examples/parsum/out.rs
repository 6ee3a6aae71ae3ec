//! Writing results: a closed pipe (`parsum --explain | head -1`) ends the program quietly, any
//! other write error (a full disk) is an I/O failure with its own exit code — never a panic.

use std::io::{self, Write};

/// Why output stopped.
pub enum OutError {
    /// The reader went away: nothing more to say, and nobody to say it to.
    Closed,
    /// Anything else, with what was being written.
    Failed(String),
}

impl OutError {
    pub fn of(e: io::Error, what: &str) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            OutError::Closed
        } else {
            OutError::Failed(format!("cannot write {what}: {e}"))
        }
    }
}

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), OutError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| OutError::of(e, "to standard output"))
}

/// Writes a line to standard error; failures there have nowhere to be reported, so they are
/// dropped.
pub fn note(text: &str) {
    let _ = tell(text);
}

/// Writes a line the user asked for (`-v`) to standard error: where it cannot be written (a full
/// disk), that is an output failure as on standard output (its message is then lost, its exit
/// code is not). A closed pipe is not: standard output may still have a reader.
pub fn tell(text: &str) -> Result<(), OutError> {
    match writeln!(io::stderr().lock(), "{text}") {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(OutError::of(e, "to standard error"))
        }
        _ => Ok(()),
    }
}
