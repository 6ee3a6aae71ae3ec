//! Ctrl-C at every moment: it sets the flag sums check between pieces of work, and the program
//! stops at its next check — a sum's next piece, or before it prints — with exit code 130 and no
//! result. A first Ctrl-C never ends the process on the spot (unless no watchdog thread could be
//! started): ending it under a GPU driver's shader compiler (lavapipe's LLVM, its shader cache
//! cold) crashed it (SIGSEGV, or LLVM's abort) in 10 of 30 tries. A second Ctrl-C, or [`GRACE`] without a check (a set-up that hangs), ends
//! the process at once. The handler (on the `ctrlc` crate's thread) only sets the flag and wakes
//! a watchdog thread started when it was installed: it starts no thread of its own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Thread;
use std::time::Duration;

/// Set by Ctrl-C; sums stop between pieces of work when it is.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set once "interrupted" has been said: the handler and the program may both come to say it.
static NOTED: AtomicBool = AtomicBool::new(false);

/// Exit code of a run that Ctrl-C ended.
pub const EXIT: i32 = 130;

/// Longest a Ctrl-C waits for the program to reach a check: a piece of work takes milliseconds,
/// a GPU submission well under a second, a cold GPU set-up 0.4 s on lavapipe (0.8 s with both
/// cores busy).
const GRACE: Duration = Duration::from_secs(5);

/// The thread that ends the process [`GRACE`] after a first Ctrl-C (see [`install`]).
static WATCHDOG: OnceLock<Thread> = OnceLock::new();

/// Installs the handler; without one Ctrl-C still ends the process, only less politely.
pub fn install() {
    let handler = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            end();
        }
        match WATCHDOG.get() {
            Some(watchdog) => watchdog.unpark(),
            None => end(),
        }
    });
    if handler.is_err() {
        return;
    }
    // Started now, not by the handler: starting a thread allocates, and with 1,024 threads on 2
    // CPUs the allocator's lock was held for many seconds by threads waiting for a CPU (a
    // process not ended 15 s after Ctrl-C, its watchdog never started). Without one (no thread
    // to be had), a first Ctrl-C ends the process at once.
    let watchdog = std::thread::Builder::new()
        .name("ctrl-c watchdog".into())
        .spawn(|| {
            while !STOP.load(Ordering::SeqCst) {
                std::thread::park();
            }
            std::thread::sleep(GRACE);
            end();
        });
    if let Ok(started) = watchdog {
        let _ = WATCHDOG.set(started.thread().clone());
    }
}

/// Says, once, that the run was interrupted and gave no result.
pub fn note() {
    if !NOTED.swap(true, Ordering::SeqCst) {
        crate::out::note("interrupted: no result");
    }
}

fn end() -> ! {
    note();
    std::process::exit(EXIT);
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
