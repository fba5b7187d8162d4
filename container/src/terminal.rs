//! Terminals for `-t`: a pseudo-terminal pair whose slave becomes the command's stdin, stdout
//! and stderr, the caller's terminal put in raw mode while attached (restored on drop), and
//! the copying between them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::{Error, Result};

/// A pseudo-terminal: the master stays with bale, the slave goes to the command.
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Pty {
    /// Opens a pair, sized like the caller's terminal when stdin is one.
    pub(crate) fn open() -> Result<Pty> {
        let (mut m, mut s) = (-1, -1);
        // SAFETY: openpty writes two descriptors; the name, termios and size pointers may be
        // null.
        let r = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(Error::last_os("opening a pseudo-terminal"));
        }
        // SAFETY: openpty returned two new descriptors we own.
        let pty = unsafe {
            Pty {
                master: OwnedFd::from_raw_fd(m),
                slave: OwnedFd::from_raw_fd(s),
            }
        };
        for fd in [m, s] {
            // SAFETY: setting FD_CLOEXEC on our own descriptor.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        copy_window_size(0, pty.master.as_raw_fd());
        Ok(pty)
    }
}

/// Copies the window size of terminal `from` to terminal `to`, when `from` is one.
pub(crate) fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The pty master whose size follows the caller's terminal, for [`on_window_change`].
static RESIZED_MASTER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_window_change(_: libc::c_int) {
    let fd = RESIZED_MASTER.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        // ioctl is async-signal-safe; the kernel sends SIGWINCH to the command's session.
        copy_window_size(0, fd);
    }
}

/// Makes the size of the pty behind `master` follow the caller's terminal (`SIGWINCH`).
pub(crate) fn follow_window_size(master: RawFd) {
    RESIZED_MASTER.store(master, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the handler only reads an atomic and calls ioctl(2).
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_window_change as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGWINCH, &act, std::ptr::null_mut());
    }
}

/// The caller's terminal in raw mode until dropped.
pub(crate) struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts `fd` in raw mode, or returns `None` when it is not a terminal.
    pub(crate) fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on a descriptor with a local termios.
        unsafe {
            if libc::isatty(fd) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the saved attributes.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// A second handle on a descriptor, closed on its own.
pub(crate) fn dup_file(fd: RawFd) -> Result<File> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(Error::last_os("duplicating a descriptor"));
    }
    // SAFETY: `n` is new and ours.
    Ok(unsafe { File::from_raw_fd(n) })
}

/// Copies `from` to `to` until end of file or an error (a pty master reports `EIO` once the
/// last slave is closed: that is its end of file).
pub(crate) fn pump(mut from: impl Read, mut sink: impl FnMut(&[u8]) -> io::Result<()>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if sink(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Writes all of `data` to `w` and flushes.
pub(crate) fn write_flush(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    w.write_all(data)?;
    w.flush()
}
