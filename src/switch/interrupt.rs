//! Ctrl-C (SIGINT) and SIGTERM during a switch, rollback or resume.
//!
//! Dying between a flip and its health check would leave an interrupted
//! switch for `resume`; an operator who presses Ctrl-C wants the switch to
//! stop, not to need repair. So the first signal only asks: the engine
//! finishes the step in progress (its health check, or its rollback), skips
//! the rest and records what it achieved. A second signal stops at once,
//! exactly like a crash: the journal lets `resume` finish or undo it.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

const FIRST: &[u8] =
    b"\nexporterctl: stopping after the current step (its health check or rollback); press Ctrl-C again to stop at once and `exporterctl resume` later\n";

extern "C" fn on_signal(sig: nix::libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // The second one: the default action, now (async-signal-safe calls only).
        if let Ok(s) = Signal::try_from(sig) {
            // SAFETY: restoring the default disposition is async-signal-safe.
            let _ = unsafe { signal::signal(s, SigHandler::SigDfl) };
            let _ = signal::raise(s);
        }
        return;
    }
    // SAFETY: fd 2 stays open for the life of the process; write(2) is
    // async-signal-safe.
    let stderr = unsafe { std::os::fd::BorrowedFd::borrow_raw(2) };
    let _ = nix::unistd::write(stderr, FIRST);
}

/// Installs the handlers for SIGINT and SIGTERM (once per process).
pub fn install() {
    INSTALL.call_once(|| {
        // SA_RESTART: other system calls carry on as if nothing happened;
        // the engine looks at `requested()` between steps.
        let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
        for s in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only touches an atomic and calls
            // async-signal-safe functions.
            match unsafe { signal::sigaction(s, &action) } {
                // Started with SIGINT ignored (`nohup`, a background job of a
                // script): the terminal's Ctrl-C is not meant for us; keep it so.
                Ok(old) if matches!(old.handler(), SigHandler::SigIgn) => {
                    // SAFETY: restoring the disposition we found.
                    let _ = unsafe { signal::sigaction(s, &old) };
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot handle {s}: {e}; it will stop exporterctl at once"),
            }
        }
    });
}

/// Has the operator asked to stop?
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
