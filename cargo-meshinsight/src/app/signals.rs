//! The one Ctrl-C / SIGTERM / SIGHUP handler of the process, installed by the commands that
//! start processes or take long. On a signal the harness's child process groups are killed and
//! its temporary files removed; then the process exits with 130, or, for a command that stops
//! gracefully (`probe`), the flag [`interrupted`] is set and the command finishes its report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crate::exit;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicBool = AtomicBool::new(false);
/// Held while a set of files is moved into place; the handler waits for it before exiting.
static COMMITTING: Mutex<()> = Mutex::new(());

/// What a signal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnSignal {
    /// Clean up and exit with [`exit::INTERRUPTED`].
    Exit,
    /// Set [`interrupted`] and let the command finish.
    Stop,
}

/// Installs the handler (once per process; a later call only changes what a signal does).
pub(crate) fn install(on: OnSignal) {
    GRACEFUL.store(on == OnSignal::Stop, Ordering::SeqCst);
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            if !GRACEFUL.load(Ordering::SeqCst) {
                let _committed = COMMITTING.lock();
                crate::harness::process::clean_up_after_interrupt();
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        });
    });
}

/// Runs `f` (moving a set of written files into place) with the exit on a signal held
/// off until it returns, so that an interrupted command leaves the old set or the new one,
/// never a mix.
pub(crate) fn uninterruptible<R>(f: impl FnOnce() -> R) -> R {
    let _hold = COMMITTING.lock().unwrap_or_else(|p| p.into_inner());
    f()
}

/// Whether a signal arrived since [`install`] with [`OnSignal::Stop`].
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
