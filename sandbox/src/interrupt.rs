//! Ctrl-C and `SIGTERM` while a sandbox runs: a handler that records the signal and wakes every
//! running [`crate::Sandbox::run`] through a self-pipe, so each kills its process tree, removes
//! what it created in the rootfs and returns [`crate::Error::Interrupted`].
//!
//! Without the handler the signal kills bale at once; the kernel then kills the sandboxes (their
//! init has `PR_SET_PDEATHSIG`) and their mounts vanish with their mount namespaces, but the empty
//! mount-target files created in the rootfs stay. The build installs the handler.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static PIPE_R: AtomicI32 = AtomicI32::new(-1);
static PIPE_W: AtomicI32 = AtomicI32::new(-1);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
    let fd = PIPE_W.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so this never waits.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// While alive, `SIGINT`, `SIGTERM` and `SIGHUP` no longer kill bale: they are recorded, running
/// sandboxes are torn down, and the caller learns of it through [`interrupted`] or
/// [`crate::Error::Interrupted`]. Dropping it restores the default dispositions and forgets a
/// signal received (the caller has acted on it by then).
#[derive(Debug)]
pub struct InterruptGuard(());

/// Installs the handler (once per process; a second call while a guard lives is a no-op guard).
pub fn install_interrupt_handler() -> io::Result<InterruptGuard> {
    if PIPE_R.load(Ordering::SeqCst) < 0 {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        PIPE_R.store(fds[0], Ordering::SeqCst);
        PIPE_W.store(fds[1], Ordering::SeqCst);
    }
    for sig in SIGNALS {
        // SAFETY: the handler only touches atomics and calls write(2).
        let r = unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
        if r == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(InterruptGuard(()))
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        for sig in SIGNALS {
            // SAFETY: restoring the default disposition has no preconditions.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        SIGNAL.store(0, Ordering::SeqCst);
        let fd = PIPE_R.load(Ordering::SeqCst);
        let mut buf = [0u8; 64];
        // SAFETY: draining our own non-blocking pipe into a local buffer.
        while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}

/// The signal received since the handler was installed, if any.
pub fn interrupted() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The read end of the self-pipe (readable once a signal arrived), or -1.
pub(crate) fn wake_fd() -> i32 {
    PIPE_R.load(Ordering::SeqCst)
}
