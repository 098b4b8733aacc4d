//! The one Ctrl-C / SIGTERM / SIGHUP handler of the process, installed by the commands that
//! start processes or take long. On a signal the harness's child process groups are killed and
//! its temporary files removed; then the process exits with 130, or, for a command that stops
//! gracefully (`probe`), the flag [`interrupted`] is set and the command finishes its report.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::exit;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicBool = AtomicBool::new(false);

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
                crate::harness::process::clean_up_after_interrupt();
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        });
    });
}

/// Whether a signal arrived since [`install`] with [`OnSignal::Stop`].
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
