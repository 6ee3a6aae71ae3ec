//! Ctrl-C at every moment: while a sum runs it sets the flag the sum checks between pieces of
//! work (the run ends with exit code 130 and no result); before and after — building a thread
//! pool, opening a GPU, calibrating — and on a second Ctrl-C, the process ends at once.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C; sums stop between pieces of work when it is.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// True while a sum that watches [`STOP`] is running.
static WATCHED: AtomicBool = AtomicBool::new(false);

/// Exit code of a run that Ctrl-C ended.
pub const EXIT: i32 = 130;

/// Installs the handler; without one Ctrl-C still ends the process, only less politely.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if WATCHED.load(Ordering::SeqCst) && !STOP.swap(true, Ordering::SeqCst) {
            return;
        }
        crate::out::note("interrupted: no result");
        std::process::exit(EXIT);
    });
}

/// Runs `f` with Ctrl-C turned into a cancellation request.
pub fn watched<T>(f: impl FnOnce() -> T) -> T {
    WATCHED.store(true, Ordering::SeqCst);
    let result = f();
    WATCHED.store(false, Ordering::SeqCst);
    result
}

/// Whether Ctrl-C was pressed during a watched run.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
