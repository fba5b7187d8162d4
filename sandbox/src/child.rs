//! The code that runs in the forked children: the sandbox's init (pid 1 of the new pid
//! namespace) and the command it starts.
//!
//! HAZARD: these run after a `clone` of a process that may have other threads, so they must not
//! allocate, take locks or touch anything but the prepared [`Plan`] and raw system calls. Every
//! string was turned into a `CString` and every pointer array built before the fork. Failures are
//! reported as a fixed-size record `(stage, errno)` on the error pipe, which the parent turns into
//! a message.

use std::ffi::CString;
use std::os::raw::c_char;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// The command's pid as init sees it, for [`forward_signal`]; 0 before it exists.
static COMMAND_PID: AtomicI32 = AtomicI32::new(0);

/// Init's handler for every catchable signal: the command gets it instead. Without a handler,
/// a pid namespace's init ignores every signal but `SIGKILL` and `SIGSTOP`, so `docker stop`'s
/// `SIGTERM` sent to init would never reach the command.
extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = COMMAND_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Signals init forwards: every catchable one but `SIGCHLD` (init's own business).
unsafe fn install_forwarding() {
    for sig in 1..32 {
        if matches!(sig, libc::SIGKILL | libc::SIGSTOP | libc::SIGCHLD) {
            continue;
        }
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = forward_signal as *const () as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// One step of the mount namespace setup, run in order before `pivot_root`.
pub(crate) enum Op {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// Create an empty file (a bind-mount target in the fresh `/dev` tmpfs).
    Touch(CString),
    /// Create a file with this content (mode 0644).
    WriteFile {
        path: CString,
        data: Vec<u8>,
    },
    Unlink(CString),
    Mkdir(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    /// Bring `lo` up in a new network namespace.
    LoopbackUp,
    /// Move init (and so everything it starts) into the cgroup whose `cgroup.procs` this is.
    JoinCgroup(CString),
    Hostname(CString),
}

/// Failure stages after the numbered ops.
pub(crate) const STAGE_PIVOT: u32 = 100_000;
pub(crate) const STAGE_FORK: u32 = 100_001;
pub(crate) const STAGE_STDIO: u32 = 100_002;
pub(crate) const STAGE_RLIMIT: u32 = 100_003;
pub(crate) const STAGE_CHDIR: u32 = 100_004;
pub(crate) const STAGE_SETGROUPS: u32 = 100_005;
pub(crate) const STAGE_SETGID: u32 = 100_006;
pub(crate) const STAGE_SETUID: u32 = 100_007;
pub(crate) const STAGE_EXEC: u32 = 100_008;
pub(crate) const STAGE_SETNS: u32 = 100_009;
pub(crate) const STAGE_CAPS: u32 = 100_010;

/// Everything the children need, prepared by the parent.
pub(crate) struct Plan {
    pub ops: Vec<Op>,
    pub rootfs: CString,
    /// Owns the strings `argv_ptrs` points into.
    pub _argv: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    /// Owns the strings `envp_ptrs` points into.
    pub _envp: Vec<CString>,
    pub envp_ptrs: Vec<*const c_char>,
    /// Absolute paths (inside the new root) to try `execve` on, in `PATH` order.
    pub exec_candidates: Vec<CString>,
    pub workdir: CString,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
    pub rlimits: Vec<(libc::c_int, libc::rlimit)>,
    pub stdin: RawFd,
    /// `-1` to inherit the parent's.
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Start a new session with stdin as the controlling terminal.
    pub tty: bool,
    pub err_w: RawFd,
    pub status_w: RawFd,
    pub alive_r: RawFd,
    pub alive_w: RawFd,
    /// File descriptors init keeps, sorted; every other one above 2 is closed.
    pub keep_fds: Vec<RawFd>,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

unsafe fn fail(fd: RawFd, stage: u32, err: i32) -> ! {
    let mut rec = [0u8; 8];
    rec[..4].copy_from_slice(&stage.to_ne_bytes());
    rec[4..].copy_from_slice(&err.to_ne_bytes());
    unsafe {
        libc::write(fd, rec.as_ptr().cast(), rec.len());
        libc::_exit(126)
    }
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// `fork` as a raw system call: glibc's `fork` runs `atfork` handlers that take the allocator's
/// locks, which another thread of the parent may have held at the time of the first clone.
pub(crate) unsafe fn raw_fork(extra_flags: libc::c_ulong) -> libc::pid_t {
    let flags = extra_flags | libc::SIGCHLD as libc::c_ulong;
    unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) as libc::pid_t }
}

unsafe fn run_op(op: &Op) -> Result<(), i32> {
    let r = unsafe {
        match op {
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => libc::mount(
                opt_ptr(source),
                target.as_ptr(),
                opt_ptr(fstype),
                *flags,
                opt_ptr(data).cast(),
            ),
            Op::Touch(path) => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                    0
                } else {
                    -1
                }
            }
            Op::WriteFile { path, data } => write_file(path, data),
            Op::Unlink(path) => libc::unlink(path.as_ptr()),
            Op::Mkdir(path) => libc::mkdir(path.as_ptr(), 0o755),
            Op::Symlink { target, link } => libc::symlink(target.as_ptr(), link.as_ptr()),
            Op::Hostname(name) => libc::sethostname(name.as_ptr(), name.as_bytes().len()),
            Op::LoopbackUp => loopback_up(),
            Op::JoinCgroup(procs) => {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    -1
                } else {
                    // "0" is the writer itself.
                    let r = libc::write(fd, c"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if r == 1 { 0 } else { -1 }
                }
            }
        }
    };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

unsafe fn write_file(path: &CString, data: &[u8]) -> libc::c_int {
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o644,
        );
        if fd < 0 {
            return -1;
        }
        let mut done = 0;
        while done < data.len() {
            let n = libc::write(fd, data[done..].as_ptr().cast(), data.len() - done);
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                libc::close(fd);
                return -1;
            }
            done += n as usize;
        }
        libc::close(fd)
    }
}

unsafe fn loopback_up() -> libc::c_int {
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return -1;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as c_char;
        req.ifr_name[1] = b'o' as c_char;
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            libc::close(sock);
            return -1;
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let r = libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut req);
        libc::close(sock);
        r
    }
}

unsafe fn close_other_fds(keep: &[RawFd]) {
    let mut from: libc::c_uint = 3;
    for &fd in keep {
        let fd = fd as libc::c_uint;
        if fd >= from {
            if fd > from {
                unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0) };
            }
            from = fd + 1;
        }
    }
    unsafe { libc::syscall(libc::SYS_close_range, from, libc::c_uint::MAX, 0) };
}

/// The sandbox's pid 1. Never returns.
pub(crate) unsafe fn init_main(plan: &Plan) -> ! {
    unsafe {
        libc::close(plan.alive_w);
        close_other_fds(&plan.keep_fds);
        // If bale dies, init dies, and the kernel kills everything else in the pid namespace.
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        // The parent may have died before the line above: its end of the pipe is then closed.
        let mut pfd = libc::pollfd {
            fd: plan.alive_r,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 0) > 0 {
            libc::_exit(125);
        }
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_DFL);
        }

        for (i, op) in plan.ops.iter().enumerate() {
            if let Err(e) = run_op(op) {
                fail(plan.err_w, i as u32, e);
            }
        }
        // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves
        // only the rootfs. No directory for the old root is needed inside the rootfs.
        if libc::chdir(plan.rootfs.as_ptr()) != 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
            || libc::chdir(c"/".as_ptr()) != 0
        {
            fail(plan.err_w, STAGE_PIVOT, errno());
        }
        // Init needs no more than the command from here on; with the same capabilities the
        // command may use `/proc/1/...` as it would where it is pid 1 itself.
        drop_capabilities(plan.err_w);

        fork_command(plan)
    }
}

/// Forks the command, forwards the signals bale receives to it and waits for it, as init (or
/// an exec's parent). Never returns.
unsafe fn fork_command(plan: &Plan) -> ! {
    unsafe {
        let pid = raw_fork(0);
        if pid == 0 {
            command_main(plan);
        }
        if pid < 0 {
            fail(plan.err_w, STAGE_FORK, errno());
        }
        COMMAND_PID.store(pid, Ordering::Relaxed);
        install_forwarding();
        reap_until(plan, pid)
    }
}

/// Init's (or an exec's parent's) last duty: wait for the command, report its wait status on
/// the status pipe, exit. Other children (orphans in the pid namespace) are reaped on the way.
unsafe fn reap_until(plan: &Plan, pid: libc::pid_t) -> ! {
    unsafe {
        // Only the command may hold these, so the parent sees EOF when it is done.
        for fd in [plan.err_w, plan.stdout, plan.stderr, plan.stdin] {
            if fd > 2 {
                libc::close(fd);
            }
        }
        loop {
            let mut status: libc::c_int = 0;
            let r = libc::waitpid(-1, &mut status, 0);
            if r == pid {
                let b = status.to_ne_bytes();
                libc::write(plan.status_w, b.as_ptr().cast(), b.len());
                // Exiting makes the kernel kill whatever the command left behind.
                libc::_exit(0);
            }
            if r < 0 && errno() != libc::EINTR {
                libc::_exit(124);
            }
        }
    }
}

unsafe fn command_main(plan: &Plan) -> ! {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        for (fd, target) in [(plan.stdin, 0), (plan.stdout, 1), (plan.stderr, 2)] {
            if fd >= 0 && fd != target && libc::dup2(fd, target) < 0 {
                fail(plan.err_w, STAGE_STDIO, errno());
            }
        }
        if plan.tty && (libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0) {
            fail(plan.err_w, STAGE_STDIO, errno());
        }
        for (res, lim) in &plan.rlimits {
            if libc::setrlimit(*res as _, lim) != 0 {
                fail(plan.err_w, STAGE_RLIMIT, errno());
            }
        }
        if libc::chdir(plan.workdir.as_ptr()) != 0 {
            fail(plan.err_w, STAGE_CHDIR, errno());
        }
        drop_capabilities(plan.err_w);
        // HAZARD: glibc's setgroups/setgid/setuid make every thread of the process change
        // credentials together, signalling the threads it believes exist and waiting for them.
        // After a raw clone of a multi-threaded parent that list names threads this child does
        // not have, and the wait never ends. The raw system calls change this thread only, which
        // is all there is.
        let (uid, gid) = (plan.uid as libc::c_long, plan.gid as libc::c_long);
        if libc::syscall(libc::SYS_setgroups, plan.groups.len(), plan.groups.as_ptr()) != 0 {
            fail(plan.err_w, STAGE_SETGROUPS, errno());
        }
        if libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0 {
            fail(plan.err_w, STAGE_SETGID, errno());
        }
        if libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0 {
            fail(plan.err_w, STAGE_SETUID, errno());
        }
        // As execvp does: remember a more telling error than "not found" (EACCES, ENOEXEC...).
        let mut err = libc::ENOENT;
        for cand in &plan.exec_candidates {
            libc::execve(
                cand.as_ptr(),
                plan.argv_ptrs.as_ptr(),
                plan.envp_ptrs.as_ptr(),
            );
            let e = errno();
            if e != libc::ENOENT && e != libc::ENOTDIR {
                err = e;
            }
        }
        fail(plan.err_w, STAGE_EXEC, err);
    }
}

/// The capabilities a command keeps: docker's default set without `CAP_MKNOD` (docker keeps
/// that one behind a device cgroup, which bale has not, so a block device node would open the
/// host's disks). Without `CAP_SYS_ADMIN` and `CAP_NET_ADMIN` the command can neither mount
/// (nor remount a read-only bind mount writable) nor reconfigure a shared network.
pub(crate) const KEPT_CAPABILITIES: u64 = (1 << 0) // CAP_CHOWN
    | (1 << 1) // CAP_DAC_OVERRIDE
    | (1 << 3) // CAP_FOWNER
    | (1 << 4) // CAP_FSETID
    | (1 << 5) // CAP_KILL
    | (1 << 6) // CAP_SETGID
    | (1 << 7) // CAP_SETUID
    | (1 << 8) // CAP_SETPCAP
    | (1 << 10) // CAP_NET_BIND_SERVICE
    | (1 << 13) // CAP_NET_RAW
    | (1 << 18) // CAP_SYS_CHROOT
    | (1 << 29) // CAP_AUDIT_WRITE
    | (1 << 31); // CAP_SETFCAP

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Narrows this thread's capabilities (bounding, ambient, effective, permitted, inheritable)
/// to [`KEPT_CAPABILITIES`]; what the bounding set lacks, no `execve` can give back.
unsafe fn drop_capabilities(err_w: RawFd) {
    unsafe {
        for cap in 0..64 {
            if KEPT_CAPABILITIES & (1u64 << cap) == 0
                && libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0
                && errno() != libc::EINVAL
            {
                fail(err_w, STAGE_CAPS, errno());
            }
        }
        // EINVAL: a kernel without ambient capabilities has none to clear.
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) != 0
            && errno() != libc::EINVAL
        {
            fail(err_w, STAGE_CAPS, errno());
        }
        let mut header = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let mut data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        if libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        ) != 0
        {
            fail(err_w, STAGE_CAPS, errno());
        }
        for (i, d) in data.iter_mut().enumerate() {
            let keep = (KEPT_CAPABILITIES >> (32 * i)) as u32;
            d.effective &= keep;
            d.permitted &= keep;
            d.inheritable &= keep;
        }
        if libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        ) != 0
        {
            fail(err_w, STAGE_CAPS, errno());
        }
    }
}

/// The parent of an exec'd command: enters the container's namespaces (`ns_fds`, opened by the
/// caller from `/proc/PID/ns/*`, the mount namespace last), forks the command into them (a pid
/// namespace applies to children only) and reports its status like init. Never returns.
pub(crate) unsafe fn exec_main(plan: &Plan, ns_fds: &[RawFd]) -> ! {
    unsafe {
        libc::close(plan.alive_w);
        close_other_fds(&plan.keep_fds);
        for &fd in ns_fds {
            if libc::setns(fd, 0) != 0 {
                fail(plan.err_w, STAGE_SETNS, errno());
            }
            libc::close(fd);
        }
        if libc::chdir(c"/".as_ptr()) != 0 {
            fail(plan.err_w, STAGE_SETNS, errno());
        }
        fork_command(plan)
    }
}
