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
    fn of(e: io::Error, what: &str) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            OutError::Closed
        } else {
            OutError::Failed(format!("cannot write {what}: {e}"))
        }
    }
}

/// Whether standard output was closed before the program started (`parsum >&-`): Rust's standard
/// library then swallows every write to it, and the result would be lost without a word.
fn stdout_closed() -> bool {
    if cfg!(target_os = "linux") {
        // Only where /proc is there to ask.
        std::fs::metadata("/proc/self/fd").is_ok()
            && std::fs::symlink_metadata("/proc/self/fd/1").is_err()
    } else {
        false
    }
}

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), OutError> {
    if stdout_closed() {
        return Err(OutError::Failed(
            "cannot write to standard output: it is closed".into(),
        ));
    }
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| OutError::of(e, "to standard output"))
}

/// Writes a line to standard error; failures there have nowhere to be reported, so they are
/// dropped.
pub fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}
