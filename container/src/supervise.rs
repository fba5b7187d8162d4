//! The supervising process: it owns a running container from its start to its end.
//!
//! It takes the container's `supervisor.lock` (its liveness, for every other reader), moves
//! itself into a private mount namespace, mounts the container's overlay there, and runs the
//! command in the RUN sandbox with the output going to the log (and to the caller's terminal
//! when attached). When the command ends it records the exit, applies the restart policy, and
//! removes the container when it was created with `--rm`.
//!
//! `bale run` in the foreground and `bale start -a` are themselves the supervisor: their own
//! death (even `kill -9`) takes the container with it, as the sandbox's init has a parent-death
//! signal. `bale run -d` and `bale start` fork one that outlives them, in a session of its own,
//! and return once it reports the command started.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bale_sandbox::{ExitStatus, Mount, MountKind as SandboxMount, Network, Sandbox, SandboxSpec};

use crate::error::IoContext;
use crate::logs::LogWriter;
use crate::model::{Container, MountKind, Status};
use crate::store::{DEFAULT_PATH, merge_env, supervisor_alive};
use crate::terminal::{self, Pty, RawMode};
use crate::{Containers, Error, Result, rootfs};

/// How the caller is connected to a starting container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// A supervisor is forked; the call returns once the command started.
    Detached,
    /// This process supervises, copying the output to its own stdout and stderr (and its stdin
    /// to the command when `stdin`), and returns when the container ends for good.
    Foreground {
        /// Pass stdin (`-i`).
        stdin: bool,
    },
}

/// How a foreground run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The command's exit code (128 + signal when killed), or 125, 126 or 127 when it could
    /// not be started.
    pub exit_code: i32,
    /// Why it could not be started, when it could not.
    pub error: Option<String>,
}

/// The sandbox's init while a foreground run is attached: `SIGINT`, `SIGTERM` and friends sent
/// to bale go there (docker's `--sig-proxy`), and init forwards them to the command.
static ATTACHED_INIT: AtomicI32 = AtomicI32::new(0);

extern "C" fn proxy_signal(sig: libc::c_int) {
    let pid = ATTACHED_INIT.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn install_signal_proxy() {
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = proxy_signal as *const () as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// The exit code docker gives a container that could not start: 127 when the program is not
/// found, 126 when it cannot be executed, 125 for anything else.
fn start_failure_code(e: &bale_sandbox::Error) -> i32 {
    match e {
        bale_sandbox::Error::NotFound(_) => 127,
        bale_sandbox::Error::Exec { .. } => 126,
        _ => 125,
    }
}

fn pipe() -> Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("creating a pipe"));
    }
    // SAFETY: both are new descriptors we own.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

impl Containers<'_> {
    /// Starts a created or exited container. Returns `None` for [`Attach::Detached`], else how
    /// the container ended.
    pub fn start(&self, c: &Container, attach: Attach) -> Result<Option<RunOutcome>> {
        self.wait_supervisor_done(c)?;
        if supervisor_alive(&c.dir) {
            if attach == Attach::Detached {
                return Ok(None);
            }
            return Err(Error::State(format!(
                "container {} is already running",
                c.short_id()
            )));
        }
        self.update_state(c, |s| {
            s.stopped_by_user = false;
        })?;
        match attach {
            Attach::Detached => self.start_detached(c).map(|()| None),
            Attach::Foreground { stdin } => {
                install_signal_proxy();
                self.supervise_inner(c, Some(stdin), &mut None).map(Some)
            }
        }
    }

    fn start_detached(&self, c: &Container) -> Result<()> {
        let (mut ready_r, ready_w) = pipe()?;
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        // SAFETY: bale has a single thread here; the child only continues this program.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(Error::last_os("starting the supervisor"));
        }
        if pid == 0 {
            drop(ready_r);
            let keep = ready_w.as_raw_fd();
            detach_from_caller(keep);
            let ready: OwnedFd = ready_w.into();
            let mut ready = Some(ready);
            let outcome = self.supervise_inner(c, None, &mut ready);
            if let (Err(e), Some(fd)) = (outcome, ready.take()) {
                let mut f = File::from(fd);
                let _ = f.write_all(e.to_string().as_bytes());
            }
            // SAFETY: ending the supervisor without running the caller's exit handlers twice.
            unsafe { libc::_exit(0) };
        }
        drop(ready_w);
        let mut msg = String::new();
        ready_r
            .read_to_string(&mut msg)
            .map_err(|e| Error::sys("waiting for the supervisor", e))?;
        if msg == "ok" {
            return Ok(());
        }
        if msg.is_empty() {
            let st = self.load(&c.id)?.state;
            if !st.error.is_empty() {
                return Err(Error::State(st.error));
            }
            return Err(Error::State(
                "the supervisor ended before the container started".into(),
            ));
        }
        Err(Error::State(msg))
    }

    /// The supervisor's body. `attached` is `Some(stdin)` in the foreground.
    fn supervise_inner(
        &self,
        c: &Container,
        attached: Option<bool>,
        ready: &mut Option<OwnedFd>,
    ) -> Result<RunOutcome> {
        let lock_path = c.dir.join("supervisor.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .at("opening", &lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::State(format!(
                    "container {} is already running",
                    c.short_id()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("locking", &lock_path, e)),
        }
        let lower = self.lower_dir(c)?;
        rootfs::enter_private_mount_namespace()?;
        rootfs::mount_overlay(
            &[&lower],
            Some((&c.upper_dir(), &c.work_dir())),
            &c.rootfs_dir(),
            c.config.auto_remove,
        )?;
        populate_volumes(c)?;
        let mut spec = sandbox_spec(c);
        spec.cgroup_procs = crate::freezer::create(&c.id);
        let log = LogWriter::open(c)?;
        let mut backoff = Duration::from_millis(100);
        let outcome = loop {
            let result = run_once(self, c, &spec, attached, &log, ready);
            let (code, error) = match result {
                Ok(st) => (st.code(), None),
                Err(Error::Sandbox(e)) => (start_failure_code(&e), Some(e.to_string())),
                Err(e) => (125, Some(e.to_string())),
            };
            let state = self.update_state(c, |s| {
                s.status = Status::Exited;
                s.exit_code = code;
                s.pid = 0;
                s.finished_at = bale_image::time::now();
                s.error = error.clone().unwrap_or_default();
            })?;
            if let Some(fd) = ready.take() {
                // It never started: the caller reports the error from the state.
                drop(fd);
            }
            let policy = &c.config.restart_policy;
            if error.is_none()
                && policy.should_restart(code, state.restart_count, state.stopped_by_user)
            {
                let again = self.update_state(c, |s| {
                    if !s.stopped_by_user {
                        s.status = Status::Restarting;
                        s.restart_count += 1;
                    }
                })?;
                if again.status == Status::Restarting {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    if !self.load(&c.id)?.state.stopped_by_user {
                        continue;
                    }
                    self.update_state(c, |s| s.status = Status::Exited)?;
                }
            }
            break RunOutcome {
                exit_code: code,
                error,
            };
        };
        ATTACHED_INIT.store(0, Ordering::Relaxed);
        // The exit is recorded: others may act on the container now. Unmounting a
        // non-volatile overlay syncs the whole upper file system, which on a busy disk takes
        // long enough that `rm` or `start` must not wait for it.
        drop(lock);
        crate::freezer::remove(&c.id);
        rootfs::unmount(&c.rootfs_dir());
        if c.config.auto_remove {
            self.remove(c, true)?;
        }
        Ok(outcome)
    }
}

/// Fills each empty volume with what the image has at its mount point, as docker does the
/// first time a volume is mounted.
fn populate_volumes(c: &Container) -> Result<()> {
    for m in c
        .config
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume)
    {
        let data = std::path::Path::new(&m.source);
        let empty = fs::read_dir(data)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            continue;
        }
        let Ok(inside) = crate::copy::resolve_in(&c.rootfs_dir(), &m.destination, true) else {
            continue;
        };
        if fs::symlink_metadata(&inside).is_ok_and(|md| md.is_dir()) {
            crate::copy::copy_dir_contents(&inside, data)?;
        }
    }
    Ok(())
}

/// Makes the forked supervisor independent of the caller: a session of its own, stdio on
/// `/dev/null`, and no descriptor of the caller's but `keep` (a test harness waiting for the
/// caller's output must not wait for the supervisor too).
fn detach_from_caller(keep: RawFd) {
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    if let Ok(entries) = fs::read_dir("/proc/self/fd") {
        let fds: Vec<RawFd> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        for fd in fds {
            if fd > 2 && fd != keep {
                // SAFETY: closing a descriptor inherited from the caller; nothing here owns it.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// The sandbox spec of a container: docker's environment (`PATH` when the image has none,
/// `HOSTNAME`, `TERM` with a terminal, then the container's), user, working directory,
/// hostname, network, hosts and mounts.
pub(crate) fn sandbox_spec(c: &Container) -> SandboxSpec {
    let cfg = &c.config;
    let argv: Vec<String> = std::iter::once(cfg.path.clone())
        .chain(cfg.args.iter().cloned())
        .collect();
    let mut spec = SandboxSpec::new(c.rootfs_dir(), argv);
    spec.env = container_env(c);
    spec.user = cfg.user.clone();
    spec.workdir = cfg.working_dir.clone();
    spec.hostname = cfg.hostname.clone();
    spec.network = if cfg.network == "none" {
        Network::None
    } else {
        Network::Host
    };
    spec.extra_hosts = cfg.extra_hosts.clone();
    spec.readonly_rootfs = cfg.read_only;
    spec.mounts = cfg
        .mounts
        .iter()
        .map(|m| Mount {
            target: m.destination.clone(),
            kind: match m.kind {
                MountKind::Bind | MountKind::Volume => SandboxMount::Bind {
                    source: m.source.clone().into(),
                    readonly: !m.rw,
                },
                MountKind::Tmpfs => SandboxMount::Tmpfs {
                    size: m.tmpfs_size,
                    mode: None,
                },
            },
        })
        .collect();
    spec
}

/// The environment a container's processes get.
pub(crate) fn container_env(c: &Container) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", c.config.hostname),
    ];
    if c.config.tty {
        env.push("TERM=xterm".into());
    }
    merge_env(&mut env, &c.config.env);
    env
}

/// One run of the command, with the output pumped to the log (and the caller).
fn run_once(
    containers: &Containers<'_>,
    c: &Container,
    spec: &SandboxSpec,
    attached: Option<bool>,
    log: &LogWriter,
    ready: &mut Option<OwnedFd>,
) -> Result<ExitStatus> {
    let mut spec = spec.clone();
    // Descriptors only the command may hold once it runs: dropped as soon as it exists, so
    // the pumps see end of file when it ends.
    let mut until_start: Vec<OwnedFd> = Vec::new();
    let mut pumps = Vec::new();
    let mut _raw: Option<RawMode> = None;
    let mut resize_fd: Option<File> = None;
    let devnull = File::open("/dev/null").at("opening", std::path::Path::new("/dev/null"))?;
    let attached_out = attached.is_some();
    if c.config.tty {
        let pty = Pty::open()?;
        let slave = pty.slave.as_raw_fd();
        spec.tty = true;
        spec.stdio = bale_sandbox::Stdio::Fds {
            stdin: slave,
            stdout: slave,
            stderr: slave,
        };
        let master = File::from(pty.master);
        let out = terminal::dup_file(master.as_raw_fd())?;
        let resize = terminal::dup_file(master.as_raw_fd())?;
        if attached.is_some() {
            terminal::follow_window_size(resize.as_raw_fd());
        }
        let log = log.clone();
        pumps.push(std::thread::spawn(move || {
            terminal::pump(out, |d| {
                log.write("stdout", d);
                if attached_out {
                    terminal::write_flush(&mut io::stdout().lock(), d)?;
                }
                Ok(())
            })
        }));
        if attached == Some(true) {
            _raw = RawMode::enter(0);
            let mut input = master;
            // Never joined: it blocks reading the caller's stdin until bale exits.
            std::thread::spawn(move || {
                terminal::pump(io::stdin().lock(), |d| terminal::write_flush(&mut input, d))
            });
        }
        until_start.push(pty.slave);
        // Kept open for the resize handler until the run ends.
        resize_fd = Some(resize);
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdin = if attached == Some(true) && c.config.open_stdin {
            0
        } else {
            devnull.as_raw_fd()
        };
        spec.stdio = bale_sandbox::Stdio::Fds {
            stdin,
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
        };
        for (reader, stream) in [(out_r, "stdout"), (err_r, "stderr")] {
            let log = log.clone();
            pumps.push(std::thread::spawn(move || {
                terminal::pump(reader, |d| {
                    log.write(stream, d);
                    if attached_out {
                        if stream == "stdout" {
                            terminal::write_flush(&mut io::stdout().lock(), d)?;
                        } else {
                            terminal::write_flush(&mut io::stderr().lock(), d)?;
                        }
                    }
                    Ok(())
                })
            }));
        }
        until_start.push(out_w.into());
        until_start.push(err_w.into());
    }
    let started_at = bale_image::time::now();
    let mut state_error = None;
    let result = Sandbox::run_with_start(&spec, &mut |pid| {
        until_start.clear();
        if attached.is_some() {
            ATTACHED_INIT.store(pid, Ordering::Relaxed);
        }
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        if let Err(e) = containers.update_state(c, |s| {
            s.status = Status::Running;
            s.pid = pid;
            s.supervisor_pid = me;
            s.started_at = started_at.clone();
            s.error.clear();
        }) {
            state_error = Some(e);
        }
        if let Some(fd) = ready.take() {
            let mut f = File::from(fd);
            let _ = f.write_all(b"ok");
        }
    });
    until_start.clear();
    for p in pumps {
        let _ = p.join();
    }
    if let Some(f) = resize_fd.take() {
        terminal::follow_window_size(-1);
        drop(f);
    }
    if let Some(e) = state_error {
        return Err(e);
    }
    Ok(result?)
}
