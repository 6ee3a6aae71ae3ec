//! Ctrl-C at every moment: it sets the flag sums check between pieces of work, and the run ends
//! with exit code 130 and no result. Outside a sum — building a thread pool, opening a GPU — the
//! program goes on to its next check (a sum's first piece, or its end) and stops there: ending
//! the process under a GPU driver's shader compiler (lavapipe's LLVM, with a cold shader cache)
//! crashed it (SIGSEGV, or LLVM's abort) in 10 of 30 tries. A second Ctrl-C, or [`GRACE`] without
//! reaching a check (a set-up that hangs), ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by Ctrl-C; sums stop between pieces of work when it is.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// True while a sum that watches [`STOP`] is running.
static WATCHED: AtomicBool = AtomicBool::new(false);

/// Exit code of a run that Ctrl-C ended.
pub const EXIT: i32 = 130;

/// Longest a Ctrl-C outside a sum waits for the program to stop by itself: a cold GPU set-up
/// took 0.4 s on lavapipe.
const GRACE: Duration = Duration::from_secs(5);

/// Installs the handler; without one Ctrl-C still ends the process, only less politely.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if !STOP.swap(true, Ordering::SeqCst) {
            if !WATCHED.load(Ordering::SeqCst) {
                // A thread of its own, so that a second Ctrl-C reaches this handler meanwhile.
                std::thread::spawn(|| {
                    std::thread::sleep(GRACE);
                    end();
                });
            }
            return;
        }
        end();
    });
}

fn end() -> ! {
    crate::out::note("interrupted: no result");
    std::process::exit(EXIT);
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
